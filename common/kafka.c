/* common/kafka.c — see kafka.h. */
#include "kafka.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"

#define KAFKA_PREFIX "kafka."
/* Extra time given to an admin result beyond its own request timeout, so a result always comes
 * back before we stop waiting for it. */
#define ADMIN_RESULT_SLACK_MS 5000
#define METADATA_POLL_INTERVAL_MS 100

/* One default property. */
typedef struct {
    const char *name;
    const char *value;
} kafka_default_t;

/* Every role. */
static const kafka_default_t defaults_all[] = {
    {"bootstrap.servers", "127.0.0.1:9092"},
    {"client.id", "evfleet"},
};

/* The worker's group consumer: offsets are stored only once an event (and every earlier one of
 * its partition) is done; librdkafka commits what was stored. Prefetch is bounded so a worker
 * stays near its RSS target. */
static const kafka_default_t defaults_consumer[] = {
    {"enable.auto.offset.store", "false"},
    {"enable.auto.commit", "true"},
    {"auto.commit.interval.ms", "1000"},
    {"partition.assignment.strategy", "cooperative-sticky"},
    {"auto.offset.reset", "earliest"},
    {"session.timeout.ms", "10000"},
    {"heartbeat.interval.ms", "1000"},
    {"max.poll.interval.ms", "300000"},
    /* Prefetch: 1 MB in librdkafka's queue, 64 KB per partition per fetch (a bigger message is
     * still returned whole); the lanes hold the rest of the worker's buffer. With the shipped
     * configuration over 200k events, peak RSS was 55 MB at 4096/131072 and 43 MB at 2048/65536
     * (83 MB at 16384/1048576 with a noop route); over 300k, 51.1 MB at 2048 and 43.2 MB at 1024,
     * throughput within the runs' noise (the worker wakes the fetcher when the queue has drained
     * to half, see fetch_kick in consumer/worker.c). */
    {"queued.max.messages.kbytes", "1024"},
    {"fetch.message.max.bytes", "65536"},
    /* A partition assigned or resumed while a fetch is in flight waits for that fetch to come
     * back, up to fetch.wait.max.ms when there is no new data: 500 ms by default. At 100 ms,
     * group joined → first event processed went from 776 to 233 ms (make bench). */
    {"fetch.wait.max.ms", "100"},
    {"enable.partition.eof", "false"},
    {"statistics.interval.ms", "0"},
};

/* Idempotent, acks=all. No compression by default: librdkafka 2.0.2 silently sends gzip, snappy
 * and lz4 uncompressed to Kafka 4.x (librdkafka issue 4956); zstd may be chosen. A down broker
 * fails deliveries after message.timeout.ms. Topics are never auto-created by the broker. */
static const kafka_default_t defaults_producer[] = {
    {"enable.idempotence", "true"},
    {"acks", "all"},
    {"compression.type", "none"},
    {"linger.ms", "5"},
    {"batch.num.messages", "10000"},
    {"message.timeout.ms", "30000"},
    {"queue.buffering.max.messages", "100000"},
    {"allow.auto.create.topics", "false"},
};

static const kafka_default_t defaults_admin[] = {
    {"allow.auto.create.topics", "false"},
};

/* Tools reading topics with assign(): nothing is committed; EOF tells them a partition's end. A
 * group id is needed for the consumer API even without commits; tools may set their own. */
