/* tests/fault/mock_main.c — the fault suite's mock-cluster part (built into $(BUILD)/fault/mock).
 *
 * The faults a real broker cannot make on demand, from librdkafka's mock cluster (rdkafka_mock.h):
 * request errors on Produce, Fetch, OffsetCommit, OffsetFetch, Heartbeat and JoinGroup
 * (rd_kafka_mock_push_request_errors), group coordinator moves (rd_kafka_mock_coordinator_set), a
 * broker down and up again (rd_kafka_mock_broker_set_down/up) and high round-trip times
 * (rd_kafka_mock_broker_set_rtt). Two workers run in threads of this process
 * (evf_worker_run), against a 3-broker mock cluster and the real Redis (REDIS_PORT). The events
 * are produced in chunks, a fault after each chunk, at seeded moments; then the same invariants as
 * tests/fault/fault.py: lag 0 on every consumed partition, every event's ledger count exactly 1
 * (stream:REMOVE has no route: it must be dead-lettered, with no effect), the dead-letter topic
 * holds only those.
 *
 * Environment: SEED (or FAULT_SEED; default random), MOCK_EVENTS (20000), MOCK_FAULTS (12),
 * MOCK_PARTITIONS (4), MOCK_DRAIN_S (180), REDIS_PORT (16379), EVF_BUILD (worker logs go to
 * $EVF_BUILD/fault-logs/mock-<run>/workers.log).
 * Prints one line of counts on stdout (progress on stderr, worker logs in the log file).
 * Exit: 0 pass, 1 lost / duplicated / unexpected dead letters / stuck, 2 the run could not be made. */
#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "event.h"
#include "generate.h"
#include "log.h"
#include "publisher.h"
#include "redis.h"
#include "worker.h"

#define PROG "fault-mock"
#define NBROKERS 3
#define NWORKERS 2
#define RETRY_LEVELS 2

/* Kafka ApiKeys (the protocol's numbers) */
enum { API_PRODUCE = 0, API_FETCH = 1, API_OFFSET_COMMIT = 8, API_OFFSET_FETCH = 9,
       API_JOIN_GROUP = 11, API_HEARTBEAT = 12 };

typedef enum {
    F_PRODUCE_ERR = 0,
    F_FETCH_ERR,
    F_COMMIT_ERR,
    F_GROUP_ERR, /* OffsetFetch / Heartbeat / JoinGroup errors */
    F_COORD_MOVE,
    F_BROKER_DOWN,
    F_RTT,
    F__CNT
} fault_kind_t;

static const char *const fault_names[F__CNT] = {"produce_err", "fetch_err",   "commit_err",
                                                "group_err",   "coord_move",  "broker_down",
                                                "rtt"};

static double t0;
static uint64_t rng_state;

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static FILE *progress; /* the original stderr; the real stderr goes to the worker log */

#define SAY(...)                                                                                   \
    do {                                                                                           \
        fprintf(progress, "[%7.1fs] ", mono_s() - t0);                                             \
        fprintf(progress, __VA_ARGS__);                                                            \
        fputc('\n', progress);                                                                     \
    } while (0)

