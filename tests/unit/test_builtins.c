/* tests/unit/test_builtins.c — the built-in processors, run through the fake context: noop,
 * ledger, chaos (determinism, fail.ids, fail.attempts, kind, ledger, latency, crash), s3_index and
 * stream_materialize under shuffled and duplicated deliveries (checked against an independently
 * computed expected state, with guards evaluated up front and lazily), and iot_rollup (windows,
 * aggregates, readings, one alert per threshold crossing). */
#include <check.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "builtins.h"
#include "event.h"
#include "fakectx.h"

/* ---- helpers ---- */

/* kv: NULL-terminated name, value pairs. */
static void *init_ok(const evf_processor_t *p, const char *const *kv) {
    evf_proc_setting_t settings[32];
    size_t n = 0;
    for (; kv && kv[2 * n]; n++)
        settings[n] = (evf_proc_setting_t){.name = kv[2 * n], .value = kv[2 * n + 1]};
    void *state = NULL;
    char err[512] = "";
    ck_assert_msg(p->init(&state, settings, n, err, sizeof(err)) == 0, "%s init: %s", p->name,
                  err);
    return state;
}

static int init_fails(const evf_processor_t *p, const char *name, const char *value,
                      char *err, size_t err_size) {
    evf_proc_setting_t s = {.name = name, .value = value};
    void *state = NULL;
    err[0] = '\0';
    int rc = p->init(&state, &s, 1, err, err_size);
    if (rc == 0)
        p->destroy(state);
    return rc != 0;
}

static uint64_t rng_state;
static uint64_t rnd(void) { /* xorshift64*: fixed seeds, reproducible */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}
static size_t rnd_below(size_t n) {
    return (size_t)(rnd() % n);
}

static evf_event_t *plain_event(const char *id, const char *type) {
    evf_event_t *ev = evf_event_new();
    evf_event_set_str(&ev->id, id);
    evf_event_set_str(&ev->type, type);
    ev->source = EVFLEET__V1__SOURCE__CUSTOM;
    return ev;
}

static const char *attr(const evf_event_t *ev, const char *name) {
    for (size_t i = 0; i < ev->n_attributes; i++)
        if (!strcmp(ev->attributes[i]->key, name))
            return ev->attributes[i]->value;
    return NULL;
}

/* ---- the fake itself: the semantics the other tests rely on ---- */

