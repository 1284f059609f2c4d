/* tests/unit/test_err.c — names of evf_err_t and of the failure classes (DESIGN.md "Error
 * classes"). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

START_TEST(test_err_names) {
    ck_assert_str_eq(evf_err_name(EVF_OK), "ok");
    ck_assert_str_eq(evf_err_name(EVF_ERR_INVALID), "invalid");
    ck_assert_str_eq(evf_err_name(EVF_ERR_FENCED), "fenced");
    ck_assert_str_eq(evf_err_name(EVF_ERR_NOMEM), "nomem");
    ck_assert_str_eq(evf_err_name(EVF_ERR__CNT), "unknown");
    ck_assert_str_eq(evf_err_name((evf_err_t)-1), "unknown");
    for (int i = 0; i < EVF_ERR__CNT; i++) {
        ck_assert_ptr_nonnull(evf_err_name((evf_err_t)i));
        ck_assert_str_ne(evf_err_name((evf_err_t)i), "unknown");
        for (int j = 0; j < i; j++)
            ck_assert_str_ne(evf_err_name((evf_err_t)i), evf_err_name((evf_err_t)j));
    }
}
END_TEST

START_TEST(test_class_names_match_design) {
    /* The contract's names, in its order: they are header values other tools parse. */
    static const char *want[] = {"transient",  "permanent", "timeout",
                                 "decode",     "unroutable", "max-age",
                                 "too-large",  "crash-loop", "fingerprint-mismatch"};
    ck_assert_int_eq(EVF_CLASS__CNT, sizeof(want) / sizeof(want[0]));
    for (int i = 0; i < EVF_CLASS__CNT; i++)
        ck_assert_str_eq(evf_class_name((evf_class_t)i), want[i]);
    ck_assert_str_eq(evf_class_name(EVF_CLASS__CNT), "unknown");
}
END_TEST

START_TEST(test_class_parse_round_trip) {
    for (int i = 0; i < EVF_CLASS__CNT; i++) {
        evf_class_t c = EVF_CLASS__CNT;
        ck_assert_int_eq(evf_class_parse(evf_class_name((evf_class_t)i), &c), 0);
        ck_assert_int_eq(c, i);
    }
}
END_TEST

START_TEST(test_class_parse_rejects) {
    evf_class_t c = EVF_CLASS_PERMANENT;
    ck_assert_int_eq(evf_class_parse("", &c), -1);
    ck_assert_int_eq(evf_class_parse("unknown", &c), -1);
    ck_assert_int_eq(evf_class_parse("max_age", &c), -1);
    ck_assert_int_eq(evf_class_parse("transient ", &c), -1);
    ck_assert_int_eq(c, EVF_CLASS_PERMANENT); /* untouched on failure */
}
END_TEST

static Suite *err_suite(void) {
    Suite *s = suite_create("err");
    TCase *tc = tcase_create("names");
    tcase_add_test(tc, test_err_names);
    tcase_add_test(tc, test_class_names_match_design);
    tcase_add_test(tc, test_class_parse_round_trip);
    tcase_add_test(tc, test_class_parse_rejects);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(err_suite());
    int failed;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