static const kafka_default_t defaults_reader[] = {
    {"group.id", "evfleet-reader"},
    {"enable.auto.commit", "false"},
    {"enable.auto.offset.store", "false"},
    {"enable.partition.eof", "true"},
    {"auto.offset.reset", "earliest"},
    {"allow.auto.create.topics", "false"},
};

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int remaining_ms(int64_t deadline) {
    int64_t left = deadline - now_ms();
    if (left < 0)
        return 0;
    return left > INT32_MAX ? INT32_MAX : (int)left;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* librdkafka's internal threads call this; our logger is thread-safe. */
static void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    evf_log_level_t our;
    if (level <= 3) /* LOG_EMERG … LOG_ERR */
        our = EVF_LOG_ERROR;
    else if (level == 4) /* LOG_WARNING */
        our = EVF_LOG_WARN;
    else if (level <= 6) /* LOG_NOTICE, LOG_INFO */
        our = EVF_LOG_INFO;
    else
        our = EVF_LOG_DEBUG;
    /* One set of kafka.* keys feeds every client of a program, so a producer property reaching
     * the consumer (or the reverse) is expected, not worth a warning. */
    if (our == EVF_LOG_WARN && fac && !strcmp(fac, "CONFWARN") && buf &&
        strstr(buf, "will be ignored by this"))
        our = EVF_LOG_DEBUG;
    EVF_LOG(our, "rdkafka", "%s: [%s] %s", rk ? rd_kafka_name(rk) : "-", fac ? fac : "-",
            buf ? buf : "");
}

/* Copies msg into out with every occurrence of secret replaced by "[redacted]". */
static void redact(char *out, size_t out_size, const char *msg, const char *secret) {
    size_t slen = secret ? strlen(secret) : 0, len = 0;
    if (out_size == 0)
        return;
    while (*msg && len + 1 < out_size) {
        if (slen > 0 && strncmp(msg, secret, slen) == 0) {
            int n = snprintf(out + len, out_size - len, "[redacted]");
            len += (size_t)n < out_size - len ? (size_t)n : out_size - len - 1;
            msg += slen;
        } else {
            out[len++] = *msg++;
        }
    }
    out[len] = '\0';
}

int evf_kafka_conf_set(rd_kafka_conf_t *kconf, const char *name, const char *value,
                       char *errstr, size_t errstr_size) {
    char rderr[512];
    if (rd_kafka_conf_set(kconf, name, value, rderr, sizeof(rderr)) != RD_KAFKA_CONF_OK) {
        snprintf(errstr, errstr_size, "property '%s': %s", name, rderr);
        return -1;
    }
    return 0;
}

int evf_kafka_conf_set_default(const evf_conf_t *conf, rd_kafka_conf_t *kconf, const char *name,
                               const char *value, char *errstr, size_t errstr_size) {
    char key[256];
    snprintf(key, sizeof(key), KAFKA_PREFIX "%s", name);
    if (conf && evf_conf_get_set(conf, key))
        return 0;
    return evf_kafka_conf_set(kconf, name, value, errstr, errstr_size);
}

static int apply_defaults(rd_kafka_conf_t *kconf, const kafka_default_t *defs, size_t n,
                          char *errstr, size_t errstr_size) {
    for (size_t i = 0; i < n; i++) {
        if (evf_kafka_conf_set(kconf, defs[i].name, defs[i].value, errstr, errstr_size))
            return -1;
    }
    return 0;
}

typedef struct {
    rd_kafka_conf_t *kconf;
    char *errstr;
    size_t errstr_size;
} apply_ctx_t;

/* A codec librdkafka 2.0.2 accepts but would not apply against Kafka 4.x is refused here rather
 * than silently sending uncompressed batches. */
static int compression_refused(const char *subkey, const char *value) {
    if (strcasecmp(subkey, "compression.type") && strcasecmp(subkey, "compression.codec"))
        return 0;
    return !strcasecmp(value, "gzip") || !strcasecmp(value, "snappy") ||
           !strcasecmp(value, "lz4");
}

static int apply_user_key(void *opaque, const char *subkey, const char *value,
                          const char *origin) {
    apply_ctx_t *ctx = opaque;
    char key[256], rderr[512], shown[512];

    snprintf(key, sizeof(key), KAFKA_PREFIX "%s", subkey);
    if (compression_refused(subkey, value)) {
        snprintf(ctx->errstr, ctx->errstr_size,
                 "%s: key '%s': '%s' is not applied by librdkafka 2.0.2 against Kafka 4.x "
                 "brokers (batches would go uncompressed); use zstd or none",
                 origin, key, value);
        return 1;
    }
    if (rd_kafka_conf_set(ctx->kconf, subkey, value, rderr, sizeof(rderr)) !=
        RD_KAFKA_CONF_OK) {
        if (evf_conf_is_secret(key))
            redact(shown, sizeof(shown), rderr, value);
        else
            snprintf(shown, sizeof(shown), "%s", rderr);
        snprintf(ctx->errstr, ctx->errstr_size, "%s: key '%s': %s", origin, key, shown);
        return 1;
    }
    return 0;
}

