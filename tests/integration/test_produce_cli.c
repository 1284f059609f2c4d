/* tests/integration/test_produce_cli.c — `evfleet-produce` as a program against the real local
 * broker: generated events of each kind read back whole (decodable, distinct ids, key and
 * CloudEvents headers), routing by kind to the `topics` list, one event from flags, JSON lines
 * with a malformed line (exit 3, the others delivered), bench pacing, a down broker (exit 3,
 * bounded), configuration errors (exit 2) and SIGINT (flush, summary, exit 0). */
#include <check.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "event.h"
#include "kafka.h"
#include "testutil.h"

#define TMO 30000
#define MAX_TOPICS 16

static char created[MAX_TOPICS][128];
static int n_created;

/* A fresh topic name; deleted by the fixture's teardown. */
static const char *new_topic(const char *what) {
    ck_assert_int_lt(n_created, MAX_TOPICS);
    evf_test_unique(created[n_created], sizeof(created[0]), what);
    return created[n_created++];
}

static void teardown(void) {
    char err[512];
    const char *names[MAX_TOPICS];
    if (n_created == 0)
        return;
    evf_conf_t *conf = evf_test_conf();
    rd_kafka_conf_t *kconf = evf_kafka_conf_new(conf, EVF_KAFKA_ADMIN, err, sizeof(err));
    rd_kafka_t *rk = kconf ? rd_kafka_new(RD_KAFKA_PRODUCER, kconf, err, sizeof(err)) : NULL;
    for (int i = 0; i < n_created; i++)
        names[i] = created[i];
    if (!rk || evf_kafka_delete_topics(rk, names, (size_t)n_created, TMO, err, sizeof(err)))
        fprintf(stderr, "test_produce_cli: deleting topics: %s\n", err);
    if (rk)
        rd_kafka_destroy(rk);
    evf_conf_destroy(conf);
    n_created = 0;
}

/* ---- running the program ---- */

typedef struct {
    int exit_code; /* -1: killed by a signal or timed out */
    int64_t elapsed_ms;
    char *output; /* stdout + stderr */
} run_result_t;

static char log_path[256];

static pid_t start_produce(const char *const *args) {
    static int runs;
    char *argv[64];
    int n = 0;
    argv[n++] = evf_test_bin("evfleet-produce");
    for (; *args; args++) {
        ck_assert_int_lt(n, 63);
        argv[n++] = (char *)*args;
    }
    argv[n] = NULL;
    snprintf(log_path, sizeof(log_path), "/tmp/evf-produce-cli-%d-%d.log", (int)getpid(),
             ++runs);
    unlink(log_path);
    pid_t pid = evf_test_spawn(argv, NULL, log_path);
    free(argv[0]);
    return pid;
}

static run_result_t finish_produce(pid_t pid, int64_t t0, int timeout_ms) {
    run_result_t r = {.exit_code = -1};
    int status = 0;
    if (evf_test_wait(pid, timeout_ms, &status)) {
        evf_test_kill(pid);
        r.output = evf_test_read_file(log_path, NULL);
        ck_abort_msg("evfleet-produce did not finish within %d ms; output:\n%s", timeout_ms,
                     r.output ? r.output : "");
    }
    r.elapsed_ms = evf_test_now_ms() - t0;
    if (WIFEXITED(status))
        r.exit_code = WEXITSTATUS(status);
    r.output = evf_test_read_file(log_path, NULL);
    if (!r.output)
        r.output = strdup("");
    unlink(log_path);
    return r;
}

