/* tests/unit/test_offsets.c — the offset tracker stores only a contiguous done prefix. */
#include <check.h>
#include <stdlib.h>

#include "offsets.h"

START_TEST(prefix_only) {
    evf_offsets_t *t = evf_offsets_new();
    for (int64_t o = 10; o < 15; o++)
        ck_assert_int_eq(evf_offsets_track(t, o), 0);
    ck_assert_int_eq(evf_offsets_committable(t), -1);
    ck_assert_int_eq(evf_offsets_done(t, 12), 0);
    ck_assert_int_eq(evf_offsets_committable(t), -1); /* 10 and 11 not done */
    ck_assert_int_eq(evf_offsets_done(t, 10), 0);
    ck_assert_int_eq(evf_offsets_committable(t), 11);
    ck_assert_int_eq(evf_offsets_committable(t), -1); /* nothing new */
    ck_assert_int_eq(evf_offsets_done(t, 11), 0);
    ck_assert_int_eq(evf_offsets_committable(t), 13); /* 10,11,12 done */
    ck_assert_int_eq(evf_offsets_first_pending(t), 13);
    ck_assert_int_eq(evf_offsets_pending(t), 2);
    evf_offsets_destroy(t);
}
END_TEST

START_TEST(gaps_and_errors) {
    evf_offsets_t *t = evf_offsets_new();
    ck_assert_int_eq(evf_offsets_track(t, 5), 0);
    ck_assert_int_eq(evf_offsets_track(t, 9), 0); /* compaction gap */
    ck_assert_int_eq(evf_offsets_track(t, 9), -1);
    ck_assert_int_eq(evf_offsets_track(t, 7), -1);
    ck_assert_int_eq(evf_offsets_done(t, 6), -1); /* never tracked */
    ck_assert_int_eq(evf_offsets_done(t, 9), 0);
    ck_assert_int_eq(evf_offsets_done(t, 9), -1); /* twice */
    ck_assert_int_eq(evf_offsets_done(t, 5), 0);
    ck_assert_int_eq(evf_offsets_committable(t), 10);
    ck_assert_int_eq(evf_offsets_first_pending(t), -1);
    evf_offsets_destroy(t);
}
END_TEST

START_TEST(random_order_many) {
    evf_offsets_t *t = evf_offsets_new();
    enum { N = 5000 };
    int64_t order[N];
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(evf_offsets_track(t, 100 + 2 * i), 0);
        order[i] = 100 + 2 * i;
    }
    srand(7);
    for (int i = N - 1; i > 0; i--) {
        int j = rand() % (i + 1);
        int64_t x = order[i];
        order[i] = order[j];
        order[j] = x;
    }
    int done[N] = {0};
    int64_t last = -1;
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(evf_offsets_done(t, order[i]), 0);
        done[(order[i] - 100) / 2] = 1;
        int64_t c = evf_offsets_committable(t);
        int k = 0;
        while (k < N && done[k])
            k++;
        int64_t expect = k == 0 ? -1 : 100 + 2 * (k - 1) + 1;
        if (c >= 0) {
            ck_assert_int_eq(c, expect);
            ck_assert_int_gt(c, last);
            last = c;
        } else {
            ck_assert(expect == -1 || expect == last);
        }
    }
    ck_assert_int_eq(last, 100 + 2 * (N - 1) + 1);
    evf_offsets_destroy(t);
}
END_TEST

int main(void) {
    Suite *s = suite_create("offsets");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, prefix_only);
    tcase_add_test(tc, gaps_and_errors);
    tcase_add_test(tc, random_order_many);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
