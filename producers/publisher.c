/* producers/publisher.c — see publisher.h. */
#include "publisher.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kafka.h"
#include "log.h"
#include "topics.h"

/* How long the first send to an unknown topic may spend creating it (create_topics). */
#define PUB_CREATE_TIMEOUT_MS 30000
/* After the flush timeout, how long destroy waits for the delivery reports of purged messages. */
#define PUB_PURGE_DRAIN_MS 2000
/* With the poll thread, how often a waiting sender or flush looks again. */
#define PUB_WAIT_STEP_MS 5
#define PUB_CE_HEADERS_MAX 16

struct evf_pub_s {
    rd_kafka_t *rk;
    evf_pub_dr_cb_t *dr_cb;
    void *dr_opaque;
    int create_topics;
    int topic_partitions;         /* topics.partitions, for create_topics */
    int topic_replication_factor; /* topics.replication.factor */

    pthread_mutex_t lock; /* stats, reported, known topics */
    evf_pub_stats_t stats;
    uint64_t reported; /* delivery reports seen (ok or failed); queued - reported are in flight */
    char **known;      /* topics known to exist (create_topics); small, linear search */
    size_t n_known, cap_known;

    int poll_thread;
    pthread_t poller;
    atomic_int stop;
};

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Locks required: none. */
static void count_failure(evf_pub_t *pub, rd_kafka_resp_err_t err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void count_failure(evf_pub_t *pub, rd_kafka_resp_err_t err, const char *fmt, ...) {
    va_list ap;
    pthread_mutex_lock(&pub->lock);
    pub->stats.failed++;
    pub->stats.last_err = err;
    va_start(ap, fmt);
    vsnprintf(pub->stats.last_reason, sizeof(pub->stats.last_reason), fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&pub->lock);
}

static uint64_t in_flight(evf_pub_t *pub) {
    pthread_mutex_lock(&pub->lock);
    uint64_t n = pub->stats.queued > pub->reported ? pub->stats.queued - pub->reported : 0;
    pthread_mutex_unlock(&pub->lock);
    return n;
}

/* Runs on whichever thread serves the producer's queue: the poll thread, or the caller of
 * evf_pub_poll / evf_pub_flush / evf_pub_send (waiting for room) / evf_pub_destroy. */
static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    evf_pub_t *pub = opaque;
    const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "";
    (void)rk;

    pthread_mutex_lock(&pub->lock);
    pub->reported++;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        pub->stats.delivered++;
    } else {
        pub->stats.failed++;
        pub->stats.last_err = m->err;
        /* Not rd_kafka_message_errstr(): on a producer message it reads the payload. */
        snprintf(pub->stats.last_reason, sizeof(pub->stats.last_reason), "%s [%d]: %s", topic,
                 (int)m->partition, rd_kafka_err2str(m->err));
    }
    pthread_mutex_unlock(&pub->lock);

    if (pub->dr_cb)
        pub->dr_cb(m->_private, m->err, topic, m->partition, m->offset, pub->dr_opaque);
}

/* Runs on the thread serving the producer's queue, as dr_msg_cb. Connection failures are already
 * logged by librdkafka itself (its FAIL lines), so only what it does not log stands out here. */
static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char fatal[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
        EVF_ERR("publisher", "fatal producer error, every later send fails: %s: %s",
                rd_kafka_err2name(orig), fatal);
    } else if (err == RD_KAFKA_RESP_ERR__AUTHENTICATION) {
        /* A configuration error, not a blip: said plainly, at most every 10 s (librdkafka tries
         * again at every reconnect). The reason names the mechanism and user, never the password. */
        static _Atomic int64_t last_ms;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        int64_t prev = atomic_load(&last_ms);
        if ((prev == 0 || now - prev >= 10000) && atomic_compare_exchange_strong(&last_ms, &prev, now))
            EVF_ERR("publisher", "Kafka authentication failed (check kafka.sasl.*): %s", reason);
    } else if (err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR__RESOLVE) {
        EVF_DBG("publisher", "%s: %s", rd_kafka_err2name(err), reason);
    } else {
        EVF_WARN("publisher", "%s: %s", rd_kafka_err2name(err), reason);
    }
}

/* The poll thread: serves delivery reports until destroy. */
static void *poll_main(void *arg) {
    evf_pub_t *pub = arg;
    while (!atomic_load(&pub->stop))
        rd_kafka_poll(pub->rk, 100);
    return NULL;
}

