/* tests/integration/test_idempotency_worker.c — exactly-once effects of real `evfleet-worker`
 * processes (issue #7), judged by the `ledger` processor (every processed id counted in a Redis
 * hash; exactly once = every field at 1):
 *   (a) the same event published twice (same id) → counted once, duplicates_skipped_total ≥ 1;
 *   (b) 10,000 events each published twice → every count 1;
 *   (c) the same event on two partitions held by two workers of one group (and by two threads
 *       of one worker): they race on one record → exactly one completes;
 *   (d) SIGKILL a worker mid-stream → the other takes over after the session timeout and the
 *       lease expiry → every count 1;
 *   (e) a worker SIGSTOPped mid-batch past its lease and session timeout, a takeover, then
 *       SIGCONT: the zombie's completion is fenced, every count 1;
 *   (f) the same id with another subject after the first completed → `<topic>.<group>.dlq` with
 *       class fingerprint-mismatch;
 *   (g) idempotency.key.source: a resend with a new id but the same fields is a duplicate;
 *   (h) a private Redis killed mid-stream for several seconds and restarted → the worker is not
 *       ready meanwhile (/readyz names redis), resumes by itself, every count 1, and counts the
 *       failures in evfleet_redis_errors_total; with the default lease (60 s) it must resume
 *       without waiting for the leases of the records it held itself;
 *   (i) a wrong Redis password → the worker stays up, not ready, /readyz names the auth problem,
 *       no password in its log, /status or /metrics;
 *   (j) a Redis that may evict keys → the worker refuses to start (exit ≠ 0, says how to fix),
 *       and starts with idempotency.allow.eviction=true.
 * Waits are for conditions with generous timeouts, never for fixed durations that must be "long
 * enough" (except to check that something stays true for a while). */
#include <check.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "event.h"
#include "fleet.h"
#include "idemtest.h"
#include "publisher.h"
#include "testutil.h"

#define READY_MS 60000
#define LEDGER_MS 180000
#define STALL_MS 45000
#define STOP_MS 30000
#define METRIC_MS 60000

#define M_DUP "evfleet_duplicates_skipped_total"
#define M_PROCESSED "evfleet_events_processed_total"

static void start_ready(evf_fleet_worker_t *w, const evf_fleet_names_t *n,
                        const char *const *extra) {
    evf_fleet_start(w, n, extra, NULL);
    evf_fleet_wait_ready(w, READY_MS);
}

static void stop_ok(evf_fleet_worker_t *w, const char *who) {
    int64_t ms = 0;
    int rc = evf_fleet_stop(w, STOP_MS, &ms);
    char *tail = rc ? evf_fleet_log_tail(w, 3000) : NULL;
    ck_assert_msg(rc == 0, "%s exited %d after %" PRId64 " ms; log:\n%s", who, rc, ms,
                  tail ? tail : "");
    free(tail);
}

/* The ledger holds exactly the expected ids, each at 1. */
static void expect_ledger(evf_redis_t *r, const char *ledger, const evf_fleet_idmap_t *want) {
    size_t missing, wrong, extra;
    char first[256] = "";
    evf_fleet_idmap_t *have = evf_fleet_hash(r, ledger);
    int ok = evf_fleet_ledger_exact(have, want, &missing, &wrong, &extra, first, sizeof(first));
    ck_assert_msg(ok,
                  "ledger %s: %zu of %zu ids missing, %zu counted other than once, %zu unknown "
                  "(first wrong: %s)",
                  ledger, missing, evf_fleet_idmap_size(want), wrong, extra, first);
    evf_fleet_idmap_free(have);
}

static evf_fleet_idmap_t *idset(const char *const *ids, size_t n) {
    evf_fleet_idmap_t *m = evf_fleet_idmap_new();
    for (size_t i = 0; i < n; i++)
        evf_fleet_idmap_add(m, ids[i], 1);
    return m;
}

static void send_iot(struct evf_pub_s *pub, const char *topic, int32_t partition, const char *id,
                     const char *device, int64_t time_ms, const char *subject) {
    evf_event_t *ev = evf_itest_iot(id, device, "temp", 21.5, time_ms, subject);
    evf_itest_send(pub, topic, partition, ev);
    evf_event_free(ev);
}

static long long wall_ms(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* Publish `count` IoT events with ids "<base>-<i>" over `devices` devices (Kafka keys). */
static void publish_many(const char *topic, const char *base, int count, int devices,
                         int copies, evf_fleet_idmap_t *ids) {
    struct evf_pub_s *pub = evf_fleet_publisher();
    char id[160], dev[64];
    long long now = wall_ms();
    for (int c = 0; c < copies; c++)
        for (int i = 0; i < count; i++) {
            snprintf(id, sizeof(id), "%s-%d", base, i);
            snprintf(dev, sizeof(dev), "dev-%d", i % devices);
            send_iot(pub, topic, -1, id, dev, now + i, NULL);
            if (ids && c == 0)
                evf_fleet_idmap_add(ids, id, 1);
        }
    evf_fleet_publisher_done(pub);
}

static double metric(const evf_fleet_worker_t *w, const char *name, const char *match) {
    return evf_itest_metric(w, name, match);
}

/* The idempotency record of event id. */
static void record_key(char *out, size_t size, const evf_fleet_names_t *n, const char *id) {
    snprintf(out, size, "%s:%s:%s", n->prefix, n->group, id);
}

/* 1 when record rk is running and its holder's call pointer (the running hash
 * "<prefix>:<group>:running:<owner>:<first 16 hex digits of the token>") names it: a processor
 * call for it is in progress. */
static int in_call(evf_redis_t *r, const evf_fleet_names_t *n, const char *rk) {
    redisReply *rep = evf_redis_cmd(r, "HMGET %s state owner token", rk);
    ck_assert_ptr_nonnull(rep);
    int found = 0;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 3 &&
        rep->element[0]->type == REDIS_REPLY_STRING &&
        !strcmp(rep->element[0]->str, "running") && rep->element[1]->type == REDIS_REPLY_STRING &&
        rep->element[2]->type == REDIS_REPLY_STRING && strlen(rep->element[2]->str) == 32) {
        const char *token = rep->element[2]->str;
        char hk[600];
        snprintf(hk, sizeof(hk), "%s:%s:running:%s:%.16s", n->prefix, n->group,
                 rep->element[1]->str, token);
        redisReply *h = evf_redis_cmd(r, "HVALS %s", hk);
        ck_assert_ptr_nonnull(h);
        for (size_t i = 0; h->type == REDIS_REPLY_ARRAY && i < h->elements && !found; i++)
            found = h->element[i]->type == REDIS_REPLY_STRING && !strcmp(h->element[i]->str, token);
        freeReplyObject(h);
    }
    freeReplyObject(rep);
    return found;
}