rd_kafka_conf_t *evf_kafka_conf_new(const evf_conf_t *conf, evf_kafka_role_t role, char *errstr,
                                    size_t errstr_size) {
    rd_kafka_conf_t *kconf = rd_kafka_conf_new();
    const kafka_default_t *defs = NULL;
    size_t n_defs = 0;

    switch (role) {
    case EVF_KAFKA_CONSUMER:
        defs = defaults_consumer, n_defs = N_ELEMS(defaults_consumer);
        break;
    case EVF_KAFKA_PRODUCER:
        defs = defaults_producer, n_defs = N_ELEMS(defaults_producer);
        break;
    case EVF_KAFKA_ADMIN:
        defs = defaults_admin, n_defs = N_ELEMS(defaults_admin);
        break;
    case EVF_KAFKA_READER:
        defs = defaults_reader, n_defs = N_ELEMS(defaults_reader);
        break;
    }
    /* Our own defaults are refused only by a librdkafka built without a feature they name. */
    if (apply_defaults(kconf, defaults_all, N_ELEMS(defaults_all), errstr, errstr_size) ||
        apply_defaults(kconf, defs, n_defs, errstr, errstr_size))
        goto fail;

    rd_kafka_conf_set_log_cb(kconf, kafka_log_cb);

    if (conf) {
        apply_ctx_t ctx = {kconf, errstr, errstr_size};
        if (evf_conf_foreach_prefix(conf, KAFKA_PREFIX, apply_user_key, &ctx))
            goto fail;
    }
    return kconf;

fail:
    rd_kafka_conf_destroy(kconf);
    return NULL;
}

/* ---- metadata ---- */

static const rd_kafka_metadata_topic_t *md_find(const struct rd_kafka_metadata *md,
                                                const char *topic) {
    for (int i = 0; i < md->topic_cnt; i++) {
        if (!strcmp(md->topics[i].topic, topic))
            return &md->topics[i];
    }
    return NULL;
}

/* Full-cluster metadata: asking for all topics never makes a broker auto-create one, whatever
 * the handle's allow.auto.create.topics. A connection lost mid-request (a broker restarting, a
 * bootstrap connection not yet up) is retried while timeout_ms lasts. */
static int md_fetch(rd_kafka_t *rk, int timeout_ms, const struct rd_kafka_metadata **mdp,
                    char *errstr, size_t errstr_size) {
    int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 1);
    rd_kafka_resp_err_t err;
    for (;;) {
        int left = remaining_ms(deadline);
        err = rd_kafka_metadata(rk, 1, NULL, mdp, left > 0 ? left : 1);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            return 0;
        if (err != RD_KAFKA_RESP_ERR__TRANSPORT || remaining_ms(deadline) <= 0)
            break;
        left = remaining_ms(deadline);
        sleep_ms(left < METADATA_POLL_INTERVAL_MS ? left : METADATA_POLL_INTERVAL_MS);
    }
    snprintf(errstr, errstr_size, "metadata request failed: %s", rd_kafka_err2str(err));
    return -1;
}

