/* tests/integration/test_worker_fleet.c — `evfleet-worker` replicas as a fleet against the real
 * local Kafka + Redis, with the `ledger` processor as the audit trail (issue #4):
 *   - 30,000 IoT events through 3 replicas: every published id counted exactly once, the metrics
 *     agree (ok across the replicas = 30,000; duplicates counted as such), nothing dead-lettered,
 *     every partition committed to its end when the fleet is stopped (all replicas at once);
 *   - a replica stopped with SIGTERM mid-stream exits 0 within the grace period and loses
 *     nothing: the others take its partitions and every id is still counted exactly once;
 *   - a replica added mid-stream takes partitions, and nothing is lost or counted twice;
 *   - replicas stopped together while events flow (a scale-down to zero, the group rebalancing)
 *     commit what they finished: the next owner re-delivers nothing already done. */
#include <check.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "event.h"
#include "fleet.h"
#include "testutil.h"

#define PARTS 6
#define EVENTS 30000
#define EVENTS_STR "30000"
#define READY_MS 60000
#define BALANCE_MS 60000
#define LEDGER_MS 180000
#define STALL_MS 30000
#define STOP_MS 30000
/* shutdown.grace.ms is 5000 (fleet.c's base flags); the bound adds generous slack for a loaded
 * 2-core machine and the sanitizer build. */
#define GRACE_BOUND_MS 15000

typedef struct {
    double ok, duplicate, retry, dlq, consumed, rebalances, inflight, paused;
} fleet_metrics_t;

static void scrape(evf_fleet_worker_t *w, const char *topic, fleet_metrics_t *m) {
    char match[300];
    evf_prom_t *p = evf_fleet_metrics(w);
    memset(m, 0, sizeof(*m));
    m->ok = evf_prom_sum(p, "evfleet_events_processed_total", "outcome=ok", NULL);
    m->duplicate = evf_prom_sum(p, "evfleet_events_processed_total", "outcome=duplicate", NULL);
    m->retry = evf_prom_sum(p, "evfleet_events_processed_total", "outcome=retry", NULL);
    m->dlq = evf_prom_sum(p, "evfleet_events_processed_total", "outcome=dlq", NULL);
    snprintf(match, sizeof(match), "topic=%s", topic);
    m->consumed = evf_prom_sum(p, "evfleet_events_consumed_total", match, NULL);
    m->rebalances = evf_prom_sum(p, "evfleet_rebalances_total", NULL, NULL);
    m->inflight = evf_prom_sum(p, "evfleet_inflight_events", NULL, NULL);
    m->paused = evf_prom_sum(p, "evfleet_paused_partitions", NULL, NULL);
    evf_prom_free(p);
}

static void scrape_all(evf_fleet_worker_t *ws, size_t nw, const char *topic,
                       fleet_metrics_t *sum) {
    memset(sum, 0, sizeof(*sum));
    for (size_t i = 0; i < nw; i++) {
        fleet_metrics_t m;
        if (ws[i].pid <= 0)
            continue;
        scrape(&ws[i], topic, &m);
        sum->ok += m.ok;
        sum->duplicate += m.duplicate;
        sum->retry += m.retry;
        sum->dlq += m.dlq;
        sum->consumed += m.consumed;
        sum->rebalances += m.rebalances;
        sum->inflight += m.inflight;
        sum->paused += m.paused;
    }
}

/* Wait until no replica has events queued or running (the last completions are in). */
static void wait_idle(evf_fleet_worker_t *ws, size_t nw, int timeout_ms) {
    int64_t deadline = evf_test_now_ms() + timeout_ms;
    for (;;) {
        int busy = 0;
        for (size_t i = 0; i < nw; i++) {
            if (ws[i].pid <= 0)
                continue;
            json_t *st = evf_fleet_status(&ws[i]);
            ck_assert_msg(st, "replica %zu: /status unreadable", i);
            busy += (int)json_integer_value(json_object_get(st, "inflight"));
            json_decref(st);
        }
        if (!busy)
            return;
        ck_assert_msg(evf_test_now_ms() < deadline, "%d events still in flight after %d ms",
                      busy, timeout_ms);
        usleep(100 * 1000);
    }
}

