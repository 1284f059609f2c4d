/* tests/integration/test_worker_http.c — the worker's operator surface over HTTP against the real
 * local Kafka + Redis (issue #4, DESIGN.md "HTTP" and "Metrics"):
 *   - /healthz, /readyz (503 with a reason before joining, 200 when ready), /metrics (parsed
 *     strictly: every contract family with HELP and TYPE even before its first series, values
 *     that agree with what was processed), /status JSON, 404, `--probe` exit codes, JSON logs;
 *   - Kafka or Redis unreachable at start: the worker stays up and live, not ready, the reason
 *     names the dependency, Redis failures are counted, SIGTERM still exits 0 and in time;
 *   - Redis lost while running and back: not ready, then ready again, and events flow;
 *   - the Redis password never appears in /readyz, /status, /metrics or the log. */
#include <check.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fleet.h"
#include "testutil.h"

#define READY_MS 60000
#define STOP_MS 30000
#define GRACE_BOUND_MS 15000

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* SIGTERM: exit 0 within bound_ms. */
static void stop_within(evf_fleet_worker_t *w, int64_t bound_ms) {
    int64_t ms = 0;
    int rc = evf_fleet_stop(w, STOP_MS, &ms);
    char *tail = rc || ms >= bound_ms ? evf_fleet_log_tail(w, 3000) : NULL;
    ck_assert_msg(rc == 0, "worker exited %d after %" PRId64 " ms; log:\n%s", rc, ms,
                  tail ? tail : "");
    ck_assert_msg(ms < bound_ms, "worker took %" PRId64 " ms to exit (bound %" PRId64
                  " ms); log:\n%s", ms, bound_ms, tail ? tail : "");
    free(tail);
}

static void stop_ok(evf_fleet_worker_t *w) {
    stop_within(w, GRACE_BOUND_MS);
}

/* GET path; assert the status (and, when want_body is set, that the body contains it). */
static char *get_expect(evf_fleet_worker_t *w, const char *path, int want_status,
                        const char *want_body) {
    int status = -1;
    char *body = evf_fleet_get(w, path, &status);
    ck_assert_msg(body && status == want_status, "GET %s: status %d (want %d): %s", path, status,
                  want_status, body ? body : "(no response)");
    if (want_body)
        ck_assert_msg(strstr(body, want_body), "GET %s: body lacks '%s': %s", path, want_body,
                      body);
    return body;
}

static int probe(const char *url) {
    char *bin = evf_test_bin("evfleet-worker");
    char *out = NULL;
    int rc = evf_fleet_run(ARGS(bin, "--probe", url), 20000, &out);
    free(out);
    free(bin);
    return rc;
}

static int probe_path(evf_fleet_worker_t *w, const char *path) {
    char url[200];
    snprintf(url, sizeof(url), "%s%s", w->base_url, path);
    return probe(url);
}

/* No endpoint (while it runs) and no log line shows secret. */
static void assert_no_secret(evf_fleet_worker_t *w, const char *secret) {
    static const char *const paths[] = {"/readyz", "/healthz", "/status", "/metrics"};
    for (size_t i = 0; w->pid > 0 && i < sizeof(paths) / sizeof(paths[0]); i++) {
        int status;
        char *body = evf_fleet_get(w, paths[i], &status);
        ck_assert_msg(body, "GET %s: no response", paths[i]);
        ck_assert_msg(!strstr(body, secret), "GET %s shows the password: %s", paths[i], body);
        free(body);
    }
    char *log = evf_fleet_log(w);
    ck_assert_msg(!strstr(log, secret), "the log shows the password:\n%s", log);
    free(log);
}

