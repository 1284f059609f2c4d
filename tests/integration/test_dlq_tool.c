/* tests/integration/test_dlq_tool.c — `evfleet-dlq` against the real local Kafka + Redis and real
 * `evfleet-worker`s running the `chaos` processor with its ledger (issue #8):
 *
 * inspect_and_replay: chaos fails a known set (8 permanent, 2 that keep failing, 1 crash-loop
 *   after a real crash, 1 undecodable value) into the dead-letter topic; list, show and stats
 *   report exactly those; --dry-run changes nothing (topics, ledger, records); the failure is
 *   switched off (worker restarted) and a filtered replay (the crash-loop letter, two ids), a
 *   rate-limited replay killed half-way and a rerun send the rest back: the ledger counts every
 *   event exactly once, the replay ledger holds every letter as sent, the copies carry the replay
 *   headers; letters that failed again after their replay are parked under dlq.replay.max=1 and
 *   not replayed, the already replayed are skipped; purge without --yes changes nothing, with
 *   --yes marks; usage errors and missing topics or letters exit 2 and 1.
 *
 * source_vs_inbox: a second group on the same source sees a `--to source` replay and not an
 *   inbox replay; fingerprint-mismatch letters are refused for inbox and source and can be
 *   copied to another topic; dead-letter and retry topics are refused as targets. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "deadletter.h"
#include "event.h"
#include "fleet.h"
#include "publisher.h"
#include "redis.h"
#include "testutil.h"

#define READY_MS 60000
#define WAIT_MS 60000
#define STALL_MS 45000
#define STOP_MS 30000
#define TOOL_MS 60000

#define GARBAGE "not an event \xff\xfe\x00!"
#define GARBAGE_LEN 17
#define GARBAGE_B64 "bm90IGFuIGV2ZW50IP/+ACE="

/* ------------------------------------------------------------------------------------------ */
/* Running evfleet-dlq                                                                          */

typedef struct {
    int code;   /* exit code; -1: signal or timeout */
    char *out;  /* stdout */
    char *err;  /* stderr */
    int64_t ms; /* how long it ran */
} tool_t;

static void tool_free(tool_t *t) {
    free(t->out);
    free(t->err);
    memset(t, 0, sizeof(*t));
}

/* argv for evfleet-dlq: the local services and prefix, then args (NULL-terminated). */
static char **tool_argv(const char *prefix, const char *const *args) {
    static char brokers[128], redis[160], pfx[160];
    size_t n = 0;
    while (args[n])
        n++;
    char **argv = calloc(n + 8, sizeof(char *));
    ck_assert_ptr_nonnull(argv);
    snprintf(brokers, sizeof(brokers), "%s", evf_test_brokers());
    snprintf(redis, sizeof(redis), "redis.url=%s", evf_test_redis_url());
    snprintf(pfx, sizeof(pfx), "idempotency.key.prefix=%s", prefix);
    argv[0] = evf_test_bin("evfleet-dlq");
    argv[1] = "-b";
    argv[2] = brokers;
    argv[3] = "-X";
    argv[4] = redis;
    argv[5] = "-X";
    argv[6] = pfx;
    for (size_t i = 0; i < n; i++)
        argv[7 + i] = (char *)args[i];
    return argv;
}

/* fork + exec with stdout and stderr into their own files; dies with us. */
static pid_t tool_spawn(char **argv, const char *out_path, const char *err_path) {
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int nul = open("/dev/null", O_RDONLY);
        if (o < 0 || e < 0 || nul < 0)
            _exit(126);
        dup2(o, 1);
        dup2(e, 2);
        dup2(nul, 0);
        execv(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

static void tool_paths(char *out, char *err, size_t size) {
    static int seq;
    seq++;
    snprintf(out, size, "/tmp/evf-dlqtest-%d-%d.out", (int)getpid(), seq);
    snprintf(err, size, "/tmp/evf-dlqtest-%d-%d.err", (int)getpid(), seq);
}

static void tool_collect(tool_t *t, const char *out_path, const char *err_path) {
    t->out = evf_test_read_file(out_path, NULL);
    t->err = evf_test_read_file(err_path, NULL);
    if (!t->out)
        t->out = strdup("");
    if (!t->err)
        t->err = strdup("");
    unlink(out_path);
    unlink(err_path);
}

/* Run evfleet-dlq to its end. */
static void tool(tool_t *t, const char *prefix, const char *const *args) {
    char out[128], err[128];
    char **argv = tool_argv(prefix, args);
    tool_paths(out, err, sizeof(out));
    int64_t t0 = evf_test_now_ms();
    pid_t pid = tool_spawn(argv, out, err);
    int st = 0;
    if (evf_test_wait(pid, TOOL_MS, &st) != 0) {
        evf_test_kill(pid);
        t->code = -1;
    } else {
        t->code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    }
    t->ms = evf_test_now_ms() - t0;
    tool_collect(t, out, err);
    free(argv[0]);
    free(argv);
}

#define TOOL(t, prefix, ...)                                                                       \
    do {                                                                                           \
        const char *const args_[] = {__VA_ARGS__, NULL};                                           \
        tool((t), (prefix), args_);                                                                \
    } while (0)

#define ASSERT_TOOL(t, want)                                                                       \
    ck_assert_msg((t)->code == (want), "evfleet-dlq exited %d, not %d\nstdout:\n%s\nstderr:\n%s", \
                  (t)->code, (want), (t)->out, (t)->err)

/* The JSON lines of list --format json. */
static json_t *json_lines(const char *text) {
    json_t *arr = json_array();
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len) {
            json_error_t jerr;
            json_t *o = json_loadb(p, len, 0, &jerr);
            ck_assert_msg(o, "not JSON: %.*s (%s)", (int)len, p, jerr.text);
            json_array_append_new(arr, o);
        }
        p += len + (nl ? 1 : 0);
    }
    return arr;
}