static void start_replicas(evf_fleet_worker_t *ws, size_t nw, const evf_fleet_names_t *n) {
    static const char *const extra[] = {"topics.partitions=6", NULL};
    for (size_t i = 0; i < nw; i++)
        evf_fleet_start(&ws[i], n, extra, NULL);
    for (size_t i = 0; i < nw; i++)
        evf_fleet_wait_ready(&ws[i], READY_MS);
}

/* SIGTERM every replica at once (a fleet scaled to zero): each exits 0 in time. */
static void stop_together(evf_fleet_worker_t *ws, size_t nw) {
    int64_t t0 = evf_test_now_ms();
    for (size_t i = 0; i < nw; i++)
        evf_fleet_term(&ws[i]);
    for (size_t i = 0; i < nw; i++) {
        int rc = evf_fleet_wait_exit(&ws[i], STOP_MS);
        int64_t ms = evf_test_now_ms() - t0;
        char *tail = rc || ms >= GRACE_BOUND_MS ? evf_fleet_log_tail(&ws[i], 3000) : NULL;
        if (rc == -1 && ws[i].pid > 0)
            evf_fleet_kill(&ws[i]);
        ck_assert_msg(rc == 0 && ms < GRACE_BOUND_MS,
                      "replica %zu: exit %d after %" PRId64 " ms; log:\n%s", i, rc, ms,
                      tail ? tail : "");
        free(tail);
    }
}

static void stop_all(evf_fleet_worker_t *ws, size_t nw) {
    for (size_t i = 0; i < nw; i++) {
        if (ws[i].pid <= 0)
            continue;
        int64_t ms = 0;
        int rc = evf_fleet_stop(&ws[i], STOP_MS, &ms);
        char *tail = rc ? evf_fleet_log_tail(&ws[i], 3000) : NULL;
        ck_assert_msg(rc == 0, "replica %zu exited %d after %" PRId64 " ms; log:\n%s", i, rc, ms,
                      tail ? tail : "");
        free(tail);
    }
}

/* Every published id exactly once in the ledger, no other field. */
static void assert_ledger_exact(evf_redis_t *r, const evf_fleet_names_t *n,
                                const evf_fleet_idmap_t *ids) {
    size_t missing, wrong, extra;
    char first[256];
    evf_fleet_idmap_t *ledger = evf_fleet_hash(r, n->ledger);
    int ok = evf_fleet_ledger_exact(ledger, ids, &missing, &wrong, &extra, first, sizeof(first));
    ck_assert_msg(ok,
                  "ledger %s: %zu of %zu ids missing, %zu counted other than once, %zu unknown "
                  "ids (first: %s)",
                  n->ledger, missing, evf_fleet_idmap_size(ids), wrong, extra, first);
    evf_fleet_idmap_free(ledger);
}

static void assert_no_dead_letters(const evf_fleet_names_t *n) {
    evf_fleet_msgs_t dlq;
    evf_fleet_read_topic(evf_fleet_derived(n, "dlq"), &dlq, 30000);
    ck_assert_msg(dlq.count == 0, "%zu dead letters in %s", dlq.count,
                  evf_fleet_derived(n, "dlq"));
    evf_fleet_msgs_free(&dlq);
}

/* After the replicas stopped (final synchronous commit), the group's committed offset of every
 * partition is its end: each offset was stored once done, and nothing was left behind — or, where
 * a replica's final commit was refused because another one left at the same moment (the group's
 * generation moved on and librdkafka gives up the assignment: the README's known limit), every
 * event from the committed offset to the end is done in its idempotency record, so the next owner
 * reads them again only to skip them as duplicates. Anything else fails. */