/* The contract's metric families and their types. */
static const struct {
    const char *name, *type;
} families[] = {
    {"evfleet_events_consumed_total", "counter"}, {"evfleet_events_processed_total", "counter"},
    {"evfleet_processing_seconds", "histogram"},  {"evfleet_retries_total", "counter"},
    {"evfleet_dlq_events_total", "counter"},      {"evfleet_duplicates_skipped_total", "counter"},
    {"evfleet_inflight_events", "gauge"},         {"evfleet_consumer_lag", "gauge"},
    {"evfleet_rebalances_total", "counter"},      {"evfleet_redis_errors_total", "counter"},
    {"evfleet_paused_partitions", "gauge"},       {"evfleet_breaker_open", "gauge"},
};

static void assert_families(const evf_prom_t *p) {
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        const char *t = evf_prom_type(p, families[i].name);
        ck_assert_msg(t, "no TYPE line for %s", families[i].name);
        ck_assert_msg(!strcmp(t, families[i].type), "%s is a %s, want %s", families[i].name, t,
                      families[i].type);
        ck_assert_msg(evf_prom_has_help(p, families[i].name), "no HELP line for %s",
                      families[i].name);
    }
}

static double metric(const evf_prom_t *p, const char *name, const char *match, int want_n) {
    int n = 0;
    double v = evf_prom_sum(p, name, match, &n);
    if (want_n >= 0)
        ck_assert_msg(n == want_n, "%s{%s}: %d series, want %d", name, match ? match : "", n,
                      want_n);
    return v;
}

/* The histogram of processor proc: buckets cumulative in le order, +Inf = _count = want. */
static void assert_histogram(const evf_prom_t *p, const char *proc, double want) {
    double prev = -1, prev_le = -INFINITY, inf = -1;
    size_t nb = 0;
    for (size_t i = 0; i < evf_prom_count(p); i++) {
        const char *name, *pl, *le;
        double v;
        evf_prom_sample(p, i, &name, &v, "processor", &pl);
        if (strcmp(name, "evfleet_processing_seconds_bucket") || !pl || strcmp(pl, proc))
            continue;
        evf_prom_sample(p, i, &name, &v, "le", &le);
        ck_assert_ptr_nonnull(le);
        double bound = !strcmp(le, "+Inf") ? INFINITY : strtod(le, NULL);
        ck_assert_msg(bound > prev_le, "bucket le=%s out of order", le);
        ck_assert_msg(v >= prev, "bucket le=%s holds %.0f, less than the one before (%.0f)", le,
                      v, prev);
        prev_le = bound;
        prev = v;
        nb++;
        if (isinf(bound))
            inf = v;
    }
    char match[64];
    snprintf(match, sizeof(match), "processor=%s", proc);
    ck_assert_msg(nb >= 2, "%zu buckets for %s", nb, proc);
    ck_assert_msg(inf == want, "+Inf bucket %.0f, want %.0f", inf, want);
    ck_assert_msg(metric(p, "evfleet_processing_seconds_count", match, 1) == want,
                  "_count differs from %.0f", want);
    ck_assert_msg(metric(p, "evfleet_processing_seconds_sum", match, 1) >= 0, "negative _sum");
}

/* Every log line is a JSON object with the logger's fields. */
static void assert_json_log(evf_fleet_worker_t *w) {
    char *log = evf_fleet_log(w);
    int lines = 0;
    for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
        json_error_t jerr;
        json_t *j = json_loads(line, 0, &jerr);
        ck_assert_msg(j && json_is_object(j), "log line is not a JSON object: %s", line);
        ck_assert_msg(json_is_string(json_object_get(j, "ts")) &&
                          json_is_string(json_object_get(j, "level")) &&
                          json_is_string(json_object_get(j, "msg")),
                      "log line lacks ts/level/msg: %s", line);
        json_decref(j);
        lines++;
    }
    ck_assert_int_gt(lines, 0);
    free(log);
}

