/* tests/fuzz/fuzz_dlq_headers.c — the `evfleet.*` headers of retry, dead-letter and replay
 * copies (dlq/deadletter.h): reading them (evf_dlq_header_str, evf_dlq_header_int,
 * evf_dlq_source_topic) and building a copy's headers (evf_dlq_copy_headers).
 *
 * A librdkafka message cannot be fabricated (rd_kafka_message_t is the head of a private struct),
 * so the target consumes ONE real message once, from an in-process librdkafka mock cluster on
 * 127.0.0.1, keeps it, and gives it each input's headers with rd_kafka_message_set_headers (and
 * the input's partition and offset). Without the mock cluster (EVF_FUZZ_NO_MOCK=1, or setup
 * failed) only the readers run.
 *
 * Input layout (every part optional; a short input ends early):
 *   u8 L, u8 R       error message = the next L bytes repeated R % 16 + 1 times (up to ~4 KiB,
 *                    past EVF_DLQ_MESSAGE_MAX so the UTF-8 cut runs)
 *   L bytes          message material
 *   u8 flags         bit 0: idempotency key set, bit 1: retry copy, bit 2: failed_at = 0 (now)
 *   i32 attempts, i32 partition, i64 offset (little-endian)
 *   headers until the end: u8 n — n & 0x80: a known name (index n & 0x7f), else a name of
 *   n & 0x3f bytes; then u8 v — 0xff: a NULL value, else v bytes of value.
 * Seeds: tests/fuzz/corpus/dlq_headers/.
 *
 * Properties: no crash, leak or undefined behaviour; header_str finds exactly what
 * rd_kafka_header_get_last finds, copies at most out_size - 1 bytes and terminates; header_int
 * succeeds only for a value that is a whole decimal integer (as strtoll reads one), and gives it;
 * a copy's headers follow DESIGN.md: original non-`evfleet.` headers kept in order, each
 * set-once header exactly once (the original's last value when it had one), each replaced
 * header exactly once with the failure's value, no other `evfleet.*` header, the error message
 * cut to at most EVF_DLQ_MESSAGE_MAX bytes on a UTF-8 boundary; the source topic is the last
 * non-empty evfleet.original.topic, else the message's topic. */
#include "fuzz_common.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "deadletter.h"

#define DLQ_FUZZ_TOPIC "evf-fuzz-dlq"

static const char *const dlq_known_names[] = {
    EVF_H_ORIGINAL_TOPIC,   EVF_H_ORIGINAL_PARTITION, EVF_H_ORIGINAL_OFFSET,
    EVF_H_ORIGINAL_TIMESTAMP, EVF_H_FIRST_FAILED_AT,  EVF_H_IDEMPOTENCY_KEY,
    EVF_H_REPLAY_COUNT,     EVF_H_ATTEMPTS,           EVF_H_ERROR_CLASS,
    EVF_H_ERROR_MESSAGE,    EVF_H_PROCESSOR,          EVF_H_FAILED_AT,
    EVF_H_WORKER,           EVF_H_GROUP,              EVF_H_RETRY_NOT_BEFORE,
    EVF_H_REPLAYED_AT,      "evfleet.unknown",        "evfleet.",
    "evfleet",              "content-type",           "ce_id",
    "",
};
#define DLQ_NKNOWN (sizeof dlq_known_names / sizeof dlq_known_names[0])

/* DESIGN.md: set once and carried (the first 8), replaced on every copy (the rest). */
static const char *const dlq_set_once[] = {
    EVF_H_ORIGINAL_TOPIC,  EVF_H_ORIGINAL_PARTITION, EVF_H_ORIGINAL_OFFSET,
    EVF_H_ORIGINAL_TIMESTAMP, EVF_H_FIRST_FAILED_AT, EVF_H_IDEMPOTENCY_KEY,
    EVF_H_REPLAY_COUNT,    EVF_H_REPLAYED_AT,
};
static const char *const dlq_replaced[] = {
    EVF_H_ATTEMPTS, EVF_H_ERROR_CLASS, EVF_H_ERROR_MESSAGE, EVF_H_PROCESSOR,
    EVF_H_FAILED_AT, EVF_H_WORKER,     EVF_H_GROUP,         EVF_H_RETRY_NOT_BEFORE,
};
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the one real message ---- */