/* @returns 1 if the topic is in md, known without error and every partition has a leader. */
static int md_topic_ready(const rd_kafka_metadata_topic_t *t, char *why, size_t why_size) {
    if (!t) {
        snprintf(why, why_size, "not in metadata yet");
        return 0;
    }
    if (t->err) {
        snprintf(why, why_size, "%s", rd_kafka_err2str(t->err));
        return 0;
    }
    if (t->partition_cnt <= 0) {
        snprintf(why, why_size, "no partitions in metadata yet");
        return 0;
    }
    for (int p = 0; p < t->partition_cnt; p++) {
        if (t->partitions[p].err || t->partitions[p].leader < 0) {
            snprintf(why, why_size, "partition %d has no leader yet (%s)",
                     (int)t->partitions[p].id, rd_kafka_err2str(t->partitions[p].err));
            return 0;
        }
    }
    return 1;
}

static int md_topic_missing(const rd_kafka_metadata_topic_t *t) {
    return !t || t->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
}

int evf_kafka_partition_count(rd_kafka_t *rk, const char *topic, int timeout_ms, char *errstr,
                              size_t errstr_size) {
    const struct rd_kafka_metadata *md = NULL;
    int count;

    if (md_fetch(rk, timeout_ms, &md, errstr, errstr_size))
        return -1;
    const rd_kafka_metadata_topic_t *t = md_find(md, topic);
    if (md_topic_missing(t)) {
        count = 0;
    } else if (t->err && t->partition_cnt <= 0) {
        snprintf(errstr, errstr_size, "topic '%s': %s", topic, rd_kafka_err2str(t->err));
        count = -1;
    } else {
        count = t->partition_cnt;
    }
    rd_kafka_metadata_destroy(md);
    return count;
}

/* ---- admin calls ---- */

static rd_kafka_AdminOptions_t *admin_options(rd_kafka_t *rk, rd_kafka_admin_op_t op,
                                              int timeout_ms, int operation_timeout) {
    char err[256];
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, op);
    if (timeout_ms < 1)
        timeout_ms = 1;
    /* Both only fail on out-of-range values, which timeout_ms never is. */
    rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, err, sizeof(err));
    if (operation_timeout)
        rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, err, sizeof(err));
    return opts;
}

/* Waits for the one result of an admin call on q. @returns the event (caller destroys) or NULL
 * with the reason in errstr (timeout, or the request as a whole failed). */
static rd_kafka_event_t *admin_wait(rd_kafka_queue_t *q, const char *what, int timeout_ms,
                                    char *errstr, size_t errstr_size) {
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + ADMIN_RESULT_SLACK_MS);
    if (!ev) {
        snprintf(errstr, errstr_size, "%s: no result within %d ms", what,
                 timeout_ms + ADMIN_RESULT_SLACK_MS);
        return NULL;
    }
    if (rd_kafka_event_error(ev)) {
        snprintf(errstr, errstr_size, "%s: %s", what, rd_kafka_event_error_string(ev));
        rd_kafka_event_destroy(ev);
        return NULL;
    }
    return ev;
}

/* Creates the given topics; an existing one is fine. */
static int create_topics(rd_kafka_t *rk, const evf_topic_spec_t **specs, size_t count,
                         int timeout_ms, char *errstr, size_t errstr_size) {
    rd_kafka_NewTopic_t **nts = calloc(count, sizeof(*nts));
    rd_kafka_queue_t *q = NULL;
    rd_kafka_AdminOptions_t *opts = NULL;
    rd_kafka_event_t *ev = NULL;
    char buf[64], rderr[512];
    int rc = -1;

    if (!nts)
        abort();
    for (size_t i = 0; i < count; i++) {
        const evf_topic_spec_t *s = specs[i];
        nts[i] = rd_kafka_NewTopic_new(s->name, s->partitions, s->replication_factor, rderr,
                                       sizeof(rderr));
        if (!nts[i]) {
            snprintf(errstr, errstr_size, "topic '%s': %s", s->name, rderr);
            goto done;
        }
        if (s->max_message_bytes > 0) {
            snprintf(buf, sizeof(buf), "%" PRId64, s->max_message_bytes);
            rd_kafka_NewTopic_set_config(nts[i], "max.message.bytes", buf);
        }
        if (s->retention_ms != 0) {
            snprintf(buf, sizeof(buf), "%" PRId64, s->retention_ms < 0 ? -1 : s->retention_ms);
            rd_kafka_NewTopic_set_config(nts[i], "retention.ms", buf);
        }
    }

    q = rd_kafka_queue_new(rk);
    opts = admin_options(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout_ms, 1);
    rd_kafka_CreateTopics(rk, nts, count, opts, q);
    ev = admin_wait(q, "CreateTopics", timeout_ms, errstr, errstr_size);
    if (!ev)
        goto done;

    size_t n = 0;
    const rd_kafka_topic_result_t **res =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t err = rd_kafka_topic_result_error(res[i]);
        const char *name = rd_kafka_topic_result_name(res[i]);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            EVF_INFO("kafka", "created topic %s", name);
        } else if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            /* Another worker or tool won the race: fine, the topic exists. */
            EVF_DBG("kafka", "topic %s was created concurrently", name);
        } else {
            const char *msg = rd_kafka_topic_result_error_string(res[i]);
            snprintf(errstr, errstr_size, "topic '%s': %s (%s)", name,
                     msg && *msg ? msg : rd_kafka_err2str(err), rd_kafka_err2name(err));
            goto done;
        }
    }
    rc = 0;