static char *instance_of(const evf_fleet_worker_t *w) {
    json_t *st = evf_fleet_status(w);
    ck_assert_msg(st, "/status of %s unreadable", w->base_url);
    char *id = strdup(json_string_value(json_object_get(st, "instance")));
    json_decref(st);
    ck_assert_ptr_nonnull(id);
    return id;
}

/* ---- (a) ---- */

START_TEST(same_event_twice_counted_once) {
    evf_fleet_names_t n;
    evf_fleet_worker_t w;
    char a[128], b[128], c[128];
    evf_fleet_names(&n, "dup", 1);
    evf_fleet_create_topic(n.topic, 1);
    evf_redis_t *r = evf_fleet_redis();
    static const char *const extra[] = {"topics.partitions=1", NULL};
    start_ready(&w, &n, extra);
    evf_test_unique(a, sizeof(a), "ev-a");
    evf_test_unique(b, sizeof(b), "ev-b");
    evf_test_unique(c, sizeof(c), "ev-c");

    /* Back to back (likely in one batch), then a later event of the same key. */
    struct evf_pub_s *pub = evf_fleet_publisher();
    send_iot(pub, n.topic, -1, a, "dev-1", 1000, NULL);
    send_iot(pub, n.topic, -1, a, "dev-1", 1000, NULL);
    send_iot(pub, n.topic, -1, b, "dev-1", 2000, NULL);
    evf_fleet_publisher_done(pub);
    evf_fleet_wait_ledger(r, n.ledger, 2, LEDGER_MS, STALL_MS, n.topic);
    evf_itest_wait_metric(&w, M_DUP, NULL, 1, METRIC_MS);

    /* Long after the first completed. */
    pub = evf_fleet_publisher();
    send_iot(pub, n.topic, -1, a, "dev-1", 1000, NULL);
    send_iot(pub, n.topic, -1, c, "dev-1", 3000, NULL);
    evf_fleet_publisher_done(pub);
    evf_fleet_wait_ledger(r, n.ledger, 3, LEDGER_MS, STALL_MS, n.topic);
    evf_itest_wait_metric(&w, M_DUP, NULL, 2, METRIC_MS);

    const char *ids[] = {a, b, c};
    evf_fleet_idmap_t *want = idset(ids, 3);
    expect_ledger(r, n.ledger, want);
    double ok = metric(&w, M_PROCESSED, "outcome=ok");
    double dup = metric(&w, M_PROCESSED, "outcome=duplicate");
    ck_assert_msg(ok == 3, "events_processed_total{outcome=ok} %.0f, want 3", ok);
    ck_assert_msg(dup >= 2, "events_processed_total{outcome=duplicate} %.0f, want >= 2", dup);
    char rk[300], *state;
    record_key(rk, sizeof(rk), &n, a);
    state = evf_itest_str(r, "HGET %s state", rk);
    ck_assert_msg(state && !strcmp(state, "done"), "record %s state %s", rk, state);
    free(state);
    stop_ok(&w, "worker");
    evf_fleet_idmap_free(want);
    evf_redis_destroy(r);
}
END_TEST

/* ---- (b) ---- */

#define MANY 10000

START_TEST(ten_thousand_events_each_twice) {
    evf_fleet_names_t n;
    evf_fleet_worker_t w;
    char base[96];
    evf_fleet_names(&n, "many", 1);
    evf_fleet_create_topic(n.topic, 4);
    evf_redis_t *r = evf_fleet_redis();
    static const char *const extra[] = {"topics.partitions=4", NULL};
    start_ready(&w, &n, extra);

    evf_test_unique(base, sizeof(base), "ev-many");
    evf_fleet_idmap_t *ids = evf_fleet_idmap_new();
    int64_t t0 = evf_test_now_ms();
    publish_many(n.topic, base, MANY, 64, 2, ids);
    ck_assert_uint_eq(evf_fleet_idmap_size(ids), MANY);
    evf_fleet_wait_ledger(r, n.ledger, MANY, LEDGER_MS, STALL_MS, n.topic);
    evf_itest_wait_metric(&w, M_DUP, NULL, MANY, METRIC_MS);
    fprintf(stderr, "ten_thousand_events_each_twice: %d events x2 through in %" PRId64 " ms\n",
            MANY, evf_test_now_ms() - t0);
    expect_ledger(r, n.ledger, ids);
    double ok = metric(&w, M_PROCESSED, "outcome=ok");
    double dlq = metric(&w, M_PROCESSED, "outcome=dlq");
    ck_assert_msg(ok == MANY, "events_processed_total{outcome=ok} %.0f, want %d", ok, MANY);
    ck_assert_msg(dlq == 0, "events_processed_total{outcome=dlq} %.0f", dlq);
    stop_ok(&w, "worker");
    expect_ledger(r, n.ledger, ids);
    evf_fleet_idmap_free(ids);
    evf_redis_destroy(r);
}
END_TEST