START_TEST(test_fakectx_semantics) {
    evf_fakectx_t *f = evf_fakectx_new();
    evf_event_t *ev = plain_event("f1", "t");
    evf_proc_ctx_t *ctx = evf_fakectx_begin(f, ev, 3);
    ck_assert_str_eq(ctx->idempotency_key, "f1");
    ck_assert_int_eq(ctx->attempt, 3);
    ck_assert_str_eq(ctx->key_prefix, "evf");

    evf_fakectx_hset(f, "h", "seq", "00ff");
    evf_fakectx_hset(f, "h", "n", "5");
    evf_fakectx_hset(f, "h", "s", "b");
    evf_fakectx_set(f, "str", "x");
    int g_hex_new = evf_ctx_guard(ctx, EVF_GUARD_LT_HEX, "h", "seq", "100");  /* 0xff < 0x100 */
    int g_hex_old = evf_ctx_guard(ctx, EVF_GUARD_LT_HEX, "h", "seq", "FF");   /* equal: no */
    int g_num = evf_ctx_guard(ctx, EVF_GUARD_LT_NUM, "h", "n", "0010");       /* 5 < 10 */
    int g_absent_f = evf_ctx_guard(ctx, EVF_GUARD_LT_NUM, "h", "nope", "1");  /* absent passes */
    int g_absent_k = evf_ctx_guard(ctx, EVF_GUARD_ABSENT, "nokey", NULL, NULL);
    int g_exists = evf_ctx_guard(ctx, EVF_GUARD_ABSENT, "h", NULL, NULL);
    int g_ne = evf_ctx_guard(ctx, EVF_GUARD_NE, "h", "s", "b");
    int g_str = evf_ctx_guard(ctx, EVF_GUARD_LT_STR, "str", NULL, "y");
    ck_assert_int_eq(g_str, 8);
    ck_assert_int_eq(evf_ctx_effect(ctx, g_hex_new, EVF_FX_HSET, "out", "a", "1"), 0);
    ck_assert_int_eq(evf_ctx_effect(ctx, g_hex_old, EVF_FX_HSET, "out", "b", "1"), 0);
    ck_assert_int_eq(evf_ctx_effect(ctx, g_num, EVF_FX_HSET, "out", "c", "1"), 0);
    ck_assert_int_eq(evf_ctx_effect(ctx, g_absent_f, EVF_FX_HSET, "out", "d", "1"), 0);
    ck_assert_int_eq(evf_ctx_effect(ctx, g_absent_k, EVF_FX_HSET, "out", "e", "1"), 0);
    ck_assert_int_eq(evf_ctx_effect(ctx, g_exists, EVF_FX_HSET, "out", "f", "1"), 0);
    ck_assert_int_eq(evf_ctx_effect(ctx, g_ne, EVF_FX_HSET, "out", "g", "1"), 0);
    ck_assert_int_eq(evf_ctx_effect(ctx, g_str, EVF_FX_HSET, "out", "h", "1"), 0);
    /* guards are evaluated before the first write: this one still sees seq = 00ff */
    ck_assert_int_eq(evf_ctx_effect(ctx, g_hex_new, EVF_FX_HSET, "h", "seq", "100"), 0);
    ck_assert_int_eq(evf_ctx_effect(ctx, g_hex_new, EVF_FX_HSET, "out", "i", "1"), 0);
    ck_assert_int_eq(evf_ctx_effect(ctx, 0, EVF_FX_HINCRBYFLOAT, "out", "fl", "1.5"), 0);
    ck_assert_int_eq(evf_ctx_effect(ctx, 0, EVF_FX_HMAX, "out", "mx", "3"), 0);
    ck_assert_int_eq(evf_ctx_effect(ctx, 0, EVF_FX_HMAX, "out", "mx", "2"), 0);
    ck_assert_int_eq(evf_ctx_effect(ctx, 0, EVF_FX_HMIN, "out", "mn", "3"), 0);
    ck_assert_int_eq(evf_ctx_effect(ctx, 0, EVF_FX_HMIN, "out", "mn", "-2"), 0);
    ck_assert_int_eq(evf_ctx_effect(ctx, 0, EVF_FX_SADD, "set", NULL, "m"), 0);
    ck_assert_int_eq(evf_ctx_effect(ctx, 0, EVF_FX_INCRBY, "ctr", NULL, "7"), 0);
    ck_assert_int_eq(evf_ctx_effect(ctx, 0, EVF_FX_PEXPIRE, "ctr", NULL, "500"), 0);
    ck_assert_int_eq(evf_fakectx_apply(f), 15);
    ck_assert_uint_eq(evf_fakectx_last_skipped(f), 3);
    ck_assert_str_eq(evf_fakectx_hget(f, "out", "a"), "1");
    ck_assert_ptr_null(evf_fakectx_hget(f, "out", "b"));
    ck_assert_str_eq(evf_fakectx_hget(f, "out", "c"), "1");
    ck_assert_str_eq(evf_fakectx_hget(f, "out", "d"), "1");
    ck_assert_str_eq(evf_fakectx_hget(f, "out", "e"), "1");
    ck_assert_ptr_null(evf_fakectx_hget(f, "out", "f"));
    ck_assert_ptr_null(evf_fakectx_hget(f, "out", "g"));
    ck_assert_str_eq(evf_fakectx_hget(f, "out", "h"), "1");
    ck_assert_str_eq(evf_fakectx_hget(f, "out", "i"), "1");
    ck_assert_str_eq(evf_fakectx_hget(f, "out", "fl"), "1.5");
    ck_assert_str_eq(evf_fakectx_hget(f, "out", "mx"), "3");
    ck_assert_str_eq(evf_fakectx_hget(f, "out", "mn"), "-2");
    ck_assert(evf_fakectx_sismember(f, "set", "m"));
    ck_assert_str_eq(evf_fakectx_get(f, "ctr"), "7");
    ck_assert_int_eq(evf_fakectx_pttl(f, "ctr"), 500);
    ck_assert_int_eq(evf_fakectx_pttl(f, "nokey"), -2);

    /* lazily evaluated, the second write under the same guard is skipped */
    evf_fakectx_lazy_guards(f, 1);
    ctx = evf_fakectx_begin(f, ev, 1);
    int g = evf_ctx_guard(ctx, EVF_GUARD_LT_HEX, "h", "seq", "200");
    evf_ctx_effect(ctx, g, EVF_FX_HSET, "h", "seq", "200");
    evf_ctx_effect(ctx, g, EVF_FX_HSET, "out", "lazy", "1");
    ck_assert_int_eq(evf_fakectx_apply(f), 1);
    ck_assert_ptr_null(evf_fakectx_hget(f, "out", "lazy"));
    evf_fakectx_lazy_guards(f, 0);

    /* all or nothing: a wrong-type effect applies nothing */
    ctx = evf_fakectx_begin(f, ev, 1);
    evf_ctx_effect(ctx, 0, EVF_FX_HSET, "out", "z", "1");
    evf_ctx_effect(ctx, 0, EVF_FX_HINCRBY, "str", "f", "1"); /* str is a string */
    ck_assert_int_eq(evf_fakectx_apply(f), -1);
    ck_assert_msg(strstr(evf_fakectx_error(f), "WRONGTYPE") != NULL, "%s", evf_fakectx_error(f));
    ck_assert_ptr_null(evf_fakectx_hget(f, "out", "z"));
    ctx = evf_fakectx_begin(f, ev, 1);
    evf_ctx_effect(ctx, 0, EVF_FX_HSET, "out", "z", "1");
    evf_ctx_effect(ctx, 0, EVF_FX_HINCRBY, "out", "a", "1");
    evf_ctx_effect(ctx, 0, EVF_FX_HINCRBY, "h", "s", "1"); /* "b" is not an integer */
    ck_assert_int_eq(evf_fakectx_apply(f), -1);
    ck_assert_ptr_null(evf_fakectx_hget(f, "out", "z"));
    ck_assert_str_eq(evf_fakectx_hget(f, "out", "a"), "1");

    /* what the worker refuses at call time */
    ck_assert_uint_eq(evf_fakectx_bad_calls(f), 0);
    ck_assert_int_eq(evf_ctx_effect(ctx, 0, EVF_FX_HINCRBY, "k", "f", "1.5"), -1);
    ck_assert_int_eq(evf_ctx_effect(ctx, 0, EVF_FX_HSET, "k", "", "v"), -1);
    ck_assert_int_eq(evf_ctx_effect(ctx, 0, EVF_FX_HSET, "", "f", "v"), -1);
    ck_assert_int_eq(evf_ctx_effect(ctx, 0, EVF_FX_PEXPIRE, "k", NULL, "0"), -1);
    ck_assert_int_eq(evf_ctx_effect(ctx, 0, EVF_FX_HMAX, "k", "f", "nan"), -1);
    ck_assert_int_eq(evf_ctx_effect(ctx, 99, EVF_FX_HSET, "k", "f", "v"), -1);
    ck_assert_uint_eq(evf_fakectx_bad_calls(f), 6);

    /* lookups */
    char out[8];
    ck_assert_int_eq(evf_ctx_hget(ctx, "h", "s", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "b");
    ck_assert_int_eq(evf_ctx_hget(ctx, "h", "none", out, sizeof(out)), 1);
    ck_assert_int_eq(evf_ctx_hget(ctx, "str", "f", out, sizeof(out)), -1);
    ck_assert_int_eq(ctx->ops->get(ctx, "str", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "x");
    evf_fakectx_fail_lookups(f, 1);
    ck_assert_int_eq(evf_ctx_hget(ctx, "h", "s", out, sizeof(out)), -1);

    /* room limits */
    evf_fakectx_limits(f, 1, 1, 1);
    ctx = evf_fakectx_begin(f, ev, 1);
    ck_assert_int_eq(evf_ctx_guard(ctx, EVF_GUARD_NE, "a", "b", "c"), 1);
    ck_assert_int_eq(evf_ctx_guard(ctx, EVF_GUARD_NE, "a", "b", "c"), -1);
    ck_assert_int_eq(evf_ctx_effect(ctx, 1, EVF_FX_DEL, "a", NULL, NULL), 0);
    ck_assert_int_eq(evf_ctx_effect(ctx, 1, EVF_FX_DEL, "a", NULL, NULL), -1);
    ck_assert_int_eq(evf_ctx_emit(ctx, "t", evf_event_new()), 0);
    ck_assert_int_eq(evf_ctx_emit(ctx, "t", evf_event_new()), -1);
    evf_event_free(ev);
    evf_fakectx_destroy(f);
}
END_TEST

/* ---- noop, ledger ---- */

START_TEST(test_noop) {
    void *st = init_ok(&evf_proc_noop, NULL);
    evf_fakectx_t *f = evf_fakectx_new();
    evf_event_t *ev = plain_event("n1", "anything");
    ck_assert_int_eq(evf_fakectx_run(f, &evf_proc_noop, st, ev, 1), EVF_PROC_OK);
    ck_assert_uint_eq(evf_fakectx_n_effects(f), 0);
    ck_assert_uint_eq(evf_fakectx_n_emits(f), 0);
    ck_assert_int_eq(evf_proc_noop.concurrent, 1);
    char err[256];
    ck_assert(init_fails(&evf_proc_noop, "x", "1", err, sizeof(err)));
    ck_assert_msg(strstr(err, "'x'") != NULL, "%s", err);
    evf_event_free(ev);
    evf_fakectx_destroy(f);
    evf_proc_noop.destroy(st);
}
END_TEST

START_TEST(test_ledger) {
    void *st = init_ok(&evf_proc_ledger, NULL);
    evf_fakectx_t *f = evf_fakectx_new();
    evf_fakectx_set_prefix(f, "pfx");
    evf_fakectx_set_group(f, "grp");
    for (int i = 0; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof(id), "id-%d", i);
        evf_event_t *ev = plain_event(id, "t");
        ck_assert_int_eq(evf_fakectx_run(f, &evf_proc_ledger, st, ev, 1), EVF_PROC_OK);
        ck_assert_int_eq(evf_fakectx_last_apply(f), 1);
        const evf_fake_effect_t *e = evf_fakectx_effect(f, 0);
        ck_assert_int_eq(e->op, EVF_FX_HINCRBY);
        ck_assert_str_eq(e->key, "pfx:ledger:grp");
        ck_assert_str_eq(e->field, id);
        ck_assert_str_eq(e->value, "1");
        ck_assert_int_eq(e->guard_id, 0);
        evf_event_free(ev);
    }
    ck_assert_uint_eq(evf_fakectx_len(f, "pfx:ledger:grp"), 5);
    /* the ledger itself counts a second application (what exactly-once effects prevent) */
    evf_event_t *ev = plain_event("id-3", "t");
    evf_fakectx_run(f, &evf_proc_ledger, st, ev, 2);
    ck_assert_str_eq(evf_fakectx_hget(f, "pfx:ledger:grp", "id-3"), "2");
    ck_assert_str_eq(evf_fakectx_hget(f, "pfx:ledger:grp", "id-4"), "1");
    evf_proc_ledger.destroy(st);

    static const char *const kv[] = {"key", "audit:custom", NULL};
    st = init_ok(&evf_proc_ledger, kv);
    evf_fakectx_run(f, &evf_proc_ledger, st, ev, 1);
    ck_assert_str_eq(evf_fakectx_hget(f, "audit:custom", "id-3"), "1");
    ck_assert_uint_eq(evf_fakectx_bad_calls(f), 0);
    evf_proc_ledger.destroy(st);
    evf_event_free(ev);
    evf_fakectx_destroy(f);
}
END_TEST

/* ---- chaos ---- */

static evf_proc_result_t chaos_run(evf_fakectx_t *f, void *st, const char *id, int attempt) {
    evf_event_t *ev = plain_event(id, "t");
    evf_proc_result_t r = evf_fakectx_run(f, &evf_proc_chaos, st, ev, attempt);
    evf_event_free(ev);
    return r;
}

START_TEST(test_chaos_rate_deterministic) {
    static const char *const kv[] = {"fail.rate", "0.3", NULL};
    void *st = init_ok(&evf_proc_chaos, kv);
    evf_fakectx_t *f = evf_fakectx_new();
    static char failed[10000];
    int n_failed = 0;
    for (int i = 0; i < 10000; i++) {
        char id[64];
        snprintf(id, sizeof(id), "%08x-4a1b-4c2d-9e3f-%012d", i * 2654435761u, i);
        evf_proc_result_t r = chaos_run(f, st, id, 1);
        ck_assert(r == EVF_PROC_OK || r == EVF_PROC_RETRY);
        failed[i] = r != EVF_PROC_OK;
        n_failed += failed[i];
        if (failed[i])
            ck_assert_msg(strstr(evf_fakectx_reason(f), "chaos") != NULL, "%s",
                          evf_fakectx_reason(f));
    }
    ck_assert_msg(n_failed >= 2700 && n_failed <= 3300, "%d of 10000 failed at rate 0.3",
                  n_failed);
    /* the same ids fail again, on any attempt */
    for (int i = 0; i < 10000; i++) {
        char id[64];
        snprintf(id, sizeof(id), "%08x-4a1b-4c2d-9e3f-%012d", i * 2654435761u, i);
        ck_assert_int_eq(chaos_run(f, st, id, 1 + i % 5) != EVF_PROC_OK, failed[i]);
    }
    evf_proc_chaos.destroy(st);

    static const char *const none[] = {"fail.rate", "0", NULL};
    static const char *const all[] = {"fail.rate", "1", NULL};
    void *st0 = init_ok(&evf_proc_chaos, none), *st1 = init_ok(&evf_proc_chaos, all);
    for (int i = 0; i < 1000; i++) {
        char id[32];
        snprintf(id, sizeof(id), "x%d", i);
        ck_assert_int_eq(chaos_run(f, st0, id, 1), EVF_PROC_OK);
        ck_assert_int_eq(chaos_run(f, st1, id, 1), EVF_PROC_RETRY);
    }
    evf_proc_chaos.destroy(st0);
    evf_proc_chaos.destroy(st1);
    evf_fakectx_destroy(f);
}
END_TEST

START_TEST(test_chaos_ids_attempts_kind) {
    evf_fakectx_t *f = evf_fakectx_new();
    static const char *const ids[] = {"fail.ids", " a, b ,,c ", NULL};
    void *st = init_ok(&evf_proc_chaos, ids);
    ck_assert_int_eq(chaos_run(f, st, "a", 1), EVF_PROC_RETRY);
    ck_assert_msg(strstr(evf_fakectx_reason(f), "fail.ids") != NULL, "%s", evf_fakectx_reason(f));
    ck_assert_int_eq(chaos_run(f, st, "b", 7), EVF_PROC_RETRY);
    ck_assert_int_eq(chaos_run(f, st, "c", 1), EVF_PROC_RETRY);
    ck_assert_int_eq(chaos_run(f, st, "d", 1), EVF_PROC_OK);
    ck_assert_int_eq(chaos_run(f, st, "", 1), EVF_PROC_OK);
    ck_assert_int_eq(chaos_run(f, st, "a ", 1), EVF_PROC_OK);
    evf_proc_chaos.destroy(st);

    static const char *const perm[] = {"fail.ids", "a", "fail.kind", "permanent", NULL};
    st = init_ok(&evf_proc_chaos, perm);
    ck_assert_int_eq(chaos_run(f, st, "a", 1), EVF_PROC_FAIL);
    ck_assert_int_eq(chaos_run(f, st, "b", 1), EVF_PROC_OK);
    evf_proc_chaos.destroy(st);

    /* "fails transiently once" */
    static const char *const once[] = {"fail.ids", "a", "fail.attempts", "1", NULL};
    st = init_ok(&evf_proc_chaos, once);
    ck_assert_int_eq(chaos_run(f, st, "a", 1), EVF_PROC_RETRY);
    ck_assert_int_eq(chaos_run(f, st, "a", 2), EVF_PROC_OK);
    ck_assert_int_eq(chaos_run(f, st, "a", 3), EVF_PROC_OK);
    evf_proc_chaos.destroy(st);

    static const char *const twice[] = {"fail.rate", "1", "fail.attempts", "2", NULL};
    st = init_ok(&evf_proc_chaos, twice);
    ck_assert_int_eq(chaos_run(f, st, "z", 1), EVF_PROC_RETRY);
    ck_assert_int_eq(chaos_run(f, st, "z", 2), EVF_PROC_RETRY);
    ck_assert_int_eq(chaos_run(f, st, "z", 3), EVF_PROC_OK);
    evf_proc_chaos.destroy(st);

    /* ledger: counted only when OK */
    static const char *const led[] = {"fail.ids", "bad", "ledger", "true", NULL};
    st = init_ok(&evf_proc_chaos, led);
    ck_assert_int_eq(chaos_run(f, st, "good", 1), EVF_PROC_OK);
    ck_assert_int_eq(evf_fakectx_last_apply(f), 1);
    ck_assert_int_eq(chaos_run(f, st, "bad", 1), EVF_PROC_RETRY);
    ck_assert_uint_eq(evf_fakectx_n_effects(f), 0);
    ck_assert_str_eq(evf_fakectx_hget(f, "evf:ledger:test-group", "good"), "1");
    ck_assert_ptr_null(evf_fakectx_hget(f, "evf:ledger:test-group", "bad"));
    evf_proc_chaos.destroy(st);

    /* latency */
    static const char *const slow[] = {"latency.ms", "60", NULL};
    st = init_ok(&evf_proc_chaos, slow);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(chaos_run(f, st, "s", 1), EVF_PROC_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    ck_assert_msg(ms >= 59, "slept %.1f ms", ms);
    evf_proc_chaos.destroy(st);
    ck_assert_uint_eq(evf_fakectx_bad_calls(f), 0);
    evf_fakectx_destroy(f);

    char err[512];
    ck_assert(init_fails(&evf_proc_chaos, "fail.rate", "1.01", err, sizeof(err)));
    ck_assert(init_fails(&evf_proc_chaos, "fail.rate", "-0.1", err, sizeof(err)));
    ck_assert(init_fails(&evf_proc_chaos, "fail.rate", "0.3x", err, sizeof(err)));
    ck_assert(init_fails(&evf_proc_chaos, "fail.kind", "often", err, sizeof(err)));
    ck_assert(init_fails(&evf_proc_chaos, "crash.rate", "1", err, sizeof(err)));
    ck_assert_msg(strstr(err, "'crash.rate'") != NULL, "%s", err);
}
END_TEST

START_TEST(test_chaos_crash) {
    static const char *const kv[] = {"crash.ids", "boom", NULL};
    void *st = init_ok(&evf_proc_chaos, kv);
    evf_fakectx_t *f = evf_fakectx_new();
    ck_assert_int_eq(chaos_run(f, st, "fine", 1), EVF_PROC_OK);
    chaos_run(f, st, "boom", 1); /* aborts: the test expects SIGABRT */
    ck_abort_msg("chaos did not crash on a crash.ids event");
}
END_TEST

/* ---- s3_index ---- */

typedef struct {
    int bucket, obj;
    int create;
    int64_t size;
    uint64_t seq; /* written as hex with random zero padding and case */
    char id[32];
} s3_step_t;

static evf_event_t *s3_event_of(const s3_step_t *s, int variant) {
    evf_event_t *ev = evf_event_new();
    evf_event_set_str(&ev->id, s->id);
    ev->source = EVFLEET__V1__SOURCE__S3;
    evf_event_set_str(&ev->type, s->create ? "s3:ObjectCreated:Put" : "s3:ObjectRemoved:Delete");
    ev->time_ms = 1700000000000LL + (int64_t)s->seq;
    Evfleet__V1__S3Object *s3 = evf_event_set_s3(ev);
    char buf[64];
    snprintf(buf, sizeof(buf), "bucket-%d", s->bucket);
    evf_event_set_str(&s3->bucket, buf);
    snprintf(buf, sizeof(buf), "dir/obj %d.bin", s->obj);
    evf_event_set_str(&s3->key, buf);
    if (s->create) {
        s3->size = s->size;
        snprintf(buf, sizeof(buf), "etag-%s", s->id);
        evf_event_set_str(&s3->etag, buf);
        evf_event_set_str(&s3->content_type, "application/octet-stream");
    }
    /* the same sequencer in different spellings: padding and case must not matter */
    if (variant % 2)
        snprintf(buf, sizeof(buf), "%0*" PRIx64, 4 + variant % 7, s->seq);
    else
        snprintf(buf, sizeof(buf), "%0*" PRIX64, 18, s->seq);
    evf_event_set_str(&s3->sequencer, buf);
    return ev;
}

static void s3_trials(int lazy) {
    enum { BUCKETS = 2, OBJS = 4, TRIALS = 150 };
    rng_state = 0x5eed5eed12345678ULL + (uint64_t)lazy;
    for (int trial = 0; trial < TRIALS; trial++) {
        evf_fakectx_t *f = evf_fakectx_new();
        evf_fakectx_lazy_guards(f, lazy);
        void *st = init_ok(&evf_proc_s3_index, NULL);
        s3_step_t steps[BUCKETS * OBJS * 8];
        size_t n = 0;
        for (int b = 0; b < BUCKETS; b++) {
            for (int o = 0; o < OBJS; o++) {
                size_t k = 1 + rnd_below(7);
                uint64_t seq = 1 + rnd_below(200);
                for (size_t j = 0; j < k; j++) {
                    s3_step_t *s = &steps[n++];
                    s->bucket = b;
                    s->obj = o;
                    s->create = rnd_below(3) != 0;
                    s->size = (int64_t)rnd_below(5000);
                    seq += 1 + rnd_below(0x10000); /* strictly increasing per object */
                    s->seq = seq;
                    snprintf(s->id, sizeof(s->id), "e%d-%zu", trial, n);
                }
            }
        }
        /* deliveries: a shuffled sequence with duplicates */
        size_t order[sizeof(steps) / sizeof(steps[0]) * 2];
        size_t n_order = 0;
        for (size_t i = 0; i < n; i++) {
            order[n_order++] = i;
            if (rnd_below(4) == 0)
                order[n_order++] = i;
        }
        for (size_t i = n_order; i > 1; i--) {
            size_t j = rnd_below(i);
            size_t t = order[i - 1];
            order[i - 1] = order[j];
            order[j] = t;
        }
        /* expected, computed independently: an event applies iff newer than all before it */
        uint64_t max_seq[BUCKETS][OBJS] = {{0}};
        int latest[BUCKETS][OBJS];
        int64_t created[BUCKETS] = {0}, removed[BUCKETS] = {0};
        memset(latest, -1, sizeof(latest));
        for (size_t i = 0; i < n_order; i++) {
            const s3_step_t *s = &steps[order[i]];
            evf_event_t *ev = s3_event_of(s, (int)rnd_below(100));
            evf_proc_result_t r = evf_fakectx_run(f, &evf_proc_s3_index, st, ev, 1);
            ck_assert_msg(r == EVF_PROC_OK, "trial %d: %s", trial, evf_fakectx_reason(f));
            ck_assert_msg(evf_fakectx_last_apply(f) >= 0, "apply: %s", evf_fakectx_error(f));
            evf_event_free(ev);
            if (s->seq > max_seq[s->bucket][s->obj]) {
                max_seq[s->bucket][s->obj] = s->seq;
                latest[s->bucket][s->obj] = (int)order[i];
                if (s->create)
                    created[s->bucket]++;
                else
                    removed[s->bucket]++;
            }
        }
        for (int b = 0; b < BUCKETS; b++) {
            int64_t live_bytes = 0, live_objects = 0;
            for (int o = 0; o < OBJS; o++) {
                char key[128], want[64];
                snprintf(key, sizeof(key), "evf:s3:obj:bucket-%d/dir/obj %d.bin", b, o);
                if (latest[b][o] < 0) {
                    ck_assert(!evf_fakectx_exists(f, key));
                    continue;
                }
                const s3_step_t *s = &steps[latest[b][o]];
                ck_assert_str_eq(evf_fakectx_hget(f, key, "state"), s->create ? "live" : "removed");
                snprintf(want, sizeof(want), "%" PRId64, s->create ? s->size : 0);
                ck_assert_str_eq(evf_fakectx_hget(f, key, "size"), want);
                const char *seq = evf_fakectx_hget(f, key, "sequencer");
                ck_assert_ptr_nonnull(seq);
                ck_assert_uint_eq(strtoull(seq, NULL, 16), s->seq);
                for (const char *c = seq; *c; c++)
                    ck_assert_msg(!(*c >= 'a' && *c <= 'f'), "sequencer %s not upper-case", seq);
                ck_assert_str_eq(evf_fakectx_hget(f, key, "last_event"),
                                 s->create ? "s3:ObjectCreated:Put" : "s3:ObjectRemoved:Delete");
                snprintf(want, sizeof(want), "etag-%s", s->id);
                ck_assert_str_eq(evf_fakectx_hget(f, key, "etag"), s->create ? want : "");
                if (s->create) {
                    live_bytes += s->size;
                    live_objects++;
                }
            }
            char bkey[64], want[32];
            snprintf(bkey, sizeof(bkey), "evf:s3:bucket:bucket-%d", b);
            const char *got;
#define CHECK_COUNTER(field, value)                                                                \
    do {                                                                                           \
        got = evf_fakectx_hget(f, bkey, field);                                                    \
        snprintf(want, sizeof(want), "%" PRId64, (int64_t)(value));                                \
        ck_assert_msg((got ? strcmp(got, want) == 0 : (value) == 0),                               \
                      "trial %d bucket %d %s: got %s want %s", trial, b, field,                   \
                      got ? got : "(absent)", want);                                               \
    } while (0)
            CHECK_COUNTER("created", created[b]);
            CHECK_COUNTER("removed", removed[b]);
            CHECK_COUNTER("live_bytes", live_bytes);
            CHECK_COUNTER("live_objects", live_objects);
#undef CHECK_COUNTER
        }
        ck_assert_uint_eq(evf_fakectx_bad_calls(f), 0);
        evf_proc_s3_index.destroy(st);
        evf_fakectx_destroy(f);
    }
}

START_TEST(test_s3_index_out_of_order) {
    s3_trials(0);
}
END_TEST

START_TEST(test_s3_index_out_of_order_lazy_guards) {
    s3_trials(1);
}
END_TEST

START_TEST(test_s3_index_basics) {
    void *st = init_ok(&evf_proc_s3_index, NULL);
    evf_fakectx_t *f = evf_fakectx_new();
    s3_step_t a = {.bucket = 1, .obj = 1, .create = 1, .size = 100, .seq = 0x10, .id = "a"};
    s3_step_t b = {.bucket = 1, .obj = 1, .create = 1, .size = 30, .seq = 0x20, .id = "b"};
    s3_step_t c = {.bucket = 1, .obj = 1, .create = 0, .seq = 0x30, .id = "c"};
    const char *obj = "evf:s3:obj:bucket-1/dir/obj 1.bin", *bkt = "evf:s3:bucket:bucket-1";

    evf_event_t *ev = s3_event_of(&a, 0);
    ck_assert_int_eq(evf_fakectx_run(f, &evf_proc_s3_index, st, ev, 1), EVF_PROC_OK);
    ck_assert_uint_eq(evf_fakectx_n_guards(f), 1);
    ck_assert_int_eq(evf_fakectx_guard(f, 0)->op, EVF_GUARD_LT_HEX);
    ck_assert_str_eq(evf_fakectx_guard(f, 0)->key, obj);
    ck_assert_str_eq(evf_fakectx_guard(f, 0)->field, "sequencer");
    for (size_t i = 0; i < evf_fakectx_n_effects(f); i++)
        ck_assert_int_eq(evf_fakectx_effect(f, i)->guard_id, 1);
    ck_assert_str_eq(evf_fakectx_effect(f, evf_fakectx_n_effects(f) - 1)->field, "sequencer");
    ck_assert_str_eq(evf_fakectx_hget(f, obj, "content_type"), "application/octet-stream");
    ck_assert_str_eq(evf_fakectx_hget(f, bkt, "live_bytes"), "100");
    evf_event_free(ev);

    /* an older create after a newer one: nothing at all, not even a lookup past the first */
    ev = s3_event_of(&b, 1);
    evf_fakectx_run(f, &evf_proc_s3_index, st, ev, 1);
    evf_event_free(ev);
    ck_assert_str_eq(evf_fakectx_hget(f, bkt, "live_bytes"), "30");
    ev = s3_event_of(&a, 3);
    ck_assert_int_eq(evf_fakectx_run(f, &evf_proc_s3_index, st, ev, 1), EVF_PROC_OK);
    ck_assert_uint_eq(evf_fakectx_n_effects(f), 0);
    evf_event_free(ev);

    /* the guard alone protects too: effects queued from a stale read are skipped */
    evf_fakectx_hset(f, obj, "sequencer", "05"); /* pretend the read saw an old state */
    ev = s3_event_of(&a, 0);
    ck_assert_int_eq(evf_fakectx_begin(f, ev, 1) != NULL, 1);
    ck_assert_int_eq(evf_proc_s3_index.process(st, ev, evf_fakectx_begin(f, ev, 1)), EVF_PROC_OK);
    evf_fakectx_hset(f, obj, "sequencer", "20"); /* the committed state moved on */
    ck_assert_int_eq(evf_fakectx_apply(f), 0);
    ck_assert_str_eq(evf_fakectx_hget(f, bkt, "created"), "2");
    evf_event_free(ev);

    ev = s3_event_of(&c, 0);
    ck_assert_int_eq(evf_fakectx_run(f, &evf_proc_s3_index, st, ev, 1), EVF_PROC_OK);
    evf_event_free(ev);
    ck_assert_str_eq(evf_fakectx_hget(f, obj, "state"), "removed");
    ck_assert_str_eq(evf_fakectx_hget(f, bkt, "live_bytes"), "0");
    ck_assert_str_eq(evf_fakectx_hget(f, bkt, "live_objects"), "0");
    ck_assert_str_eq(evf_fakectx_hget(f, bkt, "removed"), "1");
    /* the late create after the remove does not resurrect it */
    ev = s3_event_of(&b, 0);
    evf_fakectx_run(f, &evf_proc_s3_index, st, ev, 1);
    evf_event_free(ev);
    ck_assert_str_eq(evf_fakectx_hget(f, obj, "state"), "removed");

    /* lookups failing: retry, nothing queued */
    evf_fakectx_fail_lookups(f, 1);
    s3_step_t d = {.bucket = 1, .obj = 2, .create = 1, .size = 5, .seq = 1, .id = "d"};
    ev = s3_event_of(&d, 0);
    ck_assert_int_eq(evf_fakectx_run(f, &evf_proc_s3_index, st, ev, 1), EVF_PROC_RETRY);
    ck_assert_uint_eq(evf_fakectx_n_effects(f), 0);
    evf_fakectx_fail_lookups(f, 0);
    ck_assert_int_eq(evf_fakectx_run(f, &evf_proc_s3_index, st, ev, 2), EVF_PROC_OK);
    evf_event_free(ev);

    /* no sequencer: time_ms orders */
    ev = s3_event_of(&d, 0);
    evf_event_set_str(&ev->s3->sequencer, "");
    evf_event_set_str(&ev->s3->key, "timed");
    ev->time_ms = 2000;
    ck_assert_int_eq(evf_fakectx_run(f, &evf_proc_s3_index, st, ev, 1), EVF_PROC_OK);
    ck_assert_str_eq(evf_fakectx_hget(f, "evf:s3:obj:bucket-1/timed", "sequencer"),
                     "00000000000007D0");
    ev->time_ms = 1000; /* older */
    ev->s3->size = 999;
    evf_fakectx_run(f, &evf_proc_s3_index, st, ev, 1);
    ck_assert_str_eq(evf_fakectx_hget(f, "evf:s3:obj:bucket-1/timed", "size"), "5");
    evf_event_free(ev);

    /* not indexable */
    ev = s3_event_of(&d, 0);
    evf_event_set_str(&ev->s3->sequencer, "xyz");
    ck_assert_int_eq(evf_fakectx_run(f, &evf_proc_s3_index, st, ev, 1), EVF_PROC_FAIL);
    ck_assert_msg(strstr(evf_fakectx_reason(f), "sequencer") != NULL, "%s",
                  evf_fakectx_reason(f));
    evf_event_set_str(&ev->s3->sequencer, "1");
    evf_event_set_str(&ev->s3->bucket, "");
    ck_assert_int_eq(evf_fakectx_run(f, &evf_proc_s3_index, st, ev, 1), EVF_PROC_FAIL);
    evf_event_set_str(&ev->s3->bucket, "b");
    evf_event_set_str(&ev->type, "s3:ObjectRestore:Completed");
    evf_event_set_str(&ev->s3->event_name, "");
    ck_assert_int_eq(evf_fakectx_run(f, &evf_proc_s3_index, st, ev, 1), EVF_PROC_OK);
    ck_assert_uint_eq(evf_fakectx_n_effects(f), 0);
    evf_event_free(ev);
    ev = plain_event("p", "s3:ObjectCreated:Put");
    ck_assert_int_eq(evf_fakectx_run(f, &evf_proc_s3_index, st, ev, 1), EVF_PROC_FAIL);
    evf_event_free(ev);

    /* a tiny effect queue: refused effects fail the event (a retry would be refused again) */
    evf_fakectx_limits(f, 64, 3, 64);
    s3_step_t e = {.bucket = 3, .obj = 1, .create = 1, .size = 5, .seq = 1, .id = "e"};
    ev = s3_event_of(&e, 0);
    ck_assert_int_eq(evf_fakectx_run(f, &evf_proc_s3_index, st, ev, 1), EVF_PROC_FAIL);
    evf_event_free(ev);

    ck_assert_uint_eq(evf_fakectx_bad_calls(f), 0);
    evf_fakectx_destroy(f);
    evf_proc_s3_index.destroy(st);
}
END_TEST

/* ---- stream_materialize ---- */

typedef struct {
    int table, row;
    Evfleet__V1__StreamOp op;
    int image; /* the value in the new image */
    char seq[48];
    char id[32];
} sm_step_t;

static const char *const sm_key_spellings[][3] = {
    /* the same keys object, written three ways */
    {"{\"pk\":\"r0\",\"sk\":1}", "{ \"sk\" : 1, \"pk\" : \"r0\" }", "{\"sk\":1,\"pk\":\"r0\"}"},
    {"{\"pk\":\"r1\",\"sk\":1}", "{\"sk\":1,  \"pk\":\"r1\"}", "{\n\"pk\": \"r1\", \"sk\": 1}"},
    {"{\"pk\":\"r2\",\"sk\":2}", "{\"sk\":2,\"pk\":\"r2\"}", " {\"pk\":\"r2\",\"sk\":2} "},
    {"{\"pk\":\"r/3\",\"sk\":0}", "{\"sk\":0,\"pk\":\"r/3\"}", "{\"pk\":\"r/3\",\"sk\":0}"},
};

static evf_event_t *sm_event_of(const sm_step_t *s, int spelling) {
    static const char *const names[] = {"", "INSERT", "MODIFY", "REMOVE"};
    evf_event_t *ev = evf_event_new();
    char buf[128];
    evf_event_set_str(&ev->id, s->id);
    ev->source = EVFLEET__V1__SOURCE__STREAM;
    snprintf(buf, sizeof(buf), "stream:%s", names[s->op]);
    evf_event_set_str(&ev->type, buf);
    Evfleet__V1__StreamRecord *rec = evf_event_set_stream(ev);
    snprintf(buf, sizeof(buf), "table%d", s->table);
    evf_event_set_str(&rec->table, buf);
    rec->op = spelling == 0 ? EVFLEET__V1__STREAM_OP__STREAM_OP_UNSPECIFIED : s->op; /* type */
    evf_event_set_str(&rec->sequence_number, s->seq);
    evf_event_set_str(&rec->keys, sm_key_spellings[s->row][spelling]);
    if (s->op != EVFLEET__V1__STREAM_OP__REMOVE) {
        snprintf(buf, sizeof(buf), "{\"v\":%d}", s->image);
        evf_event_set_str(&rec->new_image, buf);
    }
    return ev;
}

static int seq_cmp(const char *a, const char *b) { /* same-length decimals in this test */
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb)
        return la < lb ? -1 : 1;
    return strcmp(a, b);
}

static void sm_trials(int lazy) {
    enum { TABLES = 2, ROWS = 4, TRIALS = 150 };
    rng_state = 0xabcdef0123456789ULL + (uint64_t)lazy;
    for (int trial = 0; trial < TRIALS; trial++) {
        evf_fakectx_t *f = evf_fakectx_new();
        evf_fakectx_lazy_guards(f, lazy);
        void *st = init_ok(&evf_proc_stream_materialize, NULL);
        sm_step_t steps[TABLES * ROWS * 8];
        size_t n = 0;
        for (int t = 0; t < TABLES; t++) {
            for (int r = 0; r < ROWS; r++) {
                size_t k = 1 + rnd_below(7);
                uint64_t seq = rnd_below(1000);
                for (size_t j = 0; j < k; j++) {
                    sm_step_t *s = &steps[n++];
                    s->table = t;
                    s->row = r;
                    s->op = (Evfleet__V1__StreamOp)(1 + rnd_below(3));
                    s->image = (int)rnd_below(100000);
                    seq += 1 + rnd_below(1000);
                    /* 25+ digits: beyond 64 bits, compared as decimal strings */
                    snprintf(s->seq, sizeof(s->seq), "9%024" PRIu64, seq);
                    snprintf(s->id, sizeof(s->id), "s%d-%zu", trial, n);
                }
            }
        }
        size_t order[sizeof(steps) / sizeof(steps[0]) * 2], n_order = 0;
        for (size_t i = 0; i < n; i++) {
            order[n_order++] = i;
            if (rnd_below(4) == 0)
                order[n_order++] = i;
        }
        for (size_t i = n_order; i > 1; i--) {
            size_t j = rnd_below(i), t = order[i - 1];
            order[i - 1] = order[j];
            order[j] = t;
        }
        int latest[TABLES][ROWS];
        memset(latest, -1, sizeof(latest));
        for (size_t i = 0; i < n_order; i++) {
            const sm_step_t *s = &steps[order[i]];
            evf_event_t *ev = sm_event_of(s, (int)rnd_below(3));
            evf_proc_result_t r = evf_fakectx_run(f, &evf_proc_stream_materialize, st, ev, 1);
            ck_assert_msg(r == EVF_PROC_OK, "trial %d: %s", trial, evf_fakectx_reason(f));
            ck_assert_msg(evf_fakectx_last_apply(f) >= 0, "apply: %s", evf_fakectx_error(f));
            evf_event_free(ev);
            int *l = &latest[s->table][s->row];
            if (*l < 0 || seq_cmp(s->seq, steps[*l].seq) > 0)
                *l = (int)order[i];
        }
        for (int t = 0; t < TABLES; t++) {
            int live = 0;
            for (int r = 0; r < ROWS; r++) {
                char key[160], want[64];
                snprintf(key, sizeof(key), "evf:table:table%d:%s", t, sm_key_spellings[r][0]);
                if (latest[t][r] < 0) {
                    ck_assert(!evf_fakectx_exists(f, key));
                    continue;
                }
                const sm_step_t *s = &steps[latest[t][r]];
                ck_assert_msg(evf_fakectx_hget(f, key, "seq") != NULL, "no row %s", key);
                ck_assert_str_eq(evf_fakectx_hget(f, key, "seq"), s->seq);
                if (s->op == EVFLEET__V1__STREAM_OP__REMOVE) {
                    ck_assert_str_eq(evf_fakectx_hget(f, key, "op"), "REMOVE");
                    ck_assert_str_eq(evf_fakectx_hget(f, key, "row"), "");
                } else {
                    live++;
                    ck_assert_str_eq(evf_fakectx_hget(f, key, "op"),
                                     s->op == EVFLEET__V1__STREAM_OP__INSERT ? "INSERT"
                                                                             : "MODIFY");
                    snprintf(want, sizeof(want), "{\"v\":%d}", s->image);
                    ck_assert_str_eq(evf_fakectx_hget(f, key, "row"), want);
                }
            }
            char meta[64], want[16];
            snprintf(meta, sizeof(meta), "evf:table:table%d:__meta", t);
            const char *got = evf_fakectx_hget(f, meta, "rows");
            snprintf(want, sizeof(want), "%d", live);
            ck_assert_msg(got ? !strcmp(got, want) : live == 0,
                          "trial %d table %d rows: got %s want %d", trial, t,
                          got ? got : "(absent)", live);
        }
        ck_assert_uint_eq(evf_fakectx_bad_calls(f), 0);
        evf_proc_stream_materialize.destroy(st);
        evf_fakectx_destroy(f);
    }
}

START_TEST(test_stream_materialize_out_of_order) {
    sm_trials(0);
}
END_TEST

START_TEST(test_stream_materialize_out_of_order_lazy_guards) {
    sm_trials(1);
}
END_TEST

START_TEST(test_stream_materialize_basics) {
    void *st = init_ok(&evf_proc_stream_materialize, NULL);
    evf_fakectx_t *f = evf_fakectx_new();
    const char *row = "evf:table:table0:{\"pk\":\"r0\",\"sk\":1}";
    sm_step_t ins = {.table = 0, .row = 0, .op = EVFLEET__V1__STREAM_OP__INSERT, .image = 1,
                     .seq = "100", .id = "i"};
    sm_step_t rem = {.table = 0, .row = 0, .op = EVFLEET__V1__STREAM_OP__REMOVE, .seq = "200",
                     .id = "r"};
    sm_step_t late = {.table = 0, .row = 0, .op = EVFLEET__V1__STREAM_OP__MODIFY, .image = 2,
                      .seq = "150", .id = "l"};
    evf_event_t *ev = sm_event_of(&ins, 1);
    ck_assert_int_eq(evf_fakectx_run(f, &evf_proc_stream_materialize, st, ev, 1), EVF_PROC_OK);
    ck_assert_int_eq(evf_fakectx_guard(f, 0)->op, EVF_GUARD_LT_NUM);
    ck_assert_str_eq(evf_fakectx_guard(f, 0)->field, "seq");
    evf_event_free(ev);
    ck_assert_str_eq(evf_fakectx_hget(f, row, "row"), "{\"v\":1}");
    ck_assert_str_eq(evf_fakectx_hget(f, "evf:table:table0:__meta", "rows"), "1");
    ev = sm_event_of(&rem, 2);
    evf_fakectx_run(f, &evf_proc_stream_materialize, st, ev, 1);
    evf_event_free(ev);
    ck_assert_str_eq(evf_fakectx_hget(f, row, "op"), "REMOVE");
    ck_assert_str_eq(evf_fakectx_hget(f, "evf:table:table0:__meta", "rows"), "0");
    ev = sm_event_of(&late, 0); /* older than the tombstone: no resurrection */
    evf_fakectx_run(f, &evf_proc_stream_materialize, st, ev, 1);
    evf_event_free(ev);
    ck_assert_str_eq(evf_fakectx_hget(f, row, "op"), "REMOVE");
    ck_assert_str_eq(evf_fakectx_hget(f, row, "seq"), "200");
    ck_assert_str_eq(evf_fakectx_hget(f, "evf:table:table0:__meta", "rows"), "0");

    /* failures */
    ev = sm_event_of(&ins, 1);
    evf_event_set_str(&ev->stream->keys, "[1,2]");
    ck_assert_int_eq(evf_fakectx_run(f, &evf_proc_stream_materialize, st, ev, 1), EVF_PROC_FAIL);
    ck_assert_msg(strstr(evf_fakectx_reason(f), "keys") != NULL, "%s", evf_fakectx_reason(f));
    evf_event_set_str(&ev->stream->keys, "{\"a\":1}");
    evf_event_set_str(&ev->stream->sequence_number, "12a");
    ck_assert_int_eq(evf_fakectx_run(f, &evf_proc_stream_materialize, st, ev, 1), EVF_PROC_FAIL);
    evf_event_set_str(&ev->stream->sequence_number, "1");
    evf_event_set_str(&ev->stream->new_image, "{not json");
    ck_assert_int_eq(evf_fakectx_run(f, &evf_proc_stream_materialize, st, ev, 1), EVF_PROC_FAIL);
    evf_event_set_str(&ev->stream->new_image, "{}");
    evf_event_set_str(&ev->stream->table, "");
    ck_assert_int_eq(evf_fakectx_run(f, &evf_proc_stream_materialize, st, ev, 1), EVF_PROC_FAIL);
    evf_event_set_str(&ev->stream->table, "t");
    ev->stream->op = EVFLEET__V1__STREAM_OP__STREAM_OP_UNSPECIFIED;
    evf_event_set_str(&ev->type, "stream:UPSERT");
    ck_assert_int_eq(evf_fakectx_run(f, &evf_proc_stream_materialize, st, ev, 1), EVF_PROC_FAIL);
    /* no sequence number: approximate_creation_ms orders */
    evf_event_set_str(&ev->type, "stream:INSERT");
    evf_event_set_str(&ev->stream->sequence_number, "");
    ev->stream->approximate_creation_ms = 1234;
    ck_assert_int_eq(evf_fakectx_run(f, &evf_proc_stream_materialize, st, ev, 1), EVF_PROC_OK);
    ck_assert_str_eq(evf_fakectx_hget(f, "evf:table:t:{\"a\":1}", "seq"), "1234");
    evf_event_free(ev);
    ev = plain_event("x", "stream:INSERT");
    ck_assert_int_eq(evf_fakectx_run(f, &evf_proc_stream_materialize, st, ev, 1), EVF_PROC_FAIL);
    evf_event_free(ev);
    ck_assert_uint_eq(evf_fakectx_bad_calls(f), 0);
    evf_fakectx_destroy(f);
    evf_proc_stream_materialize.destroy(st);
}
END_TEST

/* ---- iot_rollup ---- */

static evf_event_t *iot_event(const char *id, const char *device, int64_t time_ms,
                              const char *metric, double value, const char *unit) {
    evf_event_t *ev = evf_event_new();
    evf_event_set_str(&ev->id, id);
    ev->source = EVFLEET__V1__SOURCE__IOT;
    evf_event_set_str(&ev->type, "iot:telemetry");
    evf_event_set_str(&ev->subject, device);
    ev->time_ms = time_ms;
    Evfleet__V1__IotTelemetry *iot = evf_event_set_iot(ev);
    evf_event_set_str(&iot->device_id, device);
    evf_event_set_str(&iot->metric, metric);
    iot->value = value;
    evf_event_set_str(&iot->unit, unit);
    return ev;
}

static double hnum(evf_fakectx_t *f, const char *key, const char *field) {
    const char *v = evf_fakectx_hget(f, key, field);
    ck_assert_msg(v != NULL, "%s %s absent", key, field);
    return strtod(v, NULL);
}

START_TEST(test_iot_rollup_windows) {
    static const char *const kv[] = {"window.ms", "60000", NULL};
    void *st = init_ok(&evf_proc_iot_rollup, kv);
    evf_fakectx_t *f = evf_fakectx_new();
    static const struct {
        int64_t t;
        double v;
    } in[] = {{120000, 5}, {125000, -2.5}, {179999, 10.25}, {180000, 7}, {-1, 3}, {0, 4}};
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        char id[16];
        snprintf(id, sizeof(id), "w%zu", i);
        evf_event_t *ev = iot_event(id, "dev-1", in[i].t, "temp", in[i].v, "C");
        ck_assert_int_eq(evf_fakectx_run(f, &evf_proc_iot_rollup, st, ev, 1), EVF_PROC_OK);
        ck_assert_int_gt(evf_fakectx_last_apply(f), 0);
        ck_assert_uint_eq(evf_fakectx_n_emits(f), 0); /* no thresholds configured */
        evf_event_free(ev);
    }
    const char *w = "evf:iot:dev-1:temp:120000";
    ck_assert_int_eq((int)hnum(f, w, "count"), 3);
    ck_assert_double_eq_tol(hnum(f, w, "sum"), 12.75, 1e-9);
    ck_assert_double_eq_tol(hnum(f, w, "min"), -2.5, 1e-12);
    ck_assert_double_eq_tol(hnum(f, w, "max"), 10.25, 1e-12);
    ck_assert_int_eq(evf_fakectx_pttl(f, w), 86400000);
    ck_assert_int_eq((int)hnum(f, "evf:iot:dev-1:temp:180000", "count"), 1);
    ck_assert_int_eq((int)hnum(f, "evf:iot:dev-1:temp:-60000", "count"), 1); /* floor */
    ck_assert_int_eq((int)hnum(f, "evf:iot:dev-1:temp:0", "count"), 1);
    ck_assert_uint_eq(evf_fakectx_n_keys(f), 4);
    evf_proc_iot_rollup.destroy(st);

    /* another window, no TTL */
    static const char *const kv2[] = {"window.ms", "1000", "ttl.ms", "0", NULL};
    st = init_ok(&evf_proc_iot_rollup, kv2);
    evf_fakectx_clear(f);
    evf_event_t *ev = iot_event("x", "dev-2", 2500, "rpm", 900, "");
    evf_fakectx_run(f, &evf_proc_iot_rollup, st, ev, 1);
    evf_event_free(ev);
    ck_assert_int_eq((int)hnum(f, "evf:iot:dev-2:rpm:2000", "count"), 1);
    ck_assert_int_eq(evf_fakectx_pttl(f, "evf:iot:dev-2:rpm:2000"), -1);
    evf_proc_iot_rollup.destroy(st);
    ck_assert_uint_eq(evf_fakectx_bad_calls(f), 0);
    evf_fakectx_destroy(f);
}
END_TEST

