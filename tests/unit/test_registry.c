/* tests/unit/test_registry.c — the processor registry: built-ins by name, configuration errors
 * that name the processor, the key and its origin (unknown processor, bad setting, a library that
 * does not load, lacks the entry symbol, speaks another ABI or has no process), the example plugin,
 * init's settings without `library`, destroy, and serialisation of non-concurrent processors.
 *
 * Some cases build tiny plugins with the C compiler at test time (into a temp dir); they are
 * skipped, saying so, when `cc` or the source tree's headers are not there. */
#include <check.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builtins.h"
#include "config.h"
#include "event.h"
#include "fakectx.h"
#include "registry.h"
#include "testutil.h"

static void set(evf_conf_t *conf, const char *key, const char *value, const char *origin) {
    char err[512];
    ck_assert_msg(evf_conf_set(conf, key, value, origin, err, sizeof(err)) == 0, "%s", err);
}

/* ---- plugins compiled at test time ---- */

static const char test_plugin_src[] =
    "#include <stdatomic.h>\n"
    "#include <stdio.h>\n"
    "#include <stdlib.h>\n"
    "#include <string.h>\n"
    "#include <unistd.h>\n"
    "#include \"evfleet/processor.h\"\n"
    "#ifndef ABI\n#define ABI EVF_PROCESSOR_ABI_VERSION\n#endif\n"
    "#ifndef CONCURRENT\n#define CONCURRENT 0\n#endif\n"
    "#ifndef RESULT\n#define RESULT EVF_PROC_OK\n#endif\n"
    "static atomic_int inflight, overlaps;\n"
    "typedef struct { char marker[512]; } st_t;\n"
    "static int t_init(void **state, const evf_proc_setting_t *s, size_t n, char *err,\n"
    "                  size_t errsz) {\n"
    "  st_t *st = calloc(1, sizeof *st);\n"
    "  for (size_t i = 0; i < n; i++) {\n"
    "    if (!strcmp(s[i].name, \"marker\")) snprintf(st->marker, sizeof st->marker, \"%s\",\n"
    "                                               s[i].value);\n"
    "    else { snprintf(err, errsz, \"setting '%s': unknown setting\", s[i].name);\n"
    "           free(st); return -1; }\n"
    "  }\n"
    "  *state = st; return 0;\n"
    "}\n"
    "static evf_proc_result_t t_process(void *state, const evf_proc_event_t *ev,\n"
    "                                   evf_proc_ctx_t *ctx) {\n"
    "  (void)state; (void)ev; (void)ctx;\n"
    "  if (atomic_fetch_add(&inflight, 1) != 0) atomic_fetch_add(&overlaps, 1);\n"
    "  usleep(300);\n"
    "  atomic_fetch_sub(&inflight, 1);\n"
    "  return atomic_load(&overlaps) ? EVF_PROC_FAIL : (evf_proc_result_t)(RESULT);\n"
    "}\n"
    "static void t_destroy(void *state) {\n"
    "  st_t *st = state;\n"
    "  if (st->marker[0]) { FILE *f = fopen(st->marker, \"w\");\n"
    "    if (f) { fputs(\"destroyed\", f); fclose(f); } }\n"
    "  free(st);\n"
    "}\n"
    "__attribute__((used)) static const evf_processor_t table = { ABI, \"testproc\",\n"
    "  CONCURRENT, t_init,\n"
    "#ifdef NO_PROCESS\n  NULL,\n#else\n  t_process,\n#endif\n"
    "  t_destroy };\n"
    "#ifndef NO_ENTRY\n"
    "const evf_processor_t *evf_processor_entry(void);\n"
    "const evf_processor_t *evf_processor_entry(void) { return &table; }\n"
    "#endif\n";

static char tmpdir[256];

/* Build the test plugin with extra -D flags into <tmpdir>/<name>.so. @returns the path (static
 * buffer per call is not needed: malloc'd), or NULL when it cannot be built here. */