/* ---- (c) ---- */

/* Both workers hold one partition of the source each (range assignor). */
static void wait_one_partition_each(evf_fleet_worker_t *ws, const evf_fleet_names_t *n,
                                    int *part_of) {
    evf_fleet_wait_balanced(ws, 2, n->topic, 2, 2000, 90000);
    for (int k = 0; k < 2; k++) {
        int parts[8];
        int got = evf_fleet_assigned(&ws[k], n->topic, parts, 8);
        ck_assert_msg(got == 1, "worker %d holds %d partitions of %s", k, got, n->topic);
        part_of[k] = parts[0];
    }
    ck_assert_int_ne(part_of[0], part_of[1]);
}

#define RACE 12

START_TEST(same_id_on_two_partitions_runs_once) {
    evf_fleet_names_t n;
    evf_fleet_worker_t ws[2];
    int part_of[2];
    evf_fleet_names(&n, "race", 1);
    evf_fleet_create_topic(n.topic, 2);
    evf_redis_t *r = evf_fleet_redis();
    static const char *const extra[] = {"topics.partitions=2",
                                        "kafka.partition.assignment.strategy=range",
                                        "route.*=chaos",
                                        "processor.chaos.ledger=true",
                                        "processor.chaos.latency.ms=150",
                                        NULL};
    for (int k = 0; k < 2; k++)
        evf_fleet_start(&ws[k], &n, extra, NULL);
    for (int k = 0; k < 2; k++)
        evf_fleet_wait_ready(&ws[k], READY_MS);
    wait_one_partition_each(ws, &n, part_of);

    char base[96], id[160];
    evf_test_unique(base, sizeof(base), "ev-race");
    evf_fleet_idmap_t *ids = evf_fleet_idmap_new();
    struct evf_pub_s *pub = evf_fleet_publisher();
    for (int i = 0; i < RACE; i++) {
        snprintf(id, sizeof(id), "%s-%d", base, i);
        evf_event_t *ev = evf_itest_iot(id, "dev-race", "temp", i, 1000 + i, NULL);
        evf_itest_send(pub, n.topic, part_of[i % 2], ev); /* alternate who sees it first */
        evf_itest_send(pub, n.topic, part_of[(i + 1) % 2], ev);
        evf_event_free(ev);
        evf_fleet_idmap_add(ids, id, 1);
    }
    evf_fleet_publisher_done(pub);
    evf_fleet_wait_ledger(r, n.ledger, RACE, LEDGER_MS, STALL_MS, n.topic);

    /* Each id: one worker ran it, the other found it done (maybe after waiting on the lease). */
    int64_t deadline = evf_test_now_ms() + METRIC_MS;
    double dup = 0, ok = 0;
    for (;;) {
        dup = metric(&ws[0], M_DUP, NULL) + metric(&ws[1], M_DUP, NULL);
        if (dup >= RACE || evf_test_now_ms() > deadline)
            break;
        usleep(200 * 1000);
    }
    ok = metric(&ws[0], M_PROCESSED, "outcome=ok") + metric(&ws[1], M_PROCESSED, "outcome=ok");
    expect_ledger(r, n.ledger, ids);
    ck_assert_msg(dup >= RACE, "duplicates skipped across the workers %.0f, want >= %d", dup,
                  RACE);
    ck_assert_msg(ok == RACE, "ok outcomes across the workers %.0f, want %d", ok, RACE);
    for (int k = 0; k < 2; k++)
        stop_ok(&ws[k], k ? "worker B" : "worker A");
    expect_ledger(r, n.ledger, ids);
    evf_fleet_idmap_free(ids);
    evf_redis_destroy(r);
}
END_TEST

/* The same, with both partitions on one worker (two processing threads): its two threads hold
 * the same record in turn; one completes, the other finds it done. */
START_TEST(same_id_on_two_partitions_of_one_worker_runs_once) {
    evf_fleet_names_t n;
    evf_fleet_worker_t w;
    evf_fleet_names(&n, "race1", 1);
    evf_fleet_create_topic(n.topic, 2);
    evf_redis_t *r = evf_fleet_redis();
    static const char *const extra[] = {"topics.partitions=2",
                                        "worker.threads=2",
                                        "route.*=chaos",
                                        "processor.chaos.ledger=true",
                                        "processor.chaos.latency.ms=150",
                                        NULL};
    start_ready(&w, &n, extra);
    int parts[8];
    ck_assert_int_eq(evf_fleet_assigned(&w, n.topic, parts, 8), 2);

    char base[96], id[160];
    evf_test_unique(base, sizeof(base), "ev-race1");
    evf_fleet_idmap_t *ids = evf_fleet_idmap_new();
    struct evf_pub_s *pub = evf_fleet_publisher();
    for (int i = 0; i < RACE; i++) {
        snprintf(id, sizeof(id), "%s-%d", base, i);
        evf_event_t *ev = evf_itest_iot(id, "dev-race", "temp", i, 1000 + i, NULL);
        evf_itest_send(pub, n.topic, 0, ev);
        evf_itest_send(pub, n.topic, 1, ev);
        evf_event_free(ev);
        evf_fleet_idmap_add(ids, id, 1);
    }
    evf_fleet_publisher_done(pub);
    evf_fleet_wait_ledger(r, n.ledger, RACE, 60000, 30000, n.topic);
    evf_itest_wait_metric(&w, M_DUP, NULL, RACE, METRIC_MS);
    expect_ledger(r, n.ledger, ids);
    double ok = metric(&w, M_PROCESSED, "outcome=ok");
    double calls = metric(&w, "evfleet_processing_seconds_count", "processor=chaos");
    fprintf(stderr, "same_id_on_two_partitions_of_one_worker_runs_once: %.0f processor calls "
            "for %d events delivered twice\n", calls, RACE);
    ck_assert_msg(ok == RACE, "ok outcomes %.0f, want %d", ok, RACE);
    stop_ok(&w, "worker");
    evf_fleet_idmap_free(ids);
    evf_redis_destroy(r);
}
END_TEST

