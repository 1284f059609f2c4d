/* tests/unit/test_breaker.c — the circuit breaker's window, thresholds and half-open probe. */
#include <check.h>
#include <stdlib.h>

#include "breaker.h"

static evf_breaker_t *mk(int64_t min_calls) {
    evf_breaker_conf_t c = {.window_ms = 10000, .min_calls = min_calls, .failure_ratio = 0.5,
                            .cooldown_ms = 2000};
    return evf_breaker_new(&c);
}

START_TEST(stays_closed_below_min_calls) {
    evf_breaker_t *b = mk(10);
    for (int i = 0; i < 9; i++)
        evf_breaker_record(b, 1000 + i, 1);
    ck_assert_int_eq(evf_breaker_state(b, 1100), EVF_BREAKER_CLOSED);
    ck_assert_int_eq(evf_breaker_allow(b, 1100, NULL), 1);
    evf_breaker_record(b, 1100, 1); /* 10th call, all failed */
    ck_assert_int_eq(evf_breaker_state(b, 1101), EVF_BREAKER_OPEN);
    evf_breaker_destroy(b);
}
END_TEST

START_TEST(ratio_threshold) {
    evf_breaker_t *b = mk(10);
    for (int i = 0; i < 20; i++) /* 20% failures */
        evf_breaker_record(b, 1000 + i, i % 5 == 0);
    ck_assert_int_eq(evf_breaker_state(b, 1100), EVF_BREAKER_CLOSED);
    for (int i = 0; i < 10; i++) /* 14 of 30: still below half */
        evf_breaker_record(b, 1200 + i, 1);
    ck_assert_int_eq(evf_breaker_state(b, 1250), EVF_BREAKER_CLOSED);
    evf_breaker_record(b, 1260, 1);
    evf_breaker_record(b, 1261, 1); /* 16 of 32 */
    ck_assert_int_eq(evf_breaker_state(b, 1300), EVF_BREAKER_OPEN);
    evf_breaker_destroy(b);
}
END_TEST

START_TEST(old_calls_leave_the_window) {
    evf_breaker_t *b = mk(10);
    for (int i = 0; i < 9; i++)
        evf_breaker_record(b, 1000, 1);
    int64_t calls, fails;
    evf_breaker_counts(b, 1000, &calls, &fails);
    ck_assert_int_eq(calls, 9);
    /* 11 s later those failures are out of the 10 s window */
    evf_breaker_counts(b, 12000, &calls, &fails);
    ck_assert_int_eq(calls, 0);
    evf_breaker_record(b, 12000, 1);
    ck_assert_int_eq(evf_breaker_state(b, 12001), EVF_BREAKER_CLOSED);
    evf_breaker_destroy(b);
}
END_TEST

START_TEST(open_probe_close) {
    evf_breaker_t *b = mk(4);
    int64_t at = 0;
    for (int i = 0; i < 4; i++)
        evf_breaker_record(b, 5000, 1);
    ck_assert_int_eq(evf_breaker_allow(b, 5500, &at), 0);
    ck_assert_int_eq(at, 7000); /* opened at 5000, cooldown 2000 */
    ck_assert_int_eq(evf_breaker_state(b, 7000), EVF_BREAKER_HALF_OPEN);
    ck_assert_int_eq(evf_breaker_allow(b, 7000, &at), 1); /* the probe */
    ck_assert_int_eq(evf_breaker_allow(b, 7001, &at), 0); /* everyone else waits */
    evf_breaker_record(b, 7010, 0);
    ck_assert_int_eq(evf_breaker_state(b, 7011), EVF_BREAKER_CLOSED);
    ck_assert_int_eq(evf_breaker_allow(b, 7012, &at), 1);
    evf_breaker_destroy(b);
}
END_TEST

START_TEST(probe_failure_reopens) {
    evf_breaker_t *b = mk(4);
    int64_t at = 0;
    for (int i = 0; i < 4; i++)
        evf_breaker_record(b, 5000, 1);
    ck_assert_int_eq(evf_breaker_allow(b, 7000, &at), 1);
    evf_breaker_record(b, 7100, 1);
    ck_assert_int_eq(evf_breaker_state(b, 7200), EVF_BREAKER_OPEN);
    ck_assert_int_eq(evf_breaker_allow(b, 7200, &at), 0);
    ck_assert_int_eq(at, 9100);
    evf_breaker_destroy(b);
}
END_TEST

START_TEST(disabled_with_zero_min_calls) {
    evf_breaker_t *b = mk(0);
    for (int i = 0; i < 100; i++)
        evf_breaker_record(b, 1000, 1);
    ck_assert_int_eq(evf_breaker_allow(b, 1001, NULL), 1);
    ck_assert_int_eq(evf_breaker_state(b, 1001), EVF_BREAKER_CLOSED);
    evf_breaker_destroy(b);
}
END_TEST

START_TEST(lost_probe_is_replaced) {
    evf_breaker_t *b = mk(4);
    for (int i = 0; i < 4; i++)
        evf_breaker_record(b, 5000, 1);
    ck_assert_int_eq(evf_breaker_allow(b, 7000, NULL), 1);
    ck_assert_int_eq(evf_breaker_allow(b, 7100, NULL), 0);
    ck_assert_int_eq(evf_breaker_allow(b, 7000 + 5001, NULL), 1);
    evf_breaker_destroy(b);
}
END_TEST

int main(void) {
    Suite *s = suite_create("breaker");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, stays_closed_below_min_calls);
    tcase_add_test(tc, ratio_threshold);
    tcase_add_test(tc, old_calls_leave_the_window);
    tcase_add_test(tc, open_probe_close);
    tcase_add_test(tc, probe_failure_reopens);
    tcase_add_test(tc, disabled_with_zero_min_calls);
    tcase_add_test(tc, lost_probe_is_replaced);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