static char *build_plugin(const char *name, const char *defines) {
    if (access("include/evfleet/processor.h", R_OK) != 0 ||
        access("build/gen/evfleet/v1/event.pb-c.h", R_OK) != 0) {
        fprintf(stderr, "SKIP: run from the source tree root to build test plugins\n");
        return NULL;
    }
    if (evf_test_sh("command -v cc >/dev/null 2>&1") != 0) {
        fprintf(stderr, "SKIP: no cc to build test plugins\n");
        return NULL;
    }
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/evf-test-registry-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    }
    char src[512], *path = NULL, *cmd = NULL;
    snprintf(src, sizeof(src), "%s/plugin.c", tmpdir);
    FILE *f = fopen(src, "w");
    ck_assert_ptr_nonnull(f);
    fputs(test_plugin_src, f);
    fclose(f);
    ck_assert_int_ge(asprintf(&path, "%s/%s.so", tmpdir, name), 0);
    ck_assert_int_ge(asprintf(&cmd,
                              "cc -shared -fPIC -Iinclude -Ibuild/gen %s -o '%s' '%s' "
                              ">'%s/cc.log' 2>&1",
                              defines, path, src, tmpdir),
                     0);
    int rc = evf_test_sh(cmd);
    free(cmd);
    ck_assert_msg(rc == 0, "building the test plugin failed (see %s/cc.log)", tmpdir);
    return path;
}

static void cleanup_tmpdir(void) {
    if (tmpdir[0]) {
        char cmd[512];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        evf_test_sh(cmd);
        tmpdir[0] = '\0';
    }
}

/* ---- tests ---- */

START_TEST(test_builtins_by_name) {
    char err[512];
    evf_conf_t *conf = evf_conf_new();
    set(conf, "route.s3:*", "s3_index", "t.conf:1");
    set(conf, "route.stream:*", "stream_materialize", "t.conf:2");
    set(conf, "route.iot:*", "iot_rollup", "t.conf:3");
    set(conf, "route.custom:noop", "noop", "t.conf:4");
    set(conf, "route.custom:ledger", "ledger", "t.conf:5");
    set(conf, "route.custom:more", "noop", "t.conf:6"); /* referenced twice: one instance */
    set(conf, "processor.chaos.fail.rate", "0.5", "t.conf:7"); /* settings only */
    evf_registry_t *reg = evf_registry_new(conf, err, sizeof(err));
    ck_assert_msg(reg != NULL, "%s", err);
    ck_assert_uint_eq(evf_registry_count(reg), 6);
    static const char *const order[] = {"s3_index", "stream_materialize", "iot_rollup",
                                        "noop",     "ledger",             "chaos"};
    for (size_t i = 0; i < 6; i++) {
        const evf_proc_instance_t *inst = evf_registry_at(reg, i);
        ck_assert_str_eq(evf_proc_instance_name(inst), order[i]);
        ck_assert_ptr_eq(evf_registry_find(reg, order[i]), inst);
        ck_assert_ptr_null(evf_proc_instance_library(inst));
        ck_assert_int_eq(evf_proc_instance_concurrent(inst), 1);
        ck_assert_ptr_eq(evf_proc_instance_table(inst), evf_builtin_find(order[i]));
    }
    ck_assert_ptr_null(evf_registry_at(reg, 6));
    ck_assert_ptr_null(evf_registry_find(reg, "nope"));

    /* a built-in runs through evf_registry_process */
    evf_fakectx_t *f = evf_fakectx_new();
    evf_event_t *ev = evf_event_new();
    evf_event_set_str(&ev->id, "e-1");
    evf_event_set_str(&ev->type, "custom:ledger");
    evf_proc_ctx_t *ctx = evf_fakectx_begin(f, ev, 1);
    ck_assert_int_eq(evf_registry_process(evf_registry_find(reg, "ledger"), ev, ctx), EVF_PROC_OK);
    ck_assert_uint_eq(evf_fakectx_n_effects(f), 1);
    evf_event_free(ev);
    evf_fakectx_destroy(f);

    evf_registry_destroy(reg);
    evf_registry_destroy(NULL);
    evf_conf_destroy(conf);
}
END_TEST

START_TEST(test_empty_config) {
    char err[512];
    evf_conf_t *conf = evf_conf_new();
    evf_registry_t *reg = evf_registry_new(conf, err, sizeof(err));
    ck_assert_msg(reg != NULL, "%s", err);
    ck_assert_uint_eq(evf_registry_count(reg), 0);
    evf_registry_destroy(reg);
    evf_conf_destroy(conf);
}
END_TEST