/* ---- (d) ---- */

#define KILL_EVENTS 400

START_TEST(sigkill_mid_stream_taken_over) {
    evf_fleet_names_t n;
    evf_fleet_worker_t ws[2];
    int part_of[2];
    char base[96];
    evf_fleet_names(&n, "kill", 1);
    evf_fleet_create_topic(n.topic, 2);
    evf_redis_t *r = evf_fleet_redis();
    static const char *const extra[] = {"topics.partitions=2",
                                        "kafka.partition.assignment.strategy=range",
                                        "route.*=chaos",
                                        "processor.chaos.ledger=true",
                                        "processor.chaos.latency.ms=20",
                                        "idempotency.lease.ms=3000",
                                        "processing.timeout.ms=1000",
                                        NULL};
    for (int k = 0; k < 2; k++)
        evf_fleet_start(&ws[k], &n, extra, NULL);
    for (int k = 0; k < 2; k++)
        evf_fleet_wait_ready(&ws[k], READY_MS);
    wait_one_partition_each(ws, &n, part_of);

    evf_test_unique(base, sizeof(base), "ev-kill");
    evf_fleet_idmap_t *ids = evf_fleet_idmap_new();
    publish_many(n.topic, base, KILL_EVENTS, 16, 1, ids);
    /* Mid-stream: some done, most not. */
    int64_t deadline = evf_test_now_ms() + LEDGER_MS;
    int64_t at_kill;
    for (;;) {
        at_kill = evf_fleet_hlen(r, n.ledger);
        if (at_kill >= 40)
            break;
        ck_assert_msg(evf_test_now_ms() < deadline, "no progress before the kill (%" PRId64 ")",
                      at_kill);
        usleep(20 * 1000);
    }
    evf_fleet_kill(&ws[0]);
    at_kill = evf_fleet_hlen(r, n.ledger);
    ck_assert_msg(at_kill < KILL_EVENTS - 50, "the stream was almost done at the kill (%" PRId64
                  ")", at_kill);

    evf_fleet_wait_ledger(r, n.ledger, KILL_EVENTS, LEDGER_MS, STALL_MS, n.topic);
    expect_ledger(r, n.ledger, ids);
    /* B took A's partition over. */
    int parts[8];
    ck_assert_int_eq(evf_fleet_assigned(&ws[1], n.topic, parts, 8), 2);
    double dlq = metric(&ws[1], M_PROCESSED, "outcome=dlq");
    ck_assert_msg(dlq == 0, "%.0f events dead-lettered", dlq);
    stop_ok(&ws[1], "worker B");
    expect_ledger(r, n.ledger, ids);
    evf_fleet_idmap_free(ids);
    evf_redis_destroy(r);
}
END_TEST

/* ---- (e) ---- */

#define ZOMBIE_EVENTS 3

START_TEST(sigstop_zombie_is_fenced) {
    evf_fleet_names_t n;
    evf_fleet_worker_t a, b;
    char base[96], id[ZOMBIE_EVENTS][160], rk[300];
    evf_fleet_names(&n, "zombie", 1);
    evf_fleet_create_topic(n.topic, 1);
    evf_redis_t *r = evf_fleet_redis();
    /* A is slow: each call takes 1.5 s, so it is stopped in the middle of its batch. */
    static const char *const extra_a[] = {"topics.partitions=1",
                                          "route.*=chaos",
                                          "processor.chaos.ledger=true",
                                          "processor.chaos.latency.ms=1500",
                                          "processing.timeout.ms=3000",
                                          "idempotency.lease.ms=4000",
                                          NULL};
    static const char *const extra_b[] = {"topics.partitions=1",
                                          "route.*=chaos",
                                          "processor.chaos.ledger=true",
                                          "processing.timeout.ms=3000",
                                          "idempotency.lease.ms=4000",
                                          NULL};
    start_ready(&a, &n, extra_a);
    char *a_id = instance_of(&a);

    evf_test_unique(base, sizeof(base), "ev-zombie");
    struct evf_pub_s *pub = evf_fleet_publisher();
    for (int i = 0; i < ZOMBIE_EVENTS; i++) {
        snprintf(id[i], sizeof(id[i]), "%s-%d", base, i);
        send_iot(pub, n.topic, -1, id[i], "dev-z", 1000 + i, NULL);
    }
    evf_fleet_publisher_done(pub);

    /* A acquired its batch and started the first call: stop it there. */
    record_key(rk, sizeof(rk), &n, id[0]);
    int64_t deadline = evf_test_now_ms() + 60000;
    for (;;) {
        if (in_call(r, &n, rk))
            break;
        ck_assert_msg(evf_test_now_ms() < deadline, "worker A never started event %s", id[0]);
        usleep(20 * 1000);
    }
    ck_assert_int_eq(kill(a.pid, SIGSTOP), 0);
    char *owner = evf_itest_str(r, "HGET %s owner", rk);
    ck_assert_msg(owner && !strcmp(owner, a_id), "record owner %s, want A (%s)", owner, a_id);
    free(owner);
    ck_assert_int_eq(evf_fleet_hlen(r, n.ledger), 0);

    /* B joins once A's session expired (6 s), and takes over once A's leases ran out (4 s). */
    start_ready(&b, &n, extra_b);
    char *b_id = instance_of(&b);
    evf_fleet_wait_ledger(r, n.ledger, ZOMBIE_EVENTS, LEDGER_MS, STALL_MS, n.topic);
    const char *ids[ZOMBIE_EVENTS];
    char tokens[ZOMBIE_EVENTS][64];
    for (int i = 0; i < ZOMBIE_EVENTS; i++) {
        ids[i] = id[i];
        record_key(rk, sizeof(rk), &n, id[i]);
        char *o = evf_itest_str(r, "HGET %s owner", rk);
        char *t = evf_itest_str(r, "HGET %s token", rk);
        ck_assert_msg(o && !strcmp(o, b_id), "event %d completed by %s, want B (%s)", i, o, b_id);
        snprintf(tokens[i], sizeof(tokens[i]), "%s", t ? t : "");
        free(o);
        free(t);
    }
    evf_fleet_idmap_t *want = idset(ids, ZOMBIE_EVENTS);
    expect_ledger(r, n.ledger, want);

    /* The zombie wakes up in the middle of its call, finishes its batch and tries to complete
     * it: fenced, nothing applied. */
    ck_assert_int_eq(kill(a.pid, SIGCONT), 0);
    /* It finishes the call it was stopped in (and maybe more of its batch, 1.5 s each), then
     * completes at once; wait until none of its calls ended for 4 s. */
    double calls = 0, last = -1;
    int64_t since = evf_test_now_ms();
    deadline = evf_test_now_ms() + 60000;
    for (;;) {
        calls = metric(&a, "evfleet_processing_seconds_count", "processor=chaos");
        if (calls != last) {
            last = calls;
            since = evf_test_now_ms();
        }
        if (calls >= 1 && evf_test_now_ms() - since >= 4000)
            break;
        ck_assert_msg(evf_test_now_ms() < deadline,
                      "the resumed worker A did not finish its calls (%.0f so far)", calls);
        usleep(100 * 1000);
    }
    expect_ledger(r, n.ledger, want);
    double a_ok = metric(&a, M_PROCESSED, "outcome=ok");
    ck_assert_msg(a_ok == 0, "the fenced worker A counted %.0f ok outcomes", a_ok);
    for (int i = 0; i < ZOMBIE_EVENTS; i++) {
        record_key(rk, sizeof(rk), &n, id[i]);
        char *o = evf_itest_str(r, "HGET %s owner", rk);
        char *t = evf_itest_str(r, "HGET %s token", rk);
        char *s = evf_itest_str(r, "HGET %s state", rk);
        ck_assert_msg(o && t && s && !strcmp(o, b_id) && !strcmp(t, tokens[i]) &&
                          !strcmp(s, "done"),
                      "record %d after A woke up: owner %s token %s state %s", i, o, t, s);
        free(o);
        free(t);
        free(s);
    }
    stop_ok(&a, "worker A");
    stop_ok(&b, "worker B");
    expect_ledger(r, n.ledger, want);
    evf_fleet_idmap_free(want);
    free(a_id);
    free(b_id);
    evf_redis_destroy(r);
}
END_TEST

