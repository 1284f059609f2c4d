/* tests/lib/failtest.c — see failtest.h. */
#include "failtest.h"

#include <check.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "kafka.h"
#include "testutil.h"

#define ADMIN_TMO_MS 30000

/* ---- trace ---- */

void evf_ftrace_path(char *out, size_t size, const char *what) {
    static int seq;
    const char *b = getenv("EVF_BUILD");
    char dir[256], cmd[320];
    snprintf(dir, sizeof(dir), "%s/test-logs/traces", b && *b ? b : "build/default");
    snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", dir);
    if (evf_test_sh(cmd) != 0)
        snprintf(dir, sizeof(dir), "/tmp");
    snprintf(out, size, "%s/%s-%d-%d.trace", dir, what, (int)getpid(), ++seq);
    unlink(out);
    evf_fleet_track_log(out);
}

void evf_ftrace_read(const char *path, evf_ftrace_t *out) {
    size_t len = 0, cap = 0;
    char *text = evf_test_read_file(path, &len);
    memset(out, 0, sizeof(*out));
    if (!text)
        return;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        evf_ftrace_call_t c;
        char outcome[16];
        long long at, off;
        memset(&c, 0, sizeof(c));
        int n = sscanf(line, "%lld %d %15s %255s %d %lld %127s", &at, &c.attempt, outcome, c.topic,
                       &c.partition, &off, c.id);
        ck_assert_msg(n == 7, "trace %s: bad line '%s'", path, line);
        c.at_ms = at;
        c.offset = off;
        c.ok = !strcmp(outcome, "ok");
        if (out->count == cap) {
            cap = cap ? cap * 2 : 64;
            out->calls = realloc(out->calls, cap * sizeof(*out->calls));
            ck_assert_ptr_nonnull(out->calls);
        }
        out->calls[out->count++] = c;
    }
    free(text);
}

void evf_ftrace_free(evf_ftrace_t *t) {
    free(t->calls);
    memset(t, 0, sizeof(*t));
}

static int by_time(const void *a, const void *b) {
    const evf_ftrace_call_t *x = *(const evf_ftrace_call_t *const *)a;
    const evf_ftrace_call_t *y = *(const evf_ftrace_call_t *const *)b;
    if (x->at_ms != y->at_ms)
        return x->at_ms < y->at_ms ? -1 : 1;
    return x->attempt - y->attempt;
}

size_t evf_ftrace_of(const evf_ftrace_t *t, const char *id, const evf_ftrace_call_t **out,
                     size_t max) {
    size_t n = 0;
    for (size_t i = 0; i < t->count && n < max; i++)
        if (!strcmp(t->calls[i].id, id))
            out[n++] = &t->calls[i];
    qsort(out, n, sizeof(*out), by_time);
    return n;
}

char *evf_ftrace_text(const evf_ftrace_t *t, size_t max_lines) {
    size_t cap = 256 + max_lines * 420, off = 0;
    char *s = malloc(cap);
    ck_assert_ptr_nonnull(s);
    s[0] = '\0';
    for (size_t i = 0; i < t->count && i < max_lines; i++) {
        const evf_ftrace_call_t *c = &t->calls[i];
        off += (size_t)snprintf(s + off, cap - off,
                                "  %" PRId64 " attempt %d %s %s[%d]@%" PRId64 " %s\n", c->at_ms,
                                c->attempt, c->ok ? "ok" : "retry", c->topic, c->partition,
                                c->offset, c->id);
    }
    if (t->count > max_lines)
        snprintf(s + off, cap - off, "  … %zu more\n", t->count - max_lines);
    return s;
}

/* ---- topics ---- */

static rd_kafka_t *admin(void) {
    char err[512];
    evf_conf_t *conf = evf_test_conf();
    rd_kafka_conf_t *kc = evf_kafka_conf_new(conf, EVF_KAFKA_ADMIN, err, sizeof(err));
    ck_assert_msg(kc, "%s", err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof(err));
    ck_assert_msg(rk, "%s", err);
    evf_conf_destroy(conf);
    return rk;
}

