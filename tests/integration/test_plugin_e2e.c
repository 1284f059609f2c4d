/* tests/integration/test_plugin_e2e.c — a processor plugin end to end (issue #5): a real
 * `evfleet-worker` loads examples/content_type_guard.c (built by `make` into
 * $EVF_BUILD/plugins/content_type_guard.so) from `processor.ctguard.library`, routes S3 events to
 * it, and on the local Kafka + Redis:
 *   - allowed objects are processed: their content types land in <prefix>:ctguard:<bucket>, and a
 *     remove takes the field out again; events that are neither pass untouched;
 *   - forbidden content types (case and parameters ignored) and objects over max.size are
 *     dead-lettered at once with class `permanent`, processor `ctguard` and the plugin's reason;
 * and a plugin that cannot be used stops the worker at start with exit code 2 and a message
 * naming `processor.ctguard.library` (missing file, bare name, a library without the entry
 * symbol) or the refused setting. */
#include <check.h>
#include <dlfcn.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "demotest.h"
#include "fleet.h"
#include "testutil.h"

#define READY_MS 60000
#define FINISH_MS 90000
#define STOP_MS 30000
#define EXIT_MS 60000

/* The plugin's absolute path (the worker loads exactly the path it is given). */
static char *plugin_path(void) {
    char *rel = evf_test_plugin("content_type_guard");
    char *abs = realpath(rel, NULL);
    ck_assert_msg(abs, "plugin %s not found (run make first)", rel);
    free(rel);
    return abs;
}

static evf_event_t *s3_event(const char *id, const char *name, const char *bucket,
                             const char *key, int64_t size, const char *content_type) {
    char buf[512];
    evf_event_t *ev = evf_event_new();
    evf_event_set_str(&ev->id, id);
    ev->source = EVFLEET__V1__SOURCE__S3;
    ev->time_ms = 1700000000000LL;
    snprintf(buf, sizeof(buf), "s3:%s", name);
    evf_event_set_str(&ev->type, buf);
    snprintf(buf, sizeof(buf), "%s/%s", bucket, key);
    evf_event_set_str(&ev->subject, buf);
    Evfleet__V1__S3Object *s3 = evf_event_set_s3(ev);
    evf_event_set_str(&s3->bucket, bucket);
    evf_event_set_str(&s3->key, key);
    evf_event_set_str(&s3->event_name, name);
    s3->size = size;
    evf_event_set_str(&s3->content_type, content_type);
    return ev;
}

typedef struct {
    const char *id, *name, *key, *content_type;
    int64_t size;
    const char *reason; /* NULL: allowed; else a part of the dead letter's message */
} upload_t;

static const upload_t uploads[] = {
    {"ctg-1", "ObjectCreated:Put", "photos/cat.jpg", "image/jpeg", 52311, NULL},
    {"ctg-2", "ObjectCreated:Put", "docs/q3 report.pdf", "application/pdf", 80000, NULL},
    {"ctg-3", "ObjectCreated:Put", "site/index.html", "Text/HTML; charset=utf-8", 1200,
     "forbidden content type text/html"},
    {"ctg-4", "ObjectCreated:Copy", "bin/setup.exe", "application/x-msdownload", 4096,
     "forbidden content type application/x-msdownload"},
    {"ctg-5", "ObjectCreated:CompleteMultipartUpload", "video/big.mp4", "video/mp4", 2000000,
     "over max.size 1000000"},
    {"ctg-6", "ObjectCreated:Put", "notes/todo.txt", "text/plain; charset=utf-8", 10, NULL},
    {"ctg-7", "ObjectRemoved:Delete", "photos/cat.jpg", "", 0, NULL},
    {"ctg-8", "ObjectTagging:Put", "docs/q3 report.pdf", "", 0, NULL},
};
#define N_UPLOADS (sizeof(uploads) / sizeof(uploads[0]))

/* Made, and registered for deletion, in check's parent process (an unchecked fixture), so the
 * topics and keys go even when the test fails (see demotest.h). */
static evf_fleet_names_t n;

static void names_setup(void) {
    char pattern[128];
    memset(&n, 0, sizeof(n));
    evf_test_unique(n.topic, sizeof(n.topic), "wt-ctguard");
    evf_test_unique(n.group, sizeof(n.group), "wg-ctguard");
    evf_test_unique(n.prefix, sizeof(n.prefix), "evft");
    evf_demo_cleanup_topic(n.topic);
    evf_demo_cleanup_topic(evf_fleet_derived(&n, "dlq"));
    evf_demo_cleanup_topic(evf_fleet_derived(&n, "replay"));
    snprintf(pattern, sizeof(pattern), "%s:*", n.prefix);
    evf_demo_cleanup_keys(pattern);
}