/* ---- (f) ---- */

START_TEST(fingerprint_mismatch_dead_lettered) {
    evf_fleet_names_t n;
    evf_fleet_worker_t w;
    char x[128], y[128], rk[300], buf[256];
    evf_fleet_names(&n, "fp", 1);
    evf_fleet_create_topic(n.topic, 1);
    evf_redis_t *r = evf_fleet_redis();
    static const char *const extra[] = {"topics.partitions=1", NULL};
    start_ready(&w, &n, extra);
    evf_test_unique(x, sizeof(x), "ev-x");
    evf_test_unique(y, sizeof(y), "ev-y");

    struct evf_pub_s *pub = evf_fleet_publisher();
    send_iot(pub, n.topic, -1, x, "dev-f", 1000, "room-1");
    evf_fleet_publisher_done(pub);
    evf_fleet_wait_ledger(r, n.ledger, 1, LEDGER_MS, STALL_MS, n.topic);

    pub = evf_fleet_publisher();
    send_iot(pub, n.topic, -1, x, "dev-f", 1000, "room-2"); /* same id, another subject */
    send_iot(pub, n.topic, -1, y, "dev-f", 2000, "room-1");
    evf_fleet_publisher_done(pub);
    evf_fleet_wait_ledger(r, n.ledger, 2, LEDGER_MS, STALL_MS, n.topic);

    const char *dlq = evf_fleet_derived(&n, "dlq");
    evf_fleet_msgs_t m;
    evf_fleet_read_topic_until(dlq, 1, &m, 60000);
    ck_assert_msg(m.count == 1, "%zu messages in %s, want 1", m.count, dlq);
    const char *cls = evf_fleet_header(&m.msgs[0], "evfleet.error.class", buf, sizeof(buf));
    ck_assert_msg(cls && !strcmp(cls, "fingerprint-mismatch"), "error class %s", cls);
    record_key(rk, sizeof(rk), &n, x);
    const char *key = evf_fleet_header(&m.msgs[0], "evfleet.idempotency.key", buf, sizeof(buf));
    ck_assert_msg(key && !strcmp(key, rk), "evfleet.idempotency.key %s, want %s", key, rk);
    char err[256];
    evf_event_t *ev = evf_event_decode(m.msgs[0].value, m.msgs[0].value_len, err, sizeof(err));
    ck_assert_msg(ev, "dead letter does not decode: %s", err);
    ck_assert_str_eq(ev->id, x);
    ck_assert_str_eq(ev->subject, "room-2");
    evf_event_free(ev);
    evf_fleet_msgs_free(&m);

    const char *ids[] = {x, y};
    evf_fleet_idmap_t *want = idset(ids, 2);
    expect_ledger(r, n.ledger, want);
    evf_itest_wait_metric(&w, "evfleet_dlq_events_total", "class=fingerprint-mismatch", 1,
                          METRIC_MS);
    char *fp = evf_itest_str(r, "HGET %s state", rk);
    ck_assert_msg(fp && !strcmp(fp, "done"), "record state %s", fp);
    free(fp);
    stop_ok(&w, "worker");
    evf_fleet_idmap_free(want);
    evf_redis_destroy(r);
}
END_TEST

/* ---- (g) ---- */

