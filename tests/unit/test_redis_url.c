/* tests/unit/test_redis_url.c — redis:// URL parsing and redaction. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "redis_url.h"

static evf_redis_url_t parse_ok(const char *url) {
    evf_redis_url_t u;
    char err[256] = "";
    int r = evf_redis_url_parse(url, &u, err, sizeof(err));
    ck_assert_msg(r == 0, "%s: %s", url, err);
    return u;
}

/* Asserts url is refused with a reason containing `want` and never the secret. */
static void parse_bad(const char *url, const char *want, const char *secret) {
    evf_redis_url_t u;
    char err[256] = "";
    int r = evf_redis_url_parse(url, &u, err, sizeof(err));
    ck_assert_msg(r == -1, "%s should be refused", url);
    ck_assert_msg(strstr(err, want), "%s: '%s' does not mention '%s'", url, err, want);
    if (secret) {
        ck_assert_msg(!strstr(err, secret), "%s: error '%s' leaks the password", url, err);
        ck_assert_msg(!strstr(u.password, secret), "password left in the struct");
    }
}

START_TEST(test_host_only) {
    evf_redis_url_t u = parse_ok("redis://localhost");
    ck_assert_str_eq(u.host, "localhost");
    ck_assert_int_eq(u.port, 6379);
    ck_assert_int_eq(u.db, 0);
    ck_assert_str_eq(u.user, "");
    ck_assert_str_eq(u.password, "");
}
END_TEST

START_TEST(test_full) {
    evf_redis_url_t u = parse_ok("redis://alice:s3cret@redis.example.com:6380/5");
    ck_assert_str_eq(u.user, "alice");
    ck_assert_str_eq(u.password, "s3cret");
    ck_assert_str_eq(u.host, "redis.example.com");
    ck_assert_int_eq(u.port, 6380);
    ck_assert_int_eq(u.db, 5);
}
END_TEST

START_TEST(test_password_only) {
    evf_redis_url_t u = parse_ok("redis://:pw@127.0.0.1");
    ck_assert_str_eq(u.user, "");
    ck_assert_str_eq(u.password, "pw");
    ck_assert_str_eq(u.host, "127.0.0.1");
    ck_assert_int_eq(u.port, 6379);
}
END_TEST

START_TEST(test_user_only) {
    evf_redis_url_t u = parse_ok("redis://bob@h:1/0");
    ck_assert_str_eq(u.user, "bob");
    ck_assert_str_eq(u.password, "");
    ck_assert_int_eq(u.port, 1);
}
END_TEST

START_TEST(test_ipv6) {
    evf_redis_url_t u = parse_ok("redis://[::1]:6390/2");
    ck_assert_str_eq(u.host, "::1");
    ck_assert_int_eq(u.port, 6390);
    ck_assert_int_eq(u.db, 2);
    u = parse_ok("redis://:p@[fe80::1]");
    ck_assert_str_eq(u.host, "fe80::1");
    ck_assert_int_eq(u.port, 6379);
    ck_assert_str_eq(u.password, "p");
}
END_TEST

START_TEST(test_db_and_trailing_slash) {
    evf_redis_url_t u = parse_ok("redis://h/");
    ck_assert_int_eq(u.db, 0);
    u = parse_ok("redis://h:7000/100000");
    ck_assert_int_eq(u.db, 100000);
    u = parse_ok("REDIS://h");
    ck_assert_str_eq(u.host, "h");
}
END_TEST

START_TEST(test_percent_decoding) {
    evf_redis_url_t u = parse_ok("redis://us%40er:p%40ss%3Aw%2Fd%25@h:6379/0");
    ck_assert_str_eq(u.user, "us@er");
    ck_assert_str_eq(u.password, "p@ss:w/d%");
    ck_assert_str_eq(u.host, "h");
    /* Unescaped '@' and '/' in a password still parse: the user part ends at the last '@'. */
    u = parse_ok("redis://:a@b/c@h:6379/1");
    ck_assert_str_eq(u.password, "a@b/c");
    ck_assert_str_eq(u.host, "h");
    ck_assert_int_eq(u.db, 1);
}
END_TEST

START_TEST(test_bad_escapes) {
    parse_bad("redis://:abc%4@h", "percent-escape in the password", "abc");
    parse_bad("redis://:abc%zz@h", "percent-escape in the password", "abc");
    parse_bad("redis://:abc%00def@h", "percent-escape", "abc");
    parse_bad("redis://us%g1:pw@h", "percent-escape in the user", NULL);
}
END_TEST