evf_pub_t *evf_pub_new(const evf_conf_t *conf, const evf_pub_opts_t *opts, char *errstr,
                       size_t errstr_size) {
    static const evf_pub_opts_t no_opts;
    evf_pub_t *pub = calloc(1, sizeof(*pub));
    rd_kafka_conf_t *kconf = NULL;
    char err[512], buf[32];

    if (!pub)
        abort();
    if (!opts)
        opts = &no_opts;
    pthread_mutex_init(&pub->lock, NULL);
    atomic_init(&pub->stop, 0);
    pub->dr_cb = opts->dr_cb;
    pub->dr_opaque = opts->dr_opaque;
    pub->create_topics = opts->create_topics;
    pub->topic_partitions = conf ? (int)evf_conf_int(conf, "topics.partitions") : -1;
    pub->topic_replication_factor =
        conf ? (int)evf_conf_int(conf, "topics.replication.factor") : -1;

    kconf = evf_kafka_conf_new(conf, EVF_KAFKA_PRODUCER, errstr, errstr_size);
    if (!kconf)
        goto fail;
    if (evf_kafka_conf_set_default(conf, kconf, "client.id",
                                   opts->client_id ? opts->client_id : "evfleet-produce", errstr,
                                   errstr_size))
        goto fail;
    if (opts->message_max_bytes > 0) {
        snprintf(buf, sizeof(buf), "%" PRId64, opts->message_max_bytes);
        if (evf_kafka_conf_set(kconf, "message.max.bytes", buf, errstr, errstr_size))
            goto fail;
    }
    rd_kafka_conf_set_dr_msg_cb(kconf, dr_msg_cb);
    rd_kafka_conf_set_error_cb(kconf, error_cb);
    rd_kafka_conf_set_opaque(kconf, pub);

    pub->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kconf, err, sizeof(err));
    if (!pub->rk) {
        snprintf(errstr, errstr_size, "creating the Kafka producer: %s", err);
        goto fail;
    }
    kconf = NULL; /* owned by rk now */

    if (opts->poll_thread) {
        int rc = pthread_create(&pub->poller, NULL, poll_main, pub);
        if (rc) {
            snprintf(errstr, errstr_size, "starting the delivery report thread: %s",
                     strerror(rc));
            goto fail;
        }
        pub->poll_thread = 1;
    }
    return pub;

fail:
    if (kconf)
        rd_kafka_conf_destroy(kconf);
    evf_pub_destroy(pub, 0);
    return NULL;
}

