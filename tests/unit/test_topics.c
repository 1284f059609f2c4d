/* tests/unit/test_topics.c — derived topic names, group validation, classification. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "topics.h"

START_TEST(test_derived_names) {
    char out[EVF_TOPIC_NAME_MAX + 1];

    ck_assert_int_eq(evf_topic_retry(out, sizeof(out), "events.s3", "billing", 1), 25);
    ck_assert_str_eq(out, "events.s3.billing.retry.1");
    ck_assert_int_eq(evf_topic_retry(out, sizeof(out), "events.s3", "billing", 12), 26);
    ck_assert_str_eq(out, "events.s3.billing.retry.12");
    ck_assert_int_eq(evf_topic_dlq(out, sizeof(out), "events.iot", "g-1"), 18);
    ck_assert_str_eq(out, "events.iot.g-1.dlq");
    ck_assert_int_eq(evf_topic_replay(out, sizeof(out), "events.stream", "a.b_c"), 26);
    ck_assert_str_eq(out, "events.stream.a.b_c.replay");
}
END_TEST

START_TEST(test_derived_names_limits) {
    char small[16], out[512], big[300];

    /* Does not fit the buffer. */
    ck_assert_int_eq(evf_topic_dlq(small, sizeof(small), "events.s3", "billing"), -1);
    ck_assert_int_eq(evf_topic_retry(small, sizeof(small), "events.s3", "billing", 1), -1);
    ck_assert_int_eq(evf_topic_replay(small, sizeof(small), "events.s3", "billing"), -1);
    /* Exactly fits: 15 characters + NUL. */
    ck_assert_int_eq(evf_topic_dlq(small, sizeof(small), "abcdefg", "hij"), 15);
    ck_assert_str_eq(small, "abcdefg.hij.dlq");
    /* Retry levels start at 1. */
    ck_assert_int_eq(evf_topic_retry(out, sizeof(out), "events.s3", "g", 0), -1);
    ck_assert_int_eq(evf_topic_retry(out, sizeof(out), "events.s3", "g", -3), -1);
    /* Longer than Kafka allows, even when the buffer is big enough. */
    memset(big, 'x', 245);
    big[245] = '\0';
    ck_assert_int_eq(evf_topic_dlq(out, sizeof(out), big, "g"), -1); /* 245+2+4 = 251 */
    big[243] = '\0';
    ck_assert_int_eq(evf_topic_dlq(out, sizeof(out), big, "g"), 249);
    ck_assert_int_eq(evf_topic_replay(out, sizeof(out), big, "g"), -1); /* 243+2+7 = 252 */
}
END_TEST

START_TEST(test_group_valid_chars) {
    char err[512];

    ck_assert_int_eq(evf_topics_group_valid("billing", 9, 2, err, sizeof(err)), 0);
    ck_assert_int_eq(evf_topics_group_valid("My.Group_1-x", 9, 2, err, sizeof(err)), 0);
    ck_assert_int_eq(evf_topics_group_valid("0", 9, 0, err, sizeof(err)), 0);

    err[0] = '\0';
    ck_assert_int_eq(evf_topics_group_valid("", 9, 2, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "empty"));
    ck_assert_int_eq(evf_topics_group_valid(NULL, 9, 2, err, sizeof(err)), -1);

    const char *bad[] = {"a b", "a/b", "group:1", "g*", "tab\there", "caf\xc3\xa9", "a,b", "x+y"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        ck_assert_msg(evf_topics_group_valid(bad[i], 9, 2, err, sizeof(err)) == -1,
                      "'%s' accepted", bad[i]);
        ck_assert_msg(strstr(err, "[A-Za-z0-9._-]") != NULL, "reason for '%s': %s", bad[i], err);
    }
    ck_assert_int_eq(evf_topics_group_valid("a/b", 9, 2, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "'/'"));
}
END_TEST

