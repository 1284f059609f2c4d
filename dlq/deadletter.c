/* dlq/deadletter.c — see deadletter.h. */
#include "deadletter.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

/* Headers written once and then carried unchanged (DESIGN.md). */
static const char *const set_once[] = {
    EVF_H_ORIGINAL_TOPIC,  EVF_H_ORIGINAL_PARTITION, EVF_H_ORIGINAL_OFFSET,
    EVF_H_ORIGINAL_TIMESTAMP, EVF_H_FIRST_FAILED_AT, EVF_H_IDEMPOTENCY_KEY,
    EVF_H_REPLAY_COUNT,    EVF_H_REPLAYED_AT,
};

static int64_t now_ms(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void add_str(rd_kafka_headers_t *h, const char *name, const char *value) {
    rd_kafka_header_add(h, name, -1, value, (ssize_t)strlen(value));
}

static void add_int(rd_kafka_headers_t *h, const char *name, int64_t v) {
    char buf[24];
    snprintf(buf, sizeof(buf), "%" PRId64, v);
    add_str(h, name, buf);
}

/* Cut s to at most max bytes without splitting a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t max) {
    size_t n = strlen(s);
    if (n <= max)
        return n;
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

rd_kafka_headers_t *evf_dlq_copy_headers(const rd_kafka_message_t *msg, const evf_failure_t *f) {
    rd_kafka_headers_t *orig = NULL;
    rd_kafka_headers_t *h;
    const char *name;
    const void *val;
    size_t size;

    if (rd_kafka_message_headers((rd_kafka_message_t *)msg, &orig) != RD_KAFKA_RESP_ERR_NO_ERROR)
        orig = NULL;
    h = rd_kafka_headers_new(orig ? rd_kafka_header_cnt(orig) + 16 : 16);

    /* A set-once header given more than once (only a foreign producer does that) carries its
     * last value, the one every reader (rd_kafka_header_get_last) and the worker's own checks
     * used, so a copy never shows a value other than the one acted on. */
    size_t last_once[sizeof(set_once) / sizeof(set_once[0])];
    for (size_t k = 0; k < sizeof(set_once) / sizeof(set_once[0]); k++)
        last_once[k] = SIZE_MAX;
    for (size_t i = 0; orig && rd_kafka_header_get_all(orig, i, &name, &val, &size) ==
                                   RD_KAFKA_RESP_ERR_NO_ERROR;
         i++) {
        if (strncmp(name, "evfleet.", 8) != 0)
            continue;
        for (size_t k = 0; k < sizeof(set_once) / sizeof(set_once[0]); k++)
            if (!strcmp(name, set_once[k]))
                last_once[k] = i;
    }

    /* Original headers in order: non-evfleet ones as they are, set-once ones carried. */
    for (size_t i = 0; orig && rd_kafka_header_get_all(orig, i, &name, &val, &size) ==
                                   RD_KAFKA_RESP_ERR_NO_ERROR;
         i++) {
        if (strncmp(name, "evfleet.", 8) != 0) {
            rd_kafka_header_add(h, name, -1, val, (ssize_t)size);
            continue;
        }
        for (size_t k = 0; k < sizeof(set_once) / sizeof(set_once[0]); k++)
            if (last_once[k] == i)
                rd_kafka_header_add(h, name, -1, val, (ssize_t)size);
    }

    int64_t ts = rd_kafka_message_timestamp(msg, NULL);
    if (last_once[0] == SIZE_MAX)
        add_str(h, EVF_H_ORIGINAL_TOPIC, rd_kafka_topic_name(msg->rkt));
    if (last_once[1] == SIZE_MAX)
        add_int(h, EVF_H_ORIGINAL_PARTITION, msg->partition);
    if (last_once[2] == SIZE_MAX)
        add_int(h, EVF_H_ORIGINAL_OFFSET, msg->offset);
    if (last_once[3] == SIZE_MAX)
        add_int(h, EVF_H_ORIGINAL_TIMESTAMP, ts >= 0 ? ts : 0);
    if (last_once[4] == SIZE_MAX)
        add_int(h, EVF_H_FIRST_FAILED_AT,
                f->first_failed_at_ms ? f->first_failed_at_ms
                : f->failed_at_ms     ? f->failed_at_ms
                                      : now_ms());
    if (last_once[5] == SIZE_MAX && f->idempotency_key && *f->idempotency_key)
        add_str(h, EVF_H_IDEMPOTENCY_KEY, f->idempotency_key);

    add_int(h, EVF_H_ATTEMPTS, f->attempts);
    add_str(h, EVF_H_ERROR_CLASS, evf_class_name(f->cls));
    const char *m = f->message ? f->message : "";
    rd_kafka_header_add(h, EVF_H_ERROR_MESSAGE, -1, m,
                        (ssize_t)utf8_cut(m, EVF_DLQ_MESSAGE_MAX));
    add_str(h, EVF_H_PROCESSOR, f->processor ? f->processor : "");
    add_int(h, EVF_H_FAILED_AT, f->failed_at_ms ? f->failed_at_ms : now_ms());
    add_str(h, EVF_H_WORKER, f->worker ? f->worker : "");
    add_str(h, EVF_H_GROUP, f->group ? f->group : "");
    if (f->retry_not_before_ms)
        add_int(h, EVF_H_RETRY_NOT_BEFORE, f->retry_not_before_ms);
    return h;
}