/* splitmix64: the suite's only randomness after the seed, so a seed replays the same plan */
static uint64_t rng_next(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static int rng_int(int lo, int hi) { /* [lo, hi] */
    return lo + (int)(rng_next() % (uint64_t)(hi - lo + 1));
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

static int64_t env_int(const char *name, int64_t dflt) {
    const char *v = getenv(name);
    return v && *v ? strtoll(v, NULL, 10) : dflt;
}

/* ---- the events ---- */

typedef struct {
    char id[EVF_GEN_UUID_LEN + 1];
    int meant_to_fail; /* stream:REMOVE: no route */
} published_t;

static published_t *pubs;
static size_t npubs;

static int cmp_pub(const void *a, const void *b) {
    return strcmp(((const published_t *)a)->id, ((const published_t *)b)->id);
}
static published_t *find_pub(const char *id) {
    published_t key;
    snprintf(key.id, sizeof(key.id), "%s", id);
    return bsearch(&key, pubs, npubs, sizeof(*pubs), cmp_pub);
}

/* ---- workers in threads ---- */

typedef struct {
    pthread_t tid;
    evf_conf_t *conf;
    volatile sig_atomic_t stop;
    int rc;
    int running;
} worker_slot_t;

static void *worker_thread(void *arg) {
    worker_slot_t *s = arg;
    s->rc = evf_worker_run(s->conf, &s->stop);
    return NULL;
}

static int conf_set(evf_conf_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int conf_set(evf_conf_t *c, const char *fmt, ...) {
    char kv[1024], err[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(kv, sizeof(kv), fmt, ap);
    va_end(ap);
    if (evf_conf_set_arg(c, kv, err, sizeof(err)) != 0) {
        SAY("configuration: %s", err);
        return -1;
    }
    return 0;
}

/* ---- Kafka reading ---- */

static rd_kafka_t *consumer_new(const char *bootstraps, const char *group) {
    char err[512];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    rd_kafka_conf_set(kc, "bootstrap.servers", bootstraps, err, sizeof(err));
    rd_kafka_conf_set(kc, "group.id", group, err, sizeof(err));
    rd_kafka_conf_set(kc, "enable.auto.commit", "false", err, sizeof(err));
    rd_kafka_conf_set(kc, "enable.partition.eof", "true", err, sizeof(err));
    rd_kafka_conf_set(kc, "log_level", "3", err, sizeof(err));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof(err));
    if (!rk)
        SAY("consumer: %s", err);
    return rk;
}

/* The group's total lag over the consumed topics, or -1 when it cannot be read now. */
static int64_t group_lag(rd_kafka_t *rk, char topics[][256], int ntopics, int partitions,
                         char *behind, size_t behind_size) {
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(ntopics * partitions);
    for (int t = 0; t < ntopics; t++)
        for (int p = 0; p < partitions; p++)
            rd_kafka_topic_partition_list_add(l, topics[t], p);
    int64_t total = -1;
    size_t used = 0;
    behind[0] = '\0';
    if (rd_kafka_committed(rk, l, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        total = 0;
        for (int i = 0; i < l->cnt; i++) {
            int64_t lo, hi;
            if (rd_kafka_query_watermark_offsets(rk, l->elems[i].topic, l->elems[i].partition, &lo,
                                                 &hi, 10000)) {
                total = -1;
                break;
            }
            int64_t from = l->elems[i].offset >= 0 ? l->elems[i].offset : lo;
            if (hi > from) {
                total += hi - from;
                if (used + 100 < behind_size)
                    used += (size_t)snprintf(behind + used, behind_size - used,
                                             " %s[%d]@%" PRId64 "<%" PRId64, l->elems[i].topic,
                                             (int)l->elems[i].partition, from, hi);
            }
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
    return total;
}

/* Read a topic to its end; calls fn for each message. @returns messages read, -1 on failure. */
static long read_topic(const char *bootstraps, const char *topic, int partitions,
                       void (*fn)(const rd_kafka_message_t *, void *), void *opaque) {
    char group[64];
    snprintf(group, sizeof(group), "fault-mock-reader-%d", (int)getpid());
    rd_kafka_t *rk = consumer_new(bootstraps, group);
    if (!rk)
        return -1;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    int eofs = 0;
    long n = 0;
    double end = mono_s() + 120;
    while (eofs < partitions && mono_s() < end) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            eofs++;
        else if (!m->err) {
            fn(m, opaque);
            n++;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(rk, NULL);
    rd_kafka_destroy(rk);
    return eofs < partitions ? -1 : n;
}

static int header(const rd_kafka_message_t *m, const char *name, char *buf, size_t size) {
    rd_kafka_headers_t *h = NULL;
    const void *v;
    size_t len;
    if (rd_kafka_message_headers(m, &h) || rd_kafka_header_get_last(h, name, &v, &len))
        return -1;
    snprintf(buf, size, "%.*s", (int)len, (const char *)v);
    return 0;
}

typedef struct {
    long in_dlq_ok, unexpected, copies;
    char first_unexpected[128];
    unsigned char *seen; /* per published event: dead-lettered at least once */
} dlq_scan_t;

static void on_dlq(const rd_kafka_message_t *m, void *opaque) {
    dlq_scan_t *d = opaque;
    char id[128] = "", cls[64] = "?";
    if (header(m, "evfleet.idempotency.key", id, sizeof(id)) || !id[0])
        header(m, "ce_id", id, sizeof(id));
    header(m, "evfleet.error.class", cls, sizeof(cls));
    d->copies++;
    published_t *p = find_pub(id);
    if (!p || !p->meant_to_fail) {
        if (!d->unexpected++)
            snprintf(d->first_unexpected, sizeof(d->first_unexpected), "%s (%s)", id, cls);
        return;
    }
    d->seen[p - pubs] = 1;
}

/* ---- the run ---- */

int main(void) {
    t0 = mono_s();
    setvbuf(stdout, NULL, _IOLBF, 0);
    uint64_t seed = (uint64_t)env_int("SEED", env_int("FAULT_SEED", 0));
    if (!seed) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = ((uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 20)) % 2147483647 + 1;
    }
    rng_state = seed;
    long nevents = (long)env_int("MOCK_EVENTS", 20000);
    int nfaults = (int)env_int("MOCK_FAULTS", 12);
    int partitions = (int)env_int("MOCK_PARTITIONS", 4);
    int drain_s = (int)env_int("MOCK_DRAIN_S", 180);
    int redis_port = (int)env_int("REDIS_PORT", 16379);
    const char *build = getenv("EVF_BUILD") && *getenv("EVF_BUILD") ? getenv("EVF_BUILD")
                                                                    : "build/default";
    char run_id[64], topic[128], group[128], prefix[128], ledger[512], logdir[512], logpath[600];
    char err[1024];
    snprintf(run_id, sizeof(run_id), "%ld-%d", (long)time(NULL), (int)getpid());
    snprintf(topic, sizeof(topic), "fault.mock.%s", run_id);
    snprintf(group, sizeof(group), "fault-mock-%s", run_id);
    snprintf(prefix, sizeof(prefix), "evffault-mock-%s", run_id);
    snprintf(ledger, sizeof(ledger), "%s:ledger:%s", prefix, group);
    snprintf(logdir, sizeof(logdir), "%s/fault-logs", build);
    mkdir(logdir, 0755);
    snprintf(logdir, sizeof(logdir), "%s/fault-logs/mock-%s", build, run_id);
    mkdir(logdir, 0755);
    snprintf(logpath, sizeof(logpath), "%s/workers.log", logdir);

    /* Everything the workers and librdkafka log goes to the log file; our progress to a dup of
     * the original stderr. */
    progress = stderr;
    int progress_fd = dup(STDERR_FILENO);
    if (!freopen(logpath, "w", stderr)) {
        perror(logpath);
        return 2;
    }
    progress = fdopen(progress_fd, "w");
    setvbuf(progress, NULL, _IOLBF, 0);
    evf_log_init("evfleet-worker", NULL, EVF_LOG_INFO, EVF_LOG_FORMAT_JSON);

    SAY("SEED=%" PRIu64 " events=%ld faults=%d topic=%s log=%s", seed, nevents, nfaults, topic,
        logpath);

    /* the mock cluster, on a producer handle of its own */
    rd_kafka_conf_t *mc_conf = rd_kafka_conf_new();
    rd_kafka_conf_set(mc_conf, "log_level", "3", err, sizeof(err));
    rd_kafka_t *mc_rk = rd_kafka_new(RD_KAFKA_PRODUCER, mc_conf, err, sizeof(err));
    if (!mc_rk) {
        SAY("rd_kafka_new: %s", err);
        return 2;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(mc_rk, NBROKERS);
    if (!mc) {
        SAY("rd_kafka_mock_cluster_new failed");
        return 2;
    }
    const char *bootstraps = rd_kafka_mock_cluster_bootstraps(mc);

    /* every topic the worker would create (the mock has no admin API) */
    char topics[RETRY_LEVELS + 2][256]; /* consumed: source, retries, replay */
    int ntopics = 0;
    snprintf(topics[ntopics++], 256, "%s", topic);
    for (int i = 1; i <= RETRY_LEVELS; i++)
        snprintf(topics[ntopics++], 256, "%s.%s.retry.%d", topic, group, i);
    snprintf(topics[ntopics++], 256, "%s.%s.replay", topic, group);
    char dlq[256];
    snprintf(dlq, sizeof(dlq), "%s.%s.dlq", topic, group);
    for (int t = 0; t < ntopics; t++)
        rd_kafka_mock_topic_create(mc, topics[t], partitions, NBROKERS);
    rd_kafka_mock_topic_create(mc, dlq, partitions, NBROKERS);

    /* the publisher for the events */
    evf_conf_t *pconf = evf_conf_new();
    if (conf_set(pconf, "kafka.bootstrap.servers=%s", bootstraps) ||
        conf_set(pconf, "kafka.message.timeout.ms=300000"))
        return 2;
    evf_pub_opts_t po = {.client_id = "fault-mock-produce", .create_topics = 0};
    evf_pub_t *pub = evf_pub_new(pconf, &po, err, sizeof(err));
    if (!pub) {
        SAY("publisher: %s", err);
        return 2;
    }

    /* the workers */
    worker_slot_t slots[NWORKERS];
    memset(slots, 0, sizeof(slots));
    for (int i = 0; i < NWORKERS; i++) {
        evf_conf_t *c = evf_conf_new();
        slots[i].conf = c;
        if (conf_set(c, "kafka.bootstrap.servers=%s", bootstraps) ||
            conf_set(c, "redis.url=redis://127.0.0.1:%d/0", redis_port) ||
            conf_set(c, "kafka.group.id=%s", group) || conf_set(c, "topics=%s", topic) ||
            conf_set(c, "topics.partitions=%d", partitions) || conf_set(c, "route.s3:*=chaos") ||
            conf_set(c, "route.iot:*=chaos") || conf_set(c, "route.stream:INSERT=ledger") ||
            conf_set(c, "route.stream:MODIFY=ledger") ||
            conf_set(c, "processor.chaos.ledger=true") ||
            conf_set(c, "processor.chaos.fail.rate=0.02") ||
            conf_set(c, "processor.chaos.fail.attempts=3") ||
            conf_set(c, "breaker.chaos.min.calls=0") || /* see fault.py */
            conf_set(c, "retry.max.attempts=2") || conf_set(c, "retry.backoff.initial.ms=20") ||
            conf_set(c, "retry.backoff.max.ms=200") ||
            conf_set(c, "retry.topics.delays.ms=200,500") ||
            conf_set(c, "crash.max.attempts=1000") ||
            conf_set(c, "idempotency.key.prefix=%s", prefix) ||
            conf_set(c, "idempotency.lease.ms=10000") ||
            conf_set(c, "processing.timeout.ms=5000") ||
            conf_set(c, "kafka.session.timeout.ms=4000") ||
            conf_set(c, "kafka.heartbeat.interval.ms=500") ||
            conf_set(c, "shutdown.grace.ms=5000") || conf_set(c, "http.listen=127.0.0.1:0") ||
            conf_set(c, "log.format=json"))
            return 2;
        slots[i].running = 1;
        if (pthread_create(&slots[i].tid, NULL, worker_thread, &slots[i]) != 0) {
            SAY("pthread_create failed");
            return 2;
        }
    }

    /* chunks of events, a fault after each */
    pubs = calloc((size_t)nevents, sizeof(*pubs));
    evf_gen_t *gen = evf_gen_new(seed);
    evf_gen_mix_t mix;
    evf_gen_mix_parse("s3=1,stream=1,iot=8", &mix, err, sizeof(err));
    int counts[F__CNT] = {0};
    fault_kind_t plan[256];
    int nplan = nfaults < 256 ? nfaults : 256;
    for (int i = 0; i < nplan; i++)
        plan[i] = i < F__CNT ? (fault_kind_t)i : (fault_kind_t)rng_int(0, F__CNT - 1);
    for (int i = nplan - 1; i > 0; i--) {
        int j = rng_int(0, i);
        fault_kind_t tmp = plan[i];
        plan[i] = plan[j];
        plan[j] = tmp;
    }
    long per_chunk = nevents / (nplan + 1) + 1;
    static const rd_kafka_resp_err_t produce_errs[] = {
        RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE};
    static const rd_kafka_resp_err_t fetch_errs[] = {
        RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE};
    static const rd_kafka_resp_err_t commit_errs[] = {
        RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
        RD_KAFKA_RESP_ERR_NOT_COORDINATOR, RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS,
        RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID, RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION};
    static const rd_kafka_resp_err_t group_errs[] = {
        RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
        RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS};
#define PICK(arr) arr[rng_int(0, (int)(sizeof(arr) / sizeof(arr[0])) - 1)]

    for (int round = 0; round <= nplan; round++) {
        for (long k = 0; k < per_chunk && (long)npubs < nevents; k++) {
            evf_gen_kind_t kind = evf_gen_pick(gen, &mix);
            evf_event_t *ev = evf_gen_event(gen, kind, (int64_t)(mono_s() * 1000));
            published_t *p = &pubs[npubs++];
            snprintf(p->id, sizeof(p->id), "%s", ev->id);
            p->meant_to_fail = ev->type && !strcmp(ev->type, "stream:REMOVE");
            if (evf_pub_send_event(pub, topic, ev, NULL, 60000, err, sizeof(err)) != EVF_OK) {
                SAY("produce: %s", err);
                return 2;
            }
            evf_event_free(ev);
            evf_pub_poll(pub, 0);
        }
        evf_pub_flush(pub, 1000);
        if (round == nplan)
            break;
        sleep_ms(rng_int(500, 3000));
        fault_kind_t f = plan[round];
        counts[f]++;
        int n = rng_int(1, 6), broker = rng_int(1, NBROKERS);
        rd_kafka_resp_err_t e[8];
        switch (f) {
        case F_PRODUCE_ERR:
            for (int i = 0; i < n; i++)
                e[i] = PICK(produce_errs);
            rd_kafka_mock_push_request_errors_array(mc, API_PRODUCE, (size_t)n, e);
            SAY("fault produce_err: %d Produce error(s), first %s", n, rd_kafka_err2name(e[0]));
            break;
        case F_FETCH_ERR:
            for (int i = 0; i < n; i++)
                e[i] = PICK(fetch_errs);
            rd_kafka_mock_push_request_errors_array(mc, API_FETCH, (size_t)n, e);
            SAY("fault fetch_err: %d Fetch error(s), first %s", n, rd_kafka_err2name(e[0]));
            break;
        case F_COMMIT_ERR:
            for (int i = 0; i < n; i++)
                e[i] = PICK(commit_errs);
            rd_kafka_mock_push_request_errors_array(mc, API_OFFSET_COMMIT, (size_t)n, e);
            SAY("fault commit_err: %d OffsetCommit error(s), first %s", n,
                rd_kafka_err2name(e[0]));
            break;
        case F_GROUP_ERR: {
            static const int apis[] = {API_OFFSET_FETCH, API_HEARTBEAT, API_JOIN_GROUP};
            int api = PICK(apis);
            for (int i = 0; i < n; i++)
                e[i] = PICK(group_errs);
            rd_kafka_mock_push_request_errors_array(mc, (int16_t)api, (size_t)n, e);
            SAY("fault group_err: %d error(s) on ApiKey %d, first %s", n, api,
                rd_kafka_err2name(e[0]));
            break;
        }
        case F_COORD_MOVE:
            rd_kafka_mock_coordinator_set(mc, "group", group, broker);
            SAY("fault coord_move: group coordinator -> broker %d", broker);
            break;
        case F_BROKER_DOWN: {
            int ms = rng_int(1000, 5000);
            SAY("fault broker_down: broker %d down for %d ms", broker, ms);
            rd_kafka_mock_broker_set_down(mc, broker);
            sleep_ms(ms);
            rd_kafka_mock_broker_set_up(mc, broker);
            break;
        }
        case F_RTT: {
            int rtt = rng_int(300, 1500), ms = rng_int(2000, 6000);
            SAY("fault rtt: broker %d RTT %d ms for %d ms", broker, rtt, ms);
            rd_kafka_mock_broker_set_rtt(mc, broker, rtt);
            sleep_ms(ms);
            rd_kafka_mock_broker_set_rtt(mc, broker, 0);
            break;
        }
        default:
            break;
        }
    }
    int undelivered = evf_pub_flush(pub, 120000);
    evf_pub_stats_t ps;
    evf_pub_stats(pub, &ps);
    SAY("produced %zu events (%" PRIu64 " delivered, %" PRIu64 " failed, %d in flight)", npubs,
        ps.delivered, ps.failed, undelivered);
    evf_pub_destroy(pub, 10000);
    evf_gen_destroy(gen);
    qsort(pubs, npubs, sizeof(*pubs), cmp_pub);
    int produce_ok = ps.failed == 0 && undelivered == 0;

    /* nothing stuck: the group's lag reaches 0 (and stays 0 for 3 s) */
    rd_kafka_t *lagrk = consumer_new(bootstraps, group);
    char behind[2048] = "";
    int64_t lag = -1;
    double zero_since = 0, end = mono_s() + drain_s;
    while (mono_s() < end) {
        lag = lagrk ? group_lag(lagrk, topics, ntopics, partitions, behind, sizeof(behind)) : -1;
        if (lag == 0) {
            if (!zero_since)
                zero_since = mono_s();
            if (mono_s() - zero_since >= 3)
                break;
        } else {
            zero_since = 0;
        }
        sleep_ms(1000);
    }
    SAY("drained: lag %" PRId64 "%s%s", lag, lag ? ", behind:" : "", lag ? behind : "");
    if (lagrk)
        rd_kafka_destroy(lagrk);

    for (int i = 0; i < NWORKERS; i++)
        slots[i].stop = 1;
    for (int i = 0; i < NWORKERS; i++) {
        pthread_join(slots[i].tid, NULL);
        evf_conf_destroy(slots[i].conf);
    }
    SAY("workers stopped (exit %d %d)", slots[0].rc, slots[1].rc);

    /* the ledger and the dead letters */
    evf_redis_opts_t ro = {0};
    char url[128];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", redis_port);
    ro.url = url;
    ro.connect_timeout_ms = 5000;
    ro.command_timeout_ms = 60000;
    evf_redis_t *r = evf_redis_new_opts(&ro, err, sizeof(err));
    if (!r || evf_redis_connect(r, err, sizeof(err)) != EVF_OK) {
        SAY("redis: %s", err);
        return 2;
    }
    unsigned char *counted = calloc(npubs ? npubs : 1, 1);
    long lost = 0, dup = 0, dead_applied = 0, extra = 0;
    char first_lost[64] = "", first_dup[64] = "";
    redisReply *rep = evf_redis_cmd(r, "HGETALL %s", ledger);
    if (!rep || rep->type != REDIS_REPLY_ARRAY) {
        SAY("HGETALL %s failed", ledger);
        return 2;
    }
    for (size_t i = 0; i + 1 < rep->elements; i += 2) {
        published_t *p = find_pub(rep->element[i]->str);
        long n = strtol(rep->element[i + 1]->str, NULL, 10);
        if (!p) {
            extra++;
            continue;
        }
        counted[p - pubs] = (unsigned char)(n > 255 ? 255 : n);
    }
    freeReplyObject(rep);

    dlq_scan_t d = {0};
    d.seen = calloc(npubs ? npubs : 1, 1);
    long ndlq = read_topic(bootstraps, dlq, partitions, on_dlq, &d);
    long dead_ok = 0;
    for (size_t i = 0; i < npubs; i++) {
        int n = counted[i];
        if (pubs[i].meant_to_fail) {
            if (n)
                dead_applied++;
            else if (d.seen[i])
                dead_ok++;
            else if (!lost++)
                snprintf(first_lost, sizeof(first_lost), "%s", pubs[i].id);
        } else if (n == 0) {
            if (!lost++)
                snprintf(first_lost, sizeof(first_lost), "%s", pubs[i].id);
        } else if (n > 1) {
            if (!dup++)
                snprintf(first_dup, sizeof(first_dup), "%s", pubs[i].id);
        }
    }
    if (lost)
        SAY("lost %ld, the first: %s", lost, first_lost);
    if (dup)
        SAY("duplicated %ld, the first: %s", dup, first_dup);
    if (d.unexpected)
        SAY("unexpected dead letters %ld, the first: %s", d.unexpected, d.first_unexpected);
    if (dead_applied || extra)
        SAY("meant to fail but applied: %ld; ledger ids never published: %ld", dead_applied,
            extra);
    if (!produce_ok)
        SAY("the producer did not deliver everything: %s", ps.last_reason);
    int failed = lost || dup || d.unexpected || dead_applied || extra || lag != 0 || ndlq < 0 ||
                 !produce_ok || slots[0].rc != 0 || slots[1].rc != 0;

    if (!failed) { /* clean up our Redis keys (the mock cluster goes with the process) */
        char pattern[256];
        snprintf(pattern, sizeof(pattern), "%s:*", prefix);
        char cursor[32] = "0";
        do {
            rep = evf_redis_cmd(r, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
            if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2)
                break;
            snprintf(cursor, sizeof(cursor), "%s", rep->element[0]->str);
            for (size_t i = 0; i < rep->element[1]->elements; i++) {
                redisReply *u = evf_redis_cmd(r, "UNLINK %s", rep->element[1]->element[i]->str);
                if (u)
                    freeReplyObject(u);
            }
            freeReplyObject(rep);
            rep = NULL;
        } while (strcmp(cursor, "0") != 0);
        if (rep)
            freeReplyObject(rep);
    }
    evf_redis_destroy(r);

    char fstr[512];
    size_t used = 0;
    for (int f = 0; f < F__CNT; f++)
        used += (size_t)snprintf(fstr + used, sizeof(fstr) - used, "%s%s=%d", f ? "," : "",
                                 fault_names[f], counts[f]);
    printf("fault-mock: %s events=%zu faults=%d (%s) lost=%ld duplicated=%ld dead_lettered=%ld "
           "(dlq copies %ld) unexpected_dlq=%ld stuck_lag=%" PRId64 " seconds=%.0f SEED=%" PRIu64
           "\n",
           failed ? "FAIL" : "PASS", npubs, nplan, fstr, lost, dup, dead_ok, d.copies,
           d.unexpected, lag, mono_s() - t0, seed);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(mc_rk);
    free(pubs);
    free(counted);
    free(d.seen);
    evf_conf_destroy(pconf);
    return failed ? 1 : 0;
}