int evf_pub_destroy(evf_pub_t *pub, int timeout_ms) {
    uint64_t remaining = 0;

    if (!pub)
        return 0;
    if (pub->rk) {
        evf_pub_flush(pub, timeout_ms);
        if (pub->poll_thread) {
            atomic_store(&pub->stop, 1);
            pthread_join(pub->poller, NULL);
            pub->poll_thread = 0;
        }
        remaining = in_flight(pub);
        if (remaining > 0) {
            /* Fail what is left now, so its delivery reports (PURGE_QUEUE / PURGE_INFLIGHT)
             * reach dr_cb and the caller can release the opaques, rather than librdkafka
             * dropping the messages silently on destroy. */
            EVF_WARN("publisher", "%" PRIu64 " message(s) still undelivered after %d ms: purged",
                     remaining, timeout_ms);
            rd_kafka_purge(pub->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            rd_kafka_flush(pub->rk, PUB_PURGE_DRAIN_MS);
            uint64_t lost = in_flight(pub);
            if (lost > 0) {
                pthread_mutex_lock(&pub->lock);
                pub->stats.failed += lost;
                pub->reported += lost;
                pub->stats.last_err = RD_KAFKA_RESP_ERR__PURGE_QUEUE;
                snprintf(pub->stats.last_reason, sizeof(pub->stats.last_reason),
                         "%" PRIu64 " message(s) dropped at shutdown without a delivery report",
                         lost);
                pthread_mutex_unlock(&pub->lock);
            }
        }
        rd_kafka_destroy(pub->rk);
    }
    for (size_t i = 0; i < pub->n_known; i++)
        free(pub->known[i]);
    free(pub->known);
    pthread_mutex_destroy(&pub->lock);
    free(pub);
    return remaining > INT32_MAX ? INT32_MAX : (int)remaining;
}

/* @returns 1 if topic was seen to exist (or was created) by this publisher. */
static int topic_known(evf_pub_t *pub, const char *topic) {
    int found = 0;
    pthread_mutex_lock(&pub->lock);
    for (size_t i = 0; i < pub->n_known && !found; i++)
        found = !strcmp(pub->known[i], topic);
    pthread_mutex_unlock(&pub->lock);
    return found;
}

static void topic_remember(evf_pub_t *pub, const char *topic) {
    pthread_mutex_lock(&pub->lock);
    for (size_t i = 0; i < pub->n_known; i++) {
        if (!strcmp(pub->known[i], topic)) {
            pthread_mutex_unlock(&pub->lock);
            return;
        }
    }
    if (pub->n_known == pub->cap_known) {
        pub->cap_known = pub->cap_known ? pub->cap_known * 2 : 8;
        pub->known = realloc(pub->known, pub->cap_known * sizeof(*pub->known));
        if (!pub->known)
            abort();
    }
    pub->known[pub->n_known] = strdup(topic);
    if (!pub->known[pub->n_known])
        abort();
    pub->n_known++;
    pthread_mutex_unlock(&pub->lock);
}

/* Creates topic if missing (create_topics), at most once per publisher and topic. Concurrent
 * first sends may both ask; the broker's TOPIC_ALREADY_EXISTS makes that harmless. */
static int ensure_topic(evf_pub_t *pub, const char *topic, char *errstr, size_t errstr_size) {
    if (!pub->create_topics || topic_known(pub, topic))
        return 0;
    evf_topic_spec_t spec = {.name = topic,
                             .partitions = pub->topic_partitions,
                             .replication_factor = pub->topic_replication_factor};
    if (evf_kafka_ensure_topics(pub->rk, &spec, 1, PUB_CREATE_TIMEOUT_MS, errstr, errstr_size))
        return -1;
    topic_remember(pub, topic);
    return 0;
}

static evf_err_t produce_err(rd_kafka_resp_err_t err) {
    switch (err) {
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
        return EVF_ERR_FULL;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR__CONFLICT:
        return EVF_ERR_INVALID;
    default:
        return EVF_ERR_TRANSPORT;
    }
}

/* The one path to rd_kafka_producev. msgflags: RD_KAFKA_MSG_F_COPY, or RD_KAFKA_MSG_F_FREE (the
 * value passes to librdkafka on success only). Takes ownership of hdrs whatever the result. */
static evf_err_t pub_produce(evf_pub_t *pub, const char *topic, int32_t partition,
                             const void *key, size_t key_len, void *value, size_t value_len,
                             rd_kafka_headers_t *hdrs, void *msg_opaque, int queue_wait_ms,
                             int msgflags, char *errstr, size_t errstr_size) {
    rd_kafka_resp_err_t err;
    char reason[512];

    if (!topic || !*topic || strlen(topic) > EVF_TOPIC_NAME_MAX) {
        snprintf(errstr, errstr_size, "invalid topic name '%.64s'", topic ? topic : "(null)");
        count_failure(pub, RD_KAFKA_RESP_ERR__INVALID_ARG, "%s", errstr);
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        return EVF_ERR_INVALID;
    }
    if (ensure_topic(pub, topic, reason, sizeof(reason))) {
        snprintf(errstr, errstr_size, "creating topic %s: %s", topic, reason);
        count_failure(pub, RD_KAFKA_RESP_ERR__TRANSPORT, "%s", errstr);
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        return EVF_ERR_TRANSPORT;
    }

    /* Counted as queued before the call, so a delivery report served by another thread right
     * after it never sees more reports than queued messages. */
    pthread_mutex_lock(&pub->lock);
    pub->stats.queued++;
    pthread_mutex_unlock(&pub->lock);

    int64_t deadline = now_ms() + (queue_wait_ms > 0 ? queue_wait_ms : 0);
    for (;;) {
        err = rd_kafka_producev(pub->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                                RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE(value, value_len),
                                RD_KAFKA_V_MSGFLAGS(msgflags), RD_KAFKA_V_HEADERS(hdrs),
                                RD_KAFKA_V_OPAQUE(msg_opaque), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            return EVF_OK; /* hdrs (and a F_FREE value) belong to the message now */
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            break;
        int64_t left = deadline - now_ms();
        if (left <= 0)
            break;
        /* Make room: serve delivery reports here unless the poll thread does. */
        if (pub->poll_thread)
            sleep_ms(left < PUB_WAIT_STEP_MS ? (int)left : PUB_WAIT_STEP_MS);
        else
            rd_kafka_poll(pub->rk, left < 10 ? (int)left : 10);
    }

    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char fatal[256];
        rd_kafka_resp_err_t ferr = rd_kafka_fatal_error(pub->rk, fatal, sizeof(fatal));
        snprintf(errstr, errstr_size, "topic %s: producer fatal error: %s: %s", topic,
                 rd_kafka_err2name(ferr), fatal);
    } else if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        snprintf(errstr, errstr_size,
                 "topic %s: local producer queue still full after %d ms "
                 "(queue.buffering.max.messages/kbytes)",
                 topic, queue_wait_ms);
    } else if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
        snprintf(errstr, errstr_size, "topic %s: message of %zu bytes is larger than the "
                 "producer's message.max.bytes", topic, key_len + value_len);
    } else {
        snprintf(errstr, errstr_size, "topic %s: %s", topic, rd_kafka_err2str(err));
    }
    pthread_mutex_lock(&pub->lock);
    pub->stats.queued--;
    pub->stats.failed++;
    pub->stats.last_err = err;
    snprintf(pub->stats.last_reason, sizeof(pub->stats.last_reason), "%s", errstr);
    pthread_mutex_unlock(&pub->lock);
    if (hdrs)
        rd_kafka_headers_destroy(hdrs);
    return produce_err(err);
}