START_TEST(test_group_valid_length) {
    char err[512], group[300];

    /* Source of 9 characters, 3 retry levels: the longest derived name is
     * "<src>.<group>.retry.3" (suffix 8) → the group may have 249-9-1-8 = 231 characters. */
    memset(group, 'g', 231);
    group[231] = '\0';
    ck_assert_int_eq(evf_topics_group_valid(group, 9, 3, err, sizeof(err)), 0);
    group[231] = 'g';
    group[232] = '\0';
    err[0] = '\0';
    ck_assert_int_eq(evf_topics_group_valid(group, 9, 3, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "too long"));
    ck_assert_ptr_nonnull(strstr(err, "249"));

    /* 10 levels: ".retry.10" (9) is the longest suffix → 230. */
    memset(group, 'g', 230);
    group[230] = '\0';
    ck_assert_int_eq(evf_topics_group_valid(group, 9, 10, err, sizeof(err)), 0);
    group[230] = 'g';
    group[231] = '\0';
    ck_assert_int_eq(evf_topics_group_valid(group, 9, 10, err, sizeof(err)), -1);

    /* No retry topics: ".replay" (7) is the longest → 232. */
    memset(group, 'g', 232);
    group[232] = '\0';
    ck_assert_int_eq(evf_topics_group_valid(group, 9, 0, err, sizeof(err)), 0);
    group[232] = 'g';
    group[233] = '\0';
    ck_assert_int_eq(evf_topics_group_valid(group, 9, 0, err, sizeof(err)), -1);

    /* A source so long that no group fits. */
    ck_assert_int_eq(evf_topics_group_valid("g", 245, 1, err, sizeof(err)), -1);

    /* Every name the check allowed is one the name functions produce. */
    char src[300], out[512];
    memset(src, 's', 9);
    src[9] = '\0';
    memset(group, 'g', 231);
    group[231] = '\0';
    ck_assert_int_eq(evf_topic_retry(out, sizeof(out), src, group, 3), 249);
    ck_assert_int_eq(evf_topic_replay(out, sizeof(out), src, group), 248);
    ck_assert_int_eq(evf_topic_dlq(out, sizeof(out), src, group), 245);
}
END_TEST

START_TEST(test_classify) {
    char src[256];
    int n = -1;

    ck_assert_int_eq(
        evf_topic_classify("events.s3.billing.retry.2", "billing", src, sizeof(src), &n),
        EVF_TOPIC_RETRY);
    ck_assert_str_eq(src, "events.s3");
    ck_assert_int_eq(n, 2);

    ck_assert_int_eq(
        evf_topic_classify("events.s3.billing.retry.17", "billing", src, sizeof(src), &n),
        EVF_TOPIC_RETRY);
    ck_assert_int_eq(n, 17);

    n = -1;
    ck_assert_int_eq(evf_topic_classify("events.iot.billing.dlq", "billing", src, sizeof(src), &n),
                     EVF_TOPIC_DLQ);
    ck_assert_str_eq(src, "events.iot");
    ck_assert_int_eq(n, 0);

    ck_assert_int_eq(
        evf_topic_classify("events.stream.billing.replay", "billing", src, sizeof(src), &n),
        EVF_TOPIC_REPLAY);
    ck_assert_str_eq(src, "events.stream");

    n = -1;
    ck_assert_int_eq(evf_topic_classify("events.s3", "billing", src, sizeof(src), &n),
                     EVF_TOPIC_SOURCE);
    ck_assert_str_eq(src, "events.s3");
    ck_assert_int_eq(n, 0);

    /* Group ids with dots and dashes. */
    ck_assert_int_eq(evf_topic_classify("events.s3.app.v2-x.retry.1", "app.v2-x", src,
                                        sizeof(src), &n),
                     EVF_TOPIC_RETRY);
    ck_assert_str_eq(src, "events.s3");
    ck_assert_int_eq(n, 1);

    /* Round trip with the name functions. */
    char name[256];
    ck_assert_int_gt(evf_topic_retry(name, sizeof(name), "a.b.c", "g", 5), 0);
    ck_assert_int_eq(evf_topic_classify(name, "g", src, sizeof(src), &n), EVF_TOPIC_RETRY);
    ck_assert_str_eq(src, "a.b.c");
    ck_assert_int_eq(n, 5);
}
END_TEST