START_TEST(key_source_resend_with_new_id_is_duplicate) {
    evf_fleet_names_t n;
    evf_fleet_worker_t w;
    char id1[128], id2[128], id3[128], dev[128], rk[400];
    evf_fleet_names(&n, "keysrc", 1);
    evf_fleet_create_topic(n.topic, 1);
    evf_redis_t *r = evf_fleet_redis();
    static const char *const extra[] = {"topics.partitions=1",
                                        "idempotency.key.source=iot.device_id,iot.metric,time_ms",
                                        NULL};
    start_ready(&w, &n, extra);
    evf_test_unique(id1, sizeof(id1), "ev-k1");
    evf_test_unique(id2, sizeof(id2), "ev-k2");
    evf_test_unique(id3, sizeof(id3), "ev-k3");
    evf_test_unique(dev, sizeof(dev), "dev-k");

    struct evf_pub_s *pub = evf_fleet_publisher();
    send_iot(pub, n.topic, -1, id1, dev, 1000, NULL);
    evf_fleet_publisher_done(pub);
    evf_fleet_wait_ledger(r, n.ledger, 1, LEDGER_MS, STALL_MS, n.topic);

    pub = evf_fleet_publisher();
    send_iot(pub, n.topic, -1, id2, dev, 1000, NULL); /* the same reading, resent */
    send_iot(pub, n.topic, -1, id3, dev, 2000, NULL); /* the next reading */
    evf_fleet_publisher_done(pub);
    evf_fleet_wait_ledger(r, n.ledger, 2, LEDGER_MS, STALL_MS, n.topic);
    evf_itest_wait_metric(&w, M_DUP, NULL, 1, METRIC_MS);

    const char *ids[] = {id1, id3};
    evf_fleet_idmap_t *want = idset(ids, 2);
    expect_ledger(r, n.ledger, want);
    snprintf(rk, sizeof(rk), "%s:%s:%s|temp|1000", n.prefix, n.group, dev);
    char *state = evf_itest_str(r, "HGET %s state", rk);
    ck_assert_msg(state && !strcmp(state, "done"), "record %s state %s", rk, state);
    free(state);
    record_key(rk, sizeof(rk), &n, id2);
    ck_assert_int_eq(evf_itest_int(r, "EXISTS %s", rk), 0);
    stop_ok(&w, "worker");
    evf_fleet_idmap_free(want);
    evf_redis_destroy(r);
}
END_TEST

/* ---- (h) ---- */

/* 1 when one of the events "<base>-<i>" is in a processor call right now. */
static int call_running(evf_redis_t *r, const evf_fleet_names_t *n, const char *base,
                        int events) {
    char id[160], rk[400];
    for (int i = 0; i < events; i++) {
        snprintf(id, sizeof(id), "%s-%d", base, i);
        record_key(rk, sizeof(rk), n, id);
        if (in_call(r, n, rk))
            return 1;
    }
    return 0;
}

/* A private, persistent Redis (the ledger and the records survive the kill) is killed while
 * the worker is in the middle of `events`, stays down for `down_ms`, and comes back on the same
 * port. The worker must be not ready while it is down, ready again after, and finish every event
 * exactly once, with no progress stall longer than stall_ms after Redis returned. `lease` is the
 * idempotency.lease.ms flag (NULL: the default). */
static void redis_outage(const char *what, int partitions, int events, int down_ms,
                         const char *lease, int stall_ms) {
    evf_fleet_names_t n;
    evf_fleet_worker_t w;
    evf_itest_redis_t srv;
    char base[96], url[160], parts[64];
    static const char *const srv_args[] = {"--appendonly", "yes", "--appendfsync", "always",
                                           NULL};
    evf_itest_redis_init(&srv, srv_args);
    evf_itest_redis_start(&srv);
    evf_fleet_names(&n, what, 1);
    evf_fleet_create_topic(n.topic, partitions);
    snprintf(url, sizeof(url), "redis.url=%s", srv.url);
    snprintf(parts, sizeof(parts), "topics.partitions=%d", partitions);
    const char *const extra[] = {parts,
                                 url,
                                 "route.*=chaos",
                                 "processor.chaos.ledger=true",
                                 "processor.chaos.latency.ms=20",
                                 "redis.connect.timeout.ms=500",
                                 "redis.command.timeout.ms=1000",
                                 lease ? "processing.timeout.ms=1000" : NULL,
                                 lease,
                                 NULL};
    start_ready(&w, &n, extra);
    evf_redis_t *r = evf_itest_connect(srv.url, NULL);

    evf_test_unique(base, sizeof(base), "ev-outage");
    evf_fleet_idmap_t *ids = evf_fleet_idmap_new();
    publish_many(n.topic, base, events, 8, 1, ids);
    /* Kill it in the middle of a processor call (not between two batches), after some
     * events were completed. */
    int64_t deadline = evf_test_now_ms() + LEDGER_MS;
    for (;;) {
        int64_t done = evf_fleet_hlen(r, n.ledger);
        if (done >= 1 && call_running(r, &n, base, events))
            break;
        ck_assert_msg(done < events, "all %d events were done before the outage could start",
                      events);
        ck_assert_msg(evf_test_now_ms() < deadline, "no progress before the outage");
        usleep(5 * 1000);
    }
    evf_itest_redis_kill(&srv);

    char *body = evf_itest_wait_readyz(&w, 503, 30000);
    ck_assert_msg(strstr(body, "redis"), "/readyz during the outage: %s", body);
    free(body);
    /* Down for a while: not ready all along, and alive. */
    int64_t until = evf_test_now_ms() + down_ms;
    while (evf_test_now_ms() < until) {
        int status = -1;
        body = evf_fleet_get(&w, "/readyz", &status);
        ck_assert_msg(status == 503 && body && strstr(body, "redis"),
                      "/readyz while Redis is down: %d %s", status, body ? body : "-");
        free(body);
        ck_assert_msg(evf_fleet_alive(&w), "worker exited while Redis was down");
        usleep(250 * 1000);
    }
    evf_itest_redis_start(&srv);
    body = evf_itest_wait_readyz(&w, 200, 60000);
    free(body);

    evf_fleet_wait_ledger(r, n.ledger, events, LEDGER_MS, stall_ms, n.topic);
    expect_ledger(r, n.ledger, ids);
    double dlq = metric(&w, M_PROCESSED, "outcome=dlq");
    ck_assert_msg(dlq == 0, "%.0f events dead-lettered", dlq);
    double errors = metric(&w, "evfleet_redis_errors_total", NULL);
    stop_ok(&w, "worker");
    expect_ledger(r, n.ledger, ids);
    evf_fleet_idmap_free(ids);
    evf_redis_destroy(r);
    evf_itest_redis_cleanup(&srv);
    ck_assert_msg(errors >= 1,
                  "evfleet_redis_errors_total is %.0f after Redis was down for %d ms (the "
                  "counter is registered but never incremented)",
                  errors, down_ms);
}