START_TEST(test_errors) {
    parse_bad("redis://", "empty host", NULL);
    parse_bad("redis://:pw@", "empty host", "pw");
    parse_bad("redis://:pw@:6379", "empty host", "pw");
    parse_bad("redis://h:0", "port", NULL);
    parse_bad("redis://h:65536", "port", NULL);
    parse_bad("redis://h:", "port", NULL);
    parse_bad("redis://h:63x", "port", NULL);
    parse_bad("redis://h/abc", "database", NULL);
    parse_bad("redis://h/100001", "database", NULL);
    parse_bad("redis://h/-1", "database", NULL);
    parse_bad("redis://::1:6379", "brackets", NULL);
    parse_bad("redis://[::1", "']'", NULL);
    parse_bad("redis://[::1]x", "after ']'", NULL);
    parse_bad("redis://[]:6379", "empty host", NULL);
    parse_bad("redis://h?timeout=1", "not supported", NULL);
    parse_bad("redis://ho st", "host", NULL);
    parse_bad("localhost:6379", "redis://", NULL);
    parse_bad("", "redis://", NULL);
}
END_TEST

START_TEST(test_schemes) {
    parse_bad("rediss://:topsecret@h:6380", "TLS", "topsecret");
    parse_bad("rediss://h", "stunnel", NULL);
    parse_bad("unix:///tmp/redis.sock", "unsupported scheme 'unix://'", NULL);
    parse_bad("http://h", "unsupported scheme", NULL);
}
END_TEST

START_TEST(test_error_never_contains_password) {
    static const char *urls[] = {
        "redis://u:hunter2@h:99999",     "redis://u:hunter2@h/db9x",   "redis://u:hunter2@",
        "redis://u:hunter2@[::1",        "redis://u:hunter2%@h",       "rediss://u:hunter2@h",
        "redis://u:hunter2@h?x=1",       "redis://:hunter2",           "redis://hunter2:x",
        "redis://u:hunter2@h:1:2",       "redis://u:hunter2@ho!st",    "redis://:hunter2@[::1]z",
    };
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        evf_redis_url_t u;
        char err[256] = "";
        ck_assert_msg(evf_redis_url_parse(urls[i], &u, err, sizeof(err)) == -1, "%s", urls[i]);
        ck_assert_msg(!strstr(err, "hunter2"), "%s → '%s'", urls[i], err);
        ck_assert_msg(err[0] != '\0', "%s: empty reason", urls[i]);
    }
}
END_TEST

START_TEST(test_redact) {
    char out[256];
    evf_redis_url_redact("redis://alice:s3cret@h:6379/0", out, sizeof(out));
    ck_assert_str_eq(out, "redis://alice:***@h:6379/0");
    evf_redis_url_redact("redis://:pw@h", out, sizeof(out));
    ck_assert_str_eq(out, "redis://:***@h");
    evf_redis_url_redact("redis://:a@b/c@h/1", out, sizeof(out));
    ck_assert_str_eq(out, "redis://:***@h/1");
    evf_redis_url_redact("redis://bob@h", out, sizeof(out));
    ck_assert_str_eq(out, "redis://bob@h");
    evf_redis_url_redact("redis://127.0.0.1:6379/0", out, sizeof(out));
    ck_assert_str_eq(out, "redis://127.0.0.1:6379/0");
    evf_redis_url_redact("rediss://u:pw@h", out, sizeof(out));
    ck_assert_str_eq(out, "rediss://u:***@h");
    /* Truncation never exposes the password either. */
    evf_redis_url_redact("redis://u:longpassword@h", out, 14);
    ck_assert_ptr_null(strstr(out, "longpass"));
    ck_assert_int_lt(strlen(out), 14);
}
END_TEST

static Suite *redis_url_suite(void) {
    Suite *s = suite_create("redis_url");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, test_host_only);
    tcase_add_test(tc, test_full);
    tcase_add_test(tc, test_password_only);
    tcase_add_test(tc, test_user_only);
    tcase_add_test(tc, test_ipv6);
    tcase_add_test(tc, test_db_and_trailing_slash);
    tcase_add_test(tc, test_percent_decoding);
    tcase_add_test(tc, test_bad_escapes);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_schemes);
    tcase_add_test(tc, test_error_never_contains_password);
    tcase_add_test(tc, test_redact);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(redis_url_suite());
    int failed;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