START_TEST(test_unknown_processor) {
    char err[512];
    evf_conf_t *conf = evf_conf_new();
    set(conf, "route.s3:*", "noop", "t.conf:1");
    set(conf, "route.iot:*", "flux_capacitor", "t.conf:2");
    ck_assert_ptr_null(evf_registry_new(conf, err, sizeof(err)));
    ck_assert_msg(strstr(err, "unknown processor 'flux_capacitor'") && strstr(err, "t.conf:2") &&
                      strstr(err, "route.iot:*") &&
                      strstr(err, "processor.flux_capacitor.library"),
                  "%s", err);
    evf_conf_destroy(conf);

    conf = evf_conf_new();
    set(conf, "processor.typo.window.ms", "5", "t.conf:9");
    ck_assert_ptr_null(evf_registry_new(conf, err, sizeof(err)));
    ck_assert_msg(strstr(err, "'typo'") && strstr(err, "t.conf:9") &&
                      strstr(err, "processor.typo.window.ms"),
                  "%s", err);
    evf_conf_destroy(conf);
}
END_TEST

START_TEST(test_bad_settings) {
    char err[512];
    evf_conf_t *conf = evf_conf_new();
    set(conf, "route.*", "chaos", "t.conf:1");
    set(conf, "processor.chaos.fail.rate", "0.1", "t.conf:2");
    set(conf, "processor.chaos.fail.rat", "0.1", "t.conf:3");
    ck_assert_ptr_null(evf_registry_new(conf, err, sizeof(err)));
    ck_assert_msg(strstr(err, "'fail.rat'") && strstr(err, "t.conf:3") && strstr(err, "chaos"),
                  "%s", err);
    evf_conf_destroy(conf);

    conf = evf_conf_new();
    set(conf, "processor.chaos.fail.rate", "1.5", "-X");
    ck_assert_ptr_null(evf_registry_new(conf, err, sizeof(err)));
    ck_assert_msg(strstr(err, "'fail.rate'") && strstr(err, "-X") && strstr(err, "1.5"), "%s",
                  err);
    evf_conf_destroy(conf);

    static const char *const bad[][2] = {
        {"processor.noop.x", "1"},
        {"processor.ledger.nope", "1"},
        {"processor.ledger.key", ""},
        {"processor.chaos.fail.kind", "sometimes"},
        {"processor.chaos.fail.attempts", "-1"},
        {"processor.chaos.latency.ms", "soon"},
        {"processor.chaos.ledger", "maybe"},
        {"processor.s3_index.x", "1"},
        {"processor.stream_materialize.x", "1"},
        {"processor.iot_rollup.window.ms", "0"},
        {"processor.iot_rollup.ttl.ms", "-5"},
        {"processor.iot_rollup.threshold.temp.sideways", "3"},
        {"processor.iot_rollup.threshold.temp.above", "hot"},
        {"processor.iot_rollup.alerts.topic", ""},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        conf = evf_conf_new();
        set(conf, bad[i][0], bad[i][1], "t.conf:42");
        ck_assert_msg(evf_registry_new(conf, err, sizeof(err)) == NULL, "%s = %s accepted",
                      bad[i][0], bad[i][1]);
        const char *setting = strchr(bad[i][0] + strlen("processor."), '.') + 1;
        char quoted[128];
        snprintf(quoted, sizeof(quoted), "'%s'", setting);
        ck_assert_msg(strstr(err, quoted) && strstr(err, "t.conf:42"), "%s = %s: %s", bad[i][0],
                      bad[i][1], err);
        evf_conf_destroy(conf);
    }
}
END_TEST

static evf_event_t *s3_event(const char *id, const char *type, const char *bucket,
                             const char *key, int64_t size, const char *ct) {
    evf_event_t *ev = evf_event_new();
    evf_event_set_str(&ev->id, id);
    ev->source = EVFLEET__V1__SOURCE__S3;
    evf_event_set_str(&ev->type, type);
    Evfleet__V1__S3Object *s3 = evf_event_set_s3(ev);
    evf_event_set_str(&s3->bucket, bucket);
    evf_event_set_str(&s3->key, key);
    s3->size = size;
    evf_event_set_str(&s3->content_type, ct);
    return ev;
}

