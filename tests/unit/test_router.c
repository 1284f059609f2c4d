/* tests/unit/test_router.c — routing event types to processors: first matching glob wins, `*` is
 * the only wildcard, unroutable types give NULL, many routes and many types (past the cache's
 * size), and concurrent lookups. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "registry.h"
#include "router.h"

typedef struct {
    evf_conf_t *conf;
    evf_registry_t *reg;
    evf_router_t *router;
} fixture_t;

/* routes: NULL-terminated glob, processor pairs. */
static void build(fixture_t *fx, const char *const *routes) {
    char err[512];
    fx->conf = evf_conf_new();
    for (size_t i = 0; routes[i]; i += 2) {
        char key[512];
        snprintf(key, sizeof(key), "route.%s", routes[i]);
        ck_assert_msg(evf_conf_set(fx->conf, key, routes[i + 1], "test", err, sizeof(err)) == 0,
                      "%s", err);
    }
    fx->reg = evf_registry_new(fx->conf, err, sizeof(err));
    ck_assert_msg(fx->reg != NULL, "%s", err);
    fx->router = evf_router_new(fx->conf, fx->reg, err, sizeof(err));
    ck_assert_msg(fx->router != NULL, "%s", err);
}

static void teardown(fixture_t *fx) {
    evf_router_destroy(fx->router);
    evf_registry_destroy(fx->reg);
    evf_conf_destroy(fx->conf);
}

static const char *routed(const fixture_t *fx, const char *type) {
    const evf_proc_instance_t *inst = evf_router_route(fx->router, type);
    return inst ? evf_proc_instance_name(inst) : NULL;
}

