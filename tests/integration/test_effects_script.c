/* tests/integration/test_effects_script.c — the completion script (consumer/effects.c) against
 * the real local Redis, called directly through evf_fx_* (issue #7):
 *   - every effect op, and the guards LT_NUM (decimals longer than 19 digits), LT_HEX (different
 *     lengths, case), LT_STR (bytewise), ABSENT and NE, a failing guard skipping only its effects;
 *   - a batch of several events applied in order (a later event sees an earlier one's writes);
 *   - fencing (record held by another token → FENCED, nothing applied), a record already done
 *     with our token → ALREADY, nothing applied twice;
 *   - validation: a HINCRBY on a non-integer field, a HSET on a string key … → REJECTED with a
 *     reason and NOTHING of that event applied, while the other events of the batch apply;
 *   - the record's TTL after completion;
 *   - inputs that pass the queue's validation but that Redis refuses at apply time (numeric
 *     formats, overflow, conflicting effects of one event, a field-less guard on a hash): the
 *     batch must still answer per event, all or nothing; and sequences Redis does apply (a DEL
 *     then a rewrite, HMAX keeping the larger value, results up to INT64_MAX) must not be
 *     refused.
 *
 * Every key starts with a unique prefix; the suite deletes them (and the fleet tracker sweeps
 * them after a failed test). */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "effects.h"
#include "fleet.h"
#include "idemtest.h"
#include "testutil.h"

#define TTL_MS 600000

static evf_redis_t *R;
static char P[96];

static void setup(void) {
    char pattern[128];
    evf_test_unique(P, sizeof(P), "evft-fx");
    snprintf(pattern, sizeof(pattern), "%s:*", P);
    evf_fleet_track_keys(pattern);
    R = evf_fleet_redis();
}

static void teardown(void) {
    evf_itest_del_prefix(R, P);
    evf_redis_destroy(R);
    R = NULL;
}

/* "<prefix>:<name>", in a ring of static buffers. */
static const char *K(const char *name) {
    static char bufs[128][160];
    static int next;
    char *b = bufs[next++ % 128];
    snprintf(b, sizeof(bufs[0]), "%s:%s", P, name);
    return b;
}