static void assert_committed_to_end(const evf_fleet_names_t *n) {
    int64_t committed[PARTS], high[PARTS];
    evf_fleet_committed(n->group, n->topic, PARTS, committed);
    evf_fleet_high_watermarks(n->topic, PARTS, high);
    int lagging = 0;
    for (int p = 0; p < PARTS; p++) {
        ck_assert_msg(committed[p] <= high[p], "%s[%d]: committed %" PRId64 " past the end %" PRId64,
                      n->topic, p, committed[p], high[p]);
        lagging |= committed[p] != high[p];
    }
    if (!lagging)
        return;
    evf_redis_t *r = evf_fleet_redis();
    evf_fleet_msgs_t msgs;
    char err[256], ct[128], key[600], st[32];
    size_t behind = 0;
    evf_fleet_read_topic(n->topic, &msgs, 60000);
    for (size_t i = 0; i < msgs.count; i++) {
        const evf_fleet_msg_t *m = &msgs.msgs[i];
        if (m->partition < 0 || m->partition >= PARTS || m->offset < committed[m->partition])
            continue;
        const char *h = evf_fleet_header(m, "content-type", ct, sizeof(ct));
        evf_event_t *ev = evf_event_decode_message(m->value, m->value_len, h, err, sizeof(err));
        ck_assert_msg(ev, "%s[%d]@%" PRId64 " does not decode: %s", n->topic, m->partition,
                      m->offset, err);
        snprintf(key, sizeof(key), "%s:%s:%s", n->prefix, n->group, ev->id);
        const char *state = evf_fleet_hget(r, key, "state", st, sizeof(st));
        ck_assert_msg(state && !strcmp(state, "done"),
                      "%s[%d]@%" PRId64 " (committed %" PRId64 ", end %" PRId64
                      "): not committed and its record is %s, not done",
                      n->topic, m->partition, m->offset, committed[m->partition],
                      high[m->partition], state ? state : "absent");
        evf_event_free(ev);
        behind++;
    }
    fprintf(stderr,
            "%s: %zu event(s) past a refused final commit, each done in its record (a later "
            "owner skips them as duplicates)\n",
            n->topic, behind);
    evf_fleet_msgs_free(&msgs);
    evf_redis_destroy(r);
}

static evf_fleet_idmap_t *published_ids(const evf_fleet_names_t *n) {
    evf_fleet_idmap_t *ids = evf_fleet_topic_ids(n->topic, 60000);
    ck_assert_uint_eq(evf_fleet_idmap_size(ids), EVENTS);
    const char *k;
    int64_t c;
    for (size_t i = 0; evf_fleet_idmap_at(ids, i, &k, &c); i++)
        ck_assert_msg(!k || c == 1, "id %s published %" PRId64 " times", k, c);
    return ids;
}

static pid_t start_bench(const evf_fleet_names_t *n, const char *log) {
    const char *args[] = {"-b", evf_test_brokers(), "-t", n->topic, "-X", "topics.partitions=6",
                          "-q", "bench", "--rate", "5000", "--count", EVENTS_STR, NULL};
    unlink(log);
    return evf_fleet_produce_start(args, log);
}

static void wait_bench(pid_t pid, const char *log) {
    int st = 0;
    ck_assert_msg(evf_test_wait(pid, 120000, &st) == 0, "evfleet-produce bench did not finish");
    char *out = evf_test_read_file(log, NULL);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "evfleet-produce bench: status %d:\n%s",
                  st, out ? out : "");
    free(out);
    unlink(log);
}

/* ---- 3 replicas, 30,000 events ---- */