START_TEST(test_classify_not_ours) {
    char src[256];
    int n = -1;

    /* Another group's derived topics are sources as far as this group is concerned. */
    ck_assert_int_eq(evf_topic_classify("events.s3.other.dlq", "billing", src, sizeof(src), &n),
                     EVF_TOPIC_SOURCE);
    ck_assert_str_eq(src, "events.s3.other.dlq");
    ck_assert_int_eq(evf_topic_classify("events.s3.other.retry.1", "billing", src, sizeof(src),
                                        &n),
                     EVF_TOPIC_SOURCE);
    ck_assert_int_eq(n, 0);
    /* The group must be a whole dot-separated part. */
    ck_assert_int_eq(evf_topic_classify("events.s3.xbilling.dlq", "billing", src, sizeof(src),
                                        &n),
                     EVF_TOPIC_SOURCE);
    /* An empty source is not a derived name. */
    ck_assert_int_eq(evf_topic_classify(".billing.dlq", "billing", src, sizeof(src), &n),
                     EVF_TOPIC_SOURCE);
    ck_assert_int_eq(evf_topic_classify("billing.dlq", "billing", src, sizeof(src), &n),
                     EVF_TOPIC_SOURCE);
    /* Bad retry levels. */
    ck_assert_int_eq(evf_topic_classify("events.s3.billing.retry.0", "billing", src, sizeof(src),
                                        &n),
                     EVF_TOPIC_SOURCE);
    ck_assert_int_eq(evf_topic_classify("events.s3.billing.retry.01", "billing", src,
                                        sizeof(src), &n),
                     EVF_TOPIC_SOURCE);
    ck_assert_int_eq(evf_topic_classify("events.s3.billing.retry.", "billing", src, sizeof(src),
                                        &n),
                     EVF_TOPIC_SOURCE);
    ck_assert_int_eq(evf_topic_classify("events.s3.billing.retry.x", "billing", src,
                                        sizeof(src), &n),
                     EVF_TOPIC_SOURCE);
    ck_assert_int_eq(evf_topic_classify("events.s3.billing.retry1", "billing", src, sizeof(src),
                                        &n),
                     EVF_TOPIC_SOURCE);
    ck_assert_int_eq(n, 0);
}
END_TEST

START_TEST(test_classify_outputs) {
    char src[6];
    int n = 0;

    /* Optional outputs. */
    ck_assert_int_eq(evf_topic_classify("events.s3.g.dlq", "g", NULL, 0, NULL), EVF_TOPIC_DLQ);
    ck_assert_int_eq(evf_topic_classify("events.s3.g.retry.3", "g", NULL, 0, &n),
                     EVF_TOPIC_RETRY);
    ck_assert_int_eq(n, 3);
    /* A short source buffer is truncated, never overrun. */
    ck_assert_int_eq(evf_topic_classify("events.s3.g.dlq", "g", src, sizeof(src), NULL),
                     EVF_TOPIC_DLQ);
    ck_assert_str_eq(src, "event");
}
END_TEST

START_TEST(test_kind_any) {
    ck_assert_int_eq(evf_topic_kind_any("events.s3.billing.dlq"), EVF_TOPIC_DLQ);
    ck_assert_int_eq(evf_topic_kind_any("events.s3.billing.retry.3"), EVF_TOPIC_RETRY);
    ck_assert_int_eq(evf_topic_kind_any("events.s3.billing.replay"), EVF_TOPIC_REPLAY);
    ck_assert_int_eq(evf_topic_kind_any("events.s3"), EVF_TOPIC_SOURCE);
    ck_assert_int_eq(evf_topic_kind_any("events.alerts"), EVF_TOPIC_SOURCE);
    ck_assert_int_eq(evf_topic_kind_any(".dlq"), EVF_TOPIC_SOURCE);
    ck_assert_int_eq(evf_topic_kind_any("dlq"), EVF_TOPIC_SOURCE);
    ck_assert_int_eq(evf_topic_kind_any("x.retry.0"), EVF_TOPIC_SOURCE);
    ck_assert_int_eq(evf_topic_kind_any("x.retry."), EVF_TOPIC_SOURCE);
    ck_assert_int_eq(evf_topic_kind_any("events.dlqx"), EVF_TOPIC_SOURCE);
    ck_assert_int_eq(evf_topic_kind_any("events.replayed"), EVF_TOPIC_SOURCE);
}
END_TEST

static Suite *topics_suite(void) {
    Suite *s = suite_create("topics");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_derived_names);
    tcase_add_test(tc, test_derived_names_limits);
    tcase_add_test(tc, test_group_valid_chars);
    tcase_add_test(tc, test_group_valid_length);
    tcase_add_test(tc, test_classify);
    tcase_add_test(tc, test_classify_not_ours);
    tcase_add_test(tc, test_classify_outputs);
    tcase_add_test(tc, test_kind_any);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(topics_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