START_TEST(endpoints_of_a_ready_worker) {
    enum { EVENTS = 50 };
    evf_fleet_names_t n;
    evf_fleet_worker_t w;
    char id_opt[160], worker_id[120], match[300];
    char *out = NULL;
    evf_fleet_names(&n, "http", 0);
    evf_fleet_create_topic(n.topic, 2);
    snprintf(worker_id, sizeof(worker_id), "%s-w1", n.group);
    snprintf(id_opt, sizeof(id_opt), "worker.id=%s", worker_id);
    const char *extra[] = {id_opt, NULL};
    evf_redis_t *r = evf_fleet_redis();
    evf_fleet_start(&w, &n, extra, NULL);

    /* From its first answer until ready: live at once; not ready (with a reason) before it
     * joined the group. */
    int64_t deadline = evf_test_now_ms() + READY_MS;
    int saw_503 = 0, first = -1, healthz_checked = 0;
    char reason[600] = "";
    for (;;) {
        int status = -1;
        char *body = evf_fleet_get(&w, "/readyz", &status);
        if (status > 0 && first < 0)
            first = status;
        if (status == 503) {
            saw_503 = 1;
            ck_assert_msg(!strncmp(body, "not ready: ", 11) && strlen(body) > 12,
                          "503 without a reason: '%s'", body);
            snprintf(reason, sizeof(reason), "%s", body);
            if (!healthz_checked) {
                free(get_expect(&w, "/healthz", 200, "ok"));
                healthz_checked = 1;
            }
        }
        free(body);
        if (status == 200)
            break;
        ck_assert_msg(evf_fleet_alive(&w), "worker exited while starting");
        ck_assert_msg(evf_test_now_ms() < deadline, "not ready after %d ms: %s", READY_MS,
                      reason);
        usleep(5 * 1000);
    }
    ck_assert_msg(first == 503 && saw_503, "the first /readyz answer was %d, not 503", first);

    const char *args[] = {"-b", evf_test_brokers(), "-t", n.topic, "-q", "iot", "--count", "50",
                          NULL};
    int rc = evf_fleet_produce(args, 60000, &out);
    ck_assert_msg(rc == 0, "evfleet-produce exit %d:\n%s", rc, out);
    free(out);
    evf_fleet_wait_ledger(r, n.ledger, EVENTS, 60000, 30000, n.topic);

    /* Settled: nothing in flight, the lag gauges updated (every second) to 0. */
    snprintf(match, sizeof(match), "topic=%s", n.topic);
    deadline = evf_test_now_ms() + 15000;
    evf_prom_t *p = NULL;
    for (;;) {
        p = evf_fleet_metrics(&w);
        int nlag = 0;
        double lag = evf_prom_sum(p, "evfleet_consumer_lag", match, &nlag);
        if (nlag == 2 && lag == 0 && evf_prom_sum(p, "evfleet_inflight_events", NULL, NULL) == 0)
            break;
        ck_assert_msg(evf_test_now_ms() < deadline, "lag %.0f over %d series, inflight %.0f",
                      lag, nlag, evf_prom_sum(p, "evfleet_inflight_events", NULL, NULL));
        evf_prom_free(p);
        usleep(200 * 1000);
    }
    assert_families(p);
    ck_assert_int_eq(metric(p, "evfleet_events_consumed_total", match, 1), EVENTS);
    ck_assert_int_eq(metric(p, "evfleet_events_processed_total", "processor=ledger,outcome=ok", 1),
                     EVENTS);
    ck_assert_int_eq(
        metric(p, "evfleet_events_processed_total", "processor=ledger,outcome=duplicate", -1), 0);
    ck_assert_int_eq(
        metric(p, "evfleet_events_processed_total", "processor=ledger,outcome=dlq", -1), 0);
    assert_histogram(p, "ledger", EVENTS);
    ck_assert_int_eq(metric(p, "evfleet_retries_total", "processor=ledger", -1), 0);
    ck_assert_int_eq(metric(p, "evfleet_dlq_events_total", NULL, 0), 0); /* no series yet */
    ck_assert_int_eq(metric(p, "evfleet_duplicates_skipped_total", NULL, 1), 0);
    ck_assert_int_eq(metric(p, "evfleet_inflight_events", NULL, 1), 0);
    ck_assert_int_eq(metric(p, "evfleet_consumer_lag", match, 2), 0);
    ck_assert_msg(metric(p, "evfleet_rebalances_total", NULL, 1) >= 1, "no rebalance counted");
    ck_assert_int_eq(metric(p, "evfleet_redis_errors_total", NULL, 1), 0);
    ck_assert_int_eq(metric(p, "evfleet_paused_partitions", NULL, 1), 0);
    ck_assert_int_eq(metric(p, "evfleet_breaker_open", "processor=ledger", 1), 0);
    evf_prom_free(p);

    /* /status */
    json_t *st = evf_fleet_status(&w);
    ck_assert_msg(st && json_is_object(st), "/status is not a JSON object");
    ck_assert_str_eq(json_string_value(json_object_get(st, "instance")) ?: "-", worker_id);
    ck_assert(json_is_integer(json_object_get(st, "lag")));
    ck_assert_int_eq(json_integer_value(json_object_get(st, "lag")), 0);
    ck_assert(json_is_integer(json_object_get(st, "inflight")));
    ck_assert_int_eq(json_integer_value(json_object_get(st, "inflight")), 0);
    ck_assert(json_is_array(json_object_get(st, "paused_partitions")));
    ck_assert_uint_eq(json_array_size(json_object_get(st, "paused_partitions")), 0);
    ck_assert(json_is_object(json_object_get(st, "breakers")));
    json_t *asg = json_object_get(st, "assignment");
    ck_assert(json_is_array(asg));
    int seen = 0;
    size_t i;
    json_t *e;
    json_array_foreach(asg, i, e) {
        const char *t = json_string_value(json_object_get(e, "topic"));
        ck_assert_ptr_nonnull(t);
        ck_assert(json_is_integer(json_object_get(e, "partition")));
        if (!strcmp(t, n.topic)) {
            seen |= 1 << json_integer_value(json_object_get(e, "partition"));
            ck_assert_int_eq(json_integer_value(json_object_get(e, "lag")), 0);
        }
    }
    ck_assert_msg(seen == 3, "/status assignment lacks %s partitions (mask %d)", n.topic, seen);
    json_decref(st);

    free(get_expect(&w, "/healthz", 200, "ok"));
    free(get_expect(&w, "/readyz", 200, NULL));
    free(get_expect(&w, "/no/such/endpoint", 404, NULL));

    ck_assert_int_eq(probe_path(&w, "/readyz"), 0);
    ck_assert_int_eq(probe_path(&w, "/no/such/endpoint"), 1);
    char closed[64];
    snprintf(closed, sizeof(closed), "http://127.0.0.1:%d/readyz", evf_fleet_free_port());
    ck_assert_int_eq(probe(closed), 1);

    stop_ok(&w);
    assert_json_log(&w);
    evf_redis_destroy(r);
}
END_TEST