START_TEST(plugin_guards_uploads) {
    evf_fleet_worker_t w;
    char bucket[96], ctg_key[256], xlib[PATH_MAX + 64], xgroup[200], xtopic[200], xprefix[160];
    evf_fleet_create_topic(n.topic, 3);
    evf_test_unique(bucket, sizeof(bucket), "uploads");
    snprintf(ctg_key, sizeof(ctg_key), "%s:ctguard:%s", n.prefix, bucket);

    char *lib = plugin_path();
    snprintf(xlib, sizeof(xlib), "processor.ctguard.library=%s", lib);
    snprintf(xgroup, sizeof(xgroup), "kafka.group.id=%s", n.group);
    snprintf(xtopic, sizeof(xtopic), "topics=%s", n.topic);
    snprintf(xprefix, sizeof(xprefix), "idempotency.key.prefix=%s", n.prefix);
    const char *xargs[] = {xgroup,
                           xtopic,
                           xprefix,
                           "route.s3:*=ctguard",
                           xlib,
                           "processor.ctguard.forbidden=application/x-msdownload, text/html",
                           "processor.ctguard.max.size=1000000",
                           "retry.topics.delays.ms=",
                           NULL};

    evf_demo_pub_t *pub = evf_demo_pub_new();
    for (size_t i = 0; i < N_UPLOADS; i++) {
        const upload_t *u = &uploads[i];
        evf_event_t *ev = s3_event(u->id, u->name, bucket, u->key, u->size, u->content_type);
        evf_demo_pub_event(pub, n.topic, ev);
        evf_event_free(ev);
    }
    ck_assert_uint_eq(evf_demo_pub_finish(pub), N_UPLOADS);

    evf_demo_start(&w, xargs);
    evf_fleet_wait_ready(&w, READY_MS);
    evf_demo_wait_finished(&w, 1, N_UPLOADS, FINISH_MS);

    size_t forbidden = 0;
    for (size_t i = 0; i < N_UPLOADS; i++)
        forbidden += uploads[i].reason != NULL;
    ck_assert_int_eq((int)evf_demo_outcomes(&w, 1, "ctguard", "ok"), (int)(N_UPLOADS - forbidden));
    ck_assert_int_eq((int)evf_demo_outcomes(&w, 1, "ctguard", "dlq"), (int)forbidden);
    ck_assert_int_eq((int)evf_demo_outcomes(&w, 1, NULL, "retry"), 0);

    /* allowed: recorded (field = object key, value = content type as sent); removed: gone */
    evf_redis_t *r = evf_fleet_redis();
    evf_demo_hash_t h;
    evf_demo_hgetall(r, ctg_key, &h);
    ck_assert_msg(h.n == 2, "%s has %zu fields, expected 2", ctg_key, h.n);
    ck_assert_str_eq(evf_demo_hash_get(&h, "docs/q3 report.pdf"), "application/pdf");
    ck_assert_str_eq(evf_demo_hash_get(&h, "notes/todo.txt"), "text/plain; charset=utf-8");
    ck_assert_ptr_null(evf_demo_hash_get(&h, "photos/cat.jpg"));
    evf_demo_hash_free(&h);

    /* forbidden: dead letters, permanent, with the plugin's reason */
    evf_fleet_msgs_t dlq;
    evf_fleet_read_topic_until(evf_fleet_derived(&n, "dlq"), forbidden, &dlq, 60000);
    ck_assert_uint_eq(dlq.count, forbidden);
    for (size_t i = 0; i < N_UPLOADS; i++) {
        const upload_t *u = &uploads[i];
        if (!u->reason)
            continue;
        int found = 0;
        for (size_t k = 0; k < dlq.count; k++) {
            char id[128], cls[64], proc[64], msg[512], topic[256], attempts[16];
            const evf_fleet_msg_t *m = &dlq.msgs[k];
            if (!evf_fleet_header(m, "ce_id", id, sizeof(id)) || strcmp(id, u->id) != 0)
                continue;
            found++;
            ck_assert_str_eq(evf_fleet_header(m, "evfleet.error.class", cls, sizeof(cls)),
                             "permanent");
            ck_assert_str_eq(evf_fleet_header(m, "evfleet.processor", proc, sizeof(proc)),
                             "ctguard");
            ck_assert_str_eq(evf_fleet_header(m, "evfleet.attempts", attempts, sizeof(attempts)),
                             "1");
            ck_assert_str_eq(evf_fleet_header(m, "evfleet.original.topic", topic, sizeof(topic)),
                             n.topic);
            const char *why = evf_fleet_header(m, "evfleet.error.message", msg, sizeof(msg));
            ck_assert_msg(why && strstr(why, u->reason), "%s: error message '%s', expected it "
                          "to contain '%s'", u->id, why ? why : "(none)", u->reason);
            /* the value is the original event, byte for byte: it decodes to the same id */
            char err[256];
            evf_event_t *ev = evf_event_decode(m->value, m->value_len, err, sizeof(err));
            ck_assert_msg(ev, "dead letter %s: %s", u->id, err);
            ck_assert_str_eq(ev->id, u->id);
            evf_event_free(ev);
        }
        ck_assert_msg(found == 1, "%s: %d dead letters, expected 1", u->id, found);
    }
    evf_fleet_msgs_free(&dlq);

    int rc = evf_fleet_stop(&w, STOP_MS, NULL);
    char *tail = rc ? evf_fleet_log_tail(&w, 3000) : NULL;
    ck_assert_msg(rc == 0, "worker exited %d; log:\n%s", rc, tail ? tail : "");
    free(tail);
    evf_redis_destroy(r);
    free(lib);
}
END_TEST

