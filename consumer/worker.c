/* consumer/worker.c — the worker's lifecycle and poll loop: configuration → Redis check → topics
 * → consumer group → processing threads; the poll thread feeds the lanes, pauses and resumes
 * partitions, stores the done offsets and serves rebalances; shutdown stops fetching, finishes
 * in-flight work within shutdown.grace.ms, commits, leaves the group and flushes the producer.
 *
 * Runs on: the main thread (poll loop, rebalance callbacks). */
#include "worker.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deadletter.h"
#include "kafka.h"
#include "log.h"
#include "redis.h"
#include "topics.h"

#define POLL_BATCH 1000
#define POLL_TIMEOUT_MS 100
#define DLQ_HEADROOM (64 * 1024)
/* Each admin call at start is bounded so SIGTERM is served within a few seconds while Kafka is
 * unreachable; the start loop retries. */
#define STARTUP_CALL_MS 3000

void evf_pipeline_on_delivery(void *msg_opaque, rd_kafka_resp_err_t err, const char *topic,
                              int32_t partition, int64_t offset, void *cb_opaque);

void evf_worker_set_error(evf_worker_t *w, const char *component, const char *fmt, ...) {
    char *dst;
    size_t size;
    va_list ap;
    if (!strcmp(component, "kafka")) {
        dst = w->kafka_error;
        size = sizeof(w->kafka_error);
    } else if (!strcmp(component, "redis")) {
        dst = w->redis_error;
        size = sizeof(w->redis_error);
    } else {
        dst = w->hold_error;
        size = sizeof(w->hold_error);
    }
    pthread_mutex_lock(&w->state_lock);
    va_start(ap, fmt);
    vsnprintf(dst, size, fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&w->state_lock);
}

evf_proc_metrics_t *evf_worker_procm(evf_worker_t *w, const evf_proc_instance_t *inst) {
    for (size_t i = 0; i < w->nprocm; i++)
        if (w->procm[i].inst == inst)
            return &w->procm[i];
    return NULL;
}

/* ---- metrics: the worker's one table ---- */

static const double seconds_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                         0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5,
                                         5,      10,      30};

static double inflight_fn(void *opaque) {
    return (double)evf_lanes_inflight(((evf_worker_t *)opaque)->lanes);
}

static void metrics_init(evf_worker_t *w) {
    static const char *const l_topic[] = {"topic"};
    static const char *const l_proc_outcome[] = {"processor", "outcome"};
    static const char *const l_proc[] = {"processor"};
    static const char *const l_topic_class[] = {"topic", "class"};
    static const char *const l_topic_part[] = {"topic", "partition"};
    evf_metrics_t *m = evf_metrics_new("evfleet_");
    w->metrics = m;
    w->m_consumed = evf_metrics_counter(m, "events_consumed_total",
                                        "Messages polled from Kafka, by topic.", 1, l_topic);
    w->m_processed = evf_metrics_counter(
        m, "events_processed_total",
        "Events finished, by processor and outcome (ok|duplicate|retry|dlq).", 2, l_proc_outcome);
    evf_metric_t *secs = evf_metrics_histogram(
        m, "processing_seconds", "Time spent in the processor per call.", 1, l_proc,
        seconds_buckets, sizeof(seconds_buckets) / sizeof(seconds_buckets[0]));
    evf_metric_t *retries = evf_metrics_counter(
        m, "retries_total", "In-place retries scheduled, by processor.", 1, l_proc);
    w->m_dlq = evf_metrics_counter(m, "dlq_events_total",
                                   "Events dead-lettered, by source topic and error class.", 2,
                                   l_topic_class);
    w->s_duplicates = evf_metric_get(
        evf_metrics_counter(m, "duplicates_skipped_total",
                            "Events skipped because their idempotency record was done.", 0, NULL));
    evf_metrics_gauge_fn(m, "inflight_events", "Events queued in lanes or being processed.",
                         inflight_fn, w);
    w->m_lag = evf_metrics_gauge(m, "consumer_lag",
                                 "High watermark minus the next offset to finish, per partition.",
                                 2, l_topic_part);
    static const double latency_buckets[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
                                              0.1,    0.2,   0.5,   1,     2,    5,    10,
                                              30,     60,    300};
    w->s_latency = evf_metric_get(evf_metrics_histogram(
        m, "event_latency_seconds",
        "Time from an event's time_ms to its effects being applied (ok outcomes).", 0, NULL,
        latency_buckets, sizeof(latency_buckets) / sizeof(latency_buckets[0])));
    w->s_rebalances = evf_metric_get(evf_metrics_counter(
        m, "rebalances_total", "Partition assignments and revocations.", 0, NULL));
    w->s_redis_errors = evf_metric_get(evf_metrics_counter(
        m, "redis_errors_total", "Redis calls that failed (unreachable, timeout).", 0, NULL));
    w->s_paused = evf_metric_get(evf_metrics_gauge(
        m, "paused_partitions", "Partitions paused because their lanes are full.", 0, NULL));
    evf_metric_t *bopen = evf_metrics_gauge(
        m, "breaker_open", "1 while a processor's circuit breaker is open or half-open.", 1, l_proc);

    size_t n = evf_registry_count(w->registry);
    w->procm = calloc(n ? n : 1, sizeof(*w->procm));
    if (!w->procm)
        abort();
    for (size_t i = 0; i < n; i++) {
        const evf_proc_instance_t *inst = evf_registry_at(w->registry, i);
        evf_proc_metrics_t *pm = &w->procm[w->nprocm++];
        pm->inst = inst;
        pm->name = evf_proc_instance_name(inst);
        pm->ok = evf_metric_get(w->m_processed, pm->name, "ok");
        pm->duplicate = evf_metric_get(w->m_processed, pm->name, "duplicate");
        pm->retry = evf_metric_get(w->m_processed, pm->name, "retry");
        pm->dlq = evf_metric_get(w->m_processed, pm->name, "dlq");
        pm->seconds = evf_metric_get(secs, pm->name);
        pm->retries = evf_metric_get(retries, pm->name);
        pm->breaker_open = evf_metric_get(bopen, pm->name);
        evf_breaker_conf_t bc = {
            .window_ms = evf_conf_intf(w->conf, "breaker.%s.window.ms", pm->name),
            .min_calls = evf_conf_intf(w->conf, "breaker.%s.min.calls", pm->name),
            .failure_ratio = evf_conf_doublef(w->conf, "breaker.%s.failure.ratio", pm->name),
            .cooldown_ms = evf_conf_intf(w->conf, "breaker.%s.cooldown.ms", pm->name),
        };
        pm->breaker = evf_breaker_new(&bc);
    }
}

