/* tests/unit/test_backoff.c — the retry delay curve, its jitter bounds, and the RNG. */
#include <check.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "backoff.h"

START_TEST(test_curve_exact) {
    evf_backoff_t b = {.initial_ms = 100, .max_ms = 10000, .multiplier = 2.0,
                       .jitter = EVF_JITTER_NONE};
    const int64_t want[] = {100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000, 10000};
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(evf_backoff_delay(&b, i + 1, NULL), want[i]);
    /* attempts below 1 count as 1 */
    ck_assert_int_eq(evf_backoff_delay(&b, 0, NULL), 100);
    ck_assert_int_eq(evf_backoff_delay(&b, -5, NULL), 100);
    ck_assert_int_eq(evf_backoff_base(&b, 3), 400);
}
END_TEST

START_TEST(test_curve_fractional_multiplier) {
    evf_backoff_t b = {.initial_ms = 100, .max_ms = 100000, .multiplier = 1.5,
                       .jitter = EVF_JITTER_NONE};
    ck_assert_int_eq(evf_backoff_delay(&b, 1, NULL), 100);
    ck_assert_int_eq(evf_backoff_delay(&b, 2, NULL), 150);
    ck_assert_int_eq(evf_backoff_delay(&b, 3, NULL), 225);
    ck_assert_int_eq(evf_backoff_delay(&b, 4, NULL), 338); /* 337.5 rounds to nearest */
    b.multiplier = 1.1;
    ck_assert_int_eq(evf_backoff_delay(&b, 3, NULL), 121); /* 121.00000000000001 */
}
END_TEST

START_TEST(test_curve_no_overflow) {
    evf_backoff_t b = {.initial_ms = 1000, .max_ms = INT64_MAX, .multiplier = 10.0,
                       .jitter = EVF_JITTER_NONE};
    int64_t prev = 0;
    for (int a = 1; a < 200; a++) {
        int64_t d = evf_backoff_delay(&b, a, NULL);
        ck_assert(d >= prev);
        ck_assert(d > 0);
        prev = d;
    }
    ck_assert_int_eq(evf_backoff_delay(&b, INT_MAX, NULL), INT64_MAX);
    b.max_ms = 30000;
    ck_assert_int_eq(evf_backoff_delay(&b, INT_MAX, NULL), 30000);
    ck_assert_int_eq(evf_backoff_delay(&b, 64, NULL), 30000);
    b.multiplier = 1e300;
    ck_assert_int_eq(evf_backoff_delay(&b, 3, NULL), 30000);
    /* jittered delays stay within the cap for huge attempts too */
    uint64_t rng = 1;
    b.jitter = EVF_JITTER_FULL;
    for (int i = 0; i < 1000; i++) {
        int64_t d = evf_backoff_delay(&b, INT_MAX - i, &rng);
        ck_assert(d >= 0 && d <= 30000);
    }
}
END_TEST

START_TEST(test_curve_multiplier_one_and_odd_inputs) {
    evf_backoff_t b = {.initial_ms = 250, .max_ms = 1000, .multiplier = 1.0,
                       .jitter = EVF_JITTER_NONE};
    for (int a = 1; a < 100; a++)
        ck_assert_int_eq(evf_backoff_delay(&b, a, NULL), 250);
    b.multiplier = 0.5; /* below 1 counts as 1: never shrinks */
    ck_assert_int_eq(evf_backoff_delay(&b, 5, NULL), 250);
    b.multiplier = NAN;
    ck_assert_int_eq(evf_backoff_delay(&b, 5, NULL), 250);
    b.initial_ms = 5000; /* initial above max: the cap wins */
    b.multiplier = 2.0;
    ck_assert_int_eq(evf_backoff_delay(&b, 1, NULL), 1000);
    b.initial_ms = 0;
    ck_assert_int_eq(evf_backoff_delay(&b, 7, NULL), 0);
    b.initial_ms = -10;
    b.max_ms = -10;
    ck_assert_int_eq(evf_backoff_delay(&b, 1, NULL), 0);
    b.jitter = EVF_JITTER_FULL;
    ck_assert_int_eq(evf_backoff_delay(&b, 1, NULL), 0);
}
END_TEST