START_TEST(test_iot_rollup_readings) {
    void *st = init_ok(&evf_proc_iot_rollup, NULL);
    evf_fakectx_t *f = evf_fakectx_new();
    evf_event_t *ev = iot_event("r1", "dev-9", 61000, "temp", 21.5, "C");
    evf_event_iot_set_reading(ev->iot, "humidity", 40);
    evf_event_iot_set_reading(ev->iot, "temp", 99); /* the same measurement: counted once */
    evf_event_iot_set_reading(ev->iot, "co2", 415);
    ck_assert_int_eq(evf_fakectx_run(f, &evf_proc_iot_rollup, st, ev, 1), EVF_PROC_OK);
    evf_event_free(ev);
    ck_assert_int_eq((int)hnum(f, "evf:iot:dev-9:temp:60000", "count"), 1);
    ck_assert_double_eq_tol(hnum(f, "evf:iot:dev-9:temp:60000", "max"), 21.5, 1e-12);
    ck_assert_double_eq_tol(hnum(f, "evf:iot:dev-9:humidity:60000", "sum"), 40, 1e-12);
    ck_assert_double_eq_tol(hnum(f, "evf:iot:dev-9:co2:60000", "min"), 415, 1e-12);

    /* readings only, no metric */
    ev = iot_event("r2", "dev-9", 62000, "", 0, "");
    evf_event_iot_set_reading(ev->iot, "humidity", 50);
    ck_assert_int_eq(evf_fakectx_run(f, &evf_proc_iot_rollup, st, ev, 1), EVF_PROC_OK);
    evf_event_free(ev);
    ck_assert_int_eq((int)hnum(f, "evf:iot:dev-9:humidity:60000", "count"), 2);
    ck_assert_double_eq_tol(hnum(f, "evf:iot:dev-9:humidity:60000", "sum"), 90, 1e-12);
    ck_assert_double_eq_tol(hnum(f, "evf:iot:dev-9:humidity:60000", "min"), 40, 1e-12);
    ck_assert_double_eq_tol(hnum(f, "evf:iot:dev-9:humidity:60000", "max"), 50, 1e-12);

    /* failures */
    ev = iot_event("r3", "dev-9", 1, "", 0, "");
    ck_assert_int_eq(evf_fakectx_run(f, &evf_proc_iot_rollup, st, ev, 1), EVF_PROC_FAIL);
    evf_event_free(ev);
    ev = iot_event("r4", "dev-9", 1, "temp", NAN, "C");
    ck_assert_int_eq(evf_fakectx_run(f, &evf_proc_iot_rollup, st, ev, 1), EVF_PROC_FAIL);
    ck_assert_msg(strstr(evf_fakectx_reason(f), "finite") != NULL, "%s", evf_fakectx_reason(f));
    evf_event_free(ev);
    ev = iot_event("r5", "", 1, "temp", 1, "C");
    evf_event_set_str(&ev->subject, "");
    ck_assert_int_eq(evf_fakectx_run(f, &evf_proc_iot_rollup, st, ev, 1), EVF_PROC_FAIL);
    evf_event_set_str(&ev->subject, "dev-from-subject");
    ck_assert_int_eq(evf_fakectx_run(f, &evf_proc_iot_rollup, st, ev, 1), EVF_PROC_OK);
    ck_assert(evf_fakectx_exists(f, "evf:iot:dev-from-subject:temp:0"));
    evf_event_free(ev);
    ev = plain_event("r6", "iot:telemetry");
    ck_assert_int_eq(evf_fakectx_run(f, &evf_proc_iot_rollup, st, ev, 1), EVF_PROC_FAIL);
    evf_event_free(ev);
    ck_assert_uint_eq(evf_fakectx_bad_calls(f), 0);
    evf_fakectx_destroy(f);
    evf_proc_iot_rollup.destroy(st);
}
END_TEST