START_TEST(three_replicas_exactly_once) {
    evf_fleet_names_t n;
    evf_fleet_worker_t ws[3];
    fleet_metrics_t before, after;
    char *out = NULL;
    evf_fleet_names(&n, "fleet", 0);
    evf_fleet_create_topic(n.topic, PARTS);
    evf_redis_t *r = evf_fleet_redis();

    start_replicas(ws, 3, &n);
    evf_fleet_wait_balanced(ws, 3, n.topic, PARTS, 2000, BALANCE_MS);
    scrape_all(ws, 3, n.topic, &before);

    const char *args[] = {"-b", evf_test_brokers(), "-t", n.topic, "-X", "topics.partitions=6",
                          "-q", "iot", "--count", EVENTS_STR, NULL};
    int rc = evf_fleet_produce(args, 120000, &out);
    ck_assert_msg(rc == 0, "evfleet-produce exit %d:\n%s", rc, out);
    free(out);
    evf_fleet_idmap_t *ids = published_ids(&n);

    evf_fleet_wait_ledger(r, n.ledger, EVENTS, LEDGER_MS, STALL_MS, n.topic);
    wait_idle(ws, 3, 30000);
    scrape_all(ws, 3, n.topic, &after);
    ck_assert_msg(after.ok == EVENTS, "events_processed_total{outcome=ok} across replicas %.0f",
                  after.ok);
    ck_assert_msg(after.ok + after.duplicate >= EVENTS, "ok %.0f + duplicate %.0f", after.ok,
                  after.duplicate);
    ck_assert_msg(after.consumed >= EVENTS, "events_consumed_total %.0f", after.consumed);
    ck_assert_msg(after.retry == 0 && after.dlq == 0, "retry %.0f dlq %.0f", after.retry,
                  after.dlq);
    if (after.rebalances == before.rebalances) {
        /* No rebalance while the events flowed: every event was delivered once. */
        ck_assert_msg(after.duplicate == 0, "%.0f duplicates without a rebalance",
                      after.duplicate);
        ck_assert_msg(after.consumed == EVENTS, "consumed %.0f without a rebalance",
                      after.consumed);
    }
    /* The paused gauge is refreshed every second: give it a few to show every partition
     * resumed. */
    int64_t until = evf_test_now_ms() + 5000;
    while ((after.inflight != 0 || after.paused != 0) && evf_test_now_ms() < until) {
        usleep(200 * 1000);
        scrape_all(ws, 3, n.topic, &after);
    }
    ck_assert_msg(after.inflight == 0 && after.paused == 0, "inflight %.0f paused %.0f",
                  after.inflight, after.paused);

    stop_together(ws, 3);
    assert_ledger_exact(r, &n, ids);
    assert_no_dead_letters(&n);
    assert_committed_to_end(&n);
    evf_fleet_idmap_free(ids);
    evf_redis_destroy(r);
}
END_TEST

/* ---- SIGTERM one replica mid-stream ---- */

START_TEST(sigterm_mid_stream_loses_nothing) {
    evf_fleet_names_t n;
    evf_fleet_worker_t ws[3];
    char log[256];
    evf_fleet_names(&n, "term", 0);
    evf_fleet_create_topic(n.topic, PARTS);
    evf_redis_t *r = evf_fleet_redis();
    snprintf(log, sizeof(log), "/tmp/evf-fleet-bench-%d.log", (int)getpid());

    start_replicas(ws, 3, &n);
    evf_fleet_wait_balanced(ws, 3, n.topic, PARTS, 2000, BALANCE_MS);
    pid_t bench = start_bench(&n, log);

    /* Mid-stream: some events done, most still to come. Stop the replica holding the most
     * source partitions (the assignor may leave one with only replay partitions). */
    evf_fleet_wait_ledger(r, n.ledger, 5000, 60000, STALL_MS, NULL);
    int parts[PARTS], victim = 0, most = -1;
    for (int i = 0; i < 3; i++) {
        int had = evf_fleet_assigned(&ws[i], n.topic, parts, PARTS);
        if (had > most) {
            most = had;
            victim = i;
        }
    }
    ck_assert_int_gt(most, 0);
    int64_t ms = 0;
    int rc = evf_fleet_stop(&ws[victim], STOP_MS, &ms);
    char *tail = evf_fleet_log_tail(&ws[victim], 4000);
    ck_assert_msg(rc == 0, "stopped replica exited %d after %" PRId64 " ms; log:\n%s", rc, ms,
                  tail);
    ck_assert_msg(ms < GRACE_BOUND_MS,
                  "stopped replica took %" PRId64 " ms to exit (grace 5000 ms); log:\n%s", ms,
                  tail);
    free(tail);

    /* The two left take over its partitions. */
    evf_fleet_worker_t left[2];
    for (int i = 0, k = 0; i < 3; i++)
        if (i != victim)
            left[k++] = ws[i];
    evf_fleet_wait_balanced(left, 2, n.topic, PARTS, 1000, BALANCE_MS);
    wait_bench(bench, log);
    evf_fleet_idmap_t *ids = published_ids(&n);
    evf_fleet_wait_ledger(r, n.ledger, EVENTS, LEDGER_MS, STALL_MS, n.topic);
    wait_idle(left, 2, 30000);

    fleet_metrics_t after;
    scrape_all(left, 2, n.topic, &after);
    ck_assert_msg(after.retry == 0 && after.dlq == 0, "retry %.0f dlq %.0f", after.retry,
                  after.dlq);
    stop_all(left, 2);
    assert_ledger_exact(r, &n, ids);
    assert_no_dead_letters(&n);
    assert_committed_to_end(&n);
    evf_fleet_idmap_free(ids);
    evf_redis_destroy(r);
}
END_TEST