START_TEST(redis_outage_mid_stream) {
    /* Short leases: see redis_blip_does_not_wait_for_own_leases for the default. */
    redis_outage("outage", 2, 300, 4000, "idempotency.lease.ms=3000", STALL_MS);
}
END_TEST

/* With the default lease (60 s): the records the worker had acquired when Redis went away are
 * its own; it must not wait for their leases to run out (it did: "another worker holds this
 * event's lease" for up to idempotency.lease.ms after every Redis blip). */
START_TEST(redis_blip_does_not_wait_for_own_leases) {
    redis_outage("blip", 1, 120, 1000, NULL, 20000);
}
END_TEST

/* ---- (i) ---- */

static void expect_no_secret(const char *where, const char *text, const char *secret) {
    ck_assert_msg(!text || !strstr(text, secret), "the password '%s' appears in %s", secret,
                  where);
}

START_TEST(wrong_password_not_ready_no_secret_shown) {
    evf_fleet_names_t n;
    evf_fleet_worker_t w[2];
    evf_itest_redis_t srv;
    char right[64], wrong1[64], wrong2[64], a1[160], a2[200], a3[160];
    evf_test_unique(right, sizeof(right), "right-pw");
    evf_test_unique(wrong1, sizeof(wrong1), "wrong-pw-x");
    evf_test_unique(wrong2, sizeof(wrong2), "wrong-pw-y");
    const char *const srv_args[] = {"--requirepass", right, NULL};
    evf_itest_redis_init(&srv, srv_args);
    evf_itest_redis_start(&srv);
    evf_fleet_names(&n, "auth", 1);
    evf_fleet_create_topic(n.topic, 1);

    /* Password by redis.password, and in the URL. */
    snprintf(a1, sizeof(a1), "redis.url=%s", srv.url);
    snprintf(a3, sizeof(a3), "redis.password=%s", wrong1);
    const char *const extra1[] = {"topics.partitions=1", a1, a3, NULL};
    snprintf(a2, sizeof(a2), "redis.url=redis://:%s@127.0.0.1:%d/0", wrong2, srv.port);
    const char *const extra2[] = {"topics.partitions=1", a2, NULL};
    evf_fleet_start(&w[0], &n, extra1, NULL);
    evf_fleet_start(&w[1], &n, extra2, NULL);
    for (int k = 0; k < 2; k++) {
        char *body = evf_itest_wait_readyz(&w[k], 503, 30000);
        /* Until the first connection attempt fails the reason may be a generic one. */
        int64_t deadline = evf_test_now_ms() + 30000;
        while (!evf_itest_contains_ci(body, "auth")) {
            ck_assert_msg(evf_test_now_ms() < deadline, "/readyz of worker %d: %s", k, body);
            usleep(200 * 1000);
            free(body);
            body = evf_itest_wait_readyz(&w[k], 503, 30000);
        }
        ck_assert_msg(strstr(body, "redis"), "/readyz of worker %d does not name redis: %s", k,
                      body);
        free(body);
    }
    /* It stays up and keeps trying, still not ready. */
    usleep(3000 * 1000);
    for (int k = 0; k < 2; k++) {
        int status = -1;
        ck_assert_msg(evf_fleet_alive(&w[k]), "worker %d exited on a wrong password", k);
        char *body = evf_fleet_get(&w[k], "/readyz", &status);
        ck_assert_msg(status == 503 && evf_itest_contains_ci(body, "auth"),
                      "/readyz of worker %d: %d %s", k, status, body ? body : "-");
        expect_no_secret("/readyz", body, wrong1);
        expect_no_secret("/readyz", body, wrong2);
        free(body);
        body = evf_fleet_get(&w[k], "/status", &status);
        ck_assert_msg(status == 200, "/status of worker %d: %d", k, status);
        expect_no_secret("/status", body, wrong1);
        expect_no_secret("/status", body, wrong2);
        expect_no_secret("/status", body, right);
        free(body);
        body = evf_fleet_get(&w[k], "/metrics", &status);
        expect_no_secret("/metrics", body, wrong1);
        expect_no_secret("/metrics", body, wrong2);
        free(body);
    }
    for (int k = 0; k < 2; k++)
        stop_ok(&w[k], k ? "worker (password in the URL)" : "worker (redis.password)");
    for (int k = 0; k < 2; k++) {
        char *log = evf_fleet_log(&w[k]);
        ck_assert_msg(evf_itest_contains_ci(log, "auth"), "worker %d never logged the auth "
                      "problem:\n%s", k, log);
        expect_no_secret("the log", log, wrong1);
        expect_no_secret("the log", log, wrong2);
        expect_no_secret("the log", log, right);
        free(log);
    }
    evf_itest_redis_cleanup(&srv);
}
END_TEST

/* ---- (j) ---- */