static long long wall_ms(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* An idempotency record held (running) by token. */
static void record(const char *rec, const char *token, int unfinished) {
    evf_itest_ok(R,
                 "HSET %s state running owner w-test token %s lease_until %lld unfinished %d fp "
                 "fp-old updated %lld",
                 rec, token, wall_ms() + 60000, unfinished, wall_ms());
    evf_itest_ok(R, "PEXPIRE %s 60000", rec);
}

static void add(evf_fx_t *fx, int guard_id, evf_fx_op_t op, const char *key, const char *field,
                const char *value) {
    const char *why = NULL;
    ck_assert_msg(evf_fx_add(fx, guard_id, op, key, field, value, &why) == 0,
                  "evf_fx_add(op %d, %s, %s, %s): %s", op, key, field ? field : "-",
                  value ? value : "-", why ? why : "?");
}

static int guard(evf_fx_t *fx, evf_guard_op_t op, const char *key, const char *field,
                 const char *value) {
    const char *why = NULL;
    int id = evf_fx_guard(fx, op, key, field, value, &why);
    ck_assert_msg(id > 0, "evf_fx_guard(op %d, %s): %s", op, key, why ? why : "?");
    return id;
}

static evf_fx_commit_t item(const evf_fx_t *fx, const char *rec, const char *token) {
    return (evf_fx_commit_t){.fx = fx,
                             .record_key = rec,
                             .token = token,
                             .fp = "fp-new",
                             .ttl_ms = TTL_MS};
}

static const char *status_name(evf_fx_status_t s) {
    switch (s) {
    case EVF_FX_APPLIED:
        return "APPLIED";
    case EVF_FX_ALREADY:
        return "ALREADY";
    case EVF_FX_FENCED:
        return "FENCED";
    case EVF_FX_REJECTED:
        return "REJECTED";
    }
    return "?";
}

/* Apply a batch that must reach Redis and answer per event. */
static void apply(const evf_fx_commit_t *items, size_t n, evf_fx_status_t *st,
                  char (*reasons)[128]) {
    for (size_t i = 0; i < n; i++)
        st[i] = (evf_fx_status_t)-1;
    evf_err_t e = evf_fx_apply_batch(R, items, n, st, reasons);
    ck_assert_msg(e == EVF_OK, "evf_fx_apply_batch of %zu event(s) failed (%d): %s", n, e,
                  evf_redis_last_error(R));
}

static evf_fx_status_t apply1(const evf_fx_t *fx, const char *rec, const char *token,
                              char reason[128]) {
    evf_fx_commit_t it = item(fx, rec, token);
    evf_fx_status_t st;
    char reasons[1][128] = {{0}};
    apply(&it, 1, &st, reasons);
    if (reason)
        snprintf(reason, 128, "%s", reasons[0]);
    return st;
}

static void expect_status(evf_fx_status_t got, evf_fx_status_t want, const char *what) {
    ck_assert_msg(got == want, "%s: %s, want %s", what, status_name(got), status_name(want));
}

/* HGET/GET as a malloc'd string or NULL. */
static char *hget(const char *key, const char *field) {
    return evf_itest_str(R, "HGET %s %s", key, field);
}

static void expect_hget(const char *key, const char *field, const char *want) {
    char *v = hget(key, field);
    if (!want)
        ck_assert_msg(v == NULL, "%s %s is '%s', want absent", key, field, v);
    else
        ck_assert_msg(v && !strcmp(v, want), "%s %s is '%s', want '%s'", key, field,
                      v ? v : "(absent)", want);
    free(v);
}

static void expect_get(const char *key, const char *want) {
    char *v = evf_itest_str(R, "GET %s", key);
    if (!want)
        ck_assert_msg(v == NULL, "%s is '%s', want absent", key, v);
    else
        ck_assert_msg(v && !strcmp(v, want), "%s is '%s', want '%s'", key, v ? v : "(absent)",
                      want);
    free(v);
}

static void expect_exists(const char *key, int want) {
    long long n = evf_itest_int(R, "EXISTS %s", key);
    ck_assert_msg(n == want, "EXISTS %s = %lld, want %d", key, n, want);
}

/* The record was completed by us: done, token kept, fp stored. */
static void expect_done(const char *rec, const char *token) {
    expect_hget(rec, "state", "done");
    expect_hget(rec, "token", token);
    expect_hget(rec, "fp", "fp-new");
}

/* The record was not touched by a refused completion. */
static void expect_untouched(const char *rec, const char *token) {
    expect_hget(rec, "state", "running");
    expect_hget(rec, "token", token);
    expect_hget(rec, "fp", "fp-old");
}

/* ------------------------------------------------------------------------------------------ */

START_TEST(every_effect_op) {
    const char *h = K("h"), *rec = K("rec");
    evf_itest_ok(R, "HSET %s cnt 5 fl 1.5 gone x mx 10 mn 10", h);
    evf_itest_ok(R, "SET %s 7", K("incr"));
    evf_itest_ok(R, "SET %s x", K("del"));
    evf_itest_ok(R, "SADD %s a b", K("set"));
    evf_itest_ok(R, "SET %s v", K("exp"));
    record(rec, "tok-1", 1);

    evf_fx_t *fx = evf_fx_new(64);
    add(fx, 0, EVF_FX_HSET, h, "name", "alice");
    add(fx, 0, EVF_FX_HINCRBY, h, "cnt", "3");
    add(fx, 0, EVF_FX_HINCRBY, h, "newcnt", "-2");
    add(fx, 0, EVF_FX_HINCRBYFLOAT, h, "fl", "2.25");
    add(fx, 0, EVF_FX_HDEL, h, "gone", NULL);
    add(fx, 0, EVF_FX_HMAX, h, "mx", "7");
    add(fx, 0, EVF_FX_HMAX, h, "mx", "12");
    add(fx, 0, EVF_FX_HMAX, h, "mx2", "4");
    add(fx, 0, EVF_FX_HMIN, h, "mn", "12");
    add(fx, 0, EVF_FX_HMIN, h, "mn", "3");
    add(fx, 0, EVF_FX_HMIN, h, "mn2", "-1.5");
    add(fx, 0, EVF_FX_SET, K("str"), NULL, "hello");
    add(fx, 0, EVF_FX_INCRBY, K("incr"), NULL, "5");
    add(fx, 0, EVF_FX_INCRBY, K("newincr"), NULL, "2");
    add(fx, 0, EVF_FX_DEL, K("del"), NULL, NULL);
    add(fx, 0, EVF_FX_SADD, K("set"), NULL, "c");
    add(fx, 0, EVF_FX_SREM, K("set"), NULL, "a");
    add(fx, 0, EVF_FX_PEXPIRE, K("exp"), NULL, "50000");
    ck_assert_uint_eq(evf_fx_count(fx), 18);

    expect_status(apply1(fx, rec, "tok-1", NULL), EVF_FX_APPLIED, "completion");
    expect_hget(h, "name", "alice");
    expect_hget(h, "cnt", "8");
    expect_hget(h, "newcnt", "-2");
    expect_hget(h, "fl", "3.75");
    expect_hget(h, "gone", NULL);
    expect_hget(h, "mx", "12");
    expect_hget(h, "mx2", "4");
    expect_hget(h, "mn", "3");
    expect_hget(h, "mn2", "-1.5");
    expect_get(K("str"), "hello");
    expect_get(K("incr"), "12");
    expect_get(K("newincr"), "2");
    expect_exists(K("del"), 0);
    ck_assert_int_eq(evf_itest_int(R, "SISMEMBER %s c", K("set")), 1);
    ck_assert_int_eq(evf_itest_int(R, "SISMEMBER %s a", K("set")), 0);
    ck_assert_int_eq(evf_itest_int(R, "SCARD %s", K("set")), 2);
    long long pttl = evf_itest_int(R, "PTTL %s", K("exp"));
    ck_assert_msg(pttl > 40000 && pttl <= 50000, "PTTL after PEXPIRE 50000: %lld", pttl);
    expect_done(rec, "tok-1");
    char *upd = hget(rec, "updated");
    long long updated = upd ? atoll(upd) : 0;
    free(upd);
    ck_assert_msg(llabs(updated - wall_ms()) < 10000, "updated %lld, now %lld", updated,
                  wall_ms());
    evf_fx_destroy(fx);
}
END_TEST

/* One event whose guards gate one marker field each: K("out") <name> exists iff it passed. */
typedef struct {
    const char *name;
    evf_guard_op_t op;
    const char *key, *field, *value;
    int pass;
} guard_case_t;

static void run_guards(const guard_case_t *cases, size_t n) {
    const char *rec = K("grec"), *out = K("out");
    evf_fx_t *fx = evf_fx_new(128);
    record(rec, "tok-g", 0);
    for (size_t i = 0; i < n; i++) {
        int g = guard(fx, cases[i].op, cases[i].key, cases[i].field, cases[i].value);
        add(fx, g, EVF_FX_HSET, out, cases[i].name, "1");
    }
    expect_status(apply1(fx, rec, "tok-g", NULL), EVF_FX_APPLIED,
                  "completion with guards (a failing guard is not an error)");
    for (size_t i = 0; i < n; i++) {
        char *v = hget(out, cases[i].name);
        ck_assert_msg((v != NULL) == cases[i].pass,
                      "guard %s (op %d, stored %s/%s vs given '%s'): %s, want %s", cases[i].name,
                      cases[i].op, cases[i].key, cases[i].field ? cases[i].field : "-",
                      cases[i].value ? cases[i].value : "-", v ? "held" : "did not hold",
                      cases[i].pass ? "held" : "did not hold");
        free(v);
    }
    expect_done(rec, "tok-g");
    evf_fx_destroy(fx);
}

START_TEST(guard_lt_num) {
    const char *h = K("n");
    evf_itest_ok(R, "HSET %s a 99999999999999999999999 b 12345678901234567890 c 0005 d 10 e 42 g "
                    "100000000000000000000",
                 h);
    evf_itest_ok(R, "SET %s 18446744073709551616", K("numstr"));
    const guard_case_t cases[] = {
        {"longer-given", EVF_GUARD_LT_NUM, h, "a", "100000000000000000000000", 1},
        {"same-len-less", EVF_GUARD_LT_NUM, h, "b", "12345678901234567889", 0},
        {"same-len-more", EVF_GUARD_LT_NUM, h, "b", "12345678901234567891", 1},
        {"leading-zeros", EVF_GUARD_LT_NUM, h, "c", "6", 1},
        {"numeric-not-lexical", EVF_GUARD_LT_NUM, h, "d", "9", 0},
        {"equal", EVF_GUARD_LT_NUM, h, "e", "42", 0},
        {"absent-field", EVF_GUARD_LT_NUM, h, "f", "1", 1},
        {"longer-stored", EVF_GUARD_LT_NUM, h, "g", "99999999999999999999", 0},
        {"string-key-2^64", EVF_GUARD_LT_NUM, K("numstr"), NULL, "18446744073709551617", 1},
        {"absent-key", EVF_GUARD_LT_NUM, K("nokey"), "x", "0", 1},
    };
    run_guards(cases, sizeof(cases) / sizeof(cases[0]));
}
END_TEST

START_TEST(guard_lt_hex) {
    const char *h = K("x");
    evf_itest_ok(R, "HSET %s a ff b 0A c abc d 1000 e 00ff s 0055AED6DCD90281E5", h);
    const guard_case_t cases[] = {
        {"shorter-stored", EVF_GUARD_LT_HEX, h, "a", "100", 1},
        {"case-insensitive", EVF_GUARD_LT_HEX, h, "b", "0b", 1},
        {"equal-other-case", EVF_GUARD_LT_HEX, h, "c", "ABC", 0},
        {"longer-stored", EVF_GUARD_LT_HEX, h, "d", "fff", 0},
        {"padded-equal", EVF_GUARD_LT_HEX, h, "e", "ff", 0},
        {"padded-less", EVF_GUARD_LT_HEX, h, "e", "100", 1},
        {"sequencer-newer", EVF_GUARD_LT_HEX, h, "s", "0055AED6DCD90281E6", 1},
        {"sequencer-older", EVF_GUARD_LT_HEX, h, "s", "0055AED6DCD90281E4", 0},
        {"sequencer-shorter-given", EVF_GUARD_LT_HEX, h, "s", "55AED6DCD90281E5", 0},
        {"absent", EVF_GUARD_LT_HEX, h, "zz", "0", 1},
    };
    run_guards(cases, sizeof(cases) / sizeof(cases[0]));
}
END_TEST

START_TEST(guard_lt_str) {
    const char *h = K("s");
    evf_itest_ok(R, "HSET %s a abc b b c Z d same e \xc3\xa9 f abc", h);
    const guard_case_t cases[] = {
        {"less", EVF_GUARD_LT_STR, h, "a", "abd", 1},
        {"greater", EVF_GUARD_LT_STR, h, "b", "abc", 0},
        {"bytewise-upper-before-lower", EVF_GUARD_LT_STR, h, "c", "a", 1},
        {"equal", EVF_GUARD_LT_STR, h, "d", "same", 0},
        {"bytewise-utf8-after-ascii", EVF_GUARD_LT_STR, h, "e", "z", 0},
        {"prefix", EVF_GUARD_LT_STR, h, "f", "abcd", 1},
        {"absent", EVF_GUARD_LT_STR, h, "g", "", 1},
    };
    run_guards(cases, sizeof(cases) / sizeof(cases[0]));
}
END_TEST

START_TEST(guard_absent_and_ne) {
    const char *h = K("a");
    evf_itest_ok(R, "HSET %s x 1 y a", h);
    evf_itest_ok(R, "SET %s v1", K("str"));
    const guard_case_t cases[] = {
        {"absent-field-present", EVF_GUARD_ABSENT, h, "x", NULL, 0},
        {"absent-field-absent", EVF_GUARD_ABSENT, h, "z", NULL, 1},
        {"absent-key-present", EVF_GUARD_ABSENT, K("str"), NULL, NULL, 0},
        {"absent-hash-key-present", EVF_GUARD_ABSENT, h, NULL, NULL, 0},
        {"absent-key-absent", EVF_GUARD_ABSENT, K("nokey"), NULL, NULL, 1},
        {"absent-field-of-absent-key", EVF_GUARD_ABSENT, K("nokey2"), "z", NULL, 1},
        {"ne-different", EVF_GUARD_NE, h, "y", "b", 1},
        {"ne-same", EVF_GUARD_NE, h, "y", "a", 0},
        {"ne-absent", EVF_GUARD_NE, h, "w", "a", 1},
        {"ne-key-same", EVF_GUARD_NE, K("str"), NULL, "v1", 0},
        {"ne-key-different", EVF_GUARD_NE, K("str"), NULL, "v2", 1},
    };
    run_guards(cases, sizeof(cases) / sizeof(cases[0]));
}
END_TEST

/* A guard that does not hold skips exactly the effects it guards; unguarded effects and those of
 * a guard that holds apply. */
START_TEST(failing_guard_skips_only_its_effects) {
    const char *h = K("g"), *rec = K("rec");
    evf_itest_ok(R, "HSET %s seq 10", h);
    record(rec, "tok-s", 0);
    evf_fx_t *fx = evf_fx_new(16);
    int older = guard(fx, EVF_GUARD_LT_NUM, h, "seq", "5");  /* 10 < 5: does not hold */
    int newer = guard(fx, EVF_GUARD_LT_NUM, h, "seq", "11"); /* 10 < 11: holds */
    add(fx, older, EVF_FX_HSET, h, "seq", "5");
    add(fx, older, EVF_FX_INCRBY, K("older-count"), NULL, "1");
    add(fx, 0, EVF_FX_INCRBY, K("always"), NULL, "1");
    add(fx, newer, EVF_FX_HSET, h, "seen", "11");
    expect_status(apply1(fx, rec, "tok-s", NULL), EVF_FX_APPLIED, "completion");
    expect_hget(h, "seq", "10");
    expect_exists(K("older-count"), 0);
    expect_get(K("always"), "1");
    expect_hget(h, "seen", "11");
    expect_done(rec, "tok-s");
    evf_fx_destroy(fx);
}
END_TEST

START_TEST(batch_applied_in_order) {
    const char *h = K("h"), *ctr = K("ctr");
    evf_fx_t *fx[3];
    evf_fx_commit_t items[3];
    evf_fx_status_t st[3];
    char reasons[3][128];
    const char *recs[3] = {K("r1"), K("r2"), K("r3")};
    const char *toks[3] = {"t-1", "t-2", "t-3"};
    for (int i = 0; i < 3; i++) {
        record(recs[i], toks[i], 1);
        fx[i] = evf_fx_new(16);
        items[i] = item(fx[i], recs[i], toks[i]);
    }
    add(fx[0], 0, EVF_FX_SET, ctr, NULL, "1");
    add(fx[0], 0, EVF_FX_HSET, h, "f", "a");
    /* Sees event 1's SET: "1" < "5" holds. */
    int g = guard(fx[1], EVF_GUARD_LT_NUM, ctr, NULL, "5");
    add(fx[1], g, EVF_FX_INCRBY, ctr, NULL, "10");
    add(fx[1], 0, EVF_FX_HSET, h, "f", "b");
    /* Sees event 2's HSET f b: NE b does not hold; f2 absent holds. */
    int ne = guard(fx[2], EVF_GUARD_NE, h, "f", "b");
    int ab = guard(fx[2], EVF_GUARD_ABSENT, h, "f2", NULL);
    add(fx[2], ne, EVF_FX_HSET, h, "wrong", "1");
    add(fx[2], ab, EVF_FX_HSET, h, "f2", "c");
    add(fx[2], 0, EVF_FX_INCRBY, ctr, NULL, "100");
    apply(items, 3, st, reasons);
    for (int i = 0; i < 3; i++) {
        expect_status(st[i], EVF_FX_APPLIED, recs[i]);
        expect_done(recs[i], toks[i]);
        expect_hget(recs[i], "unfinished", "1"); /* a completion counts no call */
    }
    expect_get(ctr, "111");
    expect_hget(h, "f", "b");
    expect_hget(h, "f2", "c");
    expect_hget(h, "wrong", NULL);
    for (int i = 0; i < 3; i++)
        evf_fx_destroy(fx[i]);
}
END_TEST

START_TEST(fenced_when_held_by_another_token) {
    const char *h = K("h");
    evf_fx_t *mine = evf_fx_new(8), *other = evf_fx_new(8), *gone = evf_fx_new(8);
    evf_fx_commit_t items[3];
    evf_fx_status_t st[3];
    char reasons[3][128];
    record(K("taken"), "their-token", 1);
    record(K("ours"), "our-token", 0);
    add(mine, 0, EVF_FX_HSET, h, "taken", "1");
    add(mine, 0, EVF_FX_INCRBY, K("taken-count"), NULL, "1");
    add(other, 0, EVF_FX_HSET, h, "ours", "1");
    add(gone, 0, EVF_FX_HSET, h, "gone", "1");
    items[0] = item(mine, K("taken"), "our-token");
    items[1] = item(other, K("ours"), "our-token");
    items[2] = item(gone, K("expired-record"), "our-token"); /* record expired: absent */
    apply(items, 3, st, reasons);
    expect_status(st[0], EVF_FX_FENCED, "record held by another token");
    expect_status(st[1], EVF_FX_APPLIED, "our record in the same batch");
    expect_status(st[2], EVF_FX_FENCED, "absent record");
    expect_hget(h, "taken", NULL);
    expect_exists(K("taken-count"), 0);
    expect_hget(h, "gone", NULL);
    expect_exists(K("expired-record"), 0);
    expect_untouched(K("taken"), "their-token");
    expect_hget(K("taken"), "unfinished", "1");
    expect_hget(h, "ours", "1");
    expect_done(K("ours"), "our-token");

    /* A record another worker completed is not ours either. */
    evf_itest_ok(R, "HSET %s state done token their-token", K("done-by-them"));
    expect_status(apply1(mine, K("done-by-them"), "our-token", NULL), EVF_FX_FENCED,
                  "record done under another token");
    expect_hget(h, "taken", NULL);
    evf_fx_destroy(mine);
    evf_fx_destroy(other);
    evf_fx_destroy(gone);
}
END_TEST

START_TEST(already_done_applies_nothing_twice) {
    const char *rec = K("rec");
    record(rec, "tok-a", 1);
    evf_fx_t *fx = evf_fx_new(8);
    add(fx, 0, EVF_FX_HINCRBY, K("h"), "n", "1");
    add(fx, 0, EVF_FX_INCRBY, K("c"), NULL, "1");
    add(fx, 0, EVF_FX_SADD, K("s"), NULL, "m");
    expect_status(apply1(fx, rec, "tok-a", NULL), EVF_FX_APPLIED, "first completion");
    /* The reply was lost: the worker repeats the same batch. */
    expect_status(apply1(fx, rec, "tok-a", NULL), EVF_FX_ALREADY, "repeated completion");
    expect_status(apply1(fx, rec, "tok-a", NULL), EVF_FX_ALREADY, "third completion");
    expect_hget(K("h"), "n", "1");
    expect_get(K("c"), "1");
    expect_done(rec, "tok-a");
    expect_hget(rec, "unfinished", "1");
    evf_fx_destroy(fx);
}
END_TEST

/* Event i of a batch: a plain event that must apply (its marker key set). */
static evf_fx_t *marker_event(const char *marker) {
    evf_fx_t *fx = evf_fx_new(8);
    add(fx, 0, EVF_FX_SET, marker, NULL, "applied");
    return fx;
}

START_TEST(rejected_non_integer_field_applies_nothing_of_the_event) {
    const char *h = K("h");
    evf_itest_ok(R, "HSET %s word abc fl 1.5", h);
    evf_itest_ok(R, "SET %s xyz", K("strval"));
    evf_fx_t *fx[5];
    evf_fx_commit_t items[5];
    evf_fx_status_t st[5];
    char reasons[5][128];
    const char *recs[5] = {K("r0"), K("r1"), K("r2"), K("r3"), K("r4")};
    for (int i = 0; i < 5; i++)
        record(recs[i], "tok", 1);
    fx[0] = marker_event(K("m0"));
    /* HINCRBY on "abc": the writes queued before it must not happen either. */
    fx[1] = evf_fx_new(8);
    add(fx[1], 0, EVF_FX_HSET, K("b1"), "f", "1");
    add(fx[1], 0, EVF_FX_SADD, K("set1"), NULL, "m");
    add(fx[1], 0, EVF_FX_INCRBY, K("c1"), NULL, "1");
    add(fx[1], 0, EVF_FX_HINCRBY, h, "word", "1");
    add(fx[1], 0, EVF_FX_HSET, K("after1"), "f", "1");
    /* HINCRBY on a float field. */
    fx[2] = evf_fx_new(8);
    add(fx[2], 0, EVF_FX_INCRBY, K("c2"), NULL, "1");
    add(fx[2], 0, EVF_FX_HINCRBY, h, "fl", "1");
    /* INCRBY on a string that is not a number. */
    fx[3] = evf_fx_new(8);
    add(fx[3], 0, EVF_FX_HSET, K("b3"), "f", "1");
    add(fx[3], 0, EVF_FX_INCRBY, K("strval"), NULL, "1");
    fx[4] = marker_event(K("m4"));
    for (int i = 0; i < 5; i++)
        items[i] = item(fx[i], recs[i], "tok");
    apply(items, 5, st, reasons);

    expect_status(st[0], EVF_FX_APPLIED, "event before the rejected ones");
    expect_status(st[4], EVF_FX_APPLIED, "event after the rejected ones");
    expect_get(K("m0"), "applied");
    expect_get(K("m4"), "applied");
    for (int i = 1; i <= 3; i++) {
        expect_status(st[i], EVF_FX_REJECTED, recs[i]);
        ck_assert_msg(reasons[i][0], "REJECTED without a reason (event %d)", i);
        expect_untouched(recs[i], "tok");
        expect_hget(recs[i], "unfinished", "1");
    }
    ck_assert_msg(strstr(reasons[1], "word") && strstr(reasons[1], "not"),
                  "reason does not name the field: '%s'", reasons[1]);
    ck_assert_msg(strstr(reasons[2], "fl"), "reason does not name the field: '%s'", reasons[2]);
    ck_assert_msg(strstr(reasons[3], "strval"), "reason does not name the key: '%s'", reasons[3]);
    expect_exists(K("b1"), 0);
    expect_exists(K("set1"), 0);
    expect_exists(K("c1"), 0);
    expect_exists(K("after1"), 0);
    expect_exists(K("c2"), 0);
    expect_exists(K("b3"), 0);
    expect_hget(h, "word", "abc");
    expect_hget(h, "fl", "1.5");
    expect_get(K("strval"), "xyz");
    for (int i = 0; i < 5; i++)
        evf_fx_destroy(fx[i]);
}
END_TEST

START_TEST(rejected_wrong_key_type_applies_nothing_of_the_event) {
    evf_itest_ok(R, "SET %s v", K("str"));
    evf_itest_ok(R, "HSET %s f 1", K("hash"));
    evf_itest_ok(R, "SADD %s m", K("set"));
    struct {
        evf_fx_op_t op;
        const char *key, *field, *value, *type;
    } bad[] = {
        {EVF_FX_HSET, K("str"), "f", "1", "string"},
        {EVF_FX_HINCRBY, K("set"), "f", "1", "set"},
        {EVF_FX_SADD, K("hash"), NULL, "m", "hash"},
        {EVF_FX_SET, K("hash"), NULL, "v", "hash"},
        {EVF_FX_INCRBY, K("set"), NULL, "1", "set"},
        {EVF_FX_SREM, K("str"), NULL, "m", "string"},
        {EVF_FX_HDEL, K("str"), "f", NULL, "string"},
        {EVF_FX_HMAX, K("set"), "f", "1", "set"},
    };
    enum { NB = sizeof(bad) / sizeof(bad[0]) };
    evf_fx_t *fx[NB + 1];
    evf_fx_commit_t items[NB + 1];
    evf_fx_status_t st[NB + 1];
    char reasons[NB + 1][128];
    char recname[32], before[32];
    for (int i = 0; i < NB; i++) {
        snprintf(recname, sizeof(recname), "rec%d", i);
        snprintf(before, sizeof(before), "before%d", i);
        fx[i] = evf_fx_new(8);
        add(fx[i], 0, EVF_FX_HSET, K(before), "f", "1");
        add(fx[i], 0, bad[i].op, bad[i].key, bad[i].field, bad[i].value);
        record(K(recname), "tok", 0);
        items[i] = item(fx[i], K(recname), "tok");
    }
    fx[NB] = marker_event(K("last"));
    record(K("reclast"), "tok", 0);
    items[NB] = item(fx[NB], K("reclast"), "tok");
    apply(items, NB + 1, st, reasons);
    for (int i = 0; i < NB; i++) {
        snprintf(recname, sizeof(recname), "rec%d", i);
        snprintf(before, sizeof(before), "before%d", i);
        ck_assert_msg(st[i] == EVF_FX_REJECTED, "op %d on a %s: %s, want REJECTED", bad[i].op,
                      bad[i].type, status_name(st[i]));
        ck_assert_msg(strstr(reasons[i], bad[i].type), "op %d: reason '%s' does not name '%s'",
                      bad[i].op, reasons[i], bad[i].type);
        expect_exists(K(before), 0);
        expect_untouched(K(recname), "tok");
    }
    expect_status(st[NB], EVF_FX_APPLIED, "event after the rejected ones");
    expect_get(K("last"), "applied");
    expect_get(K("str"), "v");
    expect_hget(K("hash"), "f", "1");
    ck_assert_int_eq(evf_itest_int(R, "SCARD %s", K("set")), 1);
    for (int i = 0; i <= NB; i++)
        evf_fx_destroy(fx[i]);
}
END_TEST

START_TEST(record_ttl_after_completion) {
    const char *rec = K("rec");
    record(rec, "tok", 0);
    ck_assert_int_le(evf_itest_int(R, "PTTL %s", rec), 60000);
    evf_fx_t *fx = marker_event(K("m"));
    evf_fx_commit_t it = item(fx, rec, "tok");
    it.ttl_ms = 123456789;
    evf_fx_status_t st;
    char reasons[1][128];
    apply(&it, 1, &st, reasons);
    expect_status(st, EVF_FX_APPLIED, "completion");
    long long pttl = evf_itest_int(R, "PTTL %s", rec);
    ck_assert_msg(pttl > 123456789 - 10000 && pttl <= 123456789,
                  "record PTTL %lld after completion, want ~123456789", pttl);
    /* A rejected completion keeps the record as it was (its TTL included). */
    const char *rec2 = K("rec2");
    record(rec2, "tok", 0);
    evf_itest_ok(R, "SET %s v", K("str"));
    evf_fx_t *bad = evf_fx_new(4);
    add(bad, 0, EVF_FX_HSET, K("str"), "f", "1");
    it = item(bad, rec2, "tok");
    it.ttl_ms = 123456789;
    apply(&it, 1, &st, reasons);
    expect_status(st, EVF_FX_REJECTED, "completion writing a hash field into a string");
    pttl = evf_itest_int(R, "PTTL %s", rec2);
    ck_assert_msg(pttl > 0 && pttl <= 60000, "rejected record PTTL %lld", pttl);
    evf_fx_destroy(fx);
    evf_fx_destroy(bad);
}
END_TEST

/* Idempotency off: no record, effects still all or nothing per event. */
START_TEST(without_record) {
    evf_itest_ok(R, "SET %s v", K("str"));
    evf_fx_t *ok = evf_fx_new(4), *bad = evf_fx_new(4), *empty = evf_fx_new(1);
    add(ok, 0, EVF_FX_HINCRBY, K("h"), "n", "2");
    add(bad, 0, EVF_FX_HINCRBY, K("h2"), "n", "2");
    add(bad, 0, EVF_FX_SADD, K("str"), NULL, "m");
    evf_fx_commit_t items[4] = {
        {.fx = ok, .ttl_ms = TTL_MS},
        {.fx = bad, .ttl_ms = TTL_MS},
        {.fx = empty, .ttl_ms = TTL_MS},
        {.fx = NULL, .ttl_ms = TTL_MS},
    };
    evf_fx_status_t st[4];
    char reasons[4][128];
    apply(items, 4, st, reasons);
    expect_status(st[0], EVF_FX_APPLIED, "no record");
    expect_status(st[1], EVF_FX_REJECTED, "no record, SADD on a string");
    expect_status(st[2], EVF_FX_APPLIED, "no record, no effects");
    expect_status(st[3], EVF_FX_APPLIED, "no record, NULL queue");
    expect_hget(K("h"), "n", "2");
    expect_exists(K("h2"), 0);
    evf_fx_destroy(ok);
    evf_fx_destroy(bad);
    evf_fx_destroy(empty);
}
END_TEST

/* What evf_fx_add / evf_fx_guard refuse before anything reaches Redis. */
START_TEST(queue_validation) {
    const char *why = NULL;
    evf_fx_t *fx = evf_fx_new(3);
    const char *k = K("v");
    ck_assert_int_eq(evf_fx_add(fx, 0, EVF_FX_HINCRBY, k, "f", "abc", &why), -1);
    ck_assert_ptr_nonnull(why);
    ck_assert_int_eq(evf_fx_add(fx, 0, EVF_FX_HINCRBY, k, "f", "1.5", &why), -1);
    ck_assert_int_eq(evf_fx_add(fx, 0, EVF_FX_HINCRBY, k, "f", "", &why), -1);
    ck_assert_int_eq(evf_fx_add(fx, 0, EVF_FX_HINCRBY, k, "f", "99999999999999999999", &why), -1);
    ck_assert_int_eq(evf_fx_add(fx, 0, EVF_FX_INCRBY, k, NULL, "x", &why), -1);
    ck_assert_int_eq(evf_fx_add(fx, 0, EVF_FX_HINCRBYFLOAT, k, "f", "inf", &why), -1);
    ck_assert_int_eq(evf_fx_add(fx, 0, EVF_FX_HINCRBYFLOAT, k, "f", "nan", &why), -1);
    ck_assert_int_eq(evf_fx_add(fx, 0, EVF_FX_HMAX, k, "f", "x", &why), -1);
    ck_assert_int_eq(evf_fx_add(fx, 0, EVF_FX_PEXPIRE, k, NULL, "0", &why), -1);
    ck_assert_int_eq(evf_fx_add(fx, 0, EVF_FX_PEXPIRE, k, NULL, "-5", &why), -1);
    ck_assert_int_eq(evf_fx_add(fx, 0, EVF_FX_HSET, k, NULL, "v", &why), -1);
    ck_assert_int_eq(evf_fx_add(fx, 0, EVF_FX_HSET, k, "", "v", &why), -1);
    ck_assert_int_eq(evf_fx_add(fx, 0, EVF_FX_SET, "", NULL, "v", &why), -1);
    ck_assert_int_eq(evf_fx_add(fx, 0, EVF_FX_SET, k, NULL, NULL, &why), -1);
    ck_assert_int_eq(evf_fx_add(fx, 0, (evf_fx_op_t)99, k, NULL, "v", &why), -1);
    ck_assert_int_eq(evf_fx_add(fx, 1, EVF_FX_SET, k, NULL, "v", &why), -1); /* no guard 1 */
    ck_assert_int_eq(evf_fx_guard(fx, (evf_guard_op_t)99, k, "f", "1", &why), -1);
    ck_assert_int_eq(evf_fx_guard(fx, EVF_GUARD_LT_NUM, k, "f", NULL, &why), -1);
    ck_assert_int_eq(evf_fx_guard(fx, EVF_GUARD_LT_NUM, "", "f", "1", &why), -1);
    ck_assert_uint_eq(evf_fx_count(fx), 0);
    /* max_ops counts guards and effects. */
    ck_assert_int_eq(evf_fx_guard(fx, EVF_GUARD_ABSENT, k, "f", NULL, &why), 1);
    ck_assert_int_eq(evf_fx_add(fx, 1, EVF_FX_HSET, k, "f", "v", &why), 0);
    ck_assert_int_eq(evf_fx_add(fx, 0, EVF_FX_DEL, k, NULL, NULL, &why), 0);
    ck_assert_int_eq(evf_fx_add(fx, 0, EVF_FX_DEL, k, NULL, NULL, &why), -1);
    ck_assert_int_eq(evf_fx_guard(fx, EVF_GUARD_ABSENT, k, "g", NULL, &why), -1);
    ck_assert_uint_eq(evf_fx_count(fx), 3);
    evf_fx_reset(fx);
    ck_assert_uint_eq(evf_fx_count(fx), 0);
    ck_assert_int_eq(evf_fx_add(fx, 1, EVF_FX_HSET, k, "f", "v", &why), -1); /* guards reset */
    evf_fx_destroy(fx);
    evf_fx_destroy(NULL);
}
END_TEST

/* ---- inputs the validation lets through but Redis refuses when applying ---- */

/* The contract for any queued event: the batch answers per event (EVF_OK), and an event is
 * either applied entirely or REJECTED with nothing of it applied; the other events of the batch
 * apply. `counter` (K("c") n) is the event's first effect, HINCRBY 1: after the batch is sent
 * twice (as the pipeline retries a batch that failed), it must be absent (rejected) or 1. */
static void expect_all_or_nothing(evf_fx_t *bad, const char *what) {
    evf_fx_t *before = marker_event(K("m-before")), *after = marker_event(K("m-after"));
    evf_fx_commit_t items[3];
    evf_fx_status_t st[3];
    char reasons[3][128] = {{0}};
    evf_err_t e[2];
    record(K("rb"), "tok", 0);
    record(K("rx"), "tok", 0);
    record(K("ra"), "tok", 0);
    items[0] = item(before, K("rb"), "tok");
    items[1] = item(bad, K("rx"), "tok");
    items[2] = item(after, K("ra"), "tok");
    for (int i = 0; i < 2; i++)
        e[i] = evf_fx_apply_batch(R, items, 3, st, reasons);
    char *c = hget(K("c"), "n");
    ck_assert_msg(!c || !strcmp(c, "1"),
                  "%s: the event's first effect (HINCRBY 1) stands at %s after the batch was "
                  "sent twice: an effect applied twice (the script failed half-way: %s)",
                  what, c, e[0] == EVF_OK ? "no" : "yes");
    ck_assert_msg(e[0] == EVF_OK,
                  "%s: evf_fx_apply_batch failed (%d) instead of answering REJECTED for this "
                  "event (the whole batch is lost and retried forever; partial writes: counter "
                  "%s)",
                  what, e[0], c ? c : "absent");
    ck_assert_msg(st[0] == EVF_FX_APPLIED || st[0] == EVF_FX_ALREADY, "%s: event before: %s",
                  what, status_name(st[0]));
    ck_assert_msg(st[2] == EVF_FX_APPLIED || st[2] == EVF_FX_ALREADY, "%s: event after: %s",
                  what, status_name(st[2]));
    ck_assert_msg(st[1] == EVF_FX_REJECTED || st[1] == EVF_FX_ALREADY || st[1] == EVF_FX_APPLIED,
                  "%s: %s", what, status_name(st[1]));
    if (st[1] == EVF_FX_REJECTED)
        ck_assert_msg(!c, "%s: REJECTED but its HINCRBY was applied", what);
    free(c);
    evf_fx_destroy(before);
    evf_fx_destroy(after);
    evf_itest_ok(R, "DEL %s %s %s %s %s %s", K("c"), K("m-before"), K("m-after"), K("rb"),
                 K("rx"), K("ra"));
}

/* evf_fx_add accepts "+5", "05", " 5", "-0" as integers (strtoll), Redis's HINCRBY does not. */
START_TEST(integer_values_redis_refuses) {
    static const char *const values[] = {"+5", "05", " 5", "-0", "5 "};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        const char *why = NULL;
        char what[96];
        evf_fx_t *fx = evf_fx_new(4);
        add(fx, 0, EVF_FX_HINCRBY, K("c"), "n", "1");
        if (evf_fx_add(fx, 0, EVF_FX_HINCRBY, K("h"), "n", values[i], &why) != 0) {
            evf_fx_destroy(fx); /* refused when queued: fine */
            continue;
        }
        snprintf(what, sizeof(what), "HINCRBY by '%s' (accepted by evf_fx_add)", values[i]);
        expect_all_or_nothing(fx, what);
        evf_fx_destroy(fx);
        evf_itest_ok(R, "DEL %s", K("h"));
    }
    const char *why = NULL;
    evf_fx_t *fx = evf_fx_new(4);
    add(fx, 0, EVF_FX_HINCRBY, K("c"), "n", "1");
    if (evf_fx_add(fx, 0, EVF_FX_PEXPIRE, K("c"), NULL, "+5000", &why) == 0)
        expect_all_or_nothing(fx, "PEXPIRE '+5000' (accepted by evf_fx_add)");
    evf_fx_destroy(fx);
}
END_TEST