/* Run with the local broker and the given arguments (NULL-terminated). */
static run_result_t produce(int timeout_ms, const char *const *args) {
    int64_t t0 = evf_test_now_ms();
    pid_t pid = start_produce(args);
    return finish_produce(pid, t0, timeout_ms);
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* ---- reading a topic back ---- */

/* A small open-addressing set of strings, to count distinct ids. */
typedef struct {
    char **slots;
    size_t cap, count;
} strset_t;

static void set_init(strset_t *s, size_t n) {
    s->cap = n * 2 + 16;
    s->count = 0;
    s->slots = calloc(s->cap, sizeof(char *));
    ck_assert_ptr_nonnull(s->slots);
}

static int set_add(strset_t *s, const char *v) {
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = v; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    for (size_t i = h % s->cap;; i = (i + 1) % s->cap) {
        if (!s->slots[i]) {
            ck_assert_uint_lt(s->count + 1, s->cap);
            s->slots[i] = strdup(v);
            s->count++;
            return 1;
        }
        if (!strcmp(s->slots[i], v))
            return 0;
    }
}

static void set_free(strset_t *s) {
    for (size_t i = 0; i < s->cap; i++)
        free(s->slots[i]);
    free(s->slots);
}

static const char *header(const rd_kafka_message_t *m, const char *name, char *buf,
                          size_t buf_size) {
    rd_kafka_headers_t *hdrs = NULL;
    const void *value;
    size_t size;
    if (rd_kafka_message_headers(m, &hdrs) ||
        rd_kafka_header_get_last(hdrs, name, &value, &size))
        return NULL;
    snprintf(buf, buf_size, "%.*s", (int)size, (const char *)value);
    return buf;
}

typedef void(check_fn_t)(const evf_event_t *ev, void *opaque);

/* Read every message of topic from the beginning (a group-less reader: assign all partitions,
 * stop at EOF on each). Each must decode, have the event's Kafka key, the CloudEvents headers,
 * and an id not seen before; check (may be NULL) looks at the event too.
 * @returns the number of messages. */
static size_t read_topic(const char *topic, check_fn_t *check, void *opaque) {
    char err[512], buf[512], key[1024];
    evf_conf_t *conf = evf_test_conf();
    rd_kafka_conf_t *kconf = evf_kafka_conf_new(conf, EVF_KAFKA_READER, err, sizeof(err));
    ck_assert_msg(kconf, "%s", err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kconf, err, sizeof(err));
    ck_assert_msg(rk, "%s", err);
    int parts = evf_kafka_partition_count(rk, topic, TMO, err, sizeof(err));
    ck_assert_msg(parts > 0, "topic %s: %d partitions: %s", topic, parts, err);
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(parts);
    for (int p = 0; p < parts; p++)
        rd_kafka_topic_partition_list_add(list, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    ck_assert_int_eq(rd_kafka_assign(rk, list), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(list);

    strset_t ids;
    set_init(&ids, 20000);
    /* EOF per partition, counted once each: a partition can report EOF more than once. */
    int eof = 0;
    char *at_eof = calloc((size_t)parts, 1);
    ck_assert_ptr_nonnull(at_eof);
    size_t count = 0;
    int64_t deadline = evf_test_now_ms() + 60000;
    while (eof < parts) {
        ck_assert_msg(evf_test_now_ms() < deadline, "reading %s: timed out after %zu messages",
                      topic, count);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (m->partition >= 0 && m->partition < parts && !at_eof[m->partition]) {
                at_eof[m->partition] = 1;
                eof++;
            }
            rd_kafka_message_destroy(m);
            continue;
        }
        if (m->partition >= 0 && m->partition < parts && at_eof[m->partition]) {
            at_eof[m->partition] = 0; /* more arrived after its EOF: read on to the new end */
            eof--;
        }
        ck_assert_msg(!m->err, "reading %s: %s", topic, rd_kafka_message_errstr(m));
        const char *ct = header(m, "content-type", buf, sizeof(buf));
        ck_assert_msg(ct && !strcmp(ct, EVF_CT_PROTOBUF), "content-type %s", ct ? ct : "absent");
        evf_event_t *ev = evf_event_decode_message(m->payload, m->len, ct, err, sizeof(err));
        ck_assert_msg(ev, "message %zu of %s does not decode: %s", count, topic, err);
        ck_assert_msg(set_add(&ids, ev->id), "id %s repeated", ev->id);

        size_t key_len = evf_event_kafka_key(ev, key, sizeof(key));
        ck_assert_uint_eq(m->key_len, key_len);
        ck_assert_msg(!memcmp(m->key, key, key_len), "key '%.*s' != '%s'", (int)m->key_len,
                      (const char *)m->key, key);
        const char *h = header(m, "ce_id", buf, sizeof(buf));
        ck_assert_msg(h && !strcmp(h, ev->id), "ce_id %s != %s", h ? h : "absent", ev->id);
        h = header(m, "ce_type", buf, sizeof(buf));
        ck_assert_msg(h && !strcmp(h, ev->type), "ce_type %s != %s", h ? h : "absent", ev->type);
        h = header(m, "ce_specversion", buf, sizeof(buf));
        ck_assert_msg(h && !strcmp(h, "1.0"), "ce_specversion %s", h ? h : "absent");
        ck_assert_ptr_nonnull(header(m, "ce_source", buf, sizeof(buf)));
        ck_assert_ptr_nonnull(header(m, "ce_time", buf, sizeof(buf)));
        if (check)
            check(ev, opaque);
        evf_event_free(ev);
        rd_kafka_message_destroy(m);
        count++;
    }
    set_free(&ids);
    free(at_eof);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    evf_conf_destroy(conf);
    return count;
}

/* ---- (a) generated events of each kind ---- */

typedef struct {
    Evfleet__V1__Source source;
    int64_t after_ms, before_ms; /* time_ms must be stamped at send time */
    int64_t seen;
} kind_check_t;

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void check_kind(const evf_event_t *ev, void *opaque) {
    kind_check_t *kc = opaque;
    ck_assert_int_eq(ev->source, kc->source);
    ck_assert_msg(ev->time_ms >= kc->after_ms && ev->time_ms <= kc->before_ms,
                  "time_ms %" PRId64 " not within the run [%" PRId64 ", %" PRId64 "]",
                  ev->time_ms, kc->after_ms, kc->before_ms);
    kc->seen++;
}

static void generated_kind(const char *kind, Evfleet__V1__Source source) {
    const char *topic = new_topic(kind);
    kind_check_t kc = {.source = source, .after_ms = wall_ms()};
    run_result_t r = produce(120000, ARGS("-b", evf_test_brokers(), "-t", topic, kind, "--count",
                                          "10000"));
    kc.before_ms = wall_ms();
    ck_assert_msg(r.exit_code == 0, "exit %d:\n%s", r.exit_code, r.output);
    ck_assert_msg(strstr(r.output, "10000 delivered, 0 failed"), "summary:\n%s", r.output);
    ck_assert_msg(strstr(r.output, topic), "summary names no topic:\n%s", r.output);
    ck_assert_uint_eq(read_topic(topic, check_kind, &kc), 10000);
    ck_assert_int_eq(kc.seen, 10000);
    free(r.output);
}

START_TEST(iot_count) {
    generated_kind("iot", EVFLEET__V1__SOURCE__IOT);
}
END_TEST

START_TEST(s3_count) {
    generated_kind("s3", EVFLEET__V1__SOURCE__S3);
}
END_TEST

START_TEST(stream_count) {
    generated_kind("stream", EVFLEET__V1__SOURCE__STREAM);
}
END_TEST

/* Without -t each event goes to its kind's topic from the `topics` list. */
START_TEST(bench_routes_by_kind) {
    char topics[512];
    const char *t_s3 = new_topic("route-s3"), *t_stream = new_topic("route-stream"),
               *t_iot = new_topic("route-iot");
    snprintf(topics, sizeof(topics), "topics=%s,%s,%s", t_iot, t_s3, t_stream);
    run_result_t r = produce(60000, ARGS("-b", evf_test_brokers(), "-X", topics, "bench",
                                         "--count", "600", "--mix", "s3=1,stream=1,iot=1",
                                         "--seed", "99"));
    ck_assert_msg(r.exit_code == 0, "exit %d:\n%s", r.exit_code, r.output);
    kind_check_t s3 = {EVFLEET__V1__SOURCE__S3, 0, INT64_MAX, 0};
    kind_check_t stream = {EVFLEET__V1__SOURCE__STREAM, 0, INT64_MAX, 0};
    kind_check_t iot = {EVFLEET__V1__SOURCE__IOT, 0, INT64_MAX, 0};
    size_t total = read_topic(t_s3, check_kind, &s3) + read_topic(t_stream, check_kind, &stream) +
                   read_topic(t_iot, check_kind, &iot);
    ck_assert_uint_eq(total, 600);
    ck_assert_int_gt(s3.seen, 100);
    ck_assert_int_gt(stream.seen, 100);
    ck_assert_int_gt(iot.seen, 100);
    free(r.output);
}
END_TEST

/* ---- one event from flags ---- */

static void check_s3_flags(const evf_event_t *ev, void *opaque) {
    (void)opaque;
    ck_assert_str_eq(ev->id, "flag-event-1");
    ck_assert_str_eq(ev->type, "s3:ObjectRemoved:Delete");
    ck_assert_str_eq(ev->subject, "my-bucket/dir/a file.txt");
    ck_assert_str_eq(ev->s3->bucket, "my-bucket");
    ck_assert_str_eq(ev->s3->key, "dir/a file.txt");
    ck_assert_int_eq(ev->s3->size, 10);
    ck_assert_int_eq(ev->time_ms, 1700000000123LL);
    ck_assert_uint_eq(ev->n_attributes, 1);
    ck_assert_str_eq(ev->attributes[0]->key, "team");
    ck_assert_str_eq(ev->attributes[0]->value, "data");
}

static void check_stream_flags(const evf_event_t *ev, void *opaque) {
    (void)opaque;
    ck_assert_str_eq(ev->type, "stream:MODIFY");
    ck_assert_str_eq(ev->stream->table, "orders");
    ck_assert_str_eq(ev->stream->keys, "{\"a\":\"x\",\"id\":1}");
    ck_assert_str_eq(ev->stream->new_image, "{\"id\":1,\"status\":\"PAID\"}");
    ck_assert_str_eq(ev->subject, "orders/{\"a\":\"x\",\"id\":1}");
}

static void check_iot_flags(const evf_event_t *ev, void *opaque) {
    (void)opaque;
    ck_assert_str_eq(ev->type, "iot:telemetry");
    ck_assert_str_eq(ev->iot->device_id, "dev-7");
    ck_assert_str_eq(ev->iot->metric, "temp");
    ck_assert(ev->iot->value == 21.5);
    ck_assert_str_eq(ev->iot->unit, "C");
    ck_assert_uint_eq(ev->iot->n_readings, 1);
    ck_assert_ptr_nonnull(ev->iot->location);
    ck_assert(ev->iot->location->lat == 48.85);
}

START_TEST(single_events_from_flags) {
    const char *t1 = new_topic("flags-s3"), *t2 = new_topic("flags-stream"),
               *t3 = new_topic("flags-iot");
    run_result_t r = produce(60000, ARGS("-b", evf_test_brokers(), "-t", t1, "s3", "--bucket",
                                         "my-bucket", "--key", "dir/a file.txt", "--size", "10",
                                         "--event", "ObjectRemoved:Delete", "--id",
                                         "flag-event-1", "--time-ms", "1700000000123", "--attr",
                                         "team=data"));
    ck_assert_msg(r.exit_code == 0, "exit %d:\n%s", r.exit_code, r.output);
    ck_assert_uint_eq(read_topic(t1, check_s3_flags, NULL), 1);
    free(r.output);

    r = produce(60000, ARGS("-b", evf_test_brokers(), "-t", t2, "stream", "--table", "orders",
                            "--op", "MODIFY", "--keys", "{\"id\": 1, \"a\": \"x\"}",
                            "--new-image", "{\"status\":\"PAID\",\"id\":1}"));
    ck_assert_msg(r.exit_code == 0, "exit %d:\n%s", r.exit_code, r.output);
    ck_assert_uint_eq(read_topic(t2, check_stream_flags, NULL), 1);
    free(r.output);

    r = produce(60000, ARGS("-b", evf_test_brokers(), "-t", t3, "iot", "--device", "dev-7",
                            "--metric", "temp", "--value", "21.5", "--unit", "C", "--reading",
                            "humidity=40", "--lat", "48.85", "--lon", "2.35"));
    ck_assert_msg(r.exit_code == 0, "exit %d:\n%s", r.exit_code, r.output);
    ck_assert_uint_eq(read_topic(t3, check_iot_flags, NULL), 1);
    free(r.output);
}
END_TEST

/* ---- (b) JSON lines with a malformed line ---- */

/* A sample document from tests/data/aws as one compact line. */
static char *sample_line(const char *name) {
    char path[256];
    json_error_t jerr;
    snprintf(path, sizeof(path), "tests/data/aws/%s", name);
    json_t *doc = json_load_file(path, 0, &jerr);
    ck_assert_msg(doc, "%s: %s", path, jerr.text);
    char *line = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return line;
}

START_TEST(json_lines_with_a_malformed_line) {
    const char *topic = new_topic("json");
    char path[128];
    snprintf(path, sizeof(path), "/tmp/evf-produce-cli-%d.jsonl", (int)getpid());
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    char *s3 = sample_line("s3_put.json"), *ddb = sample_line("dynamodb_modify.json");
    fprintf(f, "{\"id\":\"json-1\",\"source\":\"IOT\",\"type\":\"iot:telemetry\",\"iot\":"
               "{\"deviceId\":\"d1\",\"metric\":\"temp\",\"value\":20}}\n"); /* 1 event */
    fprintf(f, "%s\n", s3);                                                /* 2 events */
    fprintf(f, "{\"id\": \"json-3\", \"source\": oops}\n");               /* line 3: bad */
    fprintf(f, "%s\r\n", ddb);                                             /* 1 event */
    fprintf(f, "\n");                                                      /* blank: skipped */
    fprintf(f, "{\"specversion\":\"1.0\",\"id\":\"ce-6\",\"source\":\"evfleet/iot\",\"type\":"
               "\"iot:telemetry\",\"data\":{\"deviceId\":\"d6\",\"metric\":\"m\",\"value\":1}}\n");
    fprintf(f, "{\"not\":\"an event\"}\n"); /* line 7: unknown shape */
    /* Line 8: a 3 MB line (padding between tokens) holding one small event. */
    fprintf(f, "{\"id\":\"json-8\",%*s\"source\":\"IOT\",\"iot\":{\"deviceId\":\"d8\"}}\n",
            3 << 20, "");
    fclose(f);
    free(s3);
    free(ddb);

    run_result_t r = produce(60000, ARGS("-b", evf_test_brokers(), "-t", topic, "json", path));
    unlink(path);
    ck_assert_msg(r.exit_code == 3, "exit %d:\n%s", r.exit_code, r.output);
    ck_assert_msg(strstr(r.output, "line 3:") && strstr(r.output, "invalid JSON"),
                  "line 3 not reported:\n%s", r.output);
    ck_assert_msg(strstr(r.output, "line 7:") && strstr(r.output, "unknown document shape"),
                  "line 7 not reported:\n%s", r.output);
    ck_assert_msg(strstr(r.output, "6 delivered, 0 failed"), "summary:\n%s", r.output);
    ck_assert_msg(strstr(r.output, "2 input line(s) rejected"), "summary:\n%s", r.output);
    ck_assert_uint_eq(read_topic(topic, NULL, NULL), 6);
    free(r.output);

    r = produce(30000, ARGS("-b", evf_test_brokers(), "json", "/nonexistent/input.jsonl"));
    ck_assert_msg(r.exit_code == 2 && strstr(r.output, "/nonexistent/input.jsonl"),
                  "exit %d:\n%s", r.exit_code, r.output);
    free(r.output);
}
END_TEST

/* ---- (c) bench pacing ---- */

START_TEST(bench_keeps_the_rate) {
    const char *topic = new_topic("bench");
    run_result_t r = produce(60000, ARGS("-b", evf_test_brokers(), "-t", topic, "bench",
                                         "--rate", "2000", "--count", "4000"));
    ck_assert_msg(r.exit_code == 0, "exit %d:\n%s", r.exit_code, r.output);
    ck_assert_msg(r.elapsed_ms >= 1500, "4000 events at 2000/s took only %" PRId64 " ms",
                  r.elapsed_ms);
    ck_assert_msg(r.elapsed_ms < 20000, "took %" PRId64 " ms", r.elapsed_ms);
    ck_assert_msg(strstr(r.output, "4000 delivered, 0 failed"), "summary:\n%s", r.output);
    ck_assert_uint_eq(read_topic(topic, NULL, NULL), 4000);
    free(r.output);
}
END_TEST

/* ---- (d) broker down ---- */

START_TEST(broker_down_is_bounded) {
    /* Both with topic creation (the default; it gives up after its timeout) and without (the
     * messages time out after message.timeout.ms), run side by side. */
    int64_t t0 = evf_test_now_ms();
    char log_a[256];
    pid_t a = start_produce(ARGS("-b", "127.0.0.1:1", "-X", "kafka.message.timeout.ms=3000",
                                 "-t", "evf-never-created", "iot", "--count", "50"));
    snprintf(log_a, sizeof(log_a), "%s", log_path);
    pid_t b = start_produce(ARGS("-b", "127.0.0.1:1", "-X", "kafka.message.timeout.ms=3000",
                                 "--no-create-topics", "-t", "evf-never-created", "iot",
                                 "--count", "50"));
    run_result_t rb = finish_produce(b, t0, 60000);
    snprintf(log_path, sizeof(log_path), "%s", log_a);
    run_result_t ra = finish_produce(a, t0, 60000);

    ck_assert_msg(ra.exit_code == 3, "exit %d:\n%s", ra.exit_code, ra.output);
    ck_assert_msg(strstr(ra.output, "50 event(s) not delivered"), "output:\n%s", ra.output);
    ck_assert_msg(ra.elapsed_ms < 60000, "took %" PRId64 " ms", ra.elapsed_ms);
    ck_assert_msg(rb.exit_code == 3, "exit %d:\n%s", rb.exit_code, rb.output);
    ck_assert_msg(strstr(rb.output, "50 event(s) not delivered") &&
                      strstr(rb.output, "timed out"),
                  "output:\n%s", rb.output);
    ck_assert_msg(rb.elapsed_ms < 20000, "took %" PRId64 " ms", rb.elapsed_ms);
    free(ra.output);
    free(rb.output);
}
END_TEST

/* ---- (e) configuration and usage errors ---- */

START_TEST(config_errors_exit_2) {
    run_result_t r = produce(30000, ARGS("-X", "no.such.key=1", "iot", "--count", "1"));
    ck_assert_msg(r.exit_code == 2, "exit %d:\n%s", r.exit_code, r.output);
    ck_assert_msg(strstr(r.output, "no.such.key"), "output:\n%s", r.output);
    free(r.output);

    r = produce(30000, ARGS("-X", "kafka.no.such.property=1", "iot", "--count", "1"));
    ck_assert_msg(r.exit_code == 2, "exit %d:\n%s", r.exit_code, r.output);
    ck_assert_msg(strstr(r.output, "kafka.no.such.property"), "output:\n%s", r.output);
    free(r.output);

    r = produce(30000, ARGS("-X", "topics.partitions=zero", "iot", "--count", "1"));
    ck_assert_msg(r.exit_code == 2, "exit %d:\n%s", r.exit_code, r.output);
    ck_assert_msg(strstr(r.output, "topics.partitions"), "output:\n%s", r.output);
    free(r.output);

    r = produce(30000, ARGS("iot", "--bucket", "b"));
    ck_assert_msg(r.exit_code == 2, "exit %d:\n%s", r.exit_code, r.output);
    ck_assert_msg(strstr(r.output, "--bucket"), "output:\n%s", r.output);
    free(r.output);

    r = produce(30000, ARGS("stream", "--table", "t", "--keys", "[1]"));
    ck_assert_msg(r.exit_code == 2, "exit %d:\n%s", r.exit_code, r.output);
    free(r.output);

    r = produce(30000, ARGS("-b", evf_test_brokers(), "bench", "--mix", "s3=1,sqs=2"));
    ck_assert_msg(r.exit_code == 2 && strstr(r.output, "sqs"), "exit %d:\n%s", r.exit_code,
                  r.output);
    free(r.output);

    r = produce(30000, ARGS("frobnicate"));
    ck_assert_msg(r.exit_code == 2, "exit %d:\n%s", r.exit_code, r.output);
    free(r.output);

    r = produce(30000, ARGS("--help"));
    ck_assert_msg(r.exit_code == 0 && strstr(r.output, "topics.partitions"), "exit %d:\n%s",
                  r.exit_code, r.output);
    free(r.output);
}
END_TEST

/* ---- SIGINT ---- */

START_TEST(sigint_flushes_and_summarises) {
    const char *topic = new_topic("sigint");
    int64_t t0 = evf_test_now_ms();
    pid_t pid = start_produce(ARGS("-b", evf_test_brokers(), "-t", topic, "bench", "--rate",
                                   "1000", "--count", "1000000"));
    usleep(2500 * 1000);
    kill(pid, SIGINT);
    run_result_t r = finish_produce(pid, t0, 30000);
    ck_assert_msg(r.exit_code == 0, "exit %d:\n%s", r.exit_code, r.output);
    unsigned long long delivered = 0;
    const char *line = r.output;
    while ((line = strstr(line, "interrupted: ")) &&
           sscanf(line, "interrupted: %llu delivered", &delivered) != 1)
        line++;
    ck_assert_msg(line, "no interrupted summary:\n%s", r.output);
    ck_assert_uint_gt(delivered, 500);
    ck_assert_uint_lt(delivered, 10000);
    /* Everything the summary counts as delivered is on the topic, and nothing more. */
    ck_assert_uint_eq(read_topic(topic, NULL, NULL), delivered);
    free(r.output);
}
END_TEST

static Suite *produce_cli_suite(void) {
    Suite *s = suite_create("produce_cli");
    TCase *tc = tcase_create("cli");
    tcase_set_timeout(tc, 180);
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, iot_count);
    tcase_add_test(tc, s3_count);
    tcase_add_test(tc, stream_count);
    tcase_add_test(tc, bench_routes_by_kind);
    tcase_add_test(tc, single_events_from_flags);
    tcase_add_test(tc, json_lines_with_a_malformed_line);
    tcase_add_test(tc, bench_keeps_the_rate);
    tcase_add_test(tc, broker_down_is_bounded);
    tcase_add_test(tc, config_errors_exit_2);
    tcase_add_test(tc, sigint_flushes_and_summarises);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(produce_cli_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