done:
    if (ev)
        rd_kafka_event_destroy(ev);
    if (opts)
        rd_kafka_AdminOptions_destroy(opts);
    if (q)
        rd_kafka_queue_destroy(q);
    for (size_t i = 0; i < count; i++) {
        if (nts[i])
            rd_kafka_NewTopic_destroy(nts[i]);
    }
    free(nts);
    return rc;
}

int evf_kafka_ensure_topics(rd_kafka_t *rk, const evf_topic_spec_t *specs, size_t count,
                            int timeout_ms, char *errstr, size_t errstr_size) {
    const struct rd_kafka_metadata *md = NULL;
    const evf_topic_spec_t **missing = NULL;
    size_t n_missing = 0;
    int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    char why[256];
    int rc = -1;

    if (count == 0)
        return 0;
    for (size_t i = 0; i < count; i++) {
        if (!specs[i].name || !*specs[i].name) {
            snprintf(errstr, errstr_size, "topic #%zu has no name", i);
            return -1;
        }
    }
    if (md_fetch(rk, remaining_ms(deadline), &md, errstr, errstr_size))
        return -1;

    missing = calloc(count, sizeof(*missing));
    if (!missing)
        abort();
    for (size_t i = 0; i < count; i++) {
        if (!md_topic_missing(md_find(md, specs[i].name)))
            continue;
        /* The same name twice in one CreateTopics request is refused as a whole. */
        int dup = 0;
        for (size_t j = 0; j < n_missing && !dup; j++)
            dup = !strcmp(missing[j]->name, specs[i].name);
        if (!dup)
            missing[n_missing++] = &specs[i];
    }
    rd_kafka_metadata_destroy(md);
    md = NULL;

    if (n_missing > 0 &&
        create_topics(rk, missing, n_missing, remaining_ms(deadline), errstr, errstr_size))
        goto done;

    /* Wait until every topic shows in metadata with a leader for each partition, so the first
     * produce or assign after this call does not race the controller. */
    for (;;) {
        size_t not_ready = count;
        if (md_fetch(rk, remaining_ms(deadline), &md, errstr, errstr_size))
            goto done;
        for (not_ready = 0; not_ready < count; not_ready++) {
            if (!md_topic_ready(md_find(md, specs[not_ready].name), why, sizeof(why)))
                break;
        }
        rd_kafka_metadata_destroy(md);
        md = NULL;
        if (not_ready == count)
            break;
        if (remaining_ms(deadline) <= 0) {
            snprintf(errstr, errstr_size, "topic '%s': not ready within %d ms: %s",
                     specs[not_ready].name, timeout_ms, why);
            goto done;
        }
        int wait = remaining_ms(deadline);
        sleep_ms(wait < METADATA_POLL_INTERVAL_MS ? wait : METADATA_POLL_INTERVAL_MS);
    }
    rc = 0;

done:
    free(missing);
    return rc;
}