/* A stored value that passes the script's number check but that Redis refuses to add to. */
START_TEST(stored_numbers_redis_refuses) {
    struct {
        const char *stored;
        evf_fx_op_t op;
        const char *by, *what;
    } cases[] = {
        {"9223372036854775807", EVF_FX_HINCRBY, "1", "HINCRBY past INT64_MAX"},
        {"-9223372036854775808", EVF_FX_HINCRBY, "-1", "HINCRBY past INT64_MIN"},
        {"99999999999999999999", EVF_FX_HINCRBY, "1", "HINCRBY on a 20-digit field"},
        {"nan", EVF_FX_HINCRBYFLOAT, "1", "HINCRBYFLOAT on 'nan'"},
        {" 5", EVF_FX_HINCRBYFLOAT, "1", "HINCRBYFLOAT on ' 5'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        redisReply *rep = evf_redis_cmd(R, "HSET %s f %s", K("h"), cases[i].stored);
        ck_assert_ptr_nonnull(rep);
        freeReplyObject(rep);
        evf_fx_t *fx = evf_fx_new(4);
        add(fx, 0, EVF_FX_HINCRBY, K("c"), "n", "1");
        add(fx, 0, cases[i].op, K("h"), "f", cases[i].by);
        expect_all_or_nothing(fx, cases[i].what);
        char *v = hget(K("h"), "f");
        ck_assert_msg(v && !strcmp(v, cases[i].stored), "%s: stored value became '%s'",
                      cases[i].what, v ? v : "(absent)");
        free(v);
        evf_fx_destroy(fx);
    }
    /* The same for a string key. */
    evf_itest_ok(R, "SET %s 9223372036854775807", K("s"));
    evf_fx_t *fx = evf_fx_new(4);
    add(fx, 0, EVF_FX_HINCRBY, K("c"), "n", "1");
    add(fx, 0, EVF_FX_INCRBY, K("s"), NULL, "1");
    expect_all_or_nothing(fx, "INCRBY past INT64_MAX");
    evf_fx_destroy(fx);
}
END_TEST

/* Effects of one event that are each valid against the stored state but not one after the
 * other: validation looks at the stored state only. */
START_TEST(conflicting_effects_of_one_event) {
    evf_fx_t *fx = evf_fx_new(8);
    add(fx, 0, EVF_FX_HINCRBY, K("c"), "n", "1");
    add(fx, 0, EVF_FX_HSET, K("h"), "f", "abc");
    add(fx, 0, EVF_FX_HINCRBY, K("h"), "f", "1");
    expect_all_or_nothing(fx, "HSET f abc then HINCRBY f");
    evf_fx_destroy(fx);
    evf_itest_ok(R, "DEL %s", K("h"));

    fx = evf_fx_new(8);
    add(fx, 0, EVF_FX_HINCRBY, K("c"), "n", "1");
    add(fx, 0, EVF_FX_SET, K("k"), NULL, "v");
    add(fx, 0, EVF_FX_HSET, K("k"), "f", "1");
    expect_all_or_nothing(fx, "SET k then HSET k");
    evf_fx_destroy(fx);
}
END_TEST

/* A guard without a field reads the key with GET: on a hash (or set) key that is an error. */
START_TEST(fieldless_guard_on_a_hash_key) {
    evf_itest_ok(R, "HSET %s f 1", K("hash"));
    evf_fx_t *fx = evf_fx_new(8);
    add(fx, 0, EVF_FX_HINCRBY, K("c"), "n", "1");
    int g = guard(fx, EVF_GUARD_LT_NUM, K("hash"), NULL, "5");
    add(fx, g, EVF_FX_SET, K("x"), NULL, "v");
    expect_all_or_nothing(fx, "LT_NUM guard without a field on a hash key");
    evf_fx_destroy(fx);

    fx = evf_fx_new(8);
    add(fx, 0, EVF_FX_HINCRBY, K("c"), "n", "1");
    g = guard(fx, EVF_GUARD_NE, K("hash"), NULL, "v");
    add(fx, g, EVF_FX_SET, K("x"), NULL, "v");
    expect_all_or_nothing(fx, "NE guard without a field on a hash key");
    evf_fx_destroy(fx);
}
END_TEST

/* The validation must not refuse an event Redis would apply: it has to follow the event's own
 * effects (a DEL empties the key for the effects after it, HMAX/HMIN keep the larger/smaller
 * value) and accept every int64 result. Each case is its own event; all failures are listed. */
START_TEST(valid_sequences_are_not_rejected) {
    struct {
        const char *what, *setup_field, *setup_value, *key;
        evf_fx_op_t op[3];
        const char *field[3], *value[3];
        const char *check_field, *want;
    } cases[] = {
        {"DEL h, HSET h f 1, HINCRBY h n 1 (h n was 'abc' before the DEL)", "n", "abc", "h1",
         {EVF_FX_DEL, EVF_FX_HSET, EVF_FX_HINCRBY}, {NULL, "f", "n"}, {NULL, "1", "1"}, "n",
         "1"},
        {"HMAX h m 1e3 (stored 5000 stays), then HINCRBY h m 1", "m", "5000", "h2",
         {EVF_FX_HMAX, EVF_FX_HINCRBY, 0}, {"m", "m", NULL}, {"1e3", "1", NULL}, "m", "5001"},
        {"HINCRBY to INT64_MAX - 1", "big", "9223372036854775800", "h3",
         {EVF_FX_HINCRBY, 0, 0}, {"big", NULL, NULL}, {"6", NULL, NULL}, "big",
         "9223372036854775806"},
    };
    char failures[2048] = "";
    size_t off = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char recname[32], reason[128] = "";
        const char *key = K(cases[i].key);
        snprintf(recname, sizeof(recname), "vrec%zu", i);
        evf_itest_ok(R, "HSET %s %s %s", key, cases[i].setup_field, cases[i].setup_value);
        record(K(recname), "tok", 0);
        evf_fx_t *fx = evf_fx_new(8);
        for (int j = 0; j < 3 && cases[i].op[j]; j++)
            add(fx, 0, cases[i].op[j], key, cases[i].field[j], cases[i].value[j]);
        evf_fx_status_t st = apply1(fx, K(recname), "tok", reason);
        char *v = hget(key, cases[i].check_field);
        if (st != EVF_FX_APPLIED || !v || strcmp(v, cases[i].want))
            off += (size_t)snprintf(failures + off,
                                    off < sizeof(failures) ? sizeof(failures) - off : 0,
                                    "\n  %s: %s (%s), %s = %s, want %s", cases[i].what,
                                    status_name(st), reason, cases[i].check_field,
                                    v ? v : "(absent)", cases[i].want);
        free(v);
        evf_fx_destroy(fx);
    }
    ck_assert_msg(!failures[0], "valid events refused by the validation:%s", failures);
}
END_TEST