/* Kafka (closed port) and Redis (closed port, with a password) unreachable from the start. */
START_TEST(dependencies_down_stay_up_not_ready) {
    evf_fleet_names_t n;
    evf_fleet_worker_t wk, wr;
    char kafka_opt[80], redis_opt[80];
    static const char secret[] = "pw-Hidden-9d2f";
    evf_fleet_names(&n, "down", 0);
    snprintf(kafka_opt, sizeof(kafka_opt), "kafka.bootstrap.servers=127.0.0.1:%d",
             evf_fleet_free_port());
    snprintf(redis_opt, sizeof(redis_opt), "redis.url=redis://127.0.0.1:%d/0",
             evf_fleet_free_port());
    const char *kx[] = {kafka_opt, NULL};
    const char *rx[] = {redis_opt, "redis.password=pw-Hidden-9d2f", NULL};
    int64_t t0 = evf_test_now_ms();
    evf_fleet_start(&wk, &n, kx, NULL);
    evf_fleet_start(&wr, &n, rx, NULL);

    /* Not ready, with a reason (Redis named at once); the probe says so too. */
    int64_t deadline = evf_test_now_ms() + 20000;
    for (;;) {
        int s1 = -1, s2 = -1;
        char *b1 = evf_fleet_get(&wk, "/readyz", &s1), *b2 = evf_fleet_get(&wr, "/readyz", &s2);
        ck_assert_msg(s1 != 200 && s2 != 200, "ready without Kafka (%d) or Redis (%d)", s1, s2);
        int done = s1 == 503 && !strncmp(b1, "not ready: ", 11) && s2 == 503 && strstr(b2, "redis");
        if (!done)
            ck_assert_msg(evf_test_now_ms() < deadline,
                          "no Kafka → /readyz %d '%s'; no Redis → /readyz %d '%s'", s1,
                          b1 ? b1 : "-", s2, b2 ? b2 : "-");
        free(b1);
        free(b2);
        if (done)
            break;
        usleep(100 * 1000);
    }
    ck_assert_int_eq(probe_path(&wk, "/readyz"), 1);
    ck_assert_int_eq(probe_path(&wr, "/readyz"), 1);
    json_t *st = evf_fleet_status(&wr);
    ck_assert_ptr_nonnull(st);
    ck_assert(json_is_false(json_object_get(st, "ready")));
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(st, "not_ready_reason")) ?: "",
                                 "redis"));
    json_decref(st);
    evf_prom_t *p = evf_fleet_metrics(&wr);
    assert_families(p);
    evf_prom_free(p);
    assert_no_secret(&wr, secret);

    /* Waiting for a dependency is not being stuck: still up and live well after the start
     * (past the worker's 15 s poll-stall bound), still not ready, Kafka named by now. */
    while (evf_test_now_ms() - t0 < 17000)
        usleep(100 * 1000);
    ck_assert(evf_fleet_alive(&wk) && evf_fleet_alive(&wr));
    free(get_expect(&wr, "/readyz", 503, "redis"));
    int sk = -1, sr = -1;
    free(evf_fleet_get(&wk, "/healthz", &sk));
    char *hr = evf_fleet_get(&wr, "/healthz", &sr);
    ck_assert_msg(sk == 200 && sr == 200,
                  "/healthz %d (Kafka down) and %d (Redis down: '%s') %" PRId64
                  " ms after the start: a liveness probe would restart a worker that only waits "
                  "for a dependency",
                  sk, sr, hr ? hr : "-", evf_test_now_ms() - t0);
    free(hr);
    deadline = t0 + 30000;
    for (;;) {
        int status = -1;
        char *body = evf_fleet_get(&wk, "/readyz", &status);
        int named = status == 503 && body && strstr(body, "kafka");
        if (!named)
            ck_assert_msg(evf_test_now_ms() < deadline, "no Kafka → /readyz %d '%s' after 30 s",
                          status, body ? body : "-");
        free(body);
        if (named)
            break;
        usleep(200 * 1000);
    }
    assert_no_secret(&wr, secret);
    /* (How fast a worker still waiting for Kafka stops is the next test's.) */
    stop_within(&wk, STOP_MS);
    stop_ok(&wr);
}
END_TEST