/* Wait for the one admin result event of type `type` on q. */
static rd_kafka_event_t *admin_wait(rd_kafka_queue_t *q, rd_kafka_event_type_t type,
                                    const char *what) {
    int64_t deadline = evf_test_now_ms() + ADMIN_TMO_MS + 5000;
    for (;;) {
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 1000);
        if (ev && rd_kafka_event_type(ev) == type)
            return ev;
        if (ev)
            rd_kafka_event_destroy(ev);
        ck_assert_msg(evf_test_now_ms() < deadline, "%s: no answer from the broker", what);
    }
}

void evf_ftopic_create(const char *topic, int partitions, const char *const *configs) {
    char err[512];
    evf_fleet_track_topic(topic);
    rd_kafka_t *rk = admin();
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, -1, err, sizeof(err));
    ck_assert_msg(nt, "%s", err);
    for (size_t i = 0; configs && configs[i]; i += 2)
        ck_assert_int_eq(rd_kafka_NewTopic_set_config(nt, configs[i], configs[i + 1]),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(opts, ADMIN_TMO_MS, err, sizeof(err));
    rd_kafka_AdminOptions_set_operation_timeout(opts, ADMIN_TMO_MS, err, sizeof(err));
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, opts, q);
    rd_kafka_event_t *ev = admin_wait(q, RD_KAFKA_EVENT_CREATETOPICS_RESULT, "CreateTopics");
    ck_assert_msg(!rd_kafka_event_error(ev), "CreateTopics %s: %s", topic,
                  rd_kafka_event_error_string(ev));
    size_t cnt = 0;
    const rd_kafka_topic_result_t **res =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
    ck_assert_uint_eq(cnt, 1);
    ck_assert_msg(!rd_kafka_topic_result_error(res[0]), "CreateTopics %s: %s", topic,
                  rd_kafka_topic_result_error_string(res[0]));
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_NewTopic_destroy(nt);
    /* Wait for leaders (the worker produces to it soon). */
    evf_topic_spec_t spec = {topic, partitions, -1, 0, 0};
    int rc = evf_kafka_ensure_topics(rk, &spec, 1, ADMIN_TMO_MS, err, sizeof(err));
    rd_kafka_destroy(rk);
    ck_assert_msg(rc == 0, "waiting for %s: %s", topic, err);
}

void evf_ftopic_alter(const char *topic, const char *const *configs) {
    char err[512];
    rd_kafka_t *rk = admin();
    rd_kafka_ConfigResource_t *cr = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    for (size_t i = 0; configs && configs[i]; i += 2)
        ck_assert_int_eq(rd_kafka_ConfigResource_set_config(cr, configs[i], configs[i + 1]),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_ALTERCONFIGS);
    rd_kafka_AdminOptions_set_request_timeout(opts, ADMIN_TMO_MS, err, sizeof(err));
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AlterConfigs(rk, &cr, 1, opts, q);
    rd_kafka_event_t *ev = admin_wait(q, RD_KAFKA_EVENT_ALTERCONFIGS_RESULT, "AlterConfigs");
    ck_assert_msg(!rd_kafka_event_error(ev), "AlterConfigs %s: %s", topic,
                  rd_kafka_event_error_string(ev));
    size_t cnt = 0;
    const rd_kafka_ConfigResource_t **res =
        rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev), &cnt);
    ck_assert_uint_eq(cnt, 1);
    ck_assert_msg(!rd_kafka_ConfigResource_error(res[0]), "AlterConfigs %s: %s", topic,
                  rd_kafka_ConfigResource_error_string(res[0]));
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_ConfigResource_destroy(cr);
    rd_kafka_destroy(rk);
}

void evf_ftopic_config(const char *topic, const char *name, char *out, size_t size) {
    char err[512];
    rd_kafka_t *rk = admin();
    int rc = evf_kafka_topic_config(rk, topic, name, out, size, ADMIN_TMO_MS, err, sizeof(err));
    rd_kafka_destroy(rk);
    ck_assert_msg(rc == 0, "DescribeConfigs %s %s: %s", topic, name, err);
}