static rd_kafka_t *dlq_producer, *dlq_consumer;
static rd_kafka_message_t *dlq_msg;

static void dlq_quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    (void)rk;
    (void)level;
    (void)fac;
    (void)buf;
}

static rd_kafka_conf_t *dlq_conf(void) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, dlq_quiet_log);
    return conf;
}

static void dlq_setup_failed(const char *what) {
    fprintf(stderr, "fuzz_dlq_headers: no mock-cluster message (%s): copy_headers not fuzzed\n",
            what);
}

/* Consume one message from a mock cluster, once. @returns it, or NULL. */
static rd_kafka_message_t *dlq_message(void) {
    static int done;
    char err[512];
    if (done)
        return dlq_msg;
    done = 1;
    if (getenv("EVF_FUZZ_NO_MOCK") && !strcmp(getenv("EVF_FUZZ_NO_MOCK"), "1"))
        return NULL;

    rd_kafka_conf_t *conf = dlq_conf();
    if (rd_kafka_conf_set(conf, "test.mock.num.brokers", "1", err, sizeof err) !=
        RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        dlq_setup_failed(err);
        return NULL;
    }
    dlq_producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!dlq_producer) {
        dlq_setup_failed(err);
        return NULL;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_handle_mock_cluster(dlq_producer);
    if (!mc) {
        dlq_setup_failed("rd_kafka_handle_mock_cluster");
        return NULL;
    }
    rd_kafka_mock_topic_create(mc, DLQ_FUZZ_TOPIC, 1, 1);
    if (rd_kafka_producev(dlq_producer, RD_KAFKA_V_TOPIC(DLQ_FUZZ_TOPIC), RD_KAFKA_V_PARTITION(0),
                          RD_KAFKA_V_KEY("k", 1), RD_KAFKA_V_VALUE("v", 1),
                          RD_KAFKA_V_HEADER("h", "x", 1), RD_KAFKA_V_END) ||
        rd_kafka_flush(dlq_producer, 15000)) {
        dlq_setup_failed("produce");
        return NULL;
    }

    conf = dlq_conf();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(mc), err,
                          sizeof err) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "group.id", "evf-fuzz", err, sizeof err) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err) !=
            RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        dlq_setup_failed(err);
        return NULL;
    }
    dlq_consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!dlq_consumer) {
        dlq_setup_failed(err);
        return NULL;
    }
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, DLQ_FUZZ_TOPIC, 0)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(dlq_consumer, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    time_t until = time(NULL) + 20;
    while (!dlq_msg && time(NULL) < until) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(dlq_consumer, 200);
        if (m && !m->err)
            dlq_msg = m;
        else if (m)
            rd_kafka_message_destroy(m);
    }
    if (!dlq_msg)
        dlq_setup_failed("nothing consumed in 20 s");
    return dlq_msg;
}

/* ---- input reading ---- */

typedef struct {
    const uint8_t *p, *end;
} dlq_in_t;

static size_t dlq_take(dlq_in_t *in, const uint8_t **out, size_t n) {
    size_t have = (size_t)(in->end - in->p);
    if (n > have)
        n = have;
    *out = in->p;
    in->p += n;
    return n;
}