/* SIGTERM while the worker waits for Kafka at start: it stops as it would while running
 * (shutdown.grace.ms is 5000), not after its current attempt to reach Kafka ends. */
START_TEST(sigterm_while_waiting_for_kafka) {
    evf_fleet_names_t n;
    evf_fleet_worker_t w;
    char kafka_opt[80];
    evf_fleet_names(&n, "wait", 0);
    snprintf(kafka_opt, sizeof(kafka_opt), "kafka.bootstrap.servers=127.0.0.1:%d",
             evf_fleet_free_port());
    const char *kx[] = {kafka_opt, NULL};
    evf_fleet_start(&w, &n, kx, NULL);
    int64_t deadline = evf_test_now_ms() + 10000;
    for (;;) {
        int status = -1;
        free(evf_fleet_get(&w, "/healthz", &status));
        if (status > 0)
            break;
        ck_assert_msg(evf_test_now_ms() < deadline, "no HTTP answer after 10 s");
        usleep(50 * 1000);
    }
    usleep(1000 * 1000);
    free(get_expect(&w, "/readyz", 503, "not ready"));
    stop_within(&w, 5000 + 3000);
}
END_TEST

/* Failed Redis calls are counted (evfleet_redis_errors_total). */
START_TEST(redis_errors_counted) {
    evf_fleet_names_t n;
    evf_fleet_worker_t w;
    char redis_opt[80];
    evf_fleet_names(&n, "rerr", 0);
    snprintf(redis_opt, sizeof(redis_opt), "redis.url=redis://127.0.0.1:%d/0",
             evf_fleet_free_port());
    const char *rx[] = {redis_opt, NULL};
    int64_t t0 = evf_test_now_ms();
    evf_fleet_start(&w, &n, rx, NULL);
    int64_t deadline = t0 + 10000;
    for (;;) {
        int status = -1;
        char *body = evf_fleet_get(&w, "/metrics", &status);
        free(body);
        if (status == 200) {
            evf_prom_t *p = evf_fleet_metrics(&w);
            double errors = metric(p, "evfleet_redis_errors_total", NULL, 1);
            evf_prom_free(p);
            if (errors > 0)
                break;
        }
        ck_assert_msg(evf_test_now_ms() < deadline,
                      "evfleet_redis_errors_total still 0 with Redis unreachable for %" PRId64
                      " ms",
                      evf_test_now_ms() - t0);
        usleep(250 * 1000);
    }
    stop_ok(&w);
}
END_TEST