/* Run a worker that must refuse to start: exit 2, the output naming `must` (and `also`). */
static void assert_refused(const char *library, const char *extra, const char *must,
                           const char *also) {
    char name[128], xlib[PATH_MAX + 64], xgroup[200], xtopic[200], xbrokers[128], xredis[128];
    /* nothing is created: the worker must stop before it touches Kafka */
    evf_test_unique(name, sizeof(name), "ctgbad");
    snprintf(xlib, sizeof(xlib), "processor.ctguard.library=%s", library);
    snprintf(xgroup, sizeof(xgroup), "kafka.group.id=wg-%s", name);
    snprintf(xtopic, sizeof(xtopic), "topics=wt-%s", name);
    snprintf(xbrokers, sizeof(xbrokers), "kafka.bootstrap.servers=%s", evf_test_brokers());
    snprintf(xredis, sizeof(xredis), "redis.url=%s", evf_test_redis_url());
    const char *args[] = {"-X", xbrokers, "-X", xredis, "-X", xgroup, "-X", xtopic,
                          "-X", "route.s3:*=ctguard", "-X", xlib, "-X", "http.listen=127.0.0.1:0",
                          extra ? "-X" : NULL, extra, NULL};
    char *out = NULL;
    int rc = evf_demo_run_worker(args, EXIT_MS, &out);
    ck_assert_msg(rc == 2, "library %s%s%s: exit %d, expected 2; output:\n%s", library,
                  extra ? ", " : "", extra ? extra : "", rc, out ? out : "");
    ck_assert_msg(out && strstr(out, must), "library %s: the output does not name '%s':\n%s",
                  library, must, out ? out : "");
    ck_assert_msg(!also || strstr(out, also), "library %s: the output does not say '%s':\n%s",
                  library, also, out);
    free(out);
}

START_TEST(broken_plugin_path_exits_2) {
    assert_refused("/nonexistent/evfleet/content_type_guard.so", NULL,
                   "processor.ctguard.library", "/nonexistent/evfleet/content_type_guard.so");
}
END_TEST

START_TEST(bare_name_is_not_searched_exits_2) {
    /* a name without '/' means the working directory, never the library path */
    assert_refused("libm.so.6", NULL, "processor.ctguard.library", NULL);
}
END_TEST

START_TEST(library_without_entry_symbol_exits_2) {
    /* a real shared library that is not a plugin: the one cos() comes from */
    Dl_info info;
    ck_assert_msg(dladdr((void *)&cos, &info) && info.dli_fname && strchr(info.dli_fname, '/'),
                  "cannot find the path of libm");
    char *path = realpath(info.dli_fname, NULL);
    ck_assert_ptr_nonnull(path);
    assert_refused(path, NULL, "processor.ctguard.library", "evf_processor_entry");
    free(path);
}
END_TEST

START_TEST(plugin_refusing_a_setting_exits_2) {
    char *lib = plugin_path();
    assert_refused(lib, "processor.ctguard.colour=red", "processor.ctguard.colour",
                   "unknown setting");
    free(lib);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("plugin_e2e");
    TCase *tc = tcase_create("plugin");
    tcase_set_timeout(tc, 240);
    tcase_add_unchecked_fixture(tc, names_setup, evf_demo_cleanup);
    tcase_add_test(tc, plugin_guards_uploads);
    tcase_add_test(tc, broken_plugin_path_exits_2);
    tcase_add_test(tc, bare_name_is_not_searched_exits_2);
    tcase_add_test(tc, library_without_entry_symbol_exits_2);
    tcase_add_test(tc, plugin_refusing_a_setting_exits_2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