START_TEST(test_example_plugin) {
    char err[512];
    char *path = evf_test_plugin("content_type_guard");
    if (access(path, R_OK) != 0) {
        fprintf(stderr, "SKIP: %s not built (make plugins)\n", path);
        free(path);
        return;
    }
    evf_conf_t *conf = evf_conf_new();
    set(conf, "route.s3:*", "guard", "t.conf:1");
    set(conf, "processor.guard.library", path, "t.conf:2");
    set(conf, "processor.guard.forbidden", "application/x-msdownload, Application/X-SH",
        "t.conf:3");
    set(conf, "processor.guard.max.size", "1000", "t.conf:4");
    evf_registry_t *reg = evf_registry_new(conf, err, sizeof(err));
    ck_assert_msg(reg != NULL, "%s", err);
    const evf_proc_instance_t *inst = evf_registry_find(reg, "guard");
    ck_assert_ptr_nonnull(inst);
    ck_assert_str_eq(evf_proc_instance_library(inst), path);
    ck_assert_str_eq(evf_proc_instance_table(inst)->name, "content_type_guard");

    evf_fakectx_t *f = evf_fakectx_new();
    evf_event_t *ev = s3_event("e1", "s3:ObjectCreated:Put", "b", "a.txt", 10, "text/plain");
    ck_assert_int_eq(evf_registry_process(inst, ev, evf_fakectx_begin(f, ev, 1)), EVF_PROC_OK);
    ck_assert_int_eq(evf_fakectx_apply(f), 1);
    ck_assert_str_eq(evf_fakectx_hget(f, "evf:ctguard:b", "a.txt"), "text/plain");
    evf_event_free(ev);

    ev = s3_event("e2", "s3:ObjectCreated:Put", "b", "run.sh", 10, "application/x-sh; x=y");
    ck_assert_int_eq(evf_registry_process(inst, ev, evf_fakectx_begin(f, ev, 1)), EVF_PROC_FAIL);
    ck_assert_msg(strstr(evf_fakectx_reason(f), "forbidden") &&
                      strstr(evf_fakectx_reason(f), "application/x-sh"),
                  "%s", evf_fakectx_reason(f));
    ck_assert_uint_eq(evf_fakectx_n_effects(f), 0);
    evf_event_free(ev);

    ev = s3_event("e3", "s3:ObjectCreated:Put", "b", "big.bin", 1001, "application/octet-stream");
    ck_assert_int_eq(evf_registry_process(inst, ev, evf_fakectx_begin(f, ev, 1)), EVF_PROC_FAIL);
    ck_assert_msg(strstr(evf_fakectx_reason(f), "max.size") != NULL, "%s",
                  evf_fakectx_reason(f));
    evf_event_free(ev);

    ev = s3_event("e4", "s3:ObjectRemoved:Delete", "b", "a.txt", 0, "");
    ck_assert_int_eq(evf_registry_process(inst, ev, evf_fakectx_begin(f, ev, 1)), EVF_PROC_OK);
    ck_assert_int_eq(evf_fakectx_apply(f), 1);
    ck_assert_ptr_null(evf_fakectx_hget(f, "evf:ctguard:b", "a.txt"));
    evf_event_free(ev);

    ev = evf_event_new(); /* not S3: untouched */
    evf_event_set_str(&ev->id, "e5");
    evf_event_set_str(&ev->type, "s3:weird");
    ck_assert_int_eq(evf_registry_process(inst, ev, evf_fakectx_begin(f, ev, 1)), EVF_PROC_OK);
    ck_assert_uint_eq(evf_fakectx_n_effects(f), 0);
    evf_event_free(ev);
    ck_assert_uint_eq(evf_fakectx_bad_calls(f), 0);
    evf_fakectx_destroy(f);
    evf_registry_destroy(reg);
    evf_conf_destroy(conf);

    /* its own settings are checked by its init */
    conf = evf_conf_new();
    set(conf, "processor.guard.library", path, "t.conf:2");
    set(conf, "processor.guard.max.size", "lots", "t.conf:5");
    ck_assert_ptr_null(evf_registry_new(conf, err, sizeof(err)));
    ck_assert_msg(strstr(err, "'max.size'") && strstr(err, "t.conf:5"), "%s", err);
    evf_conf_destroy(conf);
    free(path);
}
END_TEST