/* Redis stops while the worker runs, then comes back. */
START_TEST(redis_lost_and_back) {
    evf_fleet_names_t n;
    evf_fleet_worker_t w;
    evf_fleet_redis_srv_t srv = {0};
    char url[96], url_opt[120];
    char *out = NULL;
    evf_fleet_names(&n, "rlost", 0);
    evf_fleet_create_topic(n.topic, 1);
    evf_fleet_redis_srv_start(&srv, NULL);
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", srv.port);
    snprintf(url_opt, sizeof(url_opt), "redis.url=%s", url);
    const char *extra[] = {url_opt, "redis.command.timeout.ms=1000",
                           "redis.connect.timeout.ms=1000", NULL};
    evf_fleet_start(&w, &n, extra, NULL);
    evf_fleet_wait_ready(&w, READY_MS);

    const char *args[] = {"-b", evf_test_brokers(), "-t", n.topic, "-q", "iot", "--count", "20",
                          NULL};
    ck_assert_int_eq(evf_fleet_produce(args, 60000, &out), 0);
    free(out);
    evf_redis_t *r = evf_fleet_redis_url(url, NULL);
    evf_fleet_wait_ledger(r, n.ledger, 20, 60000, 30000, n.topic);
    evf_redis_destroy(r);

    evf_fleet_redis_srv_stop(&srv);
    int64_t deadline = evf_test_now_ms() + 20000;
    for (;;) {
        int status = -1;
        char *body = evf_fleet_get(&w, "/readyz", &status);
        int down = status == 503 && body && strstr(body, "redis");
        free(body);
        if (down)
            break;
        ck_assert_msg(evf_test_now_ms() < deadline, "still ready 20 s after Redis stopped");
        usleep(100 * 1000);
    }
    free(get_expect(&w, "/healthz", 200, NULL));

    /* Events arriving while Redis is away wait; they run once it is back. */
    ck_assert_int_eq(evf_fleet_produce(args, 60000, &out), 0);
    free(out);
    usleep(1000 * 1000);
    evf_fleet_redis_srv_start(&srv, NULL);
    evf_fleet_wait_ready(&w, 30000);
    r = evf_fleet_redis_url(url, NULL);
    /* The restarted server is empty: the 20 new events are its ledger. */
    evf_fleet_wait_ledger(r, n.ledger, 20, 60000, 30000, NULL);
    evf_redis_destroy(r);
    evf_prom_t *p = evf_fleet_metrics(&w);
    double errors = metric(p, "evfleet_redis_errors_total", NULL, 1);
    evf_prom_free(p);
    stop_ok(&w);
    evf_fleet_redis_srv_cleanup(&srv);
    ck_assert_msg(errors > 0, "evfleet_redis_errors_total is 0 after Redis went away and back");
}
END_TEST