/* ---- add a replica mid-stream ---- */

START_TEST(replica_added_mid_stream_takes_partitions) {
    evf_fleet_names_t n;
    evf_fleet_worker_t ws[3];
    char log[256];
    evf_fleet_names(&n, "grow", 0);
    evf_fleet_create_topic(n.topic, PARTS);
    evf_redis_t *r = evf_fleet_redis();
    snprintf(log, sizeof(log), "/tmp/evf-fleet-bench-%d.log", (int)getpid());

    start_replicas(ws, 2, &n);
    evf_fleet_wait_balanced(ws, 2, n.topic, PARTS, 2000, BALANCE_MS);
    pid_t bench = start_bench(&n, log);
    evf_fleet_wait_ledger(r, n.ledger, 5000, 60000, STALL_MS, NULL);

    static const char *const extra[] = {"topics.partitions=6", NULL};
    evf_fleet_start(&ws[2], &n, extra, NULL);
    evf_fleet_wait_ready(&ws[2], READY_MS);
    /* The newcomer holds at least one source partition, each partition has one owner. */
    evf_fleet_wait_balanced(ws, 3, n.topic, PARTS, 1000, BALANCE_MS);

    wait_bench(bench, log);
    evf_fleet_idmap_t *ids = published_ids(&n);
    evf_fleet_wait_ledger(r, n.ledger, EVENTS, LEDGER_MS, STALL_MS, n.topic);
    wait_idle(ws, 3, 30000);

    fleet_metrics_t after, newcomer;
    scrape_all(ws, 3, n.topic, &after);
    scrape(&ws[2], n.topic, &newcomer);
    ck_assert_msg(after.ok == EVENTS, "events_processed_total{outcome=ok} across replicas %.0f",
                  after.ok);
    ck_assert_msg(after.ok + after.duplicate >= EVENTS && after.consumed >= EVENTS,
                  "ok %.0f duplicate %.0f consumed %.0f", after.ok, after.duplicate,
                  after.consumed);
    ck_assert_msg(after.retry == 0 && after.dlq == 0, "retry %.0f dlq %.0f", after.retry,
                  after.dlq);
    int parts[PARTS];
    fprintf(stderr,
            "replica added mid-stream: %d source partition(s), consumed %.0f, ok %.0f, "
            "duplicates %.0f\n",
            evf_fleet_assigned(&ws[2], n.topic, parts, PARTS), newcomer.consumed, newcomer.ok,
            newcomer.duplicate);

    stop_all(ws, 3);
    assert_ledger_exact(r, &n, ids);
    assert_no_dead_letters(&n);
    assert_committed_to_end(&n);
    evf_fleet_idmap_free(ids);
    evf_redis_destroy(r);
}
END_TEST


