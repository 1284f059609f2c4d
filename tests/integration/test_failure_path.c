/* tests/integration/test_failure_path.c — the failure path (issue #6) against the real local Kafka
 * and Redis, with real `evfleet-worker` processes:
 *   - in-place retries: the times the processor was called follow the configured backoff curve
 *     (retry.backoff.initial.ms, .multiplier, .max.ms with retry.jitter=none), and full and equal
 *     jitter stay within their bounds (and do jitter);
 *   - retry topics: an always-failing event goes source → retry.1 → retry.2 → dlq; each copy
 *     carries the contract's headers (set-once original.*, first.failed.at and idempotency.key
 *     unchanged; attempts, class, message, processor, failed.at, worker, group replaced), runs no
 *     earlier than its evfleet.retry.not-before, and the dead letter is byte-exact with the
 *     original's headers kept;
 *   - the circuit breaker: an outage opens it (metric, /status, partitions paused, no dead
 *     letters), a probe after the cooldown fails and reopens it, the end of the outage closes it,
 *     and every event is processed exactly once;
 *   - an unwritable dead-letter topic (max.message.bytes too small, so the broker refuses the
 *     letter): the partition holds at that event, /readyz says why, nothing after it is processed
 *     or committed; raising max.message.bytes (AlterConfigs) lets the letter through and the rest
 *     runs, nothing lost;
 *   - a crash loop for real: `chaos` aborts the worker on one event; the test restarts it each
 *     time it dies; after crash.max.attempts crashes that event is dead-lettered as crash-loop
 *     and every other event (those queued behind it included) is processed once, not blamed;
 *   - a copy written for another partition does not end the hold: /readyz stays not ready
 *     while a partition holds.
 *
 * The examples/flaky_downstream.c plugin (built into $EVF_BUILD/plugins/) stands in for a
 * downstream that fails on chosen attempts or while a Redis key exists, and records every call
 * (time, attempt, topic) in a trace file. */
#include <check.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "event.h"
#include "failtest.h"
#include "fleet.h"
#include "idemtest.h"
#include "publisher.h"
#include "testutil.h"

#define READY_MS 60000
#define STOP_MS 30000
#define WAIT_MS 60000
/* How much later than its due time a waiting event may run on this loaded 2-core machine (the
 * lanes wake at the due time; the rest is scheduling). Generous, yet below the curve's steps. */
#define LATE_MS 450