/* A Redis that requires a password: a wrong one keeps the worker not ready (naming redis), the
 * right one in the URL makes it ready; neither password is ever shown. */
START_TEST(redis_password_never_shown) {
    evf_fleet_names_t n;
    evf_fleet_worker_t bad, good;
    evf_fleet_redis_srv_t srv = {0};
    static const char right[] = "pw-Right-51ac", wrong[] = "pw-Wrong-77e0";
    char url_opt[160], pw_opt[80];
    char *out = NULL;
    evf_fleet_names(&n, "auth", 0);
    evf_fleet_create_topic(n.topic, 1);
    evf_fleet_redis_srv_start(&srv, right);

    snprintf(url_opt, sizeof(url_opt), "redis.url=redis://127.0.0.1:%d/0", srv.port);
    snprintf(pw_opt, sizeof(pw_opt), "redis.password=%s", wrong);
    const char *bx[] = {url_opt, pw_opt, NULL};
    evf_fleet_start(&bad, &n, bx, NULL);

    char good_url[160];
    snprintf(good_url, sizeof(good_url), "redis.url=redis://default:%s@127.0.0.1:%d/0", right,
             srv.port);
    const char *gx[] = {good_url, NULL};
    evf_fleet_start(&good, &n, gx, NULL);
    evf_fleet_wait_ready(&good, READY_MS);

    int64_t deadline = evf_test_now_ms() + 20000;
    for (;;) {
        int status = -1;
        char *body = evf_fleet_get(&bad, "/readyz", &status);
        int named = status == 503 && body && strstr(body, "redis");
        ck_assert_msg(status != 200, "ready with a wrong Redis password");
        free(body);
        if (named)
            break;
        ck_assert_msg(evf_test_now_ms() < deadline, "/readyz does not name redis");
        usleep(100 * 1000);
    }

    const char *args[] = {"-b", evf_test_brokers(), "-t", n.topic, "-q", "iot", "--count", "10",
                          NULL};
    ck_assert_int_eq(evf_fleet_produce(args, 60000, &out), 0);
    free(out);
    char url[160];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", srv.port);
    evf_redis_t *r = evf_fleet_redis_url(url, right);
    evf_fleet_wait_ledger(r, n.ledger, 10, 60000, 30000, n.topic);
    evf_redis_destroy(r);

    for (int k = 0; k < 2; k++) {
        evf_fleet_worker_t *w = k ? &good : &bad;
        assert_no_secret(w, right);
        assert_no_secret(w, wrong);
    }
    stop_ok(&bad);
    stop_ok(&good);
    assert_no_secret(&good, right); /* the shutdown lines too (endpoints are gone: log only) */
    evf_fleet_redis_srv_cleanup(&srv);
}
END_TEST

static Suite *worker_http_suite(void) {
    Suite *s = suite_create("worker_http");
    TCase *tc = tcase_create("http");
    tcase_set_timeout(tc, 150);
    tcase_add_test(tc, endpoints_of_a_ready_worker);
    tcase_add_test(tc, dependencies_down_stay_up_not_ready);
    tcase_add_test(tc, redis_errors_counted);
    tcase_add_test(tc, sigterm_while_waiting_for_kafka);
    tcase_add_test(tc, redis_lost_and_back);
    tcase_add_test(tc, redis_password_never_shown);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(worker_http_suite());
    evf_fleet_session_begin();
    srunner_run_all(sr, CK_NORMAL);
    evf_fleet_session_end();
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