START_TEST(test_iot_rollup_alerts) {
    static const char *const kv[] = {"threshold.temp.above", "30", "threshold.temp.below", "0",
                                     "threshold.cpu.load.above", "0.9",
                                     "alerts.topic", "alerts.test", NULL};
    void *st = init_ok(&evf_proc_iot_rollup, kv);
    evf_fakectx_t *f = evf_fakectx_new();
    static const struct {
        double v;
        int alert;          /* 1: an alert is emitted */
        const char *state;  /* state after (NULL: never written) */
    } seq[] = {
        {20, 0, NULL},      /* normal from the start: nothing stored */
        {35, 1, "above"},   /* crossing */
        {36, 0, "above"},   /* staying above */
        {31, 0, "above"},
        {25, 0, "normal"},  /* back to normal: recorded, no alert */
        {40, 1, "above"},   /* crossing again */
        {-5, 1, "below"},   /* straight to below */
        {-6, 0, "below"},
        {30, 0, "normal"},  /* 30 is not above 30 */
    };
    int alerts = 0;
    for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
        char id[16];
        snprintf(id, sizeof(id), "a%zu", i);
        int64_t t = 600000 + (int64_t)i * 1000;
        evf_event_t *ev = iot_event(id, "dev-7", t, "temp", seq[i].v, "C");
        ck_assert_int_eq(evf_fakectx_run(f, &evf_proc_iot_rollup, st, ev, 1), EVF_PROC_OK);
        ck_assert_msg(evf_fakectx_last_apply(f) > 0, "%s", evf_fakectx_error(f));
        ck_assert_msg(evf_fakectx_n_emits(f) == (size_t)seq[i].alert,
                      "reading %zu (%g): %zu alerts", i, seq[i].v, evf_fakectx_n_emits(f));
        if (seq[i].alert) {
            alerts++;
            const evf_fake_emit_t *em = evf_fakectx_emit(f, 0);
            ck_assert_str_eq(em->topic, "alerts.test");
            const evf_event_t *a = em->ev;
            ck_assert_int_eq(a->source, EVFLEET__V1__SOURCE__IOT);
            ck_assert_str_eq(a->type, "iot:alert");
            ck_assert_str_eq(a->subject, "dev-7");
            ck_assert_int_eq(a->detail_case, EVFLEET__V1__EVENT__DETAIL_IOT);
            ck_assert_str_eq(a->iot->device_id, "dev-7");
            ck_assert_str_eq(a->iot->metric, "temp");
            ck_assert_double_eq(a->iot->value, seq[i].v);
            ck_assert_str_eq(a->iot->unit, "C");
            ck_assert_int_eq(a->time_ms, ev->time_ms);
            ck_assert_str_eq(attr(a, "direction"), seq[i].state);
            ck_assert_str_eq(attr(a, "threshold"), seq[i].v > 0 ? "30" : "0");
            ck_assert_str_eq(attr(a, "window"), "600000");
            /* the state write is guarded so a concurrent duplicate writes nothing */
            ck_assert_uint_eq(evf_fakectx_n_guards(f), 1);
            ck_assert_int_eq(evf_fakectx_guard(f, 0)->op, EVF_GUARD_NE);
            ck_assert_str_eq(evf_fakectx_guard(f, 0)->key, "evf:iot:dev-7:temp:state");
        }
        const char *state = evf_fakectx_hget(f, "evf:iot:dev-7:temp:state", "state");
        if (seq[i].state)
            ck_assert_msg(state && !strcmp(state, seq[i].state), "reading %zu: state %s", i,
                          state ? state : "(absent)");
        else
            ck_assert_ptr_null(state);

        /* the same reading re-delivered after its effects committed: no second alert */
        ck_assert_int_eq(evf_fakectx_run(f, &evf_proc_iot_rollup, st, ev, 2), EVF_PROC_OK);
        ck_assert_uint_eq(evf_fakectx_n_emits(f), 0);
        evf_event_free(ev);
    }
    ck_assert_int_eq(alerts, 3);

    /* the first four readings alone: above, above, normal, above = 2 alerts */
    evf_fakectx_clear(f);
    static const double up_down[] = {31, 33, 10, 45};
    alerts = 0;
    for (size_t i = 0; i < 4; i++) {
        evf_event_t *ev = iot_event("u", "dev-8", 1000 * (int64_t)i, "temp", up_down[i], "C");
        evf_fakectx_run(f, &evf_proc_iot_rollup, st, ev, 1);
        alerts += (int)evf_fakectx_n_emits(f);
        evf_event_free(ev);
    }
    ck_assert_int_eq(alerts, 2);

    /* a reading, a metric name with dots, and two crossings in one message: two alerts in a
     * fixed order (message metric first, then readings by name) */
    evf_event_t *ev = iot_event("m", "dev-8", 5000, "temp", -1, "C");
    evf_event_iot_set_reading(ev->iot, "cpu.load", 0.95);
    evf_event_iot_set_reading(ev->iot, "aaa", 1);
    ck_assert_int_eq(evf_fakectx_run(f, &evf_proc_iot_rollup, st, ev, 1), EVF_PROC_OK);
    ck_assert_uint_eq(evf_fakectx_n_emits(f), 2);
    ck_assert_str_eq(evf_fakectx_emit(f, 0)->ev->iot->metric, "temp");
    ck_assert_str_eq(attr(evf_fakectx_emit(f, 0)->ev, "direction"), "below");
    ck_assert_str_eq(evf_fakectx_emit(f, 1)->ev->iot->metric, "cpu.load");
    ck_assert_str_eq(evf_fakectx_emit(f, 1)->ev->iot->unit, "");
    ck_assert_str_eq(attr(evf_fakectx_emit(f, 1)->ev, "threshold"), "0.9");
    evf_event_free(ev);

    /* lookups failing: retry, and nothing emitted */
    evf_fakectx_fail_lookups(f, 1);
    ev = iot_event("n", "dev-new", 5000, "temp", 50, "C");
    ck_assert_int_eq(evf_fakectx_run(f, &evf_proc_iot_rollup, st, ev, 1), EVF_PROC_RETRY);
    ck_assert_uint_eq(evf_fakectx_n_emits(f), 0);
    evf_event_free(ev);

    ck_assert_uint_eq(evf_fakectx_bad_calls(f), 0);
    evf_fakectx_destroy(f);
    evf_proc_iot_rollup.destroy(st);

    char err[512];
    static const char *const inverted[] = {"threshold.t.above", "1", "threshold.t.below", "2",
                                           NULL};
    evf_proc_setting_t s[2] = {{inverted[0], inverted[1]}, {inverted[2], inverted[3]}};
    void *bad = NULL;
    ck_assert_int_ne(evf_proc_iot_rollup.init(&bad, s, 2, err, sizeof(err)), 0);
    ck_assert_msg(strstr(err, "threshold.t.below") != NULL, "%s", err);
    ck_assert(init_fails(&evf_proc_iot_rollup, "threshold..above", "1", err, sizeof(err)));
    ck_assert(init_fails(&evf_proc_iot_rollup, "thresholds.t.above", "1", err, sizeof(err)));
}
END_TEST