evf_err_t evf_pub_send(evf_pub_t *pub, const char *topic, int32_t partition, const void *key,
                       size_t key_len, const void *value, size_t value_len,
                       rd_kafka_headers_t *hdrs, void *msg_opaque, int queue_wait_ms,
                       char *errstr, size_t errstr_size) {
    /* F_COPY: librdkafka copies the value and never writes to or frees it. */
    return pub_produce(pub, topic, partition, key, key_len, (void *)(uintptr_t)value, value_len,
                       hdrs, msg_opaque, queue_wait_ms, RD_KAFKA_MSG_F_COPY, errstr,
                       errstr_size);
}

evf_err_t evf_pub_send_event(evf_pub_t *pub, const char *topic, const evf_event_t *ev,
                             void *msg_opaque, int queue_wait_ms, char *errstr,
                             size_t errstr_size) {
    evf_header_kv_t kv[PUB_CE_HEADERS_MAX];
    char scratch[256], keybuf[512], *key = keybuf;
    size_t value_len = 0, key_len, nh;
    uint8_t *value;
    rd_kafka_headers_t *hdrs;
    evf_err_t rc;

    key_len = evf_event_kafka_key(ev, keybuf, sizeof(keybuf));
    if (key_len >= sizeof(keybuf)) {
        key = malloc(key_len + 1);
        if (!key)
            abort();
        evf_event_kafka_key(ev, key, key_len + 1);
    }
    nh = evf_event_ce_headers(ev, kv, PUB_CE_HEADERS_MAX, scratch, sizeof(scratch));
    hdrs = rd_kafka_headers_new(nh);
    for (size_t i = 0; i < nh; i++)
        rd_kafka_header_add(hdrs, kv[i].name, -1, kv[i].value, -1);

    value = evf_event_encode(ev, &value_len);
    rc = pub_produce(pub, topic, RD_KAFKA_PARTITION_UA, key_len ? key : NULL, key_len, value,
                     value_len, hdrs, msg_opaque, queue_wait_ms, RD_KAFKA_MSG_F_FREE, errstr,
                     errstr_size);
    if (rc != EVF_OK)
        free(value); /* F_FREE hands the value over only on success */
    if (key != keybuf)
        free(key);
    return rc;
}

int evf_pub_poll(evf_pub_t *pub, int timeout_ms) {
    return rd_kafka_poll(pub->rk, timeout_ms);
}

int evf_pub_flush(evf_pub_t *pub, int timeout_ms) {
    if (pub->poll_thread) {
        /* The poll thread serves the reports; waiting here keeps them on that one thread. */
        int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
        for (;;) {
            if (in_flight(pub) == 0)
                break;
            int64_t left = deadline - now_ms();
            if (left <= 0)
                break;
            sleep_ms(left < PUB_WAIT_STEP_MS ? (int)left : PUB_WAIT_STEP_MS);
        }
    } else {
        rd_kafka_flush(pub->rk, timeout_ms);
    }
    uint64_t n = in_flight(pub);
    return n > INT32_MAX ? INT32_MAX : (int)n;
}

void evf_pub_stats(evf_pub_t *pub, evf_pub_stats_t *out) {
    pthread_mutex_lock(&pub->lock);
    *out = pub->stats;
    pthread_mutex_unlock(&pub->lock);
}

rd_kafka_t *evf_pub_handle(evf_pub_t *pub) {
    return pub->rk;
}