int evf_dlq_header_str(const rd_kafka_headers_t *hdrs, const char *name, char *out,
                       size_t out_size) {
    const void *val;
    size_t size;
    if (out_size)
        out[0] = '\0';
    if (!hdrs || rd_kafka_header_get_last(hdrs, name, &val, &size) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    if (out_size) {
        size_t n = size < out_size - 1 ? size : out_size - 1;
        if (n && val)
            memcpy(out, val, n);
        out[n] = '\0';
    }
    return 0;
}

int evf_dlq_header_int(const rd_kafka_headers_t *hdrs, const char *name, int64_t *out) {
    const void *val;
    size_t size;
    char buf[32], *end;
    /* The whole value must be the number: one too long for buf or holding a NUL byte would
     * otherwise be read by its prefix. */
    if (!hdrs || rd_kafka_header_get_last(hdrs, name, &val, &size) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        !val || !size || size >= sizeof(buf) || memchr(val, '\0', size))
        return -1;
    memcpy(buf, val, size);
    buf[size] = '\0';
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno || end == buf || *end)
        return -1;
    *out = v;
    return 0;
}

void evf_dlq_source_topic(const rd_kafka_message_t *msg, char *out, size_t out_size) {
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers((rd_kafka_message_t *)msg, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        evf_dlq_header_str(hdrs, EVF_H_ORIGINAL_TOPIC, out, out_size) == 0 && out[0])
        return;
    snprintf(out, out_size, "%s", rd_kafka_topic_name(msg->rkt));
}

rd_kafka_headers_t *evf_dlq_replay_headers(const rd_kafka_message_t *msg, int64_t replay_count,
                                           int64_t replayed_at_ms) {
    rd_kafka_headers_t *orig = NULL;
    const char *name;
    const void *val;
    size_t size;

    if (rd_kafka_message_headers((rd_kafka_message_t *)msg, &orig) != RD_KAFKA_RESP_ERR_NO_ERROR)
        orig = NULL;
    rd_kafka_headers_t *h = rd_kafka_headers_new(orig ? rd_kafka_header_cnt(orig) + 2 : 2);
    for (size_t i = 0; orig && rd_kafka_header_get_all(orig, i, &name, &val, &size) ==
                                   RD_KAFKA_RESP_ERR_NO_ERROR;
         i++) {
        if (!strcmp(name, EVF_H_REPLAY_COUNT) || !strcmp(name, EVF_H_REPLAYED_AT) ||
            !strcmp(name, EVF_H_RETRY_NOT_BEFORE))
            continue;
        rd_kafka_header_add(h, name, -1, val, (ssize_t)size);
    }
    add_int(h, EVF_H_REPLAY_COUNT, replay_count);
    add_int(h, EVF_H_REPLAYED_AT, replayed_at_ms);
    return h;
}

int evf_dlq_group_of(const char *dlq_topic, const char *original_topic, char *out,
                     size_t out_size) {
    size_t tl = strlen(dlq_topic), ol = strlen(original_topic);
    static const char suffix[] = ".dlq";
    size_t sl = sizeof(suffix) - 1;
    if (!ol || tl < ol + 1 + 1 + sl || strncmp(dlq_topic, original_topic, ol) ||
        dlq_topic[ol] != '.' || strcmp(dlq_topic + tl - sl, suffix))
        return -1;
    size_t gl = tl - sl - ol - 1;
    if (gl + 1 > out_size)
        return -1;
    memcpy(out, dlq_topic + ol + 1, gl);
    out[gl] = '\0';
    return 0;
}