static int64_t wall_ms(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void stop_ok(evf_fleet_worker_t *w) {
    int64_t ms = 0;
    int rc = evf_fleet_stop(w, STOP_MS, &ms);
    char *tail = rc ? evf_fleet_log_tail(w, 3000) : NULL;
    ck_assert_msg(rc == 0, "worker exited %d after %" PRId64 " ms; log:\n%s", rc, ms,
                  tail ? tail : "");
    free(tail);
}

static const char *instance_of(evf_fleet_worker_t *w, char *buf, size_t size) {
    json_t *st = evf_fleet_status(w);
    ck_assert_ptr_nonnull(st);
    const char *id = json_string_value(json_object_get(st, "instance"));
    ck_assert_ptr_nonnull(id);
    snprintf(buf, size, "%s", id);
    json_decref(st);
    return buf;
}

/* Publish one IoT event per id, ids[i] to partition parts[i] (or i % nparts when parts is NULL),
 * in order. */
static void publish_ids(const char *topic, char ids[][128], size_t n, int nparts) {
    struct evf_pub_s *pub = evf_fleet_publisher();
    for (size_t i = 0; i < n; i++) {
        evf_event_t *ev = evf_itest_iot(ids[i], "dev-fp", "temp", (double)i, wall_ms(), NULL);
        evf_itest_send(pub, topic, (int32_t)(i % (size_t)nparts), ev);
        evf_event_free(ev);
    }
    evf_fleet_publisher_done(pub);
}

/* Start a worker that routes every event to `flaky` (examples/flaky_downstream.c) with a trace
 * file and the ledger on, then `more` (NULL-terminated -X settings). */
static void start_flaky(evf_fleet_worker_t *w, const evf_fleet_names_t *n, const char *trace,
                        const char *const *more) {
    char lib[PATH_MAX + 64], tr[600], *so = evf_test_plugin("flaky_downstream"), real[PATH_MAX];
    ck_assert_msg(realpath(so, real), "%s not built (make plugins)", so);
    free(so);
    snprintf(lib, sizeof(lib), "processor.flaky.library=%s", real);
    snprintf(tr, sizeof(tr), "processor.flaky.trace.file=%s", trace);
    const char *extra[48];
    size_t k = 0;
    extra[k++] = "route.*=flaky";
    extra[k++] = lib;
    extra[k++] = tr;
    extra[k++] = "processor.flaky.ledger=true";
    for (size_t i = 0; more && more[i]; i++) {
        ck_assert_uint_lt(k, 47);
        extra[k++] = more[i];
    }
    extra[k] = NULL;
    evf_fleet_start(w, n, extra, NULL);
}

/* The ledger must hold exactly these ids, each once. */
static void ledger_exactly(evf_redis_t *r, const char *ledger, char ids[][128], size_t n) {
    evf_fleet_idmap_t *want = evf_fleet_idmap_new();
    for (size_t i = 0; i < n; i++)
        evf_fleet_idmap_add(want, ids[i], 1);
    evf_fleet_idmap_t *got = evf_fleet_hash(r, ledger);
    size_t missing, wrong, extra;
    char first[256] = "";
    ck_assert_msg(evf_fleet_ledger_exact(got, want, &missing, &wrong, &extra, first,
                                         sizeof(first)),
                  "ledger %s: %zu missing, %zu counted other than once (%s), %zu unexpected",
                  ledger, missing, wrong, first, extra);
    evf_fleet_idmap_free(got);
    evf_fleet_idmap_free(want);
}

static int64_t topic_count(const char *topic) {
    evf_fleet_msgs_t m;
    evf_fleet_read_topic(topic, &m, 30000);
    int64_t c = (int64_t)m.count;
    evf_fleet_msgs_free(&m);
    return c;
}

static const evf_fleet_msg_t *msg_at(const evf_fleet_msgs_t *m, int32_t partition,
                                     int64_t offset) {
    for (size_t i = 0; i < m->count; i++)
        if (m->msgs[i].partition == partition && m->msgs[i].offset == offset)
            return &m->msgs[i];
    ck_abort_msg("no message at [%d]@%" PRId64, partition, offset);
    return NULL;
}

/* Committed offsets of group on topic equal its high watermarks (everything done). */
static void committed_to_end(const char *group, const char *topic, int nparts) {
    int64_t committed[8], high[8];
    ck_assert_int_le(nparts, 8);
    evf_fleet_committed(group, topic, nparts, committed);
    evf_fleet_high_watermarks(topic, nparts, high);
    for (int p = 0; p < nparts; p++)
        ck_assert_msg(committed[p] == high[p], "%s[%d]: committed %" PRId64 ", end %" PRId64,
                      topic, p, committed[p], high[p]);
}

/* ------------------------------------------------------------------------------------------ */
/* In-place retries follow the backoff curve                                                    */

/* The gaps between the starts of consecutive calls of one event, checked against each gap's
 * lower bound lo[i] and upper bound hi[i] + LATE_MS. */
static void check_gaps(const evf_ftrace_t *t, const char *id, int runs, const int64_t *lo,
                       const int64_t *hi, int64_t *gaps_out) {
    const evf_ftrace_call_t *c[64];
    size_t n = evf_ftrace_of(t, id, c, 64);
    char *text = evf_ftrace_text(t, 60);
    ck_assert_msg(n == (size_t)runs, "%s: %zu calls, want %d; trace:\n%s", id, n, runs, text);
    for (int i = 0; i < runs; i++)
        ck_assert_msg(c[i]->attempt == i + 1, "%s: call %d has attempt %d; trace:\n%s", id, i + 1,
                      c[i]->attempt, text);
    for (int i = 0; i + 1 < runs; i++) {
        int64_t gap = c[i + 1]->at_ms - c[i]->at_ms;
        gaps_out[i] = gap;
        ck_assert_msg(gap >= lo[i] && gap <= hi[i] + LATE_MS,
                      "%s: run %d came %" PRId64 " ms after run %d; the backoff allows [%" PRId64
                      ", %" PRId64 "] (+%d ms late); trace:\n%s",
                      id, i + 2, gap, i + 1, lo[i], hi[i], LATE_MS, text);
    }
    free(text);
}

START_TEST(backoff_in_place_follows_the_curve) {
    enum { RUNS = 5 };
    /* initial 300, ×2, max 1000: 300, 600, 1000 (capped), 1000 */
    static const int64_t base[RUNS - 1] = {300, 600, 1000, 1000};
    evf_fleet_names_t n;
    evf_fleet_worker_t w;
    char ids[2][128], trace[300], fail[200], instance[80], buf[600], idem[400];
    evf_fleet_names(&n, "boff", 0);
    evf_fleet_create_topic(n.topic, 2);
    evf_ftrace_path(trace, sizeof(trace), "backoff");
    snprintf(ids[0], sizeof(ids[0]), "%s-fails", n.group);
    snprintf(ids[1], sizeof(ids[1]), "%s-ok", n.group);
    publish_ids(n.topic, ids, 2, 2); /* the failing one on partition 0, the other on 1 */

    snprintf(fail, sizeof(fail), "processor.flaky.fail.ids=%s", ids[0]);
    const char *more[] = {fail,
                          "retry.max.attempts=5",
                          "retry.backoff.initial.ms=300",
                          "retry.backoff.multiplier=2",
                          "retry.backoff.max.ms=1000",
                          "retry.jitter=none",
                          "breaker.flaky.min.calls=0",
                          NULL};
    int64_t t_start = wall_ms();
    start_flaky(&w, &n, trace, more);
    evf_fleet_wait_ready(&w, READY_MS);
    instance_of(&w, instance, sizeof(instance));

    evf_fleet_msgs_t dlq, src;
    evf_fleet_read_topic_until(evf_fleet_derived(&n, "dlq"), 1, &dlq, WAIT_MS);
    ck_assert_uint_eq(dlq.count, 1);
    evf_redis_t *r = evf_fleet_redis();
    evf_fleet_wait_ledger(r, n.ledger, 1, WAIT_MS, 30000, NULL);
    stop_ok(&w);
    int64_t t_end = wall_ms();

    evf_ftrace_t t;
    evf_ftrace_read(trace, &t);
    int64_t gaps[RUNS - 1];
    check_gaps(&t, ids[0], RUNS, base, base, gaps);
    fprintf(stderr, "backoff none: gaps %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64
                    " (curve 300 600 1000 1000)\n",
            gaps[0], gaps[1], gaps[2], gaps[3]);
    const evf_ftrace_call_t *c[8];
    ck_assert_uint_eq(evf_ftrace_of(&t, ids[0], c, 8), RUNS);

    /* The dead letter after the last run: the contract's headers, times matching the calls. */
    evf_fleet_read_topic(n.topic, &src, 30000);
    const evf_fleet_msg_t *dl = &dlq.msgs[0], *s = msg_at(&src, 0, 0);
    evf_fcopy_check_common(dl, s, n.topic, "dead letter");
    ck_assert_str_eq(evf_fhdr_str(dl, "evfleet.error.class", buf, sizeof(buf)), "transient");
    ck_assert_str_eq(evf_fhdr_str(dl, "evfleet.attempts", buf, sizeof(buf)), "5");
    ck_assert_str_eq(evf_fhdr_str(dl, "evfleet.processor", buf, sizeof(buf)), "flaky");
    ck_assert_str_eq(evf_fhdr_str(dl, "evfleet.worker", buf, sizeof(buf)), instance);
    ck_assert_str_eq(evf_fhdr_str(dl, "evfleet.group", buf, sizeof(buf)), n.group);
    snprintf(idem, sizeof(idem), "%s:%s:%s", n.prefix, n.group, ids[0]);
    ck_assert_str_eq(evf_fhdr_str(dl, "evfleet.idempotency.key", buf, sizeof(buf)), idem);
    ck_assert_ptr_nonnull(strstr(evf_fhdr_str(dl, "evfleet.error.message", buf, sizeof(buf)),
                                 "(attempt 5)"));
    ck_assert_int_eq(evf_fhdr_count(dl, "evfleet.retry.not-before"), 0);
    int64_t first = evf_fhdr_int(dl, "evfleet.first.failed.at");
    int64_t failed = evf_fhdr_int(dl, "evfleet.failed.at");
    ck_assert_msg(first >= c[0]->at_ms && first <= c[1]->at_ms,
                  "evfleet.first.failed.at %" PRId64
                  " is not the first run's failure (runs at %" PRId64 ", %" PRId64 ", … %" PRId64
                  "; failed.at %" PRId64 ")",
                  first, c[0]->at_ms, c[1]->at_ms, c[RUNS - 1]->at_ms, failed);
    ck_assert_msg(failed >= c[RUNS - 1]->at_ms && failed <= t_end,
                  "evfleet.failed.at %" PRId64 " before the last run (%" PRId64 ")", failed,
                  c[RUNS - 1]->at_ms);
    ck_assert_int_ge(c[0]->at_ms, t_start);

    /* The other partition did not wait for the failing event. */
    const evf_ftrace_call_t *okc[4];
    ck_assert_uint_eq(evf_ftrace_of(&t, ids[1], okc, 4), 1);
    ck_assert_msg(okc[0]->at_ms < c[RUNS - 1]->at_ms,
                  "the event of partition 1 ran only after the failing event's last run");
    ledger_exactly(r, n.ledger, &ids[1], 1);

    evf_ftrace_free(&t);
    evf_fleet_msgs_free(&dlq);
    evf_fleet_msgs_free(&src);
    evf_redis_destroy(r);
}
END_TEST

START_TEST(jitter_stays_within_bounds) {
    enum { EVENTS = 4, RUNS = 5 };
    /* initial 200, ×2, max 800: bases 200, 400, 800, 800 */
    static const int64_t base[RUNS - 1] = {200, 400, 800, 800};
    static const int64_t zero[RUNS - 1] = {0, 0, 0, 0};
    int64_t half[RUNS - 1];
    for (int i = 0; i < RUNS - 1; i++)
        half[i] = base[i] / 2;
    evf_fleet_names_t nf, ne;
    evf_fleet_worker_t wf, we;
    char ids[EVENTS][128], trf[300], tre[300];
    evf_fleet_names(&nf, "jitf", 0);
    evf_fleet_names(&ne, "jite", 0);
    /* Both groups read one source topic. */
    snprintf(ne.topic, sizeof(ne.topic), "%s", nf.topic);
    static const char *const suffixes[] = {"retry.1", "retry.2", "dlq", "replay"};
    for (size_t i = 0; i < 4; i++)
        evf_fleet_track_topic(evf_fleet_derived(&ne, suffixes[i]));
    evf_fleet_create_topic(nf.topic, EVENTS);
    evf_ftrace_path(trf, sizeof(trf), "jitter-full");
    evf_ftrace_path(tre, sizeof(tre), "jitter-equal");
    for (int i = 0; i < EVENTS; i++)
        snprintf(ids[i], sizeof(ids[i]), "%s-j%d", nf.group, i);
    publish_ids(nf.topic, ids, EVENTS, EVENTS);

    /* Each event fails its first four runs and succeeds on the fifth. */
    const char *common[] = {"processor.flaky.fail.ids=*", "processor.flaky.fail.attempts=4",
                            "retry.max.attempts=5",       "retry.backoff.initial.ms=200",
                            "retry.backoff.multiplier=2", "retry.backoff.max.ms=800",
                            "breaker.flaky.min.calls=0",  NULL, NULL};
    common[7] = "retry.jitter=full";
    start_flaky(&wf, &nf, trf, common);
    common[7] = "retry.jitter=equal";
    start_flaky(&we, &ne, tre, common);
    evf_fleet_wait_ready(&wf, READY_MS);
    evf_fleet_wait_ready(&we, READY_MS);

    evf_redis_t *r = evf_fleet_redis();
    evf_fleet_wait_ledger(r, nf.ledger, EVENTS, WAIT_MS, 30000, nf.topic);
    evf_fleet_wait_ledger(r, ne.ledger, EVENTS, WAIT_MS, 30000, ne.topic);
    stop_ok(&wf);
    stop_ok(&we);
    ledger_exactly(r, nf.ledger, ids, EVENTS);
    ledger_exactly(r, ne.ledger, ids, EVENTS);
    ck_assert_int_eq(topic_count(evf_fleet_derived(&nf, "dlq")), 0);
    ck_assert_int_eq(topic_count(evf_fleet_derived(&ne, "dlq")), 0);

    /* full: each gap in [0, base]; equal: in [base/2, base]. And they do jitter: with 16 gaps
     * each, a full-jitter gap under 60% of its base, and an equal-jitter gap under 85%, are
     * all but certain (a run without any would have odds below 1e-6). */
    evf_ftrace_t tf, te;
    evf_ftrace_read(trf, &tf);
    evf_ftrace_read(tre, &te);
    int low_full = 0, low_equal = 0;
    for (int i = 0; i < EVENTS; i++) {
        int64_t gf[RUNS - 1], ge[RUNS - 1];
        check_gaps(&tf, ids[i], RUNS, zero, base, gf);
        check_gaps(&te, ids[i], RUNS, half, base, ge);
        for (int k = 0; k < RUNS - 1; k++) {
            low_full += gf[k] * 100 < base[k] * 60;
            low_equal += ge[k] * 100 < base[k] * 85;
        }
        fprintf(stderr,
                "jitter %s: full %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 ", equal %" PRId64
                " %" PRId64 " %" PRId64 " %" PRId64 " (bases 200 400 800 800)\n",
                ids[i], gf[0], gf[1], gf[2], gf[3], ge[0], ge[1], ge[2], ge[3]);
    }
    ck_assert_msg(low_full > 0, "full jitter: no gap below 60%% of its base in %d gaps",
                  EVENTS * (RUNS - 1));
    ck_assert_msg(low_equal > 0, "equal jitter: no gap below 85%% of its base in %d gaps",
                  EVENTS * (RUNS - 1));
    evf_ftrace_free(&tf);
    evf_ftrace_free(&te);
    evf_redis_destroy(r);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* Retry topics: source → retry.1 → retry.2 → dlq                                               */

START_TEST(retry_copies_through_levels_to_dead_letter) {
    static const int64_t delays[2] = {800, 1200};
    evf_fleet_names_t n;
    evf_fleet_worker_t w;
    char ids[2][128], trace[300], fail[200], instance[80], buf[600], idem[400], want[64];
    evf_fleet_names(&n, "chain", 0);
    evf_fleet_create_topic(n.topic, 1);
    evf_ftrace_path(trace, sizeof(trace), "chain");
    snprintf(ids[0], sizeof(ids[0]), "%s-always", n.group);
    snprintf(ids[1], sizeof(ids[1]), "%s-after", n.group);
    publish_ids(n.topic, ids, 2, 1); /* offsets 0 (fails) and 1, one partition */

    snprintf(fail, sizeof(fail), "processor.flaky.fail.ids=%s", ids[0]);
    const char *more[] = {fail,
                          "retry.topics.delays.ms=800,1200",
                          "retry.max.attempts=2",
                          "retry.backoff.initial.ms=100",
                          "retry.jitter=none",
                          "breaker.flaky.min.calls=0",
                          NULL};
    start_flaky(&w, &n, trace, more);
    evf_fleet_wait_ready(&w, READY_MS);
    instance_of(&w, instance, sizeof(instance));

    evf_fleet_msgs_t dlq, r1, r2, src;
    evf_fleet_read_topic_until(evf_fleet_derived(&n, "dlq"), 1, &dlq, WAIT_MS);
    ck_assert_uint_eq(dlq.count, 1);
    evf_redis_t *r = evf_fleet_redis();
    evf_fleet_wait_ledger(r, n.ledger, 1, WAIT_MS, 30000, NULL);
    evf_prom_t *p = evf_fleet_metrics(&w);
    char match[400];
    snprintf(match, sizeof(match), "topic=%s,class=transient", n.topic);
    ck_assert_int_eq((int)evf_prom_sum(p, "evfleet_dlq_events_total", match, NULL), 1);
    evf_prom_free(p);
    stop_ok(&w);

    evf_fleet_read_topic(evf_fleet_derived(&n, "retry.1"), &r1, 30000);
    evf_fleet_read_topic(evf_fleet_derived(&n, "retry.2"), &r2, 30000);
    evf_fleet_read_topic(n.topic, &src, 30000);
    ck_assert_uint_eq(r1.count, 1);
    ck_assert_uint_eq(r2.count, 1);
    ck_assert_uint_eq(src.count, 2);
    const evf_fleet_msg_t *s = msg_at(&src, 0, 0);
    const evf_fleet_msg_t *hop[3] = {&r1.msgs[0], &r2.msgs[0], &dlq.msgs[0]};
    static const char *const hop_name[3] = {"retry.1 copy", "retry.2 copy", "dead letter"};
    snprintf(idem, sizeof(idem), "%s:%s:%s", n.prefix, n.group, ids[0]);

    evf_ftrace_t t;
    evf_ftrace_read(trace, &t);
    char *text = evf_ftrace_text(&t, 40);
    const evf_ftrace_call_t *c[16];
    size_t nc = evf_ftrace_of(&t, ids[0], c, 16);
    ck_assert_msg(nc == 6, "%zu calls of the failing event, want 2 per level × 3; trace:\n%s", nc,
                  text);

    int64_t first = evf_fhdr_int(hop[0], "evfleet.first.failed.at"), prev_failed = 0;
    char prev_msg[600] = "";
    for (int h = 0; h < 3; h++) {
        const evf_fleet_msg_t *m = hop[h];
        evf_fcopy_check_common(m, s, n.topic, hop_name[h]);
        /* set once: identical on every hop */
        ck_assert_msg(evf_fhdr_int(m, "evfleet.first.failed.at") == first,
                      "%s: first.failed.at %" PRId64 ", the first copy had %" PRId64, hop_name[h],
                      evf_fhdr_int(m, "evfleet.first.failed.at"), first);
        ck_assert_str_eq(evf_fhdr_str(m, "evfleet.idempotency.key", buf, sizeof(buf)), idem);
        /* replaced on every hop */
        snprintf(want, sizeof(want), "%d", 2 * (h + 1));
        ck_assert_str_eq(evf_fhdr_str(m, "evfleet.attempts", buf, sizeof(buf)), want);
        ck_assert_str_eq(evf_fhdr_str(m, "evfleet.error.class", buf, sizeof(buf)), "transient");
        ck_assert_str_eq(evf_fhdr_str(m, "evfleet.processor", buf, sizeof(buf)), "flaky");
        ck_assert_str_eq(evf_fhdr_str(m, "evfleet.worker", buf, sizeof(buf)), instance);
        ck_assert_str_eq(evf_fhdr_str(m, "evfleet.group", buf, sizeof(buf)), n.group);
        const char *msg = evf_fhdr_str(m, "evfleet.error.message", buf, sizeof(buf));
        snprintf(want, sizeof(want), "(attempt %d)", 2 * (h + 1));
        ck_assert_msg(strstr(msg, want), "%s: error message '%s' is not the last run's (%s)",
                      hop_name[h], msg, want);
        ck_assert_msg(strcmp(msg, prev_msg), "%s: error message not replaced", hop_name[h]);
        snprintf(prev_msg, sizeof(prev_msg), "%s", msg);
        int64_t failed = evf_fhdr_int(m, "evfleet.failed.at");
        /* the copy was made after this level's last run, and after the previous copy */
        ck_assert_msg(failed >= c[2 * h + 1]->at_ms && failed > prev_failed,
                      "%s: failed.at %" PRId64 " (level's last run at %" PRId64
                      ", previous copy's failed.at %" PRId64 ")",
                      hop_name[h], failed, c[2 * h + 1]->at_ms, prev_failed);
        prev_failed = failed;
        if (h == 0) /* the first run's failure: after it started, before the second run */
            ck_assert_msg(first >= c[0]->at_ms && first <= c[1]->at_ms,
                          "first.failed.at %" PRId64
                          " is not the first run's failure (runs at %" PRId64 " and %" PRId64
                          ", first copy %" PRId64 ")",
                          first, c[0]->at_ms, c[1]->at_ms, failed);
        if (h < 2) {
            /* not-before = failed.at + the level's delay, and no run on that level before it */
            int64_t nb = evf_fhdr_int(m, "evfleet.retry.not-before");
            ck_assert_msg(nb == failed + delays[h], "%s: not-before %" PRId64 ", failed.at %" PRId64
                          " + delay %" PRId64,
                          hop_name[h], nb, failed, delays[h]);
            const char *level = evf_fleet_derived(&n, h == 0 ? "retry.1" : "retry.2");
            for (int k = 2 * (h + 1); k < 2 * (h + 2); k++) {
                ck_assert_msg(!strcmp(c[k]->topic, level),
                              "run %d read from %s, want %s; trace:\n%s", k + 1, c[k]->topic,
                              level, text);
                ck_assert_msg(c[k]->at_ms >= nb,
                              "run %d on %s started at %" PRId64 ", before its not-before %" PRId64,
                              k + 1, level, c[k]->at_ms, nb);
            }
            ck_assert_msg(c[2 * (h + 1)]->at_ms <= nb + LATE_MS + 1000,
                          "the %s copy ran %" PRId64 " ms after its not-before", hop_name[h],
                          c[2 * (h + 1)]->at_ms - nb);
        } else {
            ck_assert_int_eq(evf_fhdr_count(m, "evfleet.retry.not-before"), 0);
        }
    }
    for (int k = 0; k < 2; k++)
        ck_assert_msg(!strcmp(c[k]->topic, n.topic), "run %d read from %s; trace:\n%s", k + 1,
                      c[k]->topic, text);

    /* The next event of the partition did not wait for the retries (order given up for the
     * failing event only), and ran once. */
    const evf_ftrace_call_t *after[4];
    ck_assert_uint_eq(evf_ftrace_of(&t, ids[1], after, 4), 1);
    ck_assert_msg(after[0]->at_ms < c[2]->at_ms,
                  "the event after the failing one ran at %" PRId64
                  ", after its retry.1 run (%" PRId64 ")",
                  after[0]->at_ms, c[2]->at_ms);
    ledger_exactly(r, n.ledger, &ids[1], 1);
    committed_to_end(n.group, n.topic, 1);
    committed_to_end(n.group, evf_fleet_derived(&n, "retry.1"), 1);
    committed_to_end(n.group, evf_fleet_derived(&n, "retry.2"), 1);

    free(text);
    evf_ftrace_free(&t);
    evf_fleet_msgs_free(&dlq);
    evf_fleet_msgs_free(&r1);
    evf_fleet_msgs_free(&r2);
    evf_fleet_msgs_free(&src);
    evf_redis_destroy(r);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* Circuit breaker                                                                              */

static const char *breaker_state(json_t *st, const char *proc) {
    return json_string_value(json_object_get(json_object_get(json_object_get(st, "breakers"), proc),
                                             "state"));
}

START_TEST(breaker_opens_probes_and_closes) {
    enum { PARTS = 2, EVENTS = 24, COOLDOWN = 1500, OBSERVE_MS = 4500 };
    evf_fleet_names_t n;
    evf_fleet_worker_t w;
    char ids[EVENTS][128], trace[300], down[300], xdown[400], buf[64];
    evf_fleet_names(&n, "brk", 0);
    evf_fleet_create_topic(n.topic, PARTS);
    evf_ftrace_path(trace, sizeof(trace), "breaker");
    for (int i = 0; i < EVENTS; i++)
        snprintf(ids[i], sizeof(ids[i]), "%s-b%02d", n.group, i);
    publish_ids(n.topic, ids, EVENTS, PARTS);
    snprintf(down, sizeof(down), "%s:%s:downstream-down", n.prefix, n.group); /* tracked */
    snprintf(xdown, sizeof(xdown), "processor.flaky.down.key=%s", down);
    evf_redis_t *r = evf_fleet_redis();
    evf_itest_ok(r, "SET %s 1", down); /* the outage starts before the worker */

    const char *more[] = {xdown,
                          "retry.max.attempts=100",
                          "retry.backoff.initial.ms=100",
                          "retry.backoff.max.ms=200",
                          "retry.jitter=none",
                          "breaker.flaky.window.ms=10000",
                          "breaker.flaky.min.calls=4",
                          "breaker.flaky.failure.ratio=0.5",
                          "breaker.flaky.cooldown.ms=1500",
                          "worker.queue.max=4",
                          NULL};
    start_flaky(&w, &n, trace, more);
    evf_fleet_wait_ready(&w, READY_MS);

    /* 1. It opens: /status and the gauge. */
    int64_t deadline = evf_test_now_ms() + WAIT_MS, t_open = 0;
    for (;;) {
        json_t *st = evf_fleet_status(&w);
        ck_assert_ptr_nonnull(st);
        const char *state = breaker_state(st, "flaky");
        int open = state && !strcmp(state, "open");
        json_decref(st);
        if (open && evf_itest_metric(&w, "evfleet_breaker_open", "processor=flaky") == 1) {
            t_open = wall_ms();
            break;
        }
        ck_assert_msg(evf_test_now_ms() < deadline, "the breaker did not open (state %s)",
                      state ? state : "-");
        usleep(50 * 1000);
    }

    /* 2. While the outage lasts: partitions paused and waiting on the breaker, probes only
     * one per cooldown, each failing and reopening it; nothing dead-lettered or processed. */
    int paused_seen[PARTS] = {0}, breaker_wait_seen = 0, open_after_probe = 0;
    int64_t end = evf_test_now_ms() + OBSERVE_MS;
    while (evf_test_now_ms() < end) {
        json_t *st = evf_fleet_status(&w);
        ck_assert_ptr_nonnull(st);
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(st, "paused_partitions"), i, e) {
            const char *tp = json_string_value(json_object_get(e, "topic"));
            int part = (int)json_integer_value(json_object_get(e, "partition"));
            if (tp && !strcmp(tp, n.topic) && part >= 0 && part < PARTS)
                paused_seen[part] = 1;
        }
        json_array_foreach(json_object_get(st, "waiting"), i, e) {
            const char *why = json_string_value(json_object_get(e, "reason"));
            breaker_wait_seen |= why && strstr(why, "circuit breaker open");
        }
        const char *state = breaker_state(st, "flaky");
        ck_assert_msg(state && strcmp(state, "closed"), "the breaker closed during the outage");
        if (!strcmp(state, "open")) {
            /* open again after a probe that started after the first opening */
            evf_ftrace_t t;
            evf_ftrace_read(trace, &t);
            for (size_t k = 0; k < t.count; k++)
                open_after_probe |= t.calls[k].at_ms >= t_open + COOLDOWN - 100;
            evf_ftrace_free(&t);
        }
        json_decref(st);
        usleep(100 * 1000);
    }
    ck_assert_msg(paused_seen[0] && paused_seen[1],
                  "/status never listed both partitions as paused (0: %d, 1: %d)", paused_seen[0],
                  paused_seen[1]);
    ck_assert_msg(breaker_wait_seen, "/status never showed a partition waiting on the breaker");
    ck_assert_msg(open_after_probe, "no failed probe reopened the breaker");
    ck_assert_int_eq(evf_itest_metric(&w, "evfleet_breaker_open", "processor=flaky"), 1);
    ck_assert_int_ge(evf_itest_metric(&w, "evfleet_paused_partitions", NULL), 1);
    ck_assert_int_eq(evf_fleet_hlen(r, n.ledger), 0);
    ck_assert_int_eq(topic_count(evf_fleet_derived(&n, "dlq")), 0);

    evf_ftrace_t t;
    evf_ftrace_read(trace, &t);
    char *text = evf_ftrace_text(&t, 60);
    int64_t last_probe = 0, t_observed = wall_ms();
    int probes = 0;
    for (size_t k = 0; k < t.count; k++) {
        const evf_ftrace_call_t *c = &t.calls[k];
        ck_assert_msg(!c->ok, "a call succeeded during the outage; trace:\n%s", text);
        if (c->at_ms <= t_open + 100)
            continue; /* calls before the opening (or running as it opened) */
        probes++;
        ck_assert_msg(!last_probe || c->at_ms - last_probe >= COOLDOWN - 20,
                      "probes %" PRId64 " ms apart, the cooldown is %d; trace:\n%s",
                      c->at_ms - last_probe, COOLDOWN, text);
        last_probe = c->at_ms;
    }
    int64_t open_ms = t_observed - t_open;
    ck_assert_msg(probes >= 1 && probes <= open_ms / COOLDOWN + 1,
                  "%d calls in %" PRId64 " ms of an open breaker (cooldown %d); trace:\n%s", probes,
                  open_ms, COOLDOWN, text);
    fprintf(stderr, "breaker: %zu calls before opening, %d probes in %" PRId64 " ms open\n",
            t.count - (size_t)probes, probes, open_ms);
    free(text);
    evf_ftrace_free(&t);

    /* 3. The outage ends: the next probe succeeds, the breaker closes, everything runs once. */
    evf_itest_ok(r, "DEL %s", down);
    evf_fleet_wait_ledger(r, n.ledger, EVENTS, WAIT_MS, 30000, n.topic);
    deadline = evf_test_now_ms() + 15000;
    for (;;) {
        json_t *st = evf_fleet_status(&w);
        ck_assert_ptr_nonnull(st);
        const char *state = breaker_state(st, "flaky");
        int closed = state && !strcmp(state, "closed") &&
                     json_array_size(json_object_get(st, "paused_partitions")) == 0;
        snprintf(buf, sizeof(buf), "%s", state ? state : "-");
        json_decref(st);
        if (closed && evf_itest_metric(&w, "evfleet_breaker_open", "processor=flaky") == 0 &&
            evf_itest_metric(&w, "evfleet_paused_partitions", NULL) == 0)
            break;
        ck_assert_msg(evf_test_now_ms() < deadline,
                      "after the outage: breaker %s, gauge %.0f, paused gauge %.0f", buf,
                      evf_itest_metric(&w, "evfleet_breaker_open", "processor=flaky"),
                      evf_itest_metric(&w, "evfleet_paused_partitions", NULL));
        usleep(100 * 1000);
    }
    stop_ok(&w);
    ledger_exactly(r, n.ledger, ids, EVENTS);
    ck_assert_int_eq(topic_count(evf_fleet_derived(&n, "dlq")), 0);
    committed_to_end(n.group, n.topic, PARTS);
    evf_redis_destroy(r);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* An unwritable dead-letter topic                                                              */

/* Wait until GET /readyz answers status with a body containing every needle (ignoring case). */
static char *wait_readyz_saying(evf_fleet_worker_t *w, int status, const char *const *needles,
                                int timeout_ms) {
    int64_t deadline = evf_test_now_ms() + timeout_ms;
    for (;;) {
        int got = -1;
        ck_assert_msg(evf_fleet_alive(w), "the worker exited");
        char *body = evf_fleet_get(w, "/readyz", &got);
        int all = got == status && body;
        for (size_t i = 0; all && needles[i]; i++)
            all = evf_itest_contains_ci(body, needles[i]);
        if (all)
            return body;
        if (evf_test_now_ms() > deadline) {
            char *tail = evf_fleet_log_tail(w, 3000);
            ck_abort_msg("/readyz did not answer %d with '%s'… (last %d: %s); log:\n%s", status,
                         needles[0], got, body ? body : "-", tail);
        }
        free(body);
        usleep(100 * 1000);
    }
}

START_TEST(unwritable_dead_letter_topic_holds_then_resumes) {
    /* offsets 0 ok, 1 poison (fails permanently), 2..3 ok: published before the worker starts;
     * 4..6 ok: published once the partition holds. */
    enum { EVENTS = 7, POISON = 1, EARLY = 4 };
    evf_fleet_names_t n;
    evf_fleet_worker_t w;
    char ids[EVENTS][128], fail[200], dlq[300], buf[600], instance[80];
    evf_fleet_names(&n, "dlqw", 0);
    evf_fleet_create_topic(n.topic, 1);
    snprintf(dlq, sizeof(dlq), "%s", evf_fleet_derived(&n, "dlq"));
    /* The dead-letter topic exists (the worker leaves an existing topic as it is) and refuses
     * anything over 200 bytes: every dead letter (headers alone are more) is MSG_SIZE_TOO_LARGE. */
    const char *small[] = {"max.message.bytes", "200", NULL};
    evf_ftopic_create(dlq, 1, small);
    for (int i = 0; i < EVENTS; i++)
        snprintf(ids[i], sizeof(ids[i]), "%s-%s%d", n.group, i == POISON ? "poison" : "ok", i);
    publish_ids(n.topic, ids, EARLY, 1);

    snprintf(fail, sizeof(fail), "processor.chaos.fail.ids=%s", ids[POISON]);
    const char *extra[] = {"route.*=chaos",
                           "processor.chaos.ledger=true",
                           "processor.chaos.fail.kind=permanent",
                           fail,
                           "breaker.chaos.min.calls=0",
                           NULL};
    evf_redis_t *r = evf_fleet_redis();
    evf_fleet_start(&w, &n, extra, NULL);

    /* 1. Not ready, saying why. */
    const char *why[] = {"holding", dlq, "too large", NULL};
    free(wait_readyz_saying(&w, 503, why, READY_MS));
    instance_of(&w, instance, sizeof(instance));

    /* 2. The partition holds at the poison event. Events taken in the same batch as it may have
     * run (copies are sent at the end of a batch), but none published after the hold began
     * runs, nothing is committed past it, and no dead letter is written. */
    evf_fleet_wait_ledger(r, n.ledger, POISON, WAIT_MS, 30000, NULL);
    struct evf_pub_s *pub = evf_fleet_publisher();
    for (int i = EARLY; i < EVENTS; i++) {
        evf_event_t *ev = evf_itest_iot(ids[i], "dev-fp", "temp", (double)i, wall_ms(), NULL);
        evf_itest_send(pub, n.topic, 0, ev);
        evf_event_free(ev);
    }
    evf_fleet_publisher_done(pub);
    int64_t until = evf_test_now_ms() + 3000;
    while (evf_test_now_ms() < until) {
        char v[16];
        for (int i = EARLY; i < EVENTS; i++)
            ck_assert_msg(!evf_fleet_hget(r, n.ledger, ids[i], v, sizeof(v)),
                          "%s (offset %d) ran while the partition held at offset %d", ids[i], i,
                          POISON);
        usleep(200 * 1000);
    }
    int64_t done_holding = evf_fleet_hlen(r, n.ledger);
    json_t *st = evf_fleet_status(&w);
    ck_assert_ptr_nonnull(st);
    size_t i;
    json_t *e;
    int seen = 0;
    json_array_foreach(json_object_get(st, "assignment"), i, e) {
        const char *tp = json_string_value(json_object_get(e, "topic"));
        if (!tp || strcmp(tp, n.topic))
            continue;
        seen = 1;
        ck_assert_int_eq(json_integer_value(json_object_get(e, "first_pending")), POISON);
        const char *hold = json_string_value(json_object_get(e, "hold_reason"));
        ck_assert_msg(hold && strstr(hold, "cannot write"), "hold reason '%s'", hold ? hold : "-");
    }
    ck_assert_msg(seen, "/status does not list %s", n.topic);
    json_decref(st);
    free(wait_readyz_saying(&w, 503, why, 5000)); /* still not ready */
    int64_t committed = -1;
    evf_fleet_committed(n.group, n.topic, 1, &committed);
    ck_assert_msg(committed <= POISON, "committed %" PRId64 " past the held offset %d", committed,
                  POISON);
    ck_assert_int_eq(topic_count(dlq), 0);
    double runs_held = evf_itest_metric(&w, "evfleet_processing_seconds_count", "processor=chaos");
    fprintf(stderr,
            "unwritable dlq: %" PRId64 " events done while holding (%d before it, %d more in its "
            "batch at most), %.0f processor runs\n",
            done_holding, POISON, EARLY - POISON - 1, runs_held);

    /* 3. The topic becomes writable: the letter goes through, the rest runs, ready again. */
    const char *big[] = {"max.message.bytes", "1048576", NULL};
    evf_ftopic_alter(dlq, big);
    evf_ftopic_config(dlq, "max.message.bytes", buf, sizeof(buf));
    ck_assert_str_eq(buf, "1048576");
    evf_fleet_msgs_t letters, src;
    evf_fleet_read_topic_until(dlq, 1, &letters, WAIT_MS);
    ck_assert_uint_eq(letters.count, 1);
    evf_fleet_wait_ledger(r, n.ledger, EVENTS - 1, WAIT_MS, 30000, n.topic);
    free(evf_itest_wait_readyz(&w, 200, 30000));
    double runs_total = evf_itest_metric(&w, "evfleet_processing_seconds_count", "processor=chaos");
    stop_ok(&w);

    char ok_ids[EVENTS - 1][128];
    for (int k = 0, j = 0; k < EVENTS; k++)
        if (k != POISON)
            snprintf(ok_ids[j++], sizeof(ok_ids[0]), "%s", ids[k]);
    ledger_exactly(r, n.ledger, ok_ids, EVENTS - 1);
    committed_to_end(n.group, n.topic, 1);
    ck_assert_int_eq(topic_count(dlq), 1);

    evf_fleet_read_topic(n.topic, &src, 30000);
    const evf_fleet_msg_t *dl = &letters.msgs[0];
    evf_fcopy_check_common(dl, msg_at(&src, 0, POISON), n.topic, "dead letter");
    ck_assert_str_eq(evf_fhdr_str(dl, "evfleet.error.class", buf, sizeof(buf)), "permanent");
    ck_assert_str_eq(evf_fhdr_str(dl, "evfleet.processor", buf, sizeof(buf)), "chaos");
    ck_assert_str_eq(evf_fhdr_str(dl, "evfleet.worker", buf, sizeof(buf)), instance);
    /* A permanent failure is not retried: holding sends the letter again, it does not run the
     * processor again. */
    ck_assert_str_eq(evf_fhdr_str(dl, "evfleet.attempts", buf, sizeof(buf)), "1");
    ck_assert_msg(runs_total == EVENTS,
                  "the processor ran %.0f times for %d events (%.0f by the end of the hold): "
                  "the held event was run again",
                  runs_total, EVENTS, runs_held);
    evf_fleet_msgs_free(&letters);
    evf_fleet_msgs_free(&src);
    evf_redis_destroy(r);
}
END_TEST

/* While one partition holds on an unwritable dead-letter topic, a copy of another partition's
 * event that does get written (to a retry topic) must not make the worker ready again. */
START_TEST(other_copies_do_not_end_a_hold) {
    /* The "holding" reason stays while any item holds at a copy it could not write, even when
     * another partition's copies are delivered meanwhile. */
    evf_fleet_names_t n;
    evf_fleet_worker_t w;
    char ids[2][128], trace[300], fail[400], dlq[300];
    evf_fleet_names(&n, "hold2", 0);
    evf_fleet_create_topic(n.topic, 2);
    snprintf(dlq, sizeof(dlq), "%s", evf_fleet_derived(&n, "dlq"));
    const char *small[] = {"max.message.bytes", "200", NULL};
    evf_ftopic_create(dlq, 2, small);
    evf_ftrace_path(trace, sizeof(trace), "hold2");
    snprintf(ids[0], sizeof(ids[0]), "%s-held", n.group);
    snprintf(ids[1], sizeof(ids[1]), "%s-later", n.group);
    publish_ids(n.topic, ids, 1, 2); /* the first one, to partition 0 */

    /* Both fail every run: source → retry.1 (writable) → dlq (refused). */
    snprintf(fail, sizeof(fail), "processor.flaky.fail.ids=%s,%s", ids[0], ids[1]);
    const char *more[] = {fail,
                          "retry.topics.delays.ms=300",
                          "retry.max.attempts=1",
                          "breaker.flaky.min.calls=0",
                          NULL};
    start_flaky(&w, &n, trace, more);
    const char *why[] = {"holding", dlq, NULL};
    free(wait_readyz_saying(&w, 503, why, READY_MS));

    /* The second event, on partition 1: its retry.1 copy is written while the first holds. */
    struct evf_pub_s *pub = evf_fleet_publisher();
    evf_event_t *ev = evf_itest_iot(ids[1], "dev-fp", "temp", 1.0, wall_ms(), NULL);
    evf_itest_send(pub, n.topic, 1, ev);
    evf_event_free(ev);
    evf_fleet_publisher_done(pub);
    int64_t until = evf_test_now_ms() + 4000;
    while (evf_test_now_ms() < until) {
        int status = -1;
        char *body = evf_fleet_get(&w, "/readyz", &status);
        ck_assert_msg(status == 503,
                      "/readyz answered %d (%s) while partition 0 still held its dead letter",
                      status, body ? body : "-");
        free(body);
        usleep(50 * 1000);
    }
    /* Both were copied to retry.1 (the second while the first held): the first holds there now
     * (both have one key, so one retry partition), the second waits behind it. */
    ck_assert_int_eq(topic_count(evf_fleet_derived(&n, "retry.1")), 2);

    const char *big[] = {"max.message.bytes", "1048576", NULL};
    evf_ftopic_alter(dlq, big);
    evf_fleet_msgs_t letters;
    evf_fleet_read_topic_until(dlq, 2, &letters, WAIT_MS);
    ck_assert_uint_eq(letters.count, 2);
    evf_fleet_msgs_free(&letters);
    free(evf_itest_wait_readyz(&w, 200, 30000));
    stop_ok(&w);
    committed_to_end(n.group, n.topic, 2);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* A crash loop, for real                                                                       */

START_TEST(crash_loop_dead_letters_only_the_crasher) {
    enum { EVENTS = 9, CRASHER = 2, CRASH_MAX = 2 };
    evf_fleet_names_t n;
    evf_fleet_worker_t w;
    char ids[EVENTS][128], crash[200], buf[600], key[400];
    struct rlimit rl = {0, 0};
    setrlimit(RLIMIT_CORE, &rl); /* the worker aborts on purpose */
    evf_fleet_names(&n, "crash", 0);
    evf_fleet_create_topic(n.topic, 1);
    for (int i = 0; i < EVENTS; i++)
        snprintf(ids[i], sizeof(ids[i]), "%s-%s%d", n.group, i == CRASHER ? "crash" : "ok", i);
    /* One partition: two events before the crasher (run in its batch, effects not yet applied
     * when it dies), six queued behind it (acquired with it, never started). */
    publish_ids(n.topic, ids, EVENTS, 1);

    snprintf(crash, sizeof(crash), "processor.chaos.crash.ids=%s", ids[CRASHER]);
    const char *extra[] = {"route.*=chaos",
                           "processor.chaos.ledger=true",
                           crash,
                           "crash.max.attempts=2",
                           "idempotency.lease.ms=2000",
                           "processing.timeout.ms=1500",
                           "breaker.chaos.min.calls=0",
                           NULL};
    evf_redis_t *r = evf_fleet_redis();
    int crashes = 0, starts = 0;
    int64_t deadline = evf_test_now_ms() + 150000;
    for (;;) {
        evf_fleet_start(&w, &n, extra, NULL);
        starts++;
        /* Until it dies or every other event is in the ledger. */
        while (evf_fleet_alive(&w) && evf_fleet_hlen(r, n.ledger) < EVENTS - 1) {
            ck_assert_msg(evf_test_now_ms() < deadline,
                          "after %d starts and %d crashes, %" PRId64 " of %d events in the ledger",
                          starts, crashes, evf_fleet_hlen(r, n.ledger), EVENTS - 1);
            usleep(100 * 1000);
        }
        if (evf_fleet_alive(&w))
            break;
        char *tail = evf_fleet_log_tail(&w, 3000);
        ck_assert_msg(WIFSIGNALED(w.exit_status) && WTERMSIG(w.exit_status) == SIGABRT,
                      "the worker ended with status 0x%x, not by abort(); log:\n%s",
                      w.exit_status, tail);
        free(tail);
        crashes++;
        ck_assert_msg(crashes <= CRASH_MAX,
                      "%d crashes: crash.max.attempts=%d did not stop the loop", crashes,
                      CRASH_MAX);
    }
    evf_fleet_msgs_t letters, src;
    evf_fleet_read_topic_until(evf_fleet_derived(&n, "dlq"), 1, &letters, WAIT_MS);
    ck_assert_uint_eq(letters.count, 1);
    stop_ok(&w);
    ck_assert_int_eq(crashes, CRASH_MAX);

    char ok_ids[EVENTS - 1][128];
    for (int k = 0, j = 0; k < EVENTS; k++)
        if (k != CRASHER)
            snprintf(ok_ids[j++], sizeof(ok_ids[0]), "%s", ids[k]);
    ledger_exactly(r, n.ledger, ok_ids, EVENTS - 1);
    committed_to_end(n.group, n.topic, 1);

    /* The letter: byte-exact, class crash-loop. */
    evf_fleet_read_topic(n.topic, &src, 30000);
    const evf_fleet_msg_t *dl = &letters.msgs[0];
    evf_fcopy_check_common(dl, msg_at(&src, 0, CRASHER), n.topic, "crash-loop letter");
    ck_assert_str_eq(evf_fhdr_str(dl, "evfleet.error.class", buf, sizeof(buf)), "crash-loop");
    /* Its attempts are the two calls that crashed. */
    ck_assert_str_eq(evf_fhdr_str(dl, "evfleet.attempts", buf, sizeof(buf)), "2");
    snprintf(key, sizeof(key), "%s:%s:%s", n.prefix, n.group, ids[CRASHER]);
    ck_assert_str_eq(evf_fhdr_str(dl, "evfleet.idempotency.key", buf, sizeof(buf)), key);

    /* Only the crasher was blamed: its record counts the two crashed calls; every other record
     * is done with no unfinished call (those behind it were acquired with it but never
     * started). */
    ck_assert_str_eq(evf_fleet_hget(r, key, "unfinished", buf, sizeof(buf)) ?: "-", "2");
    for (int k = 0; k < EVENTS; k++) {
        if (k == CRASHER)
            continue;
        snprintf(key, sizeof(key), "%s:%s:%s", n.prefix, n.group, ids[k]);
        ck_assert_msg(!strcmp(evf_fleet_hget(r, key, "state", buf, sizeof(buf)) ?: "-", "done"),
                      "%s: state %s", ids[k], buf);
        const char *u = evf_fleet_hget(r, key, "unfinished", buf, sizeof(buf));
        ck_assert_msg(!u || !strcmp(u, "0"), "%s (%s the crasher): unfinished %s", ids[k],
                      k < CRASHER ? "before" : "behind", u);
    }
    evf_fleet_msgs_free(&letters);
    evf_fleet_msgs_free(&src);
    evf_redis_destroy(r);
}
END_TEST

static Suite *failure_path_suite(void) {
    Suite *s = suite_create("failure_path");
    TCase *retry = tcase_create("retry");
    tcase_set_timeout(retry, 180);
    tcase_add_test(retry, backoff_in_place_follows_the_curve);
    tcase_add_test(retry, jitter_stays_within_bounds);
    tcase_add_test(retry, retry_copies_through_levels_to_dead_letter);
    suite_add_tcase(s, retry);
    TCase *breaker = tcase_create("breaker");
    tcase_set_timeout(breaker, 180);
    tcase_add_test(breaker, breaker_opens_probes_and_closes);
    suite_add_tcase(s, breaker);
    TCase *dlq = tcase_create("dead_letters");
    tcase_set_timeout(dlq, 180);
    tcase_add_test(dlq, unwritable_dead_letter_topic_holds_then_resumes);
    tcase_add_test(dlq, other_copies_do_not_end_a_hold);
    tcase_add_test(dlq, crash_loop_dead_letters_only_the_crasher);
    suite_add_tcase(s, dlq);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(failure_path_suite());
    evf_fleet_session_begin();
    srunner_run_all(sr, CK_NORMAL);
    evf_fleet_session_end();
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