/* ---- headers ---- */

int evf_fhdr_count(const evf_fleet_msg_t *m, const char *name) {
    int n = 0;
    const void *v;
    size_t l;
    while (m->headers && !rd_kafka_header_get(m->headers, (size_t)n, name, &v, &l))
        n++;
    return n;
}

const char *evf_fhdr_str(const evf_fleet_msg_t *m, const char *name, char *buf, size_t size) {
    const char *v = evf_fleet_header(m, name, buf, size);
    ck_assert_msg(v, "%s[%d]@%" PRId64 ": no header %s; headers: %s", "message", m->partition,
                  m->offset, name, evf_fhdr_text(m));
    return v;
}

int64_t evf_fhdr_int(const evf_fleet_msg_t *m, const char *name) {
    char buf[64], *end = NULL;
    const char *v = evf_fhdr_str(m, name, buf, sizeof(buf));
    long long x = strtoll(v, &end, 10);
    ck_assert_msg(*v && end && !*end, "header %s = '%s' is not a decimal integer", name, v);
    return x;
}

const char *evf_fhdr_text(const evf_fleet_msg_t *m) {
    static char buf[4096];
    size_t idx = 0, off = 0;
    const char *name;
    const void *val;
    size_t len;
    buf[0] = '\0';
    while (m->headers && !rd_kafka_header_get_all(m->headers, idx++, &name, &val, &len) &&
           off < sizeof(buf))
        off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s=%.*s; ", name,
                                (int)(len > 200 ? 200 : len), val ? (const char *)val : "");
    return buf;
}

void evf_fcopy_check_common(const evf_fleet_msg_t *copy, const evf_fleet_msg_t *src,
                            const char *src_topic, const char *what) {
    char buf[512], num[32];
    ck_assert_msg(copy->key_len == src->key_len &&
                      (!src->key_len || !memcmp(copy->key, src->key, src->key_len)),
                  "%s: key differs from the source's", what);
    ck_assert_msg(copy->value_len == src->value_len &&
                      (!src->value_len || !memcmp(copy->value, src->value, src->value_len)),
                  "%s: value (%zu bytes) differs from the source's (%zu bytes)", what,
                  copy->value_len, src->value_len);
    /* The source's own headers, kept with their values. */
    size_t idx = 0;
    const char *name;
    const void *val;
    size_t len;
    while (src->headers && !rd_kafka_header_get_all(src->headers, idx++, &name, &val, &len)) {
        const void *v2;
        size_t l2;
        ck_assert_msg(copy->headers &&
                          !rd_kafka_header_get_last(copy->headers, name, &v2, &l2) && l2 == len &&
                          (!len || !memcmp(v2, val, len)),
                      "%s: source header %s not kept as is; headers: %s", what, name,
                      evf_fhdr_text(copy));
    }
    /* One value per evfleet.* header. */
    idx = 0;
    while (copy->headers && !rd_kafka_header_get_all(copy->headers, idx++, &name, &val, &len))
        if (!strncmp(name, "evfleet.", 8))
            ck_assert_msg(evf_fhdr_count(copy, name) == 1, "%s: header %s appears %d times: %s",
                          what, name, evf_fhdr_count(copy, name), evf_fhdr_text(copy));
    ck_assert_str_eq(evf_fhdr_str(copy, "evfleet.original.topic", buf, sizeof(buf)), src_topic);
    snprintf(num, sizeof(num), "%d", src->partition);
    ck_assert_str_eq(evf_fhdr_str(copy, "evfleet.original.partition", buf, sizeof(buf)), num);
    snprintf(num, sizeof(num), "%" PRId64, src->offset);
    ck_assert_str_eq(evf_fhdr_str(copy, "evfleet.original.offset", buf, sizeof(buf)), num);
    snprintf(num, sizeof(num), "%" PRId64, src->timestamp);
    ck_assert_str_eq(evf_fhdr_str(copy, "evfleet.original.timestamp", buf, sizeof(buf)), num);
}