static Suite *builtins_suite(void) {
    Suite *s = suite_create("builtins");
    TCase *tc = tcase_create("builtins");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_fakectx_semantics);
    tcase_add_test(tc, test_noop);
    tcase_add_test(tc, test_ledger);
    tcase_add_test(tc, test_chaos_rate_deterministic);
    tcase_add_test(tc, test_chaos_ids_attempts_kind);
    /* a crash needs the forked runner (CK_FORK=no would take the whole suite down) */
    const char *fork_mode = getenv("CK_FORK");
    if (!fork_mode || strcmp(fork_mode, "no") != 0)
        tcase_add_test_raise_signal(tc, test_chaos_crash, SIGABRT);
    tcase_add_test(tc, test_s3_index_basics);
    tcase_add_test(tc, test_s3_index_out_of_order);
    tcase_add_test(tc, test_s3_index_out_of_order_lazy_guards);
    tcase_add_test(tc, test_stream_materialize_basics);
    tcase_add_test(tc, test_stream_materialize_out_of_order);
    tcase_add_test(tc, test_stream_materialize_out_of_order_lazy_guards);
    tcase_add_test(tc, test_iot_rollup_windows);
    tcase_add_test(tc, test_iot_rollup_readings);
    tcase_add_test(tc, test_iot_rollup_alerts);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(builtins_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