START_TEST(test_library_errors) {
    char err[1024];
    /* a path that does not exist */
    evf_conf_t *conf = evf_conf_new();
    set(conf, "route.*", "x", "t.conf:1");
    set(conf, "processor.x.library", "/nonexistent/dir/x.so", "t.conf:3");
    ck_assert_ptr_null(evf_registry_new(conf, err, sizeof(err)));
    ck_assert_msg(strstr(err, "processor.x.library") && strstr(err, "t.conf:3") &&
                      strstr(err, "/nonexistent/dir/x.so") && strstr(err, "cannot load"),
                  "%s", err);
    evf_conf_destroy(conf);

    /* a bare name is not searched for on the library path */
    conf = evf_conf_new();
    set(conf, "processor.x.library", "libc.so.6", "t.conf:4");
    ck_assert_ptr_null(evf_registry_new(conf, err, sizeof(err)));
    ck_assert_msg(strstr(err, "processor.x.library") && strstr(err, "./libc.so.6"), "%s", err);
    evf_conf_destroy(conf);

    /* a shared object without the entry symbol: the C library itself */
    Dl_info info;
    ck_assert_int_ne(dladdr((void *)&fclose, &info), 0);
    ck_assert_ptr_nonnull(info.dli_fname);
    conf = evf_conf_new();
    set(conf, "processor.x.library", info.dli_fname, "env EVFLEET_PROCESSOR_X_LIBRARY");
    ck_assert_ptr_null(evf_registry_new(conf, err, sizeof(err)));
    ck_assert_msg(strstr(err, "processor.x.library") &&
                      strstr(err, "env EVFLEET_PROCESSOR_X_LIBRARY") &&
                      strstr(err, "missing symbol evf_processor_entry"),
                  "%s", err);
    evf_conf_destroy(conf);
}
END_TEST