/* ---- Kafka callbacks ---- */

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    evf_worker_t *w = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof(buf));
        EVF_ERR("kafka", "fatal error %s: %s; shutting down", rd_kafka_err2name(orig), buf);
        atomic_store(&w->fatal, 1);
        *w->stop_flag = 1;
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || err == RD_KAFKA_RESP_ERR__TRANSPORT ||
        err == RD_KAFKA_RESP_ERR__AUTHENTICATION) {
        evf_worker_set_error(w, "kafka", "%s", reason);
        EVF_WARN("kafka", "%s: %s", rd_kafka_err2name(err), reason);
        return;
    }
    EVF_DBG("kafka", "%s: %s", rd_kafka_err2name(err), reason);
}

static void lag_forget(evf_worker_t *w, const rd_kafka_topic_partition_list_t *parts) {
    for (int i = 0; i < parts->cnt; i++) {
        char p[16];
        snprintf(p, sizeof(p), "%d", parts->elems[i].partition);
        evf_series_remove(evf_metric_get(w->m_lag, parts->elems[i].topic, p));
    }
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
    evf_worker_t *w = opaque;
    int cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    evf_series_inc(w->s_rebalances);

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        for (int i = 0; i < parts->cnt; i++)
            evf_lanes_assign(w->lanes, parts->elems[i].topic, parts->elems[i].partition);
        EVF_INFO("worker", "assigned %d partition(s)", parts->cnt);
        rd_kafka_error_t *e = NULL;
        if (cooperative)
            e = rd_kafka_incremental_assign(rk, parts);
        else
            rd_kafka_assign(rk, parts);
        if (e) {
            EVF_ERR("kafka", "assign: %s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
        /* librdkafka keeps a partition's application pause across unassign and assign: one we
         * paused (lanes full) before losing it would come back paused, while its new lane is
         * not, and would never be fetched again (found by the fault suite). */
        rd_kafka_resume_partitions(rk, parts);
        atomic_store(&w->joined, 1);
        return;
    }
    if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        EVF_ERR("kafka", "rebalance error: %s", rd_kafka_err2str(err));
        if (cooperative) {
            rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
            if (e)
                rd_kafka_error_destroy(e);
        } else {
            rd_kafka_assign(rk, NULL);
        }
        return;
    }

    /* Revoke: finish what runs for these partitions (bounded), then commit their done prefix
     * synchronously, then give them up. Other partitions keep flowing meanwhile. */
    rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_copy(parts);
    int64_t bound = w->grace_ms < 30000 ? w->grace_ms : 30000;
    int late = evf_lanes_revoke(w->lanes, offs, (int)bound);
    if (late)
        EVF_WARN("worker", "%d revoked partition(s) still had events running after %" PRId64 " ms",
                 late, bound);
    rd_kafka_topic_partition_list_t *commit = rd_kafka_topic_partition_list_new(offs->cnt);
    for (int i = 0; i < offs->cnt; i++)
        if (offs->elems[i].offset >= 0)
            rd_kafka_topic_partition_list_add(commit, offs->elems[i].topic,
                                              offs->elems[i].partition)
                ->offset = offs->elems[i].offset;
    if (commit->cnt > 0 && !rd_kafka_assignment_lost(rk)) {
        rd_kafka_resp_err_t cerr = rd_kafka_commit(rk, commit, 0);
        if (cerr)
            EVF_WARN("kafka", "commit on revoke: %s", rd_kafka_err2str(cerr));
    }
    EVF_INFO("worker", "revoked %d partition(s)%s", parts->cnt,
             rd_kafka_assignment_lost(rk) ? " (assignment lost)" : "");
    lag_forget(w, parts);
    rd_kafka_topic_partition_list_destroy(commit);
    rd_kafka_topic_partition_list_destroy(offs);
    if (cooperative) {
        rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
        if (e) {
            EVF_ERR("kafka", "unassign: %s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
    } else {
        rd_kafka_assign(rk, NULL);
    }
}

/* ---- setup ---- */

static int64_t sleep_until_stop(evf_worker_t *w, int64_t ms) {
    int64_t end = evf_now_ms() + ms;
    while (!*w->stop_flag && evf_now_ms() < end)
        usleep(50 * 1000);
    return *w->stop_flag;
}

static void random_id(char *out, size_t size) {
    uint64_t seed = evf_rand_seed();
    snprintf(out, size, "w-%012llx", (unsigned long long)(evf_rand_next(&seed) & 0xffffffffffffULL));
}

static int read_settings(evf_worker_t *w, char *errstr, size_t errstr_size) {
    evf_conf_t *c = w->conf;
    const char *id = evf_conf_str(c, "worker.id");
    if (id && *id)
        snprintf(w->instance_id, sizeof(w->instance_id), "%s", id);
    else
        random_id(w->instance_id, sizeof(w->instance_id));
    if (gethostname(w->hostname, sizeof(w->hostname)) != 0)
        snprintf(w->hostname, sizeof(w->hostname), "unknown");
    const char *group = evf_conf_get_set(c, "kafka.group.id");
    snprintf(w->group, sizeof(w->group), "%s", group && *group ? group : "evfleet");

    w->threads = (int)evf_conf_int(c, "worker.threads");
    /* Enough ready work for every thread to take two full batches (pipeline.c BATCH_MAX). */
    w->ready_max = (size_t)w->threads * 512;
    w->key_ordering = !strcmp(evf_conf_str(c, "worker.ordering"), "key");
    w->queue_max = (int)evf_conf_int(c, "worker.queue.max");
    w->event_max_bytes = evf_conf_int(c, "event.max.bytes");
    w->timeout_ms = evf_conf_int(c, "processing.timeout.ms");
    w->grace_ms = evf_conf_int(c, "shutdown.grace.ms");
    w->retry_max_attempts = (int)evf_conf_int(c, "retry.max.attempts");
    w->backoff.initial_ms = evf_conf_int(c, "retry.backoff.initial.ms");
    w->backoff.max_ms = evf_conf_int(c, "retry.backoff.max.ms");
    w->backoff.multiplier = evf_conf_double(c, "retry.backoff.multiplier");
    if (evf_jitter_parse(evf_conf_str(c, "retry.jitter"), &w->backoff.jitter) != 0)
        w->backoff.jitter = EVF_JITTER_FULL;
    w->max_age_ms = evf_conf_int(c, "max.record.age.ms");
    w->idem_enabled = evf_conf_bool(c, "idempotency.enabled");
    w->idem_ttl_ms = evf_conf_int(c, "idempotency.ttl.ms");
    w->key_prefix = evf_conf_str(c, "idempotency.key.prefix");

    static char listbuf[4096];
    const char *list[EVF_WORKER_MAX_TOPICS];
    w->ntopics = evf_conf_list(c, "topics", listbuf, sizeof(listbuf), list, EVF_WORKER_MAX_TOPICS);
    size_t longest = 0;
    for (size_t i = 0; i < w->ntopics; i++) {
        w->topics[i] = strdup(list[i]);
        if (!w->topics[i])
            abort();
        if (strlen(list[i]) > longest)
            longest = strlen(list[i]);
    }
    if (w->ntopics == 0) {
        snprintf(errstr, errstr_size, "topics: no source topic configured");
        return -1;
    }
    char dbuf[512];
    const char *delays[16];
    size_t ndelays = evf_conf_list(c, "retry.topics.delays.ms", dbuf, sizeof(dbuf), delays, 16);
    char why[256];
    if (evf_topics_group_valid(w->group, longest, (int)ndelays, why, sizeof(why)) != 0) {
        snprintf(errstr, errstr_size, "kafka.group.id '%s': %s", w->group, why);
        return -1;
    }
    int64_t lease = evf_conf_int(c, "idempotency.lease.ms");
    if (w->idem_enabled && lease <= w->timeout_ms) {
        snprintf(errstr, errstr_size,
                 "idempotency.lease.ms (%" PRId64 ") must be greater than processing.timeout.ms "
                 "(%" PRId64 ")",
                 lease, w->timeout_ms);
        return -1;
    }
    return 0;
}

/* Every topic this worker reads or writes: sources, their retry levels, dead-letter and replay
 * topics. Derived topics allow copies with headers (64 KiB above the source's limit); dead
 * letters keep dlq.retention.ms (default forever). */
static int ensure_topics(evf_worker_t *w, char *errstr, size_t errstr_size) {
    evf_conf_t *c = w->conf;
    int partitions = (int)evf_conf_int(c, "topics.partitions");
    int rf = (int)evf_conf_int(c, "topics.replication.factor");
    int64_t dlq_retention = evf_conf_int(c, "dlq.retention.ms");
    char dbuf[512];
    const char *delays[16];
    size_t ndelays = evf_conf_list(c, "retry.topics.delays.ms", dbuf, sizeof(dbuf), delays, 16);
    evf_topic_spec_t src[EVF_WORKER_MAX_TOPICS];

    for (size_t i = 0; i < w->ntopics; i++)
        src[i] = (evf_topic_spec_t){.name = w->topics[i], .partitions = partitions,
                                    .replication_factor = rf};
    if (evf_kafka_ensure_topics(w->rk, src, w->ntopics, STARTUP_CALL_MS, errstr, errstr_size) != 0)
        return -1;

    size_t per = ndelays + 2, n = 0;
    evf_topic_spec_t *specs = calloc(w->ntopics * per, sizeof(*specs));
    char (*names)[EVF_TOPIC_NAME_MAX + 1] = calloc(w->ntopics * per, sizeof(*names));
    if (!specs || !names)
        abort();
    int64_t biggest = 0;
    int rc = 0;
    for (size_t i = 0; i < w->ntopics; i++) {
        char val[64];
        int64_t mmb = 1048588; /* Kafka's default max.message.bytes */
        if (evf_kafka_topic_config(w->rk, w->topics[i], "max.message.bytes", val, sizeof(val),
                                   STARTUP_CALL_MS, errstr, errstr_size) == 0)
            mmb = atoll(val);
        int64_t derived = mmb + DLQ_HEADROOM;
        if (derived > biggest)
            biggest = derived;
        int src_parts =
            evf_kafka_partition_count(w->rk, w->topics[i], STARTUP_CALL_MS, errstr, errstr_size);
        if (src_parts <= 0)
            src_parts = partitions;
        for (size_t k = 1; k <= ndelays; k++) {
            evf_topic_retry(names[n], sizeof(names[n]), w->topics[i], w->group, (int)k);
            specs[n] = (evf_topic_spec_t){names[n], src_parts, rf, derived, 0};
            n++;
        }
        evf_topic_dlq(names[n], sizeof(names[n]), w->topics[i], w->group);
        specs[n] = (evf_topic_spec_t){names[n], src_parts, rf, derived, dlq_retention};
        n++;
        evf_topic_replay(names[n], sizeof(names[n]), w->topics[i], w->group);
        specs[n] = (evf_topic_spec_t){names[n], src_parts, rf, derived, 0};
        n++;
    }
    if (evf_kafka_ensure_topics(w->rk, specs, n, STARTUP_CALL_MS, errstr, errstr_size) != 0)
        rc = -1;
    w->dlq_max_message_bytes = biggest;
    free(specs);
    free(names);
    return rc;
}

static int subscribe(evf_worker_t *w) {
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(64);
    char dbuf[512], name[EVF_TOPIC_NAME_MAX + 1];
    const char *delays[16];
    size_t ndelays = evf_conf_list(w->conf, "retry.topics.delays.ms", dbuf, sizeof(dbuf), delays,
                                   16);
    for (size_t i = 0; i < w->ntopics; i++) {
        rd_kafka_topic_partition_list_add(subs, w->topics[i], RD_KAFKA_PARTITION_UA);
        for (size_t k = 1; k <= ndelays; k++) {
            evf_topic_retry(name, sizeof(name), w->topics[i], w->group, (int)k);
            rd_kafka_topic_partition_list_add(subs, name, RD_KAFKA_PARTITION_UA);
        }
        evf_topic_replay(name, sizeof(name), w->topics[i], w->group);
        rd_kafka_topic_partition_list_add(subs, name, RD_KAFKA_PARTITION_UA);
    }
    rd_kafka_resp_err_t err = rd_kafka_subscribe(w->rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (err) {
        EVF_ERR("kafka", "subscribe: %s", rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

/* The Redis check before consuming: reachable, and its eviction policy keeps our records.
 * Returns 1 when passed, 0 while Redis is unreachable (retry), -1 when refused. */
static int redis_check(evf_worker_t *w, evf_redis_t *r) {
    char err[512];
    if (evf_redis_ensure(r) != EVF_OK) {
        evf_worker_set_error(w, "redis", "%s", evf_redis_last_error(r));
        return 0;
    }
    evf_err_t e = evf_redis_check_eviction(r, evf_conf_bool(w->conf, "idempotency.allow.eviction"),
                                           err, sizeof(err));
    if (e == EVF_ERR_TRANSPORT) {
        evf_worker_set_error(w, "redis", "%s", evf_redis_last_error(r));
        return 0;
    }
    if (e != EVF_OK) {
        EVF_ERR("worker", "%s", err);
        return -1;
    }
    return 1;
}

static void update_lag(evf_worker_t *w) {
    evf_part_info_t *info = calloc(1024, sizeof(*info));
    if (!info)
        return;
    size_t n = evf_lanes_parts(w->lanes, info, 1024);
    int paused = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t lo = 0, hi = 0;
        char p[16];
        paused += info[i].paused;
        if (rd_kafka_get_watermark_offsets(w->rk, info[i].topic, info[i].partition, &lo, &hi) !=
                RD_KAFKA_RESP_ERR_NO_ERROR ||
            hi < 0)
            continue;
        int64_t next = info[i].first_pending >= 0 ? info[i].first_pending
                       : info[i].high_polled >= 0 ? info[i].high_polled + 1
                                                  : info[i].committed_next;
        if (next < 0)
            continue;
        snprintf(p, sizeof(p), "%d", info[i].partition);
        evf_series_set(evf_metric_get(w->m_lag, info[i].topic, p), (double)(hi > next ? hi - next : 0));
    }
    evf_series_set(w->s_paused, paused);
    free(info);
    int64_t now = evf_now_ms();
    for (size_t i = 0; i < w->nprocm; i++) {
        evf_breaker_state_t st = evf_breaker_state(w->procm[i].breaker, now);
        evf_series_set(w->procm[i].breaker_open, st != EVF_BREAKER_CLOSED);
    }
}

static void store_offsets(evf_worker_t *w) {
    rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new(16);
    evf_lanes_collect_offsets(w->lanes, offs);
    if (offs->cnt > 0) {
        rd_kafka_resp_err_t err = rd_kafka_offsets_store(w->rk, offs);
        if (err && err != RD_KAFKA_RESP_ERR__STATE)
            EVF_DBG("kafka", "offsets_store: %s", rd_kafka_err2str(err));
    }
    rd_kafka_topic_partition_list_destroy(offs);
}

static void apply_resumes(evf_worker_t *w) {
    rd_kafka_topic_partition_list_t *res = rd_kafka_topic_partition_list_new(8);
    evf_lanes_collect_resumes(w->lanes, res);
    if (res->cnt > 0) {
        rd_kafka_resume_partitions(w->rk, res);
        EVF_DBG("worker", "resumed %d partition(s)", res->cnt);
    }
    rd_kafka_topic_partition_list_destroy(res);
}

/* evfleet_events_consumed_total{topic} by topic handle: the label lookup takes the registry's
 * lock, so it is done once per topic, not once per message. Poll thread only. */
static evf_series_t *consumed_series(evf_worker_t *w, rd_kafka_topic_t *rkt) {
    static struct {
        rd_kafka_topic_t *rkt;
        evf_series_t *s;
    } cache[128];
    static size_t n;
    for (size_t i = 0; i < n; i++)
        if (cache[i].rkt == rkt)
            return cache[i].s;
    evf_series_t *s = evf_metric_get(w->m_consumed, rd_kafka_topic_name(rkt));
    if (n < sizeof(cache) / sizeof(cache[0])) {
        cache[n].rkt = rkt;
        cache[n].s = s;
        n++;
    }
    return s;
}

/* librdkafka 2.0.2 stops fetching for every partition when the consumer queue holds
 * queued.max.messages.kbytes (the limit is on the one queue all partitions feed), and looks again
 * only when its broker thread next wakes up: up to a second later (`fetch.queue.backoff.ms`,
 * which would make that shorter, came in 2.2). With back-pressure by not polling that happened
 * on every refill: measured, commits advanced in bursts with 300-1000 ms gaps where the worker
 * had nothing to do. So when the queue has drained to half of its last peak, the poll thread
 * sends a request to the leaders of the assigned partitions (a ListOffsets for their latest
 * offsets, answer unused): it wakes their broker threads, which find the queue below the limit
 * and fetch again while the other half is processed. At most one kick per refill and per
 * KICK_MIN_GAP_MS; a queue that never held KICK_MIN_QUEUED messages is never kicked. */
#define KICK_MIN_QUEUED 256
#define KICK_MIN_GAP_MS 20
#define KICK_TIMEOUT_MS 500

static void fetch_kick(evf_worker_t *w) {
    int64_t qlen = (int64_t)rd_kafka_queue_length(w->rkq);
    if (qlen >= w->kick_peak) {
        w->kick_peak = qlen;
        if (qlen >= KICK_MIN_QUEUED)
            w->kick_armed = 1;
        return;
    }
    if (!w->kick_armed || qlen > w->kick_peak / 2)
        return;
    int64_t now = evf_now_ms();
    if (now - w->kick_last_ms < KICK_MIN_GAP_MS)
        return;
    w->kick_armed = 0;
    w->kick_peak = qlen;
    w->kick_last_ms = now;
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(w->rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR || !parts)
        return;
    if (parts->cnt > 0) {
        for (int i = 0; i < parts->cnt; i++)
            parts->elems[i].offset = RD_KAFKA_OFFSET_END; /* as a timestamp: the latest */
        rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(w->rk, parts, KICK_TIMEOUT_MS);
        if (err)
            EVF_DBG("kafka", "fetch kick: %s", rd_kafka_err2str(err));
    }
    rd_kafka_topic_partition_list_destroy(parts);
}

static void poll_once(evf_worker_t *w, rd_kafka_message_t **msgs, int accept) {
    /* rd_kafka_consumer_poll, not rd_kafka_consume_batch_queue: in librdkafka 2.0.2 the batch
     * call can drop messages of partitions that stay assigned across a rebalance (seen here:
     * offsets 141-144 never returned, then committed past). Draining with timeout 0 after the
     * first message keeps the batching. */
    /* Back-pressure by not polling: while the lanes hold enough ready work, the messages stay
     * in librdkafka's queue (bounded by queued.max.messages.kbytes, so fetching stops by itself).
     * Pausing a partition instead discards what librdkafka prefetched for it and fetches it again
     * on resume, which cut throughput to a tenth here. A full lane still pauses its partition
     * (a slow or waiting lane is not ready work, so it does not hold the others back). At least
     * one message per round is polled so rebalance events are still served. */
    ssize_t n = 0, max = POLL_BATCH;
    if (accept) {
        size_t ready = evf_lanes_wait_room(w->lanes, w->ready_max, POLL_TIMEOUT_MS);
        max = ready < w->ready_max ? (ssize_t)(w->ready_max - ready) : 1;
        if (max > POLL_BATCH)
            max = POLL_BATCH;
    }
    if (accept)
        fetch_kick(w);
    rd_kafka_message_t *m0 = rd_kafka_consumer_poll(w->rk, max > 1 ? POLL_TIMEOUT_MS : 0);
    while (m0) {
        msgs[n++] = m0;
        m0 = n < max ? rd_kafka_consumer_poll(w->rk, 0) : NULL;
    }
    rd_kafka_topic_partition_list_t *pause = NULL;
    atomic_store(&w->last_poll_ms, evf_now_ms());
    for (ssize_t i = 0; i < n; i++) {
        rd_kafka_message_t *m = msgs[i];
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                EVF_WARN("kafka", "consume: %s", rd_kafka_message_errstr(m));
            /* librdkafka 2.0.2 gives up on an assigned partition whose committed offset it could
             * not fetch (e.g. REBALANCE_IN_PROGRESS, NOT_COORDINATOR): it is never fetched until
             * the next rebalance (found by the fault suite). Fetch it ourselves and seek. */
            if (strstr(rd_kafka_message_errstr(m), "committed offset")) {
                w->refetch_pending = 1;
                w->refetch_at = evf_now_ms() + 200;
            }
            rd_kafka_message_destroy(m);
            continue;
        }
        if (!accept) {
            /* Shutting down: not run, not done; the next owner reads it again. */
            rd_kafka_message_destroy(m);
            continue;
        }
        evf_series_inc(consumed_series(w, m->rkt));
        const char *topic = rd_kafka_topic_name(m->rkt);
        int32_t part = m->partition;
        char topic_copy[EVF_TOPIC_NAME_MAX + 1];
        size_t tlen = strnlen(topic, EVF_TOPIC_NAME_MAX);
        memcpy(topic_copy, topic, tlen);
        topic_copy[tlen] = '\0';
        if (evf_lanes_enqueue(w->lanes, m)) {
            if (!pause)
                pause = rd_kafka_topic_partition_list_new(4);
            rd_kafka_topic_partition_list_add(pause, topic_copy, part);
        }
    }
    if (n > 0)
        evf_worker_set_error(w, "kafka", "%s", "");
    if (pause) {
        rd_kafka_pause_partitions(w->rk, pause);
        EVF_DBG("worker", "paused %d partition(s): lanes full", pause->cnt);
        rd_kafka_topic_partition_list_destroy(pause);
    }
    if (accept) /* shutting down: paused partitions stay paused */
        apply_resumes(w);
    store_offsets(w);
}

/* After librdkafka reported a failed committed-offset fetch: the assigned partitions that have
 * not delivered a message yet (position unknown: stuck, or simply empty, where a seek to the
 * committed offset changes nothing) get their committed offsets (or auto.offset.reset's end when
 * none) fetched here and are sought to. What fails is tried again a second later. Poll thread. */
static void refetch_offsets(evf_worker_t *w) {
    rd_kafka_topic_partition_list_t *want = NULL;
    w->refetch_pending = 0;
    if (rd_kafka_assignment(w->rk, &want) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    if (rd_kafka_position(w->rk, want) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_topic_partition_list_t *keep = rd_kafka_topic_partition_list_new(want->cnt);
        for (int i = 0; i < want->cnt; i++)
            if (want->elems[i].offset < 0)
                rd_kafka_topic_partition_list_add(keep, want->elems[i].topic,
                                                  want->elems[i].partition);
        rd_kafka_topic_partition_list_destroy(want);
        want = keep;
    }
    if (want->cnt == 0) {
        rd_kafka_topic_partition_list_destroy(want);
        return;
    }
    rd_kafka_resp_err_t err = rd_kafka_committed(w->rk, want, 5000);
    if (err)
        EVF_WARN("kafka", "fetching committed offsets of %d partition(s) again: %s; retrying",
                 want->cnt, rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_t *seek = rd_kafka_topic_partition_list_new(want->cnt);
    rd_kafka_topic_partition_list_t *again = rd_kafka_topic_partition_list_new(4);
    const char *reset = evf_conf_get_set(w->conf, "kafka.auto.offset.reset");
    int64_t none = reset && (!strcmp(reset, "latest") || !strcmp(reset, "largest") ||
                             !strcmp(reset, "end"))
                       ? RD_KAFKA_OFFSET_END
                       : RD_KAFKA_OFFSET_BEGINNING;
    for (int i = 0; i < want->cnt; i++) {
        rd_kafka_topic_partition_t *p = &want->elems[i];
        if (err || p->err) {
            rd_kafka_topic_partition_list_add(again, p->topic, p->partition);
            continue;
        }
        rd_kafka_topic_partition_list_add(seek, p->topic, p->partition)->offset =
            p->offset >= 0 ? p->offset : none;
    }
    if (seek->cnt > 0) {
        /* A seek is refused for a partition that is not being fetched ("Erroneous state"):
         * assign the partitions again, this time with their offsets. */
        rd_kafka_error_t *e = rd_kafka_incremental_unassign(w->rk, seek);
        if (!e)
            e = rd_kafka_incremental_assign(w->rk, seek);
        if (e) {
            EVF_WARN("kafka", "assigning %d partition(s) again after a failed offset fetch: %s",
                     seek->cnt, rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            for (int i = 0; i < seek->cnt; i++)
                rd_kafka_topic_partition_list_add(again, seek->elems[i].topic,
                                                  seek->elems[i].partition);
        } else {
            for (int i = 0; i < seek->cnt; i++) {
                if (seek->elems[i].offset >= 0)
                    EVF_INFO("kafka", "%s[%d]: committed offset fetched again: from %" PRId64,
                             seek->elems[i].topic, seek->elems[i].partition,
                             seek->elems[i].offset);
                else
                    EVF_INFO("kafka", "%s[%d]: committed offset fetched again: none, from the %s",
                             seek->elems[i].topic, seek->elems[i].partition,
                             seek->elems[i].offset == RD_KAFKA_OFFSET_END ? "end" : "beginning");
            }
        }
    }
    if (again->cnt > 0) {
        w->refetch_pending = 1;
        w->refetch_at = evf_now_ms() + 1000;
    }
    rd_kafka_topic_partition_list_destroy(again);
    rd_kafka_topic_partition_list_destroy(seek);
    rd_kafka_topic_partition_list_destroy(want);
}

static void kafka_health(evf_worker_t *w) {
    char err[256];
    pthread_mutex_lock(&w->state_lock);
    int down = w->kafka_error[0] != '\0';
    pthread_mutex_unlock(&w->state_lock);
    if (!down)
        return;
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(w->rk, 0, NULL, &md, 1000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_metadata_destroy(md);
        evf_worker_set_error(w, "kafka", "%s", "");
    } else {
        snprintf(err, sizeof(err), "kafka unreachable");
        (void)err;
    }
}

/* Shutdown watchdog: librdkafka 2.0.2 can block while leaving the group (seen when the topics
 * were deleted under the worker). Once the final commit is done nothing is lost by exiting, so
 * past grace + WATCHDOG_SLACK_MS the process exits 0 then, or 1 if it had not committed yet. */
#define WATCHDOG_SLACK_MS 5000
static void *shutdown_watchdog(void *arg) {
    evf_worker_t *w = arg;
    int64_t deadline = evf_now_ms() + w->grace_ms + WATCHDOG_SLACK_MS;
    while (evf_now_ms() < deadline)
        usleep(100 * 1000);
    EVF_ERR("worker", "shutdown did not finish within shutdown.grace.ms + %d ms (%s); exiting",
            WATCHDOG_SLACK_MS,
            atomic_load(&w->committed) ? "offsets committed, leaving the group hung"
                                       : "before the final commit");
    _exit(atomic_load(&w->committed) ? 0 : 1);
    return NULL;
}

/* Leave the group with a bound: rd_kafka_consumer_close() can wait indefinitely (seen with
 * librdkafka 2.0.2 when the topics were deleted: commits of the unassigned partitions keep
 * failing). The close runs on a queue we poll for at most CLOSE_BOUND_MS; rebalance events on it
 * go through the same callback as during polling. */
#define CLOSE_BOUND_MS 5000
static void close_consumer(evf_worker_t *w) {
    rd_kafka_queue_t *q = rd_kafka_queue_new(w->rk);
    rd_kafka_error_t *e = rd_kafka_consumer_close_queue(w->rk, q);
    int64_t deadline = evf_now_ms() + CLOSE_BOUND_MS;
    if (e) {
        EVF_WARN("kafka", "close: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    } else {
        while (!rd_kafka_consumer_closed(w->rk) && evf_now_ms() < deadline) {
            rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 100);
            if (!ev)
                continue;
            if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE) {
                rd_kafka_topic_partition_list_t *parts =
                    rd_kafka_event_topic_partition_list(ev);
                rebalance_cb(w->rk, rd_kafka_event_error(ev), parts, w);
            }
            rd_kafka_event_destroy(ev);
        }
    }
    w->closed = rd_kafka_consumer_closed(w->rk);
    if (!w->closed)
        EVF_WARN("kafka", "leaving the group did not finish within %d ms; closing anyway",
                 CLOSE_BOUND_MS);
    rd_kafka_queue_destroy(q);
}

static void worker_destroy(evf_worker_t *w) {
    if (!w)
        return;
    evf_http_stop(w->http);
    if (w->rk) {
        if (w->rkq)
            rd_kafka_queue_destroy(w->rkq);
        rd_kafka_destroy_flags(w->rk, w->closed ? 0 : RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    }
    evf_pub_destroy(w->pub, (int)(w->grace_ms > 0 ? w->grace_ms : 1000));
    evf_lanes_destroy(w->lanes);
    evf_router_destroy(w->router);
    evf_registry_destroy(w->registry);
    evf_idem_destroy(w->idem);
    evf_held_destroy(w->held);
    evf_metrics_destroy(w->metrics);
    for (size_t i = 0; i < w->nprocm; i++)
        evf_breaker_destroy(w->procm[i].breaker);
    free(w->procm);
    free(w->tids);
    for (size_t i = 0; i < w->ntopics; i++)
        free(w->topics[i]);
    pthread_mutex_destroy(&w->state_lock);
    pthread_mutex_destroy(&w->peers_lock);
    free(w);
}

int evf_worker_run(evf_conf_t *conf, volatile sig_atomic_t *stop_flag) {
    char err[1024];
    int rc = 0, started_threads = 0;
    rd_kafka_message_t **msgs = NULL;
    evf_redis_t *probe = NULL;
    evf_worker_t *w = calloc(1, sizeof(*w));
    if (!w)
        abort();
    w->conf = conf;
    w->stop_flag = stop_flag;
    w->started_ms = evf_now_ms();
    pthread_mutex_init(&w->state_lock, NULL);
    pthread_mutex_init(&w->peers_lock, NULL);

    if (read_settings(w, err, sizeof(err)) != 0) {
        EVF_ERR("worker", "configuration: %s", err);
        rc = 2;
        goto done;
    }
    evf_log_init("evfleet-worker", w->instance_id, (evf_log_level_t)evf_log_min_level,
                 EVF_LOG_FORMAT_AUTO);
    {
        evf_log_format_t fmt = EVF_LOG_FORMAT_AUTO;
        evf_log_format_parse(evf_conf_str(conf, "log.format"), &fmt);
        evf_log_init("evfleet-worker", w->instance_id, (evf_log_level_t)evf_log_min_level, fmt);
    }
    if (!(w->registry = evf_registry_new(conf, err, sizeof(err))) ||
        !(w->router = evf_router_new(conf, w->registry, err, sizeof(err)))) {
        EVF_ERR("worker", "configuration: %s", err);
        rc = 2;
        goto done;
    }
    if (w->idem_enabled) {
        evf_idem_conf_t ic = {
            .prefix = w->key_prefix,
            .group = w->group,
            .owner = w->instance_id,
            .key_source = evf_conf_get_set(conf, "idempotency.key.source")
                              ? evf_conf_get_set(conf, "idempotency.key.source")
                              : "id",
            .ttl_ms = w->idem_ttl_ms,
            .lease_ms = evf_conf_int(conf, "idempotency.lease.ms"),
            .crash_max = (int)evf_conf_int(conf, "crash.max.attempts"),
        };
        if (!(w->idem = evf_idem_new(&ic, err, sizeof(err)))) {
            EVF_ERR("worker", "configuration: %s", err);
            rc = 2;
            goto done;
        }
        w->held = evf_held_new();
    }
    w->lanes = evf_lanes_new(&(evf_lanes_conf_t){.key_ordering = w->key_ordering,
                                                 .queue_max = w->queue_max});
    metrics_init(w);
    atomic_store(&w->last_poll_ms, evf_now_ms());

    w->http = evf_http_start(evf_conf_str(conf, "http.listen"), evf_status_handle, w, err,
                             sizeof(err));
    if (!w->http) {
        EVF_ERR("worker", "http.listen: %s", err);
        rc = 2;
        goto done;
    }
    EVF_INFO("worker", "instance %s (host %s) group %s; http on port %d", w->instance_id,
             w->hostname, w->group, evf_http_port(w->http));

    /* The consumer handle also serves admin calls (topic creation). */
    rd_kafka_conf_t *kc = evf_kafka_conf_new(conf, EVF_KAFKA_CONSUMER, err, sizeof(err));
    if (!kc) {
        EVF_ERR("worker", "configuration: %s", err);
        rc = 2;
        goto done;
    }
    if (!evf_conf_get_set(conf, "kafka.group.id"))
        evf_kafka_conf_set(kc, "group.id", w->group, err, sizeof(err));
    rd_kafka_conf_set_opaque(kc, w);
    rd_kafka_conf_set_error_cb(kc, error_cb);
    rd_kafka_conf_set_rebalance_cb(kc, rebalance_cb);
    w->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof(err));
    if (!w->rk) {
        EVF_ERR("worker", "kafka consumer: %s", err);
        rc = 1;
        goto done;
    }
    rd_kafka_poll_set_consumer(w->rk);
    w->rkq = rd_kafka_queue_get_consumer(w->rk);

    /* Redis first: reachable and not evicting (refuse to start otherwise). */
    probe = evf_redis_new(conf, "probe", err, sizeof(err));
    if (!probe) {
        EVF_ERR("worker", "configuration: %s", err);
        rc = 2;
        goto done;
    }
    for (;;) {
        int ok = redis_check(w, probe);
        atomic_store(&w->last_poll_ms, evf_now_ms()); /* alive, waiting: /healthz stays 200 */
        if (ok > 0)
            break;
        evf_series_inc(w->s_redis_errors);
        if (ok < 0) {
            rc = 1;
            goto done;
        }
        if (sleep_until_stop(w, 1000))
            goto done;
    }
    atomic_store(&w->redis_ok, 1);
    evf_worker_set_error(w, "redis", "%s", "");

    /* Topics: wait for Kafka, never crash. */
    for (;;) {
        atomic_store(&w->last_poll_ms, evf_now_ms());
        if (ensure_topics(w, err, sizeof(err)) == 0)
            break;
        atomic_store(&w->last_poll_ms, evf_now_ms());
        /* Serve the client's queued error events (error_cb): an authentication failure is the
         * reason to show on /readyz, not the metadata timeout it causes. librdkafka reports an
         * identical error once per 30 s, so a reason already naming it is kept. */
        rd_kafka_message_t *m;
        while ((m = rd_kafka_consumer_poll(w->rk, 0)) != NULL)
            rd_kafka_message_destroy(m);
        pthread_mutex_lock(&w->state_lock);
        int auth_failed = strstr(w->kafka_error, "uthentication") != NULL;
        pthread_mutex_unlock(&w->state_lock);
        if (!auth_failed)
            evf_worker_set_error(w, "kafka", "%s", err);
        EVF_WARN("worker", "topics not ready: %s; retrying", err);
        if (sleep_until_stop(w, 2000))
            goto done;
    }
    evf_worker_set_error(w, "kafka", "%s", "");

    evf_pub_opts_t po = {
        .client_id = "evfleet-worker",
        .dr_cb = evf_pipeline_on_delivery,
        .poll_thread = 1,
        .message_max_bytes = w->dlq_max_message_bytes,
        .create_topics = 1,
    };
    w->pub = evf_pub_new(conf, &po, err, sizeof(err));
    if (!w->pub) {
        EVF_ERR("worker", "producer: %s", err);
        rc = 1;
        goto done;
    }
    if (subscribe(w) != 0) {
        rc = 1;
        goto done;
    }

    atomic_store(&w->running, 1);
    w->tids = calloc((size_t)w->threads, sizeof(pthread_t));
    for (int i = 0; i < w->threads; i++) {
        if (pthread_create(&w->tids[i], NULL, evf_pipeline_thread, w) != 0) {
            EVF_ERR("worker", "cannot start processing thread %d", i);
            rc = 1;
            goto done;
        }
        started_threads++;
    }

    msgs = malloc(POLL_BATCH * sizeof(*msgs));
    if (!msgs)
        abort();
    int64_t last_tick = 0;
    while (!*stop_flag && !atomic_load(&w->fatal)) {
        poll_once(w, msgs, 1);
        int64_t now = evf_now_ms();
        if (w->refetch_pending && now >= w->refetch_at)
            refetch_offsets(w);
        if (now - last_tick >= 1000) {
            last_tick = now;
            update_lag(w);
            kafka_health(w);
            if (evf_redis_ensure(probe) == EVF_OK) {
                redisReply *r = evf_redis_cmd(probe, "PING");
                if (r) {
                    freeReplyObject(r);
                    atomic_store(&w->redis_ok, 1);
                    evf_worker_set_error(w, "redis", "%s", "");
                } else {
                    atomic_store(&w->redis_ok, 0);
                    evf_series_inc(w->s_redis_errors);
                    evf_worker_set_error(w, "redis", "%s", evf_redis_last_error(probe));
                }
            } else {
                evf_series_inc(w->s_redis_errors);
                atomic_store(&w->redis_ok, 0);
                evf_worker_set_error(w, "redis", "%s", evf_redis_last_error(probe));
            }
        }
    }

    /* Shutdown: stop fetching, let in-flight work finish within the grace period. */
    {
        pthread_t wd;
        if (pthread_create(&wd, NULL, shutdown_watchdog, w) == 0)
            pthread_detach(wd);
    }
    EVF_INFO("worker", "shutting down: finishing %zu in-flight event(s) within %" PRId64 " ms",
             evf_lanes_inflight(w->lanes), w->grace_ms);
    {
        rd_kafka_topic_partition_list_t *asg = NULL;
        if (rd_kafka_assignment(w->rk, &asg) == RD_KAFKA_RESP_ERR_NO_ERROR && asg) {
            rd_kafka_pause_partitions(w->rk, asg);
            rd_kafka_topic_partition_list_destroy(asg);
        }
        int64_t deadline = evf_now_ms() + w->grace_ms;
        while (evf_lanes_active(w->lanes) > 0 && evf_now_ms() < deadline &&
               !atomic_load(&w->fatal)) {
            if (*stop_flag > 1)
                break;
            poll_once(w, msgs, 0);
        }
    }

done:
    if (started_threads) {
        /* Copies still waiting for a broker that does not answer would hold the threads until
         * message.timeout.ms: purge them (their items are not done; the next owner reruns them). */
        if (w->pub)
            rd_kafka_purge(evf_pub_handle(w->pub),
                           RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        evf_lanes_stop(w->lanes);
        atomic_store(&w->running, 0);
        for (int i = 0; i < started_threads; i++)
            pthread_join(w->tids[i], NULL);
    }
    if (w->rk && w->lanes) {
        store_offsets(w);
        /* A replica leaving at the same time bumps the group generation and our commit is
         * refused: serve the rebalance (accepting no message) and commit again, bounded. */
        int64_t until = evf_now_ms() + 5000;
        rd_kafka_resp_err_t cerr;
        for (;;) {
            cerr = rd_kafka_commit(w->rk, NULL, 0);
            if (cerr != RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION &&
                cerr != RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS &&
                cerr != RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID)
                break;
            if (!msgs || evf_now_ms() >= until)
                break;
            EVF_INFO("kafka", "final commit: %s; retrying after the rebalance",
                     rd_kafka_err2str(cerr));
            int64_t t = evf_now_ms() + 300;
            while (evf_now_ms() < t)
                poll_once(w, msgs, 0);
        }
        if (cerr && cerr != RD_KAFKA_RESP_ERR__NO_OFFSET)
            EVF_WARN("kafka", "final commit: %s", rd_kafka_err2str(cerr));
        atomic_store(&w->committed, 1);
        close_consumer(w);
    }
    if (atomic_load(&w->fatal) && rc == 0)
        rc = 1;
    free(msgs);
    evf_redis_destroy(probe);
    worker_destroy(w);
    EVF_INFO("worker", "exit %d", rc);
    return rc;
}