static uint64_t dlq_take_le(dlq_in_t *in, size_t n) {
    const uint8_t *b;
    uint64_t v = 0;
    n = dlq_take(in, &b, n);
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

/* ---- the checks ---- */

/* strtoll's syntax for a whole value: optional space, optional sign, digits, nothing else. */
static int dlq_is_decimal(const void *val, size_t size) {
    const unsigned char *s = val, *end = s + size;
    if (!s)
        return 0;
    while (s < end && isspace(*s))
        s++;
    if (s < end && (*s == '+' || *s == '-'))
        s++;
    if (s == end)
        return 0;
    for (; s < end; s++)
        if (!isdigit(*s))
            return 0;
    return 1;
}

static void dlq_check_readers(const rd_kafka_headers_t *hdrs, const char *name) {
    static const size_t sizes[] = {0, 1, 2, 8, 32, 1100};
    const void *val = NULL;
    size_t size = 0;
    int found = rd_kafka_header_get_last(hdrs, name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
    for (size_t i = 0; i < N_OF(sizes); i++) {
        char out[1100];
        memset(out, 'x', sizeof out);
        int rc = evf_dlq_header_str(hdrs, name, out, sizes[i]);
        EVF_FUZZ_CHECK(rc == (found ? 0 : -1), "header_str('%s') = %d, found %d", name, rc, found);
        if (!sizes[i])
            continue;
        size_t n = found ? (size < sizes[i] - 1 ? size : sizes[i] - 1) : 0;
        EVF_FUZZ_CHECK(out[n] == '\0' && (!n || !memcmp(out, val, n)),
                       "header_str('%s') into %zu bytes", name, sizes[i]);
        if (sizes[i] < sizeof out)
            EVF_FUZZ_CHECK(out[sizes[i]] == 'x', "header_str wrote past %zu bytes", sizes[i]);
    }
    int64_t v = 0x5a5a;
    int rc = evf_dlq_header_int(hdrs, name, &v);
    if (rc == 0) {
        EVF_FUZZ_CHECK(found && dlq_is_decimal(val, size),
                       "header_int('%s') accepted a value that is not a decimal integer "
                       "(%zu bytes)",
                       name, size);
        char *text = evf_fuzz_strndup(val, size);
        errno = 0;
        long long want = strtoll(text, NULL, 10);
        EVF_FUZZ_CHECK(errno == 0 && want == v, "header_int('%s') = %lld, value '%s'", name,
                       (long long)v, text);
        free(text);
    } else {
        EVF_FUZZ_CHECK(rc == -1 && v == 0x5a5a, "header_int('%s') failed but wrote", name);
    }
}

static int dlq_in_list(const char *name, const char *const *list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(name, list[i]))
            return (int)i;
    return -1;
}

static size_t dlq_count(const rd_kafka_headers_t *h, const char *name, const void **last_val,
                        size_t *last_size) {
    const char *n;
    const void *v;
    size_t s, count = 0;
    for (size_t i = 0; rd_kafka_header_get_all(h, i, &n, &v, &s) == RD_KAFKA_RESP_ERR_NO_ERROR;
         i++) {
        if (strcmp(n, name))
            continue;
        count++;
        if (last_val) {
            *last_val = v;
            *last_size = s;
        }
    }
    return count;
}

static int dlq_same(const void *a, size_t as, const void *b, size_t bs) {
    return as == bs && (!as || !memcmp(a, b, as));
}

static void dlq_check_copy(rd_kafka_message_t *msg, const rd_kafka_headers_t *in,
                           const evf_failure_t *f) {
    rd_kafka_message_set_headers(msg, rd_kafka_headers_copy(in));
    rd_kafka_headers_t *out = evf_dlq_copy_headers(msg, f);
    EVF_FUZZ_CHECK(out != NULL, "copy_headers returned NULL");
    const char *n, *n2;
    const void *v, *v2;
    size_t s, s2;

    /* Original non-evfleet headers, in order. */
    size_t j = 0;
    for (size_t i = 0; rd_kafka_header_get_all(in, i, &n, &v, &s) == RD_KAFKA_RESP_ERR_NO_ERROR;
         i++) {
        if (!strncmp(n, "evfleet.", 8))
            continue;
        for (;; j++) {
            EVF_FUZZ_CHECK(rd_kafka_header_get_all(out, j, &n2, &v2, &s2) ==
                               RD_KAFKA_RESP_ERR_NO_ERROR,
                           "original header '%s' (#%zu) missing from the copy", n, i);
            if (strncmp(n2, "evfleet.", 8))
                break;
        }
        EVF_FUZZ_CHECK(!strcmp(n, n2) && dlq_same(v, s, v2, s2),
                       "original header #%zu '%s' changed in the copy", i, n);
        j++;
    }
    for (;; j++) {
        if (rd_kafka_header_get_all(out, j, &n2, &v2, &s2) != RD_KAFKA_RESP_ERR_NO_ERROR)
            break;
        EVF_FUZZ_CHECK(!strncmp(n2, "evfleet.", 8), "extra header '%s' in the copy", n2);
    }

    /* evfleet.* headers: only known ones, each once. */
    for (size_t i = 0; rd_kafka_header_get_all(out, i, &n, &v, &s) == RD_KAFKA_RESP_ERR_NO_ERROR;
         i++) {
        if (strncmp(n, "evfleet.", 8))
            continue;
        EVF_FUZZ_CHECK(dlq_in_list(n, dlq_set_once, N_OF(dlq_set_once)) >= 0 ||
                           dlq_in_list(n, dlq_replaced, N_OF(dlq_replaced)) >= 0,
                       "unknown header '%s' in the copy", n);
    }
    for (size_t k = 0; k < N_OF(dlq_set_once); k++) {
        const void *ov = NULL, *cv = NULL;
        size_t os = 0, cs = 0;
        size_t had = dlq_count(in, dlq_set_once[k], &ov, &os);
        size_t got = dlq_count(out, dlq_set_once[k], &cv, &cs);
        int always = k <= 4 || (k == 5 && f->idempotency_key && *f->idempotency_key);
        EVF_FUZZ_CHECK(got == (had || always ? 1u : 0u),
                       "%zu '%s' headers in the copy (%zu before)", got, dlq_set_once[k], had);
        if (had)
            EVF_FUZZ_CHECK(dlq_same(ov, os, cv, cs), "set-once '%s' changed", dlq_set_once[k]);
    }
    for (size_t k = 0; k < N_OF(dlq_replaced); k++) {
        size_t want = strcmp(dlq_replaced[k], EVF_H_RETRY_NOT_BEFORE) || f->retry_not_before_ms;
        size_t got = dlq_count(out, dlq_replaced[k], NULL, NULL);
        EVF_FUZZ_CHECK(got == want, "%zu '%s' headers in the copy", got, dlq_replaced[k]);
    }
    int64_t attempts = -1;
    EVF_FUZZ_CHECK(evf_dlq_header_int(out, EVF_H_ATTEMPTS, &attempts) == 0 &&
                       attempts == f->attempts,
                   "attempts %lld, want %d", (long long)attempts, f->attempts);
    if (f->retry_not_before_ms) {
        int64_t nb = 0;
        EVF_FUZZ_CHECK(evf_dlq_header_int(out, EVF_H_RETRY_NOT_BEFORE, &nb) == 0 &&
                           nb == f->retry_not_before_ms,
                       "retry.not-before");
    }
    const void *mv = NULL;
    size_t ms = 0;
    dlq_count(out, EVF_H_ERROR_MESSAGE, &mv, &ms);
    size_t full = strlen(f->message);
    EVF_FUZZ_CHECK(ms <= EVF_DLQ_MESSAGE_MAX && ms <= full && (!ms || !memcmp(mv, f->message, ms)),
                   "error message header (%zu bytes) is not a prefix of the message cut to %d", ms,
                   EVF_DLQ_MESSAGE_MAX);
    if (full <= EVF_DLQ_MESSAGE_MAX)
        EVF_FUZZ_CHECK(ms == full, "a short message was cut");
    if (evf_utf8_valid(f->message, full)) {
        EVF_FUZZ_CHECK(evf_utf8_valid(mv, ms), "the cut split a UTF-8 sequence");
        EVF_FUZZ_CHECK(ms + 4 > EVF_DLQ_MESSAGE_MAX || ms == full, "the cut dropped too much");
    }
    for (size_t k = 0; k < DLQ_NKNOWN; k++)
        dlq_check_readers(out, dlq_known_names[k]);
    rd_kafka_headers_destroy(out);

    /* The source topic. */
    char topic[300], want[300];
    if (evf_dlq_header_str(in, EVF_H_ORIGINAL_TOPIC, want, sizeof want) != 0 || !want[0])
        snprintf(want, sizeof want, "%s", rd_kafka_topic_name(msg->rkt));
    evf_dlq_source_topic(msg, topic, sizeof topic);
    EVF_FUZZ_CHECK(!strcmp(topic, want), "source topic '%s', want '%s'", topic, want);
    char tiny[2] = {'x', 'x'};
    evf_dlq_source_topic(msg, tiny, 1);
    EVF_FUZZ_CHECK(tiny[0] == '\0' && tiny[1] == 'x', "source topic into 1 byte");
}

void evf_fuzz_dlq_headers(const uint8_t *data, size_t size) {
    dlq_in_t in = {data, data + size};
    const uint8_t *material;
    size_t len = (size_t)dlq_take_le(&in, 1), repeat = (size_t)dlq_take_le(&in, 1) % 16 + 1;
    len = dlq_take(&in, &material, len);
    char *message = malloc(len * repeat + 1);
    if (!message)
        abort();
    size_t mlen = 0;
    for (size_t r = 0; r < repeat; r++)
        for (size_t i = 0; i < len; i++)
            if (material[i]) /* a C string: NUL bytes dropped */
                message[mlen++] = (char)material[i];
    message[mlen] = '\0';
    unsigned flags = (unsigned)dlq_take_le(&in, 1);
    int attempts = (int)(uint32_t)dlq_take_le(&in, 4);
    int32_t partition = (int32_t)(uint32_t)dlq_take_le(&in, 4);
    int64_t offset = (int64_t)dlq_take_le(&in, 8);

    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(8);
    while (in.p < in.end) {
        const uint8_t *name, *val;
        size_t nlen;
        unsigned spec = (unsigned)dlq_take_le(&in, 1);
        char known[64];
        if (spec & 0x80) {
            snprintf(known, sizeof known, "%s", dlq_known_names[(spec & 0x7f) % DLQ_NKNOWN]);
            name = (const uint8_t *)known;
            nlen = strlen(known);
        } else {
            nlen = dlq_take(&in, &name, spec & 0x3f);
        }
        unsigned vspec = (unsigned)dlq_take_le(&in, 1);
        if (vspec == 0xff) {
            rd_kafka_header_add(hdrs, (const char *)name, (ssize_t)nlen, NULL, 0);
        } else {
            size_t vlen = dlq_take(&in, &val, vspec);
            rd_kafka_header_add(hdrs, (const char *)name, (ssize_t)nlen, val, (ssize_t)vlen);
        }
    }

    for (size_t k = 0; k < DLQ_NKNOWN; k++)
        dlq_check_readers(hdrs, dlq_known_names[k]);
    const char *n;
    const void *v;
    size_t s;
    for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &n, &v, &s) == RD_KAFKA_RESP_ERR_NO_ERROR;
         i++)
        dlq_check_readers(hdrs, n);
    EVF_FUZZ_CHECK(evf_dlq_header_str(NULL, "x", NULL, 0) == -1, "NULL headers found");

    rd_kafka_message_t *msg = dlq_message();
    if (msg) {
        evf_failure_t f = {
            .cls = (evf_class_t)(flags >> 4) % EVF_CLASS__CNT,
            .message = message,
            .processor = flags & 8 ? "fuzz-proc" : NULL,
            .attempts = attempts,
            .failed_at_ms = flags & 4 ? 0 : 1795757360123LL,
            .worker = "fuzz-worker",
            .group = "fuzz-group",
            .idempotency_key = flags & 1 ? "fuzz/key" : NULL,
            .retry_not_before_ms = flags & 2 ? 1795757370123LL : 0,
        };
        int32_t saved_partition = msg->partition;
        int64_t saved_offset = msg->offset;
        msg->partition = partition;
        msg->offset = offset;
        dlq_check_copy(msg, hdrs, &f);
        msg->partition = saved_partition;
        msg->offset = saved_offset;
        rd_kafka_message_set_headers(msg, NULL);
    }
    rd_kafka_headers_destroy(hdrs);
    free(message);
}

EVF_FUZZ_TARGET(evf_fuzz_dlq_headers)