static const char *jstr(json_t *o, const char *key) {
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static json_int_t jint(json_t *o, const char *key) {
    return json_integer_value(json_object_get(o, key));
}

/* The letter of list's output with this id (NULL when none; "" finds the undecodable). */
static json_t *find_id(json_t *lines, const char *id) {
    size_t i;
    json_t *o;
    json_array_foreach(lines, i, o) {
        if (!strcmp(jstr(o, "id"), id))
            return o;
    }
    return NULL;
}

/* A number after `word ` in text (e.g. "replayed 5 of"), or -1. */
static long long number_after(const char *text, const char *word) {
    const char *p = strstr(text, word);
    if (!p)
        return -1;
    p += strlen(word);
    while (*p == ' ')
        p++;
    return strtoll(p, NULL, 10);
}

/* ------------------------------------------------------------------------------------------ */
/* Redis                                                                                        */

/* How many replay ledger entries of dlq are in state (NULL: any). */
static long ledger_entries(evf_redis_t *r, const char *prefix, const char *dlq,
                           const char *state) {
    char pattern[512], cursor[32] = "0", buf[32];
    long n = 0;
    snprintf(pattern, sizeof(pattern), "%s:dlq:%s:*", prefix, dlq);
    do {
        redisReply *rep = evf_redis_cmd(r, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        ck_assert_msg(rep && rep->type == REDIS_REPLY_ARRAY, "SCAN failed");
        snprintf(cursor, sizeof(cursor), "%s", rep->element[0]->str);
        for (size_t i = 0; i < rep->element[1]->elements; i++) {
            const char *key = rep->element[1]->element[i]->str;
            if (!state || (evf_fleet_hget(r, key, "state", buf, sizeof(buf)) &&
                           !strcmp(buf, state)))
                n++;
        }
        freeReplyObject(rep);
    } while (strcmp(cursor, "0"));
    return n;
}

/* HGETALL as "k=v;k=v" sorted by Redis's order (for before/after comparisons). */
static char *hash_text(evf_redis_t *r, const char *key) {
    redisReply *rep = evf_redis_cmd(r, "HGETALL %s", key);
    ck_assert_msg(rep && rep->type == REDIS_REPLY_ARRAY, "HGETALL %s failed", key);
    size_t cap = 64;
    for (size_t i = 0; i < rep->elements; i++)
        cap += rep->element[i]->len + 2;
    char *s = calloc(1, cap);
    ck_assert_ptr_nonnull(s);
    for (size_t i = 0; i + 1 < rep->elements; i += 2) {
        strcat(s, rep->element[i]->str);
        strcat(s, "=");
        strcat(s, rep->element[i + 1]->str);
        strcat(s, ";");
    }
    freeReplyObject(rep);
    return s;
}

static void wait_ledger_has(evf_redis_t *r, const char *ledger, const char *id, int timeout_ms) {
    char buf[32];
    int64_t deadline = evf_test_now_ms() + timeout_ms;
    while (!evf_fleet_hget(r, ledger, id, buf, sizeof(buf))) {
        ck_assert_msg(evf_test_now_ms() < deadline, "%s never counted %s", ledger, id);
        usleep(100 * 1000);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Publishing                                                                                   */

static void publish(evf_pub_t *pub, const char *topic, const char *id, int iot,
                    const char *subject_suffix) {
    char err[512], buf[128];
    evf_event_t *ev = evf_event_new();
    evf_event_set_str(&ev->id, id);
    ev->time_ms = 1777629600000LL;
    if (iot) {
        Evfleet__V1__IotTelemetry *t = evf_event_set_iot(ev);
        ev->source = EVFLEET__V1__SOURCE__IOT;
        snprintf(buf, sizeof(buf), "dev-%s", id);
        evf_event_set_str(&t->device_id, buf);
        evf_event_set_str(&t->metric, "temperature");
        t->value = 21.5;
        evf_event_set_str(&ev->type, "iot:telemetry");
        evf_event_set_str(&ev->subject, buf);
    } else {
        Evfleet__V1__S3Object *s3 = evf_event_set_s3(ev);
        ev->source = EVFLEET__V1__SOURCE__S3;
        evf_event_set_str(&s3->bucket, "bkt");
        snprintf(buf, sizeof(buf), "obj/%s%s", id, subject_suffix ? subject_suffix : "");
        evf_event_set_str(&s3->key, buf);
        evf_event_set_str(&s3->event_name, "ObjectCreated:Put");
        evf_event_set_str(&ev->type, "s3:ObjectCreated:Put");
        snprintf(buf, sizeof(buf), "bkt/obj/%s%s", id, subject_suffix ? subject_suffix : "");
        evf_event_set_str(&ev->subject, buf);
    }
    ck_assert_msg(evf_pub_send_event(pub, topic, ev, NULL, 5000, err, sizeof(err)) == EVF_OK,
                  "%s", err);
    evf_event_free(ev);
}

static void publish_one(const char *topic, const char *id, int iot, const char *suffix) {
    evf_pub_t *pub = evf_fleet_publisher();
    publish(pub, topic, id, iot, suffix);
    evf_fleet_publisher_done(pub);
}

static void no_core_dumps(void) {
    struct rlimit rl = {0, 0};
    setrlimit(RLIMIT_CORE, &rl); /* the crash-loop worker aborts on purpose */
}

/* ------------------------------------------------------------------------------------------ */
/* inspect_and_replay                                                                           */

#define N_OK 12
#define N_FAIL 8
static const char *const persist_ids[] = {"p-0", "p-1"};
#define CRASH_ID "c-0"

static void start_worker(evf_fleet_worker_t *w, const evf_fleet_names_t *n, const char *fail_ids,
                         const char *crash_ids) {
    char fail[512], crash[256];
    snprintf(fail, sizeof(fail), "processor.chaos.fail.ids=%s", fail_ids);
    snprintf(crash, sizeof(crash), "processor.chaos.crash.ids=%s", crash_ids);
    const char *const extra[] = {"route.*=chaos",
                                 "processor.chaos.ledger=true",
                                 "processor.chaos.fail.kind=permanent",
                                 fail,
                                 crash,
                                 "crash.max.attempts=1",
                                 "idempotency.lease.ms=2000",
                                 "processing.timeout.ms=1500",
                                 "retry.max.attempts=1",
                                 NULL};
    evf_fleet_start(w, n, extra, NULL);
}

START_TEST(test_inspect_and_replay) {
    evf_fleet_names_t n;
    evf_fleet_worker_t w;
    tool_t t = {0};
    char fail_ids[512] = "", id[32], dlq[300], inbox[300], buf[256];
    no_core_dumps();
    evf_fleet_names(&n, "dlq", 1);
    snprintf(dlq, sizeof(dlq), "%s", evf_fleet_derived(&n, "dlq"));
    snprintf(inbox, sizeof(inbox), "%s", evf_fleet_derived(&n, "replay"));
    evf_fleet_create_topic(n.topic, 2);
    evf_redis_t *r = evf_fleet_redis();

    for (int i = 0; i < N_FAIL; i++)
        snprintf(fail_ids + strlen(fail_ids), sizeof(fail_ids) - strlen(fail_ids), "f-%d,", i);
    strcat(fail_ids, "p-0,p-1");

    /* 1. The crash first, alone, so nothing else is in flight when the worker dies. */
    publish_one(n.topic, CRASH_ID, 0, NULL);
    start_worker(&w, &n, fail_ids, CRASH_ID);
    int rc = evf_fleet_wait_exit(&w, WAIT_MS);
    if (!(rc == -1 && !evf_fleet_alive(&w) && WIFSIGNALED(w.exit_status))) {
        char *tail = evf_fleet_log_tail(&w, 3000);
        ck_abort_msg("the worker did not crash on %s (exit %d); log:\n%s", CRASH_ID, rc, tail);
    }

    /* 2. The rest, and a value that decodes as nothing; a worker with the same failures. */
    evf_pub_t *pub = evf_fleet_publisher();
    evf_fleet_idmap_t *expected = evf_fleet_idmap_new(); /* ids the ledger must end with, once */
    for (int i = 0; i < N_OK; i++) {
        snprintf(id, sizeof(id), "ok-%02d", i);
        publish(pub, n.topic, id, i % 3 == 0, NULL);
        evf_fleet_idmap_add(expected, id, 1);
    }
    for (int i = 0; i < N_FAIL; i++) {
        snprintf(id, sizeof(id), "f-%d", i);
        publish(pub, n.topic, id, 0, NULL);
        evf_fleet_idmap_add(expected, id, 1);
    }
    for (size_t i = 0; i < 2; i++)
        publish(pub, n.topic, persist_ids[i], 1, NULL);
    evf_fleet_idmap_add(expected, CRASH_ID, 1);
    char err[256];
    ck_assert(evf_pub_send(pub, n.topic, RD_KAFKA_PARTITION_UA, "garbage-key", 11, GARBAGE,
                           GARBAGE_LEN, NULL, NULL, 5000, err, sizeof(err)) == EVF_OK);
    evf_fleet_publisher_done(pub);

    start_worker(&w, &n, fail_ids, CRASH_ID);
    evf_fleet_wait_ready(&w, READY_MS);
    const size_t n_letters = N_FAIL + 2 + 1 + 1;
    evf_fleet_msgs_t msgs;
    evf_fleet_read_topic_until(dlq, n_letters, &msgs, WAIT_MS);
    ck_assert_msg(msgs.count == n_letters, "%zu dead letters, expected %zu", msgs.count,
                  n_letters);
    evf_fleet_msgs_free(&msgs);
    evf_fleet_wait_ledger(r, n.ledger, N_OK, WAIT_MS, STALL_MS, NULL);

    /* 3. list: exactly those, pending. */
    TOOL(&t, n.prefix, "list", dlq, "--format", "json");
    ASSERT_TOOL(&t, 0);
    json_t *lines = json_lines(t.out);
    ck_assert_uint_eq(json_array_size(lines), n_letters);
    for (int i = 0; i < N_FAIL; i++) {
        snprintf(id, sizeof(id), "f-%d", i);
        json_t *o = find_id(lines, id);
        ck_assert_msg(o, "%s not listed", id);
        ck_assert_str_eq(jstr(o, "class"), "permanent");
        ck_assert_str_eq(jstr(o, "processor"), "chaos");
        ck_assert_str_eq(jstr(o, "original_topic"), n.topic);
        ck_assert_str_eq(jstr(o, "status"), "pending");
        ck_assert_str_eq(jstr(o, "type"), "s3:ObjectCreated:Put");
        ck_assert_int_eq(jint(o, "attempts"), 1);
        ck_assert_ptr_nonnull(strstr(jstr(o, "error"), "chaos: injected permanent failure"));
    }
    ck_assert_str_eq(jstr(find_id(lines, "p-0"), "type"), "iot:telemetry");
    json_t *crash = find_id(lines, CRASH_ID);
    ck_assert_ptr_nonnull(crash);
    ck_assert_str_eq(jstr(crash, "class"), "crash-loop");
    json_t *garbage = find_id(lines, "");
    ck_assert_ptr_nonnull(garbage);
    ck_assert_str_eq(jstr(garbage, "class"), "decode");
    ck_assert(json_is_false(json_object_get(garbage, "decoded")));
    char crash_pos[64], garbage_pos[64];
    snprintf(crash_pos, sizeof(crash_pos), "%d:%d", (int)jint(crash, "partition"),
             (int)jint(crash, "offset"));
    snprintf(garbage_pos, sizeof(garbage_pos), "%d:%d", (int)jint(garbage, "partition"),
             (int)jint(garbage, "offset"));
    char crash_record[512];
    snprintf(crash_record, sizeof(crash_record), "%s", jstr(crash, "idempotency_key"));
    snprintf(buf, sizeof(buf), "%s:%s:%s", n.prefix, n.group, CRASH_ID);
    ck_assert_str_eq(crash_record, buf);
    json_decref(lines);
    tool_free(&t);

    TOOL(&t, n.prefix, "list", dlq); /* the table */
    ASSERT_TOOL(&t, 0);
    ck_assert_ptr_nonnull(strstr(t.out, "FAILED-AT"));
    ck_assert_ptr_nonnull(strstr(t.out, "crash-loop"));
    ck_assert_ptr_nonnull(strstr(t.out, "undecodable"));
    tool_free(&t);

    TOOL(&t, n.prefix, "list", dlq, "--format", "json", "--class", "crash-loop");
    ASSERT_TOOL(&t, 0);
    lines = json_lines(t.out);
    ck_assert_uint_eq(json_array_size(lines), 1);
    ck_assert_str_eq(jstr(json_array_get(lines, 0), "id"), CRASH_ID);
    json_decref(lines);
    tool_free(&t);

    TOOL(&t, n.prefix, "list", dlq, "--format", "json", "--type", "iot:*", "--since", "1h");
    ASSERT_TOOL(&t, 0);
    lines = json_lines(t.out);
    ck_assert_uint_eq(json_array_size(lines), 2);
    ck_assert_ptr_nonnull(find_id(lines, "p-0"));
    ck_assert_ptr_nonnull(find_id(lines, "p-1"));
    json_decref(lines);
    tool_free(&t);

    TOOL(&t, n.prefix, "list", dlq, "--format", "json", "--until", "1h");
    ASSERT_TOOL(&t, 0);
    ck_assert_str_eq(t.out, "");
    tool_free(&t);

    /* 4. show: headers, the event, the record; the undecodable one as base64. */
    TOOL(&t, n.prefix, "show", dlq, crash_pos, "--format", "json");
    ASSERT_TOOL(&t, 0);
    json_t *shown = json_loads(t.out, 0, NULL);
    ck_assert_ptr_nonnull(shown);
    ck_assert_str_eq(jstr(json_object_get(shown, "event"), "id"), CRASH_ID);
    ck_assert_str_eq(jstr(json_object_get(shown, "event"), "type"), "s3:ObjectCreated:Put");
    ck_assert_str_eq(jstr(json_object_get(shown, "record"), "unfinished"), "1");
    int seen_class = 0;
    size_t i;
    json_t *h;
    json_array_foreach(json_object_get(shown, "headers"), i, h) {
        if (!strcmp(jstr(h, "name"), EVF_H_ERROR_CLASS)) {
            ck_assert_str_eq(jstr(h, "value"), "crash-loop");
            seen_class = 1;
        }
    }
    ck_assert(seen_class);
    json_decref(shown);
    tool_free(&t);

    TOOL(&t, n.prefix, "show", dlq, garbage_pos, "--format", "json");
    ASSERT_TOOL(&t, 0);
    shown = json_loads(t.out, 0, NULL);
    ck_assert_ptr_nonnull(shown);
    ck_assert(json_is_null(json_object_get(shown, "event")));
    ck_assert_str_eq(jstr(shown, "value_base64"), GARBAGE_B64);
    ck_assert_str_eq(jstr(shown, "key"), "garbage-key");
    ck_assert_str_ne(jstr(shown, "decode_error"), "");
    json_decref(shown);
    tool_free(&t);

    TOOL(&t, n.prefix, "show", dlq, garbage_pos);
    ASSERT_TOOL(&t, 0);
    ck_assert_ptr_nonnull(strstr(t.out, "does not decode"));
    ck_assert_ptr_nonnull(strstr(t.out, "base64:" GARBAGE_B64));
    ck_assert_ptr_nonnull(strstr(t.out, "evfleet.error.class = decode"));
    tool_free(&t);

    /* 5. stats */
    TOOL(&t, n.prefix, "stats", dlq, "--format", "json");
    ASSERT_TOOL(&t, 0);
    json_t *stats = json_loads(t.out, 0, NULL);
    ck_assert_ptr_nonnull(stats);
    ck_assert_int_eq(jint(stats, "total"), (json_int_t)n_letters);
    ck_assert_int_eq(jint(stats, "undecodable"), 1);
    json_t *by_class = json_object_get(stats, "by_class");
    ck_assert_int_eq(jint(by_class, "permanent"), N_FAIL + 2);
    ck_assert_int_eq(jint(by_class, "crash-loop"), 1);
    ck_assert_int_eq(jint(by_class, "decode"), 1);
    ck_assert_int_eq(jint(json_object_get(stats, "by_original_topic"), n.topic),
                     (json_int_t)n_letters);
    ck_assert_int_eq(jint(json_object_get(stats, "by_type"), "iot:telemetry"), 2);
    ck_assert_int_eq(jint(json_object_get(stats, "by_type"), "s3:ObjectCreated:Put"),
                     N_FAIL + 1);
    ck_assert_int_eq(jint(json_object_get(stats, "by_processor"), "chaos"), N_FAIL + 3);
    ck_assert_int_eq(jint(json_object_get(stats, "status"), "pending"), (json_int_t)n_letters);
    ck_assert_int_eq(jint(json_object_get(stats, "status"), "replayed"), 0);
    ck_assert_int_eq(jint(json_object_get(stats, "status"), "parked"), 0);
    ck_assert(jint(stats, "oldest_failed_at_ms") > 0 &&
              jint(stats, "oldest_failed_at_ms") <= jint(stats, "newest_failed_at_ms"));
    json_decref(stats);
    tool_free(&t);

    TOOL(&t, n.prefix, "stats", dlq);
    ASSERT_TOOL(&t, 0);
    ck_assert_ptr_nonnull(strstr(t.out, "by class"));
    tool_free(&t);

    /* 6. --dry-run: exactly what would be sent; nothing changes. */
    int64_t inbox_before[2], inbox_after[2];
    evf_fleet_high_watermarks(inbox, 2, inbox_before);
    char *record_before = hash_text(r, crash_record);
    TOOL(&t, n.prefix, "replay", dlq, "--dry-run");
    ASSERT_TOOL(&t, 0);
    size_t would = 0;
    for (const char *p = t.out; (p = strstr(p, "would replay ")); p++)
        would++;
    ck_assert_uint_eq(would, n_letters);
    ck_assert_ptr_nonnull(strstr(t.out, inbox));
    ck_assert_ptr_nonnull(strstr(t.err, "nothing was changed"));
    tool_free(&t);
    ck_assert_int_eq(ledger_entries(r, n.prefix, dlq, NULL), 0);
    evf_fleet_high_watermarks(inbox, 2, inbox_after);
    ck_assert_int_eq(inbox_after[0], inbox_before[0]);
    ck_assert_int_eq(inbox_after[1], inbox_before[1]);
    char *record_after = hash_text(r, crash_record);
    ck_assert_str_eq(record_after, record_before);
    free(record_before);
    free(record_after);

    /* usage errors and missing things */
    TOOL(&t, n.prefix, "replay", dlq, "--to", dlq);
    ASSERT_TOOL(&t, 2);
    tool_free(&t);
    TOOL(&t, n.prefix, "replay", dlq, "-g", "some-other-group");
    ASSERT_TOOL(&t, 2);
    ck_assert_ptr_nonnull(strstr(t.err, "-g"));
    tool_free(&t);
    TOOL(&t, n.prefix, "list", n.topic);
    ASSERT_TOOL(&t, 2);
    tool_free(&t);
    TOOL(&t, n.prefix, "list", dlq, "--class", "nonsense");
    ASSERT_TOOL(&t, 2);
    tool_free(&t);
    TOOL(&t, n.prefix, "show", dlq, "0:999999");
    ASSERT_TOOL(&t, 1);
    ck_assert_ptr_nonnull(strstr(t.err, "no dead letter at 0:999999"));
    tool_free(&t);
    snprintf(buf, sizeof(buf), "%s-missing.g.dlq", n.topic);
    TOOL(&t, n.prefix, "list", buf);
    ASSERT_TOOL(&t, 1);
    ck_assert_ptr_nonnull(strstr(t.err, "does not exist"));
    tool_free(&t);

    /* 7. The failure is switched off (p-* keep failing); a filtered replay first. */
    ck_assert_int_eq(evf_fleet_stop(&w, STOP_MS, NULL), 0);
    start_worker(&w, &n, "p-0,p-1", "");
    evf_fleet_wait_ready(&w, READY_MS);

    TOOL(&t, n.prefix, "replay", dlq, "--class", "crash-loop");
    ASSERT_TOOL(&t, 0);
    ck_assert_int_eq(number_after(t.err, "replayed"), 1);
    tool_free(&t);
    TOOL(&t, n.prefix, "replay", dlq, "--id", "f-0", "--id", "f-1");
    ASSERT_TOOL(&t, 0);
    ck_assert_int_eq(number_after(t.err, "replayed"), 2);
    tool_free(&t);
    ck_assert_int_eq(ledger_entries(r, n.prefix, dlq, "sent"), 3);
    /* The crash-loop record was cleared and the event ran once the crash was off. */
    wait_ledger_has(r, n.ledger, CRASH_ID, WAIT_MS);
    ck_assert_str_eq(evf_fleet_hget(r, crash_record, "state", buf, sizeof(buf)), "done");

    /* 8. A rate-limited unfiltered replay killed half-way, then run again. */
    char out_path[128], err_path[128];
    const char *const slow_args[] = {"replay", dlq, "--rate", "2/s", NULL};
    char **argv = tool_argv(n.prefix, slow_args);
    tool_paths(out_path, err_path, sizeof(out_path));
    int64_t t0 = evf_test_now_ms();
    pid_t pid = tool_spawn(argv, out_path, err_path);
    while (ledger_entries(r, n.prefix, dlq, "sent") < 3 + 2) {
        ck_assert_msg(evf_test_now_ms() - t0 < WAIT_MS, "the slow replay sent nothing");
        usleep(20 * 1000);
    }
    evf_test_kill(pid);
    int64_t killed_after = evf_test_now_ms() - t0;
    tool_collect(&t, out_path, err_path);
    tool_free(&t);
    free(argv[0]);
    free(argv);
    long sent_at_kill = ledger_entries(r, n.prefix, dlq, "sent");
    long entries_at_kill = ledger_entries(r, n.prefix, dlq, NULL);
    ck_assert_msg(sent_at_kill < (long)n_letters,
                  "the killed run had sent everything (%ld) in %" PRId64 " ms: --rate ignored?",
                  sent_at_kill, killed_after);
    /* at 2/s, loosely: no more than one burst token plus the elapsed time's worth */
    ck_assert_msg(sent_at_kill - 3 <= 2 + 2 * (killed_after / 1000 + 1),
                  "%ld sent in %" PRId64 " ms at --rate 2/s", sent_at_kill - 3, killed_after);

    TOOL(&t, n.prefix, "replay", dlq, "--rate", "5");
    ASSERT_TOOL(&t, 0);
    fprintf(stderr,
            "killed after %" PRId64 " ms with %ld sent and %ld unconfirmed; the rerun: %s",
            killed_after, sent_at_kill - 3, entries_at_kill - sent_at_kill, t.err);
    long long rest = number_after(t.err, "replayed");
    ck_assert_msg(rest == (long long)n_letters - sent_at_kill, "resumed with %lld, expected %ld: %s",
                  rest, (long)n_letters - sent_at_kill, t.err);
    ck_assert_int_eq(number_after(t.err, "skipped"), sent_at_kill);
    /* at 2/s a batch holds 2 letters: at most their intents were unconfirmed at the kill, and
     * the rerun sent those again */
    ck_assert_msg(entries_at_kill - sent_at_kill <= 2, "%ld unconfirmed entries after the kill",
                  entries_at_kill - sent_at_kill);
    if (entries_at_kill > sent_at_kill)
        ck_assert_ptr_nonnull(strstr(t.err, "sent again after an unconfirmed send"));
    /* --rate 5: k copies take at least (k - 1) / 5 s (loosely) */
    ck_assert_msg(rest < 2 || t.ms >= (rest - 1) * 200 * 8 / 10,
                  "%lld copies in %" PRId64 " ms at --rate 5", rest, t.ms);
    tool_free(&t);
    ck_assert_int_eq(ledger_entries(r, n.prefix, dlq, "sent"), (long)n_letters);
    ck_assert_int_eq(ledger_entries(r, n.prefix, dlq, NULL), (long)n_letters);

    /* Every event processed exactly once, the crash-loop one included. */
    evf_fleet_wait_ledger(r, n.ledger, (int64_t)evf_fleet_idmap_size(expected), WAIT_MS,
                          STALL_MS, NULL);
    size_t missing, wrong, extra;
    char first[256];
    evf_fleet_idmap_t *ledger = evf_fleet_hash(r, n.ledger);
    ck_assert_msg(evf_fleet_ledger_exact(ledger, expected, &missing, &wrong, &extra, first,
                                         sizeof(first)),
                  "ledger: %zu missing, %zu counted other than once (first %s), %zu unknown",
                  missing, wrong, first, extra);
    evf_fleet_idmap_free(ledger);

    /* The replay ledger entry and the copies' headers. */
    snprintf(buf, sizeof(buf), "%s:dlq:%s:%s", n.prefix, dlq, crash_pos);
    char v[300];
    ck_assert_str_eq(evf_fleet_hget(r, buf, "state", v, sizeof(v)), "sent");
    ck_assert_str_eq(evf_fleet_hget(r, buf, "to", v, sizeof(v)), inbox);
    ck_assert_str_eq(evf_fleet_hget(r, buf, "count", v, sizeof(v)), "1");
    ck_assert_ptr_nonnull(evf_fleet_hget(r, buf, "at", v, sizeof(v)));
    redisReply *ttl = evf_redis_cmd(r, "PTTL %s", buf);
    ck_assert(ttl && ttl->type == REDIS_REPLY_INTEGER);
    ck_assert_int_eq(ttl->integer, -1); /* the ledger never expires */
    freeReplyObject(ttl);

    evf_fleet_read_topic(inbox, &msgs, WAIT_MS);
    ck_assert_uint_ge(msgs.count, n_letters);
    int found = 0;
    for (size_t k = 0; k < msgs.count; k++) {
        evf_fleet_msg_t *m = &msgs.msgs[k];
        if (!evf_fleet_header(m, "ce_id", v, sizeof(v)) || strcmp(v, CRASH_ID))
            continue;
        found++;
        ck_assert_str_eq(evf_fleet_header(m, EVF_H_REPLAY_COUNT, v, sizeof(v)), "1");
        ck_assert_ptr_nonnull(evf_fleet_header(m, EVF_H_REPLAYED_AT, v, sizeof(v)));
        ck_assert_str_eq(evf_fleet_header(m, EVF_H_ORIGINAL_TOPIC, v, sizeof(v)), n.topic);
        ck_assert_str_eq(evf_fleet_header(m, EVF_H_ERROR_CLASS, v, sizeof(v)), "crash-loop");
        ck_assert_str_eq(evf_fleet_header(m, EVF_H_IDEMPOTENCY_KEY, v, sizeof(v)), crash_record);
        ck_assert_str_eq(evf_fleet_header(m, "content-type", v, sizeof(v)),
                         "application/protobuf");
        snprintf(v, sizeof(v), "bkt/obj/%s", CRASH_ID);
        ck_assert_str_eq(m->key, v);
    }
    ck_assert_int_eq(found, 1);
    evf_fleet_msgs_free(&msgs);

    /* 9. p-0, p-1 and the undecodable value failed again: new letters with replay count 1.
     * Under dlq.replay.max=1 they are parked; the replayed ones are skipped; nothing is sent. */
    evf_fleet_read_topic_until(dlq, n_letters + 3, &msgs, WAIT_MS);
    size_t again = msgs.count - n_letters;
    ck_assert_msg(again >= 3, "%zu letters failed again after their replay", again);
    evf_fleet_msgs_free(&msgs);
    evf_fleet_high_watermarks(inbox, 2, inbox_before);
    TOOL(&t, n.prefix, "-X", "dlq.replay.max=1", "replay", dlq);
    ASSERT_TOOL(&t, 0);
    ck_assert_int_eq(number_after(t.err, "replayed"), 0);
    ck_assert_ptr_nonnull(strstr(t.err, "parked, not replayed"));
    snprintf(buf, sizeof(buf), "%zu already replayed, 0 purged, %zu parked", n_letters, again);
    ck_assert_msg(strstr(t.err, buf), "expected '%s' in: %s", buf, t.err);
    tool_free(&t);
    evf_fleet_high_watermarks(inbox, 2, inbox_after);
    ck_assert_int_eq(inbox_after[0], inbox_before[0]);
    ck_assert_int_eq(inbox_after[1], inbox_before[1]);

    TOOL(&t, n.prefix, "-X", "dlq.replay.max=1", "list", dlq, "--format", "json");
    ASSERT_TOOL(&t, 0);
    lines = json_lines(t.out);
    size_t parked = 0, replayed = 0;
    json_t *o;
    json_array_foreach(lines, i, o) {
        if (!strcmp(jstr(o, "status"), "parked")) {
            parked++;
            ck_assert_int_eq(jint(o, "replay_count"), 1);
        } else if (!strcmp(jstr(o, "status"), "replayed")) {
            replayed++;
            ck_assert_str_eq(jstr(o, "ledger_to"), inbox);
        }
    }
    ck_assert_uint_eq(parked, again);
    ck_assert_uint_eq(replayed, n_letters);
    json_decref(lines);
    tool_free(&t);

    /* 10. purge: without --yes it only says; with --yes it marks. */
    long entries_before = ledger_entries(r, n.prefix, dlq, NULL);
    TOOL(&t, n.prefix, "purge", dlq, "--class", "decode");
    ASSERT_TOOL(&t, 0);
    ck_assert_ptr_nonnull(strstr(t.out, "would purge"));
    ck_assert_ptr_nonnull(strstr(t.err, "add --yes"));
    tool_free(&t);
    ck_assert_int_eq(ledger_entries(r, n.prefix, dlq, NULL), entries_before);
    TOOL(&t, n.prefix, "purge", dlq, "--class", "decode", "--yes");
    ASSERT_TOOL(&t, 0);
    long long purged = number_after(t.err, "purged");
    ck_assert_msg(purged >= 1 && purged == ledger_entries(r, n.prefix, dlq, "purged"), "%s",
                  t.err);
    ck_assert_ptr_nonnull(strstr(t.err, "1 already replayed"));
    tool_free(&t);
    TOOL(&t, n.prefix, "stats", dlq, "--format", "json");
    ASSERT_TOOL(&t, 0);
    stats = json_loads(t.out, 0, NULL);
    ck_assert_int_eq(jint(json_object_get(stats, "status"), "purged"), purged);
    ck_assert_int_eq(jint(json_object_get(stats, "status"), "replayed"), (json_int_t)n_letters);
    json_decref(stats);
    tool_free(&t);

    ck_assert_int_eq(evf_fleet_stop(&w, STOP_MS, NULL), 0);
    evf_fleet_idmap_free(expected);
    evf_redis_destroy(r);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* source_vs_inbox                                                                              */

/* Publish markers until the worker of ledger counted one (its consumer, starting at `latest`,
 * is positioned). Every marker published is added to ids. */
static void position_with_markers(evf_redis_t *r, const char *topic, const char *ledger,
                                  evf_fleet_idmap_t *ids) {
    int64_t deadline = evf_test_now_ms() + WAIT_MS;
    for (int k = 0;; k++) {
        char id[32];
        snprintf(id, sizeof(id), "m-%d", k);
        publish_one(topic, id, 0, NULL);
        evf_fleet_idmap_add(ids, id, 1);
        for (int w = 0; w < 15; w++) {
            if (evf_fleet_hlen(r, ledger) > 0)
                return;
            usleep(100 * 1000);
        }
        ck_assert_msg(evf_test_now_ms() < deadline, "%s never counted a marker", ledger);
    }
}

START_TEST(test_source_vs_inbox) {
    evf_fleet_names_t n, n2;
    evf_fleet_worker_t w1, w2;
    tool_t t = {0};
    char dlq[300], buf[512], v[300], quarantine[160];
    evf_fleet_names(&n, "dlqsrc", 1);
    snprintf(dlq, sizeof(dlq), "%s", evf_fleet_derived(&n, "dlq"));
    evf_fleet_create_topic(n.topic, 1);
    evf_redis_t *r = evf_fleet_redis();

    /* a second application on the same source, with its own group */
    n2 = n;
    evf_test_unique(n2.group, sizeof(n2.group), "wg-dlqsrc2");
    snprintf(n2.ledger, sizeof(n2.ledger), "%s:ledger:%s", n2.prefix, n2.group);
    evf_fleet_track_topic(evf_fleet_derived(&n2, "dlq"));
    evf_fleet_track_topic(evf_fleet_derived(&n2, "replay"));
    evf_test_unique(quarantine, sizeof(quarantine), "wt-quarantine");
    /* made here, not by the tool: a just-created topic may briefly answer "not leader" to the
     * watermark query of evf_fleet_read_topic */
    evf_fleet_create_topic(quarantine, 1);

    evf_pub_t *pub = evf_fleet_publisher();
    publish(pub, n.topic, "a", 0, NULL);
    publish(pub, n.topic, "b", 0, NULL);
    publish(pub, n.topic, "c", 0, NULL);
    evf_fleet_publisher_done(pub);

    /* a and b fail on their first run only (fail.attempts counts evfleet.attempts too, so a
     * replayed copy succeeds) */
    const char *const extra1[] = {"route.*=chaos",
                                  "processor.chaos.ledger=true",
                                  "processor.chaos.fail.kind=permanent",
                                  "processor.chaos.fail.ids=a,b",
                                  "processor.chaos.fail.attempts=1",
                                  NULL};
    evf_fleet_start(&w1, &n, extra1, NULL);
    evf_fleet_wait_ready(&w1, READY_MS);
    wait_ledger_has(r, n.ledger, "c", WAIT_MS);
    /* the same id with other content after c was done: fingerprint-mismatch */
    publish_one(n.topic, "c", 0, "-changed");
    evf_fleet_msgs_t msgs;
    evf_fleet_read_topic_until(dlq, 3, &msgs, WAIT_MS);
    ck_assert_uint_eq(msgs.count, 3);
    evf_fleet_msgs_free(&msgs);

    const char *const extra2[] = {"route.*=chaos", "processor.chaos.ledger=true",
                                  "kafka.auto.offset.reset=latest", NULL};
    evf_fleet_start(&w2, &n2, extra2, NULL);
    evf_fleet_wait_ready(&w2, READY_MS);
    evf_fleet_idmap_t *markers = evf_fleet_idmap_new();
    position_with_markers(r, n.topic, n2.ledger, markers);

    /* inbox (the default): only the failing group sees it */
    TOOL(&t, n.prefix, "replay", dlq, "--id", "a");
    ASSERT_TOOL(&t, 0);
    ck_assert_int_eq(number_after(t.err, "replayed"), 1);
    ck_assert_ptr_null(strstr(t.err, "EVERY"));
    tool_free(&t);
    wait_ledger_has(r, n.ledger, "a", WAIT_MS);

    /* source: every group sees it, and the tool says so */
    TOOL(&t, n.prefix, "replay", dlq, "--id", "b", "--to", "source");
    ASSERT_TOOL(&t, 0);
    ck_assert_int_eq(number_after(t.err, "replayed"), 1);
    ck_assert_ptr_nonnull(strstr(t.err, "EVERY consumer group"));
    snprintf(buf, sizeof(buf), "to %s ", n.topic);
    ck_assert_ptr_nonnull(strstr(t.err, buf));
    tool_free(&t);
    wait_ledger_has(r, n.ledger, "b", WAIT_MS);
    wait_ledger_has(r, n2.ledger, "b", WAIT_MS);

    /* A last marker: once the second group counted it, it has read everything before it. */
    publish_one(n.topic, "z", 0, NULL);
    evf_fleet_idmap_add(markers, "z", 1);
    wait_ledger_has(r, n2.ledger, "z", WAIT_MS);
    evf_fleet_wait_ledger(r, n.ledger, 3 + (int64_t)evf_fleet_idmap_size(markers), WAIT_MS,
                          STALL_MS, NULL);
    evf_fleet_idmap_t *g2 = evf_fleet_hash(r, n2.ledger);
    ck_assert_int_eq(evf_fleet_idmap_get(g2, "b"), 1);
    ck_assert_int_eq(evf_fleet_idmap_get(g2, "a"), -1); /* the inbox replay never reached it */
    ck_assert_int_eq(evf_fleet_idmap_get(g2, "c"), -1);
    evf_fleet_idmap_free(g2);
    evf_fleet_idmap_t *expected = evf_fleet_idmap_new();
    evf_fleet_idmap_add(expected, "a", 1);
    evf_fleet_idmap_add(expected, "b", 1);
    evf_fleet_idmap_add(expected, "c", 1);
    for (size_t k = 0;; k++) {
        const char *key;
        int64_t count;
        if (!evf_fleet_idmap_at(markers, k, &key, &count))
            break;
        if (key)
            evf_fleet_idmap_add(expected, key, 1);
    }
    size_t missing, wrong, extra;
    char first[256];
    evf_fleet_idmap_t *g1 = evf_fleet_hash(r, n.ledger);
    ck_assert_msg(evf_fleet_ledger_exact(g1, expected, &missing, &wrong, &extra, first,
                                         sizeof(first)),
                  "group 1 ledger: %zu missing, %zu wrong (%s), %zu extra", missing, wrong,
                  first, extra);
    evf_fleet_idmap_free(g1);
    evf_fleet_idmap_free(expected);
    evf_fleet_idmap_free(markers);

    /* fingerprint-mismatch: refused for the inbox and the source; copied to another topic */
    TOOL(&t, n.prefix, "list", dlq, "--class", "fingerprint-mismatch", "--format", "json");
    ASSERT_TOOL(&t, 0);
    json_t *lines = json_lines(t.out);
    ck_assert_uint_eq(json_array_size(lines), 1);
    ck_assert_str_eq(jstr(json_array_get(lines, 0), "id"), "c");
    char ledger_key[512];
    snprintf(ledger_key, sizeof(ledger_key), "%s:dlq:%s:0:%d", n.prefix, dlq,
             (int)jint(json_array_get(lines, 0), "offset"));
    json_decref(lines);
    tool_free(&t);
    TOOL(&t, n.prefix, "replay", dlq, "--id", "c");
    ASSERT_TOOL(&t, 0);
    ck_assert_ptr_nonnull(strstr(t.err, "1 refused"));
    ck_assert_ptr_nonnull(strstr(t.err, "fingerprint-mismatch"));
    tool_free(&t);
    TOOL(&t, n.prefix, "replay", dlq, "--class", "fingerprint-mismatch", "--to", "source");
    ASSERT_TOOL(&t, 0);
    ck_assert_ptr_nonnull(strstr(t.err, "1 refused"));
    tool_free(&t);
    ck_assert_ptr_null(evf_fleet_hget(r, ledger_key, "state", v, sizeof(v)));
    TOOL(&t, n.prefix, "replay", dlq, "--id", "c", "--to", quarantine);
    ASSERT_TOOL(&t, 0);
    ck_assert_int_eq(number_after(t.err, "replayed"), 1);
    tool_free(&t);
    ck_assert_str_eq(evf_fleet_hget(r, ledger_key, "state", v, sizeof(v)), "sent");
    ck_assert_str_eq(evf_fleet_hget(r, ledger_key, "to", v, sizeof(v)), quarantine);
    evf_fleet_read_topic(quarantine, &msgs, WAIT_MS);
    ck_assert_uint_eq(msgs.count, 1);
    ck_assert_str_eq(evf_fleet_header(&msgs.msgs[0], "ce_id", v, sizeof(v)), "c");
    ck_assert_str_eq(evf_fleet_header(&msgs.msgs[0], EVF_H_REPLAY_COUNT, v, sizeof(v)), "1");
    ck_assert_str_eq(evf_fleet_header(&msgs.msgs[0], EVF_H_ERROR_CLASS, v, sizeof(v)),
                     "fingerprint-mismatch");
    evf_fleet_msgs_free(&msgs);

    /* never to a dead-letter or retry topic */
    TOOL(&t, n.prefix, "replay", dlq, "--to", evf_fleet_derived(&n, "retry.1"));
    ASSERT_TOOL(&t, 2);
    ck_assert_ptr_nonnull(strstr(t.err, "retry topic"));
    tool_free(&t);
    TOOL(&t, n.prefix, "replay", dlq, "--to", evf_fleet_derived(&n2, "dlq"));
    ASSERT_TOOL(&t, 2);
    ck_assert_ptr_nonnull(strstr(t.err, "dead-letter topic"));
    tool_free(&t);

    ck_assert_int_eq(evf_fleet_stop(&w2, STOP_MS, NULL), 0);
    ck_assert_int_eq(evf_fleet_stop(&w1, STOP_MS, NULL), 0);
    evf_redis_destroy(r);
}
END_TEST

static Suite *dlq_tool_suite(void) {
    Suite *s = suite_create("dlq_tool");
    TCase *tc = tcase_create("real");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_inspect_and_replay);
    tcase_add_test(tc, test_source_vs_inbox);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(dlq_tool_suite());
    evf_fleet_session_begin();
    srunner_run_all(sr, CK_ENV);
    evf_fleet_session_end();
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