START_TEST(evicting_redis_refused_unless_allowed) {
    evf_fleet_names_t n;
    evf_fleet_worker_t w;
    evf_itest_redis_t srv;
    char url[160];
    static const char *const srv_args[] = {"--maxmemory-policy", "allkeys-lru", NULL};
    evf_itest_redis_init(&srv, srv_args);
    evf_itest_redis_start(&srv);
    evf_fleet_names(&n, "evict", 1);
    evf_fleet_create_topic(n.topic, 1);
    snprintf(url, sizeof(url), "redis.url=%s", srv.url);

    const char *const refused[] = {"topics.partitions=1", url, NULL};
    evf_fleet_start(&w, &n, refused, NULL);
    int rc = evf_fleet_wait_exit(&w, 60000);
    char *log = evf_fleet_log(&w);
    ck_assert_msg(rc > 0, "worker against an allkeys-lru Redis: exit %d; log:\n%s", rc, log);
    ck_assert_msg(strstr(log, "allkeys-lru") && strstr(log, "noeviction") &&
                      strstr(log, "idempotency.allow.eviction"),
                  "the refusal does not say how to fix it:\n%s", log);
    free(log);

    const char *const allowed[] = {"topics.partitions=1", url, "idempotency.allow.eviction=true",
                                   NULL};
    start_ready(&w, &n, allowed);
    log = evf_fleet_log(&w);
    ck_assert_msg(strstr(log, "allkeys-lru"), "no warning about the eviction policy:\n%s", log);
    free(log);
    stop_ok(&w, "worker with idempotency.allow.eviction=true");
    evf_itest_redis_cleanup(&srv);
}
END_TEST

/* ---- found by this suite ---- */

/* A batch that runs past its time budget hands its remaining events back; a later event of the
 * same partition that fails before running (here: it does not decode) must not be dead-lettered
 * ahead of them. */
START_TEST(budget_hand_back_keeps_partition_order) {
    evf_fleet_names_t n;
    evf_fleet_worker_t w;
    char e1[128], e2[128], rk[300], buf[64], err[256];
    evf_fleet_names(&n, "order", 1);
    evf_fleet_create_topic(n.topic, 1);
    evf_redis_t *r = evf_fleet_redis();
    evf_test_unique(e1, sizeof(e1), "ev-o1");
    evf_test_unique(e2, sizeof(e2), "ev-o2");

    /* Published before the worker starts, so its first batch holds all three. */
    struct evf_pub_s *pub = evf_fleet_publisher();
    send_iot(pub, n.topic, 0, e1, "dev-o", 1000, NULL);
    send_iot(pub, n.topic, 0, e2, "dev-o", 2000, NULL);
    rd_kafka_headers_t *h = rd_kafka_headers_new(1);
    rd_kafka_header_add(h, "content-type", -1, EVF_CT_PROTOBUF, -1);
    ck_assert_int_eq(evf_pub_send(pub, n.topic, 0, "dev-o", 5, "garbage", 7, h, NULL, 10000,
                                  err, sizeof(err)),
                     EVF_OK);
    evf_fleet_publisher_done(pub);

    static const char *const extra[] = {"topics.partitions=1", "route.*=chaos",
                                        "processor.chaos.ledger=true",
                                        "processor.chaos.latency.ms=300", NULL};
    start_ready(&w, &n, extra);
    evf_fleet_wait_ledger(r, n.ledger, 2, LEDGER_MS, STALL_MS, n.topic);
    evf_fleet_msgs_t m;
    evf_fleet_read_topic_until(evf_fleet_derived(&n, "dlq"), 1, &m, 60000);
    ck_assert_uint_eq(m.count, 1);
    const char *at = evf_fleet_header(&m.msgs[0], "evfleet.failed.at", buf, sizeof(buf));
    ck_assert_ptr_nonnull(at);
    long long failed_at = atoll(at);
    evf_fleet_msgs_free(&m);
    record_key(rk, sizeof(rk), &n, e2);
    char *upd = evf_itest_str(r, "HGET %s updated", rk);
    ck_assert_ptr_nonnull(upd);
    long long done_at = atoll(upd);
    free(upd);
    stop_ok(&w, "worker");
    evf_redis_destroy(r);
    ck_assert_msg(failed_at >= done_at,
                  "offset 2 was dead-lettered at %lld, before offset 1 was completed at %lld: "
                  "the batch budget handed offset 1 back without holding the rest of its lane",
                  failed_at, done_at);
}
END_TEST

static Suite *idempotency_worker_suite(void) {
    Suite *s = suite_create("idempotency_worker");
    TCase *tc = tcase_create("worker");
    tcase_set_timeout(tc, 400);
    tcase_add_test(tc, same_event_twice_counted_once);
    tcase_add_test(tc, ten_thousand_events_each_twice);
    tcase_add_test(tc, same_id_on_two_partitions_runs_once);
    tcase_add_test(tc, same_id_on_two_partitions_of_one_worker_runs_once);
    tcase_add_test(tc, sigkill_mid_stream_taken_over);
    tcase_add_test(tc, sigstop_zombie_is_fenced);
    tcase_add_test(tc, fingerprint_mismatch_dead_lettered);
    tcase_add_test(tc, key_source_resend_with_new_id_is_duplicate);
    tcase_add_test(tc, redis_outage_mid_stream);
    tcase_add_test(tc, redis_blip_does_not_wait_for_own_leases);
    tcase_add_test(tc, wrong_password_not_ready_no_secret_shown);
    tcase_add_test(tc, evicting_redis_refused_unless_allowed);
    tcase_add_test(tc, budget_hand_back_keeps_partition_order);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(idempotency_worker_suite());
    evf_fleet_session_begin();
    evf_itest_session_begin();
    srunner_run_all(sr, CK_NORMAL);
    evf_itest_session_end();
    evf_fleet_session_end();
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