static Suite *effects_script_suite(void) {
    Suite *s = suite_create("effects_script");
    TCase *tc = tcase_create("script");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, every_effect_op);
    tcase_add_test(tc, guard_lt_num);
    tcase_add_test(tc, guard_lt_hex);
    tcase_add_test(tc, guard_lt_str);
    tcase_add_test(tc, guard_absent_and_ne);
    tcase_add_test(tc, failing_guard_skips_only_its_effects);
    tcase_add_test(tc, batch_applied_in_order);
    tcase_add_test(tc, fenced_when_held_by_another_token);
    tcase_add_test(tc, already_done_applies_nothing_twice);
    tcase_add_test(tc, rejected_non_integer_field_applies_nothing_of_the_event);
    tcase_add_test(tc, rejected_wrong_key_type_applies_nothing_of_the_event);
    tcase_add_test(tc, record_ttl_after_completion);
    tcase_add_test(tc, without_record);
    tcase_add_test(tc, queue_validation);
    suite_add_tcase(s, tc);

    TCase *refused = tcase_create("refused_at_apply_time");
    tcase_add_checked_fixture(refused, setup, teardown);
    tcase_set_timeout(refused, 60);
    tcase_add_test(refused, integer_values_redis_refuses);
    tcase_add_test(refused, stored_numbers_redis_refuses);
    tcase_add_test(refused, conflicting_effects_of_one_event);
    tcase_add_test(refused, fieldless_guard_on_a_hash_key);
    tcase_add_test(refused, valid_sequences_are_not_rejected);
    suite_add_tcase(s, refused);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(effects_script_suite());
    evf_fleet_session_begin();
    evf_itest_session_begin();
    srunner_run_all(sr, CK_NORMAL);
    evf_itest_session_end();
    evf_fleet_session_end();
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