/* ---- replicas stopped one right after the other commit what they did ---- */

/* A scale-down to zero: the replicas are stopped together while events flow, so each leaves
 * while the group rebalances for the other. Each commits the offsets of everything it finished
 * before it leaves, so a later replica re-delivers nothing already done (no duplicate outcome),
 * and nothing is lost. */
START_TEST(stopped_replicas_commit_their_progress) {
    enum { TOTAL = 8000 };
    evf_fleet_names_t n;
    evf_fleet_worker_t ws[3];
    char log[256];
    static const char *const extra[] = {"topics.partitions=6", NULL};
    evf_fleet_names(&n, "down", 0);
    evf_fleet_create_topic(n.topic, PARTS);
    evf_redis_t *r = evf_fleet_redis();
    snprintf(log, sizeof(log), "/tmp/evf-fleet-bench-%d.log", (int)getpid());

    start_replicas(ws, 2, &n);
    evf_fleet_wait_balanced(ws, 2, n.topic, PARTS, 2000, BALANCE_MS);
    const char *args[] = {"-b", evf_test_brokers(), "-t", n.topic, "-X", "topics.partitions=6",
                          "-q", "bench", "--rate", "2000", "--count", "8000", NULL};
    unlink(log);
    pid_t bench = evf_fleet_produce_start(args, log);
    evf_fleet_wait_ledger(r, n.ledger, 2000, 60000, STALL_MS, NULL);

    /* Both at once while events keep flowing: each has finished events its last periodic
     * commit does not cover yet, and each leaves while the other's leaving rebalances the
     * group. */
    stop_together(ws, 2);
    wait_bench(bench, log);
    int64_t done_before = evf_fleet_hlen(r, n.ledger);

    /* A new replica takes every partition from the committed offsets. */
    evf_fleet_start(&ws[2], &n, extra, NULL);
    evf_fleet_wait_ready(&ws[2], READY_MS);
    evf_fleet_wait_ledger(r, n.ledger, TOTAL, LEDGER_MS, STALL_MS, n.topic);
    wait_idle(&ws[2], 1, 30000);
    fleet_metrics_t m;
    scrape(&ws[2], n.topic, &m);
    char *tail = m.duplicate ? evf_fleet_log_tail(&ws[2], 1500) : NULL;
    ck_assert_msg(m.duplicate == 0,
                  "the new replica re-delivered %.0f events the stopped replicas had finished "
                  "(%" PRId64 " were done before it started): their final commits were lost "
                  "(see their logs: \"final commit\" / \"commit on revoke\" failures)",
                  m.duplicate, done_before);
    free(tail);
    ck_assert_msg(m.ok == TOTAL - done_before, "new replica ok %.0f, want %" PRId64, m.ok,
                  TOTAL - done_before);
    evf_fleet_idmap_t *ids = evf_fleet_topic_ids(n.topic, 60000);
    ck_assert_uint_eq(evf_fleet_idmap_size(ids), TOTAL);
    stop_all(&ws[2], 1);
    assert_ledger_exact(r, &n, ids);
    assert_committed_to_end(&n);
    evf_fleet_idmap_free(ids);
    evf_redis_destroy(r);
}
END_TEST

static Suite *worker_fleet_suite(void) {
    Suite *s = suite_create("worker_fleet");
    TCase *tc = tcase_create("fleet");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, three_replicas_exactly_once);
    tcase_add_test(tc, sigterm_mid_stream_loses_nothing);
    tcase_add_test(tc, replica_added_mid_stream_takes_partitions);
    tcase_add_test(tc, stopped_replicas_commit_their_progress);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(worker_fleet_suite());
    evf_fleet_session_begin();
    srunner_run_all(sr, CK_NORMAL);
    evf_fleet_session_end();
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