int evf_kafka_topic_config(rd_kafka_t *rk, const char *topic, const char *name, char *out,
                           size_t out_size, int timeout_ms, char *errstr, size_t errstr_size) {
    rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts =
        admin_options(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, timeout_ms, 0);
    rd_kafka_event_t *ev;
    int rc = -1;

    rd_kafka_DescribeConfigs(rk, &res, 1, opts, q);
    ev = admin_wait(q, "DescribeConfigs", timeout_ms, errstr, errstr_size);
    if (!ev)
        goto done;

    size_t n = 0;
    const rd_kafka_ConfigResource_t **rs =
        rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &n);
    if (n != 1) {
        snprintf(errstr, errstr_size, "topic '%s': DescribeConfigs returned %zu resources", topic,
                 n);
        goto done;
    }
    if (rd_kafka_ConfigResource_error(rs[0])) {
        const char *msg = rd_kafka_ConfigResource_error_string(rs[0]);
        snprintf(errstr, errstr_size, "topic '%s': %s", topic,
                 msg && *msg ? msg : rd_kafka_err2str(rd_kafka_ConfigResource_error(rs[0])));
        goto done;
    }
    size_t ncfg = 0;
    const rd_kafka_ConfigEntry_t **cfg = rd_kafka_ConfigResource_configs(rs[0], &ncfg);
    for (size_t i = 0; i < ncfg; i++) {
        if (strcmp(rd_kafka_ConfigEntry_name(cfg[i]), name))
            continue;
        const char *value = rd_kafka_ConfigEntry_value(cfg[i]);
        if (!value && rd_kafka_ConfigEntry_is_sensitive(cfg[i])) {
            snprintf(errstr, errstr_size, "topic '%s': '%s' is sensitive: not disclosed", topic,
                     name);
            goto done;
        }
        if ((size_t)snprintf(out, out_size, "%s", value ? value : "") >= out_size) {
            snprintf(errstr, errstr_size, "topic '%s': value of '%s' too long for the buffer",
                     topic, name);
            goto done;
        }
        rc = 0;
        goto done;
    }
    snprintf(errstr, errstr_size, "topic '%s': no configuration '%s'", topic, name);

done:
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(q);
    rd_kafka_ConfigResource_destroy(res);
    return rc;
}

int evf_kafka_delete_topics(rd_kafka_t *rk, const char **topics, size_t count, int timeout_ms,
                            char *errstr, size_t errstr_size) {
    rd_kafka_DeleteTopic_t **dts;
    rd_kafka_queue_t *q;
    rd_kafka_AdminOptions_t *opts;
    rd_kafka_event_t *ev;
    int rc = -1;

    if (count == 0)
        return 0;
    dts = calloc(count, sizeof(*dts));
    if (!dts)
        abort();
    for (size_t i = 0; i < count; i++)
        dts[i] = rd_kafka_DeleteTopic_new(topics[i]);
    q = rd_kafka_queue_new(rk);
    opts = admin_options(rk, RD_KAFKA_ADMIN_OP_DELETETOPICS, timeout_ms, 1);
    rd_kafka_DeleteTopics(rk, dts, count, opts, q);
    ev = admin_wait(q, "DeleteTopics", timeout_ms, errstr, errstr_size);
    if (!ev)
        goto done;

    size_t n = 0;
    const rd_kafka_topic_result_t **res =
        rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
    rc = 0;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t err = rd_kafka_topic_result_error(res[i]);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
            continue; /* gone either way */
        const char *msg = rd_kafka_topic_result_error_string(res[i]);
        snprintf(errstr, errstr_size, "topic '%s': %s", rd_kafka_topic_result_name(res[i]),
                 msg && *msg ? msg : rd_kafka_err2str(err));
        rc = -1;
        break;
    }
    rd_kafka_event_destroy(ev);

done:
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(q);
    rd_kafka_DeleteTopic_destroy_array(dts, count);
    free(dts);
    return rc;
}