START_TEST(test_compiled_plugins) {
    char err[1024];
    char *abi = build_plugin("abi", "-DABI=999");
    if (!abi)
        return;
    evf_conf_t *conf = evf_conf_new();
    set(conf, "route.*", "old", "t.conf:1");
    set(conf, "processor.old.library", abi, "t.conf:2");
    ck_assert_ptr_null(evf_registry_new(conf, err, sizeof(err)));
    ck_assert_msg(strstr(err, "processor.old.library") && strstr(err, "t.conf:2") &&
                      strstr(err, "built for ABI version 999, this worker speaks 1"),
                  "%s", err);
    evf_conf_destroy(conf);
    free(abi);

    char *noproc = build_plugin("noproc", "-DNO_PROCESS");
    conf = evf_conf_new();
    set(conf, "processor.np.library", noproc, "t.conf:5");
    ck_assert_ptr_null(evf_registry_new(conf, err, sizeof(err)));
    ck_assert_msg(strstr(err, "processor.np.library") && strstr(err, "no process"), "%s", err);
    evf_conf_destroy(conf);
    free(noproc);

    char *noentry = build_plugin("noentry", "-DNO_ENTRY");
    conf = evf_conf_new();
    set(conf, "processor.ne.library", noentry, "t.conf:6");
    ck_assert_ptr_null(evf_registry_new(conf, err, sizeof(err)));
    ck_assert_msg(strstr(err, "missing symbol evf_processor_entry") && strstr(err, "t.conf:6"),
                  "%s", err);
    evf_conf_destroy(conf);
    free(noentry);

    /* a good one: init sees its settings but not `library`; destroy runs */
    char *good = build_plugin("good", "");
    char marker[512];
    snprintf(marker, sizeof(marker), "%s/destroyed", tmpdir);
    conf = evf_conf_new();
    set(conf, "processor.p.library", good, "t.conf:7");
    set(conf, "processor.p.marker", marker, "t.conf:8");
    evf_registry_t *reg = evf_registry_new(conf, err, sizeof(err));
    ck_assert_msg(reg != NULL, "%s", err);
    ck_assert_int_eq(evf_proc_instance_concurrent(evf_registry_find(reg, "p")), 0);
    ck_assert_int_ne(access(marker, F_OK), 0);
    evf_registry_destroy(reg);
    ck_assert_int_eq(access(marker, F_OK), 0);
    evf_conf_destroy(conf);

    /* a plugin's init error names the setting and where it came from */
    conf = evf_conf_new();
    set(conf, "processor.p.library", good, "t.conf:7");
    set(conf, "processor.p.colour", "blue", "t.conf:9");
    ck_assert_ptr_null(evf_registry_new(conf, err, sizeof(err)));
    ck_assert_msg(strstr(err, "'colour'") && strstr(err, "t.conf:9") && strstr(err, "'p'"), "%s",
                  err);
    evf_conf_destroy(conf);
    free(good);

    /* a result outside the enum becomes FAIL with a reason */
    char *weird = build_plugin("weird", "-DRESULT=7");
    conf = evf_conf_new();
    set(conf, "processor.w.library", weird, "t.conf:10");
    reg = evf_registry_new(conf, err, sizeof(err));
    ck_assert_msg(reg != NULL, "%s", err);
    evf_fakectx_t *f = evf_fakectx_new();
    evf_event_t *ev = evf_event_new();
    evf_event_set_str(&ev->id, "w1");
    ck_assert_int_eq(evf_registry_process(evf_registry_find(reg, "w"), ev,
                                          evf_fakectx_begin(f, ev, 1)),
                     EVF_PROC_FAIL);
    ck_assert_msg(strstr(evf_fakectx_reason(f), "invalid result 7") != NULL, "%s",
                  evf_fakectx_reason(f));
    evf_event_free(ev);
    evf_fakectx_destroy(f);
    evf_registry_destroy(reg);
    evf_conf_destroy(conf);
    free(weird);
    cleanup_tmpdir();
}
END_TEST

typedef struct {
    const evf_proc_instance_t *inst;
    int not_ok;
} worker_arg_t;

static void *serial_worker(void *p) {
    worker_arg_t *a = p;
    evf_fakectx_t *f = evf_fakectx_new();
    evf_event_t *ev = evf_event_new();
    evf_event_set_str(&ev->id, "s");
    for (int i = 0; i < 40; i++)
        if (evf_registry_process(a->inst, ev, evf_fakectx_begin(f, ev, 1)) != EVF_PROC_OK)
            a->not_ok++;
    evf_event_free(ev);
    evf_fakectx_destroy(f);
    return NULL;
}

START_TEST(test_non_concurrent_serialised) {
    char err[1024];
    char *serial = build_plugin("serial", "-DCONCURRENT=0");
    if (!serial)
        return;
    evf_conf_t *conf = evf_conf_new();
    set(conf, "processor.s.library", serial, "t.conf:1");
    evf_registry_t *reg = evf_registry_new(conf, err, sizeof(err));
    ck_assert_msg(reg != NULL, "%s", err);
    pthread_t th[4];
    worker_arg_t args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (worker_arg_t){.inst = evf_registry_find(reg, "s")};
        ck_assert_int_eq(pthread_create(&th[i], NULL, serial_worker, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_msg(args[i].not_ok == 0, "process() overlapped on a non-concurrent processor");
    }
    evf_registry_destroy(reg);
    evf_conf_destroy(conf);
    free(serial);
    cleanup_tmpdir();
}
END_TEST

static Suite *registry_suite(void) {
    Suite *s = suite_create("registry");
    TCase *tc = tcase_create("registry");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_builtins_by_name);
    tcase_add_test(tc, test_empty_config);
    tcase_add_test(tc, test_unknown_processor);
    tcase_add_test(tc, test_bad_settings);
    tcase_add_test(tc, test_example_plugin);
    tcase_add_test(tc, test_library_errors);
    tcase_add_test(tc, test_compiled_plugins);
    tcase_add_test(tc, test_non_concurrent_serialised);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(registry_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