START_TEST(test_glob_match) {
    static const struct {
        const char *glob, *s;
        int match;
    } cases[] = {
        {"*", "", 1},
        {"*", "anything at all", 1},
        {"", "", 1},
        {"", "x", 0},
        {"abc", "abc", 1},
        {"abc", "abcd", 0},
        {"abc", "ab", 0},
        {"s3:*", "s3:", 1},
        {"s3:*", "s3:ObjectCreated:Put", 1},
        {"s3:*", "s3", 0},
        {"s3:*", "S3:ObjectCreated:Put", 0},
        {"*:Put", "s3:ObjectCreated:Put", 1},
        {"*:Put", "s3:ObjectCreated:Post", 0},
        {"s3:*:Put", "s3:ObjectCreated:Put", 1},
        {"s3:*:Put", "s3::Put", 1},
        {"s3:*:Put", "s3:Put", 0},
        {"a*b*c", "abc", 1},
        {"a*b*c", "aXbYc", 1},
        {"a*b*c", "aXbYcZ", 0},
        {"a*b*c", "abcbc", 1},
        {"a*b*c", "acb", 0},
        {"a**b", "ab", 1},
        {"**", "", 1},
        {"*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0},
        {"*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", 1},
        {"*ab", "aab", 1},
        {"*aab", "aaab", 1},
        {"a*", "a", 1},
        /* nothing but `*` is special */
        {"s3:?bject", "s3:Object", 0},
        {"s3:?bject", "s3:?bject", 1},
        {"a[bc]d", "abd", 0},
        {"a[bc]d", "a[bc]d", 1},
        {"a\\*", "a\\xyz", 1},
        {"a.c", "abc", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ck_assert_msg(evf_router_glob_match(cases[i].glob, cases[i].s) == cases[i].match,
                      "glob '%s' vs '%s': expected %d", cases[i].glob, cases[i].s,
                      cases[i].match);
}
END_TEST

START_TEST(test_first_match_wins) {
    fixture_t fx;
    static const char *const routes[] = {"s3:ObjectCreated:*", "ledger", "s3:*", "noop",
                                         "s3:ObjectCreated:Put", "chaos", /* shadowed */
                                         "*", "s3_index", NULL};
    build(&fx, routes);
    ck_assert_uint_eq(evf_router_count(fx.router), 4);
    ck_assert_str_eq(routed(&fx, "s3:ObjectCreated:Put"), "ledger");
    ck_assert_str_eq(routed(&fx, "s3:ObjectRemoved:Delete"), "noop");
    ck_assert_str_eq(routed(&fx, "stream:INSERT"), "s3_index");
    ck_assert_str_eq(routed(&fx, ""), "s3_index");
    /* twice: the cached answer is the same */
    ck_assert_str_eq(routed(&fx, "s3:ObjectCreated:Put"), "ledger");
    ck_assert_str_eq(routed(&fx, "s3:ObjectRemoved:Delete"), "noop");
    teardown(&fx);
}
END_TEST

START_TEST(test_unroutable) {
    fixture_t fx;
    static const char *const routes[] = {"s3:*", "noop", "iot:telemetry", "ledger", NULL};
    build(&fx, routes);
    ck_assert_ptr_null(evf_router_route(fx.router, "stream:INSERT"));
    ck_assert_ptr_null(evf_router_route(fx.router, "iot:telemetry2"));
    ck_assert_ptr_null(evf_router_route(fx.router, "iot:"));
    ck_assert_ptr_null(evf_router_route(fx.router, ""));
    ck_assert_ptr_null(evf_router_route(fx.router, NULL));
    ck_assert_ptr_null(evf_router_route(fx.router, "stream:INSERT")); /* cached miss */
    ck_assert_str_eq(routed(&fx, "iot:telemetry"), "ledger");
    ck_assert_str_eq(routed(&fx, "s3:"), "noop");
    teardown(&fx);
}
END_TEST

START_TEST(test_no_routes) {
    fixture_t fx;
    static const char *const routes[] = {NULL};
    build(&fx, routes);
    ck_assert_uint_eq(evf_router_count(fx.router), 0);
    ck_assert_ptr_null(evf_router_route(fx.router, "s3:ObjectCreated:Put"));
    teardown(&fx);
}
END_TEST

static const char *const builtin_names[] = {"noop", "ledger", "chaos",
                                            "s3_index", "stream_materialize", "iot_rollup"};

/* 300 routes t<i>:* → builtin i % 6, and a catch-all at the end. */
static void build_many(fixture_t *fx) {
    static char globs[300][16];
    static const char *routes[2 * 301 + 1];
    size_t n = 0;
    for (int i = 0; i < 300; i++) {
        snprintf(globs[i], sizeof(globs[i]), "t%d:*", i);
        routes[n++] = globs[i];
        routes[n++] = builtin_names[i % 6];
    }
    routes[n++] = "x*";
    routes[n++] = "noop";
    routes[n] = NULL;
    build(fx, routes);
}

static const char *expected_many(const char *type) {
    int i;
    char rest[64];
    if (sscanf(type, "t%d:%63s", &i, rest) >= 1 && i >= 0 && i < 300) {
        char prefix[16];
        snprintf(prefix, sizeof(prefix), "t%d:", i);
        if (!strncmp(type, prefix, strlen(prefix)))
            return builtin_names[i % 6];
    }
    return type[0] == 'x' ? "noop" : NULL;
}

START_TEST(test_many_routes_and_types) {
    fixture_t fx;
    build_many(&fx);
    ck_assert_uint_eq(evf_router_count(fx.router), 301);
    /* 3000 distinct types: far more than the cache holds; every answer must stay right. */
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 3000; i++) {
            char type[64];
            if (i % 3 == 0)
                snprintf(type, sizeof(type), "t%d:event.%d", i % 330, i);
            else if (i % 3 == 1)
                snprintf(type, sizeof(type), "x-%d", i);
            else
                snprintf(type, sizeof(type), "t%dx:%d", i % 300, i); /* no ':' after the number */
            const char *want = expected_many(type);
            const char *got = routed(&fx, type);
            if (!want)
                ck_assert_msg(got == NULL, "type %s: expected unroutable, got %s", type, got);
            else
                ck_assert_msg(got && !strcmp(got, want), "type %s: expected %s, got %s", type,
                              want, got ? got : "(null)");
        }
    }
    /* a very long type (never cached) */
    char longtype[2048];
    memset(longtype, 'y', sizeof(longtype) - 1);
    longtype[sizeof(longtype) - 1] = '\0';
    ck_assert_ptr_null(evf_router_route(fx.router, longtype));
    longtype[0] = 'x';
    ck_assert_str_eq(routed(&fx, longtype), "noop");
    teardown(&fx);
}
END_TEST

typedef struct {
    fixture_t *fx;
    int seed;
    int errors;
} thread_arg_t;

static void *route_thread(void *p) {
    thread_arg_t *a = p;
    unsigned s = (unsigned)a->seed;
    for (int i = 0; i < 20000; i++) {
        char type[64];
        s = s * 1103515245u + 12345u;
        int k = (int)((s >> 8) % 700);
        if (k < 350)
            snprintf(type, sizeof(type), "t%d:e", k);
        else
            snprintf(type, sizeof(type), "x%d", k);
        const char *want = expected_many(type);
        const char *got = routed(a->fx, type);
        if ((want == NULL) != (got == NULL) || (want && strcmp(want, got)))
            a->errors++;
    }
    return NULL;
}

START_TEST(test_concurrent_lookups) {
    fixture_t fx;
    build_many(&fx);
    pthread_t th[4];
    thread_arg_t args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (thread_arg_t){.fx = &fx, .seed = i + 1};
        ck_assert_int_eq(pthread_create(&th[i], NULL, route_thread, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(args[i].errors, 0);
    }
    teardown(&fx);
}
END_TEST

START_TEST(test_bad_routes) {
    char err[512];
    evf_conf_t *conf = evf_conf_new();
    ck_assert_int_eq(evf_conf_set(conf, "route.s3:*", "noop", "test", err, sizeof(err)), 0);
    evf_registry_t *reg = evf_registry_new(conf, err, sizeof(err));
    ck_assert_msg(reg != NULL, "%s", err);

    evf_conf_route_t missing[] = {{.glob = "s3:*", .processor = "noop", .origin = "a.conf:1"},
                                  {.glob = "iot:*", .processor = "ledger", .origin = "a.conf:2"}};
    ck_assert_ptr_null(evf_router_new_routes(missing, 2, reg, err, sizeof(err)));
    ck_assert_msg(strstr(err, "a.conf:2") && strstr(err, "route.iot:*") && strstr(err, "ledger"),
                  "%s", err);

    evf_conf_route_t empty[] = {{.glob = "", .processor = "noop", .origin = "a.conf:3"}};
    ck_assert_ptr_null(evf_router_new_routes(empty, 1, reg, err, sizeof(err)));
    ck_assert_msg(strstr(err, "a.conf:3") != NULL, "%s", err);

    evf_router_t *r = evf_router_new_routes(missing, 1, reg, err, sizeof(err));
    ck_assert_msg(r != NULL, "%s", err);
    ck_assert_str_eq(evf_proc_instance_name(evf_router_route(r, "s3:x")), "noop");
    evf_router_destroy(r);
    evf_router_destroy(NULL);
    evf_registry_destroy(reg);
    evf_conf_destroy(conf);
}
END_TEST

static Suite *router_suite(void) {
    Suite *s = suite_create("router");
    TCase *tc = tcase_create("router");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_glob_match);
    tcase_add_test(tc, test_first_match_wins);
    tcase_add_test(tc, test_unroutable);
    tcase_add_test(tc, test_no_routes);
    tcase_add_test(tc, test_many_routes_and_types);
    tcase_add_test(tc, test_concurrent_lookups);
    tcase_add_test(tc, test_bad_routes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(router_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
