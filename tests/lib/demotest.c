/* tests/lib/demotest.c — see demotest.h. */
#include "demotest.h"

#include <check.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "kafka.h"
#include "publisher.h"
#include "testutil.h"

#define PUB_FLUSH_MS 30000

static char *xstrdup(const char *s) {
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

/* ------------------------------------------------------------------------------------------ */
/* Workers                                                                                      */

void evf_demo_start(evf_fleet_worker_t *w, const char *const *xargs) {
    char *own[16];
    const char *args[256];
    int nown = 0, argc = 0;
    int port = evf_fleet_free_port();

#define OWN(...)                                                                                   \
    do {                                                                                           \
        if (asprintf(&own[nown], __VA_ARGS__) < 0)                                                 \
            abort();                                                                               \
        args[argc++] = "-X";                                                                       \
        args[argc++] = own[nown++];                                                                \
    } while (0)
    OWN("kafka.bootstrap.servers=%s", evf_test_brokers());
    OWN("redis.url=%s", evf_test_redis_url());
    OWN("http.listen=127.0.0.1:%d", port);
    OWN("log.format=json");
    OWN("kafka.session.timeout.ms=6000");
    OWN("kafka.heartbeat.interval.ms=500");
    OWN("shutdown.grace.ms=5000");
#undef OWN
    for (size_t i = 0; xargs && xargs[i]; i++) {
        ck_assert_int_lt(argc, 250);
        args[argc++] = "-X";
        args[argc++] = xargs[i];
    }
    args[argc] = NULL;
    evf_fleet_start_raw(w, args);
    /* evf_fleet_start_raw picked a port of its own for the handle; the worker listens on ours. */
    w->port = port;
    snprintf(w->base_url, sizeof(w->base_url), "http://127.0.0.1:%d", port);
    for (int i = 0; i < nown; i++)
        free(own[i]);
}

int evf_demo_run_worker(const char *const *args, int timeout_ms, char **out) {
    const char *argv[256];
    int argc = 0;
    char *bin = evf_test_bin("evfleet-worker");
    argv[argc++] = bin;
    for (size_t i = 0; args && args[i]; i++) {
        ck_assert_int_lt(argc, 254);
        argv[argc++] = args[i];
    }
    argv[argc] = NULL;
    int rc = evf_fleet_run(argv, timeout_ms, out);
    free(bin);
    return rc;
}

double evf_demo_outcomes(evf_fleet_worker_t *ws, size_t n, const char *processor,
                         const char *outcome) {
    char match[256];
    double sum = 0;
    match[0] = '\0';
    if (processor && outcome)
        snprintf(match, sizeof(match), "processor=%s,outcome=%s", processor, outcome);
    else if (processor)
        snprintf(match, sizeof(match), "processor=%s", processor);
    else if (outcome)
        snprintf(match, sizeof(match), "outcome=%s", outcome);
    for (size_t i = 0; i < n; i++) {
        if (ws[i].pid <= 0)
            continue;
        evf_prom_t *p = evf_fleet_metrics(&ws[i]);
        if (processor && !*processor) {
            /* evf_prom_sum's match cannot say "label is empty": walk the samples. */
            for (size_t k = 0;; k++) {
                const char *name, *proc, *out;
                double v;
                if (evf_prom_sample(p, k, &name, &v, "processor", &proc) != 0)
                    break;
                if (strcmp(name, "evfleet_events_processed_total") || !proc || *proc)
                    continue;
                evf_prom_sample(p, k, &name, &v, "outcome", &out);
                if (!outcome || (out && !strcmp(out, outcome)))
                    sum += v;
            }
        } else {
            sum += evf_prom_sum(p, "evfleet_events_processed_total", match, NULL);
        }
        evf_prom_free(p);
    }
    return sum;
}

void evf_demo_wait_finished(evf_fleet_worker_t *ws, size_t n, double want, int timeout_ms) {
    int64_t deadline = evf_test_now_ms() + timeout_ms;
    double finished = 0, inflight = 0;
    for (;;) {
        finished = inflight = 0;
        for (size_t i = 0; i < n; i++) {
            if (ws[i].pid <= 0)
                continue;
            if (!evf_fleet_alive(&ws[i])) {
                char *tail = evf_fleet_log_tail(&ws[i], 3000);
                ck_abort_msg("worker %zu exited (status %d) before finishing; log:\n%s", i,
                             ws[i].exit_status, tail);
            }
            evf_prom_t *p = evf_fleet_metrics(&ws[i]);
            finished += evf_prom_sum(p, "evfleet_events_processed_total", "outcome=ok", NULL) +
                        evf_prom_sum(p, "evfleet_events_processed_total", "outcome=duplicate",
                                     NULL) +
                        evf_prom_sum(p, "evfleet_events_processed_total", "outcome=dlq", NULL);
            inflight += evf_prom_sum(p, "evfleet_inflight_events", NULL, NULL);
            evf_prom_free(p);
        }
        if (finished >= want && inflight == 0)
            return;
        if (evf_test_now_ms() > deadline) {
            char *tail = n ? evf_fleet_log_tail(&ws[0], 3000) : NULL;
            ck_abort_msg("after %d ms: %.0f of %.0f events finished, %.0f in flight; worker 0's "
                         "log:\n%s",
                         timeout_ms, finished, want, inflight, tail ? tail : "");
        }
        usleep(200 * 1000);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Publishing                                                                                   */

struct evf_demo_pub_s {
    evf_pub_t *pub;
};

evf_demo_pub_t *evf_demo_pub_new(void) {
    char err[512];
    evf_conf_t *conf = evf_test_conf();
    evf_pub_opts_t opts = {.client_id = "evfleet-demotest"};
    evf_demo_pub_t *p = calloc(1, sizeof(*p));
    if (!p)
        abort();
    p->pub = evf_pub_new(conf, &opts, err, sizeof(err));
    ck_assert_msg(p->pub, "publisher: %s", err);
    evf_conf_destroy(conf);
    return p;
}

void evf_demo_pub_event(evf_demo_pub_t *p, const char *topic, const evf_event_t *ev) {
    char err[512];
    evf_err_t rc = evf_pub_send_event(p->pub, topic, ev, NULL, 10000, err, sizeof(err));
    ck_assert_msg(rc == EVF_OK, "publishing event %s to %s: %s", ev->id, topic, err);
}

void evf_demo_pub_raw(evf_demo_pub_t *p, const char *topic, const char *key, const void *value,
                      size_t len) {
    char err[512];
    evf_err_t rc = evf_pub_send(p->pub, topic, RD_KAFKA_PARTITION_UA, key, key ? strlen(key) : 0,
                                value, len, NULL, NULL, 10000, err, sizeof(err));
    ck_assert_msg(rc == EVF_OK, "publishing a raw message to %s: %s", topic, err);
}

size_t evf_demo_pub_finish(evf_demo_pub_t *p) {
    evf_pub_stats_t st;
    int left = evf_pub_flush(p->pub, PUB_FLUSH_MS);
    evf_pub_stats(p->pub, &st);
    evf_pub_destroy(p->pub, 1000);
    free(p);
    ck_assert_msg(left == 0 && st.failed == 0 && st.delivered == st.queued,
                  "publisher: %d still in flight, %" PRIu64 " of %" PRIu64
                  " delivered, %" PRIu64 " failed (%s)",
                  left, st.delivered, st.queued, st.failed, st.last_reason);
    return (size_t)st.delivered;
}

/* ------------------------------------------------------------------------------------------ */
/* Cleaning up (runs in check's parent process: no ck_assert here)                              */

#define CLEAN_MAX 64
#define CLEAN_NAME_MAX 256

static char clean_topics[CLEAN_MAX][CLEAN_NAME_MAX];
static size_t n_clean_topics;
static char clean_patterns[CLEAN_MAX][CLEAN_NAME_MAX];
static size_t n_clean_patterns;

void evf_demo_cleanup_topic(const char *topic) {
    if (n_clean_topics < CLEAN_MAX)
        snprintf(clean_topics[n_clean_topics++], CLEAN_NAME_MAX, "%s", topic);
    else
        fprintf(stderr, "demotest: too many topics to clean up; %s stays\n", topic);
}

void evf_demo_cleanup_keys(const char *pattern) {
    if (n_clean_patterns < CLEAN_MAX)
        snprintf(clean_patterns[n_clean_patterns++], CLEAN_NAME_MAX, "%s", pattern);
    else
        fprintf(stderr, "demotest: too many key patterns to clean up; %s stays\n", pattern);
}

static void unlink_pattern(evf_redis_t *r, const char *pattern) {
    char cursor[32] = "0";
    do {
        redisReply *rep = evf_redis_cmd(r, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
            fprintf(stderr, "demotest cleanup: SCAN %s failed\n", pattern);
            if (rep)
                freeReplyObject(rep);
            return;
        }
        snprintf(cursor, sizeof(cursor), "%s", rep->element[0]->str);
        redisReply *list = rep->element[1];
        for (size_t i = 0; i < list->elements; i++) {
            redisReply *u = evf_redis_cmd(r, "UNLINK %s", list->element[i]->str);
            if (u)
                freeReplyObject(u);
        }
        freeReplyObject(rep);
    } while (strcmp(cursor, "0") != 0);
}

void evf_demo_cleanup(void) {
    char err[512];
    evf_conf_t *conf = evf_test_conf();
    if (n_clean_topics) {
        const char *topics[CLEAN_MAX];
        for (size_t i = 0; i < n_clean_topics; i++)
            topics[i] = clean_topics[i];
        rd_kafka_conf_t *kc = evf_kafka_conf_new(conf, EVF_KAFKA_ADMIN, err, sizeof(err));
        rd_kafka_t *rk = kc ? rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof(err)) : NULL;
        if (!rk || evf_kafka_delete_topics(rk, topics, n_clean_topics, 30000, err, sizeof(err)))
            fprintf(stderr, "demotest cleanup: deleting topics: %s\n", err);
        if (rk)
            rd_kafka_destroy(rk);
    }
    if (n_clean_patterns) {
        evf_redis_t *r = evf_redis_new(conf, "cleanup", err, sizeof(err));
        if (r && evf_redis_connect(r, err, sizeof(err)) == EVF_OK) {
            for (size_t i = 0; i < n_clean_patterns; i++)
                unlink_pattern(r, clean_patterns[i]);
        } else {
            fprintf(stderr, "demotest cleanup: redis: %s\n", err);
        }
        evf_redis_destroy(r);
    }
    evf_conf_destroy(conf);
    n_clean_topics = n_clean_patterns = 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Redis                                                                                        */

static int cmp_field(const void *a, const void *b) {
    return strcmp(((const evf_demo_field_t *)a)->field, ((const evf_demo_field_t *)b)->field);
}

void evf_demo_hgetall(evf_redis_t *r, const char *key, evf_demo_hash_t *out) {
    memset(out, 0, sizeof(*out));
    redisReply *rep = evf_redis_cmd(r, "HGETALL %s", key);
    ck_assert_msg(rep && rep->type == REDIS_REPLY_ARRAY, "HGETALL %s failed%s%s", key,
                  rep && rep->type == REDIS_REPLY_ERROR ? ": " : "",
                  rep && rep->type == REDIS_REPLY_ERROR ? rep->str : "");
    out->n = rep->elements / 2;
    out->f = calloc(out->n ? out->n : 1, sizeof(*out->f));
    if (!out->f)
        abort();
    for (size_t i = 0; i < out->n; i++) {
        redisReply *f = rep->element[2 * i], *v = rep->element[2 * i + 1];
        out->f[i].field = strndup(f->str, f->len);
        out->f[i].value = strndup(v->str, v->len);
        if (!out->f[i].field || !out->f[i].value)
            abort();
    }
    freeReplyObject(rep);
    qsort(out->f, out->n, sizeof(*out->f), cmp_field);
}

const char *evf_demo_hash_get(const evf_demo_hash_t *h, const char *field) {
    for (size_t i = 0; i < h->n; i++)
        if (!strcmp(h->f[i].field, field))
            return h->f[i].value;
    return NULL;
}

void evf_demo_hash_free(evf_demo_hash_t *h) {
    for (size_t i = 0; i < h->n; i++) {
        free(h->f[i].field);
        free(h->f[i].value);
    }
    free(h->f);
    memset(h, 0, sizeof(*h));
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **evf_demo_scan(evf_redis_t *r, const char *pattern, size_t *n) {
    char cursor[32] = "0";
    size_t cap = 64, count = 0;
    char **keys = malloc(cap * sizeof(*keys));
    if (!keys)
        abort();
    do {
        redisReply *rep = evf_redis_cmd(r, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        ck_assert_msg(rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2,
                      "SCAN %s failed", pattern);
        snprintf(cursor, sizeof(cursor), "%s", rep->element[0]->str);
        redisReply *list = rep->element[1];
        for (size_t i = 0; i < list->elements; i++) {
            if (count == cap) {
                cap *= 2;
                keys = realloc(keys, cap * sizeof(*keys));
                if (!keys)
                    abort();
            }
            keys[count++] = xstrdup(list->element[i]->str);
        }
        freeReplyObject(rep);
    } while (strcmp(cursor, "0") != 0);
    qsort(keys, count, sizeof(*keys), cmp_str);
    /* SCAN may return a key twice; keep one. */
    size_t kept = 0;
    for (size_t i = 0; i < count; i++) {
        if (kept && !strcmp(keys[kept - 1], keys[i])) {
            free(keys[i]);
            continue;
        }
        keys[kept++] = keys[i];
    }
    *n = kept;
    return keys;
}

void evf_demo_strv_free(char **v, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

int64_t evf_demo_pttl(evf_redis_t *r, const char *key) {
    redisReply *rep = evf_redis_cmd(r, "PTTL %s", key);
    ck_assert_msg(rep && rep->type == REDIS_REPLY_INTEGER, "PTTL %s failed", key);
    int64_t v = rep->integer;
    freeReplyObject(rep);
    return v;
}