START_TEST(test_full_jitter_bounds) {
    evf_backoff_t b = {.initial_ms = 1000, .max_ms = 60000, .multiplier = 2.0,
                       .jitter = EVF_JITTER_FULL};
    uint64_t rng = 42;
    double sum = 0;
    int64_t lo = INT64_MAX, hi = 0;
    const int n = 10000;
    for (int i = 0; i < n; i++) {
        int64_t d = evf_backoff_delay(&b, 3, &rng); /* base 4000 */
        ck_assert(d >= 0 && d <= 4000);
        sum += (double)d;
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    ck_assert(fabs(sum / n - 2000.0) < 150.0);
    ck_assert(lo < 200);  /* spreads over the range */
    ck_assert(hi > 3800);
}
END_TEST

START_TEST(test_equal_jitter_bounds) {
    evf_backoff_t b = {.initial_ms = 1001, .max_ms = 60000, .multiplier = 1.0,
                       .jitter = EVF_JITTER_EQUAL};
    uint64_t rng = 7;
    double sum = 0;
    int64_t lo = INT64_MAX, hi = 0;
    const int n = 10000;
    for (int i = 0; i < n; i++) {
        int64_t d = evf_backoff_delay(&b, 1, &rng);
        ck_assert(d >= 500 && d <= 1001);
        sum += (double)d;
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    ck_assert(fabs(sum / n - 750.5) < 40.0);
    ck_assert(lo < 530);
    ck_assert(hi > 970);
}
END_TEST

START_TEST(test_jitter_null_rng_state) {
    evf_backoff_t b = {.initial_ms = 100, .max_ms = 100, .multiplier = 2.0,
                       .jitter = EVF_JITTER_FULL};
    int distinct = 0;
    int64_t first = evf_backoff_delay(&b, 1, NULL);
    for (int i = 0; i < 100; i++) {
        int64_t d = evf_backoff_delay(&b, 1, NULL);
        ck_assert(d >= 0 && d <= 100);
        distinct += d != first;
    }
    ck_assert(distinct > 0);
}
END_TEST

START_TEST(test_deterministic_for_seed) {
    evf_backoff_t b = {.initial_ms = 100, .max_ms = 100000, .multiplier = 3.0,
                       .jitter = EVF_JITTER_FULL};
    uint64_t s1 = 12345, s2 = 12345, s3 = 54321;
    int differ = 0;
    for (int a = 1; a < 50; a++) {
        int64_t d1 = evf_backoff_delay(&b, a % 8 + 1, &s1);
        int64_t d2 = evf_backoff_delay(&b, a % 8 + 1, &s2);
        int64_t d3 = evf_backoff_delay(&b, a % 8 + 1, &s3);
        ck_assert_int_eq(d1, d2);
        differ += d1 != d3;
    }
    ck_assert_uint_eq(s1, s2);
    ck_assert(differ > 0);
}
END_TEST

START_TEST(test_rand) {
    /* splitmix64 reference values for seed 0 (Vigna's splitmix64.c) */
    uint64_t s = 0;
    ck_assert_uint_eq(evf_rand_next(&s), UINT64_C(0xE220A8397B1DCDAF));
    ck_assert_uint_eq(evf_rand_next(&s), UINT64_C(0x6E789E6AA1B965F4));
    uint64_t a = evf_rand_seed(), b = evf_rand_seed();
    ck_assert_uint_ne(a, b);
    for (int i = 0; i < 1000; i++) {
        ck_assert_uint_le(evf_rand_uniform(&s, 3), 3);
        ck_assert_uint_eq(evf_rand_uniform(&s, 0), 0);
    }
    (void)evf_rand_uniform(&s, UINT64_MAX);
}
END_TEST

START_TEST(test_jitter_parse) {
    evf_jitter_t j = EVF_JITTER_NONE;
    ck_assert_int_eq(evf_jitter_parse("full", &j), 0);
    ck_assert_int_eq(j, EVF_JITTER_FULL);
    ck_assert_int_eq(evf_jitter_parse("EQUAL", &j), 0);
    ck_assert_int_eq(j, EVF_JITTER_EQUAL);
    ck_assert_int_eq(evf_jitter_parse("none", &j), 0);
    ck_assert_int_eq(j, EVF_JITTER_NONE);
    ck_assert_int_eq(evf_jitter_parse("decorrelated", &j), -1);
    ck_assert_int_eq(evf_jitter_parse("", &j), -1);
    ck_assert_int_eq(evf_jitter_parse(NULL, &j), -1);
    ck_assert_int_eq(j, EVF_JITTER_NONE);
    ck_assert_str_eq(evf_jitter_name(EVF_JITTER_EQUAL), "equal");
    ck_assert_str_eq(evf_jitter_name((evf_jitter_t)99), "?");
}
END_TEST

static Suite *backoff_suite(void) {
    Suite *s = suite_create("backoff");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_curve_exact);
    tcase_add_test(tc, test_curve_fractional_multiplier);
    tcase_add_test(tc, test_curve_no_overflow);
    tcase_add_test(tc, test_curve_multiplier_one_and_odd_inputs);
    tcase_add_test(tc, test_full_jitter_bounds);
    tcase_add_test(tc, test_equal_jitter_bounds);
    tcase_add_test(tc, test_jitter_null_rng_state);
    tcase_add_test(tc, test_deterministic_for_seed);
    tcase_add_test(tc, test_rand);
    tcase_add_test(tc, test_jitter_parse);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(backoff_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
