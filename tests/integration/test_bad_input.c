/* tests/integration/test_bad_input.c — hostile input against one real `evfleet-worker` (issues #6
 * and #11), on the real local Kafka + Redis.
 *
 * One worker (routes iot:*, custom:*, s3:* to the `ledger` built-in; event.max.bytes = 64 KiB;
 * max.record.age.ms = 10 min) consumes a two-partition topic where good events are interleaved
 * with hostile messages: protobuf truncated at several lengths, random bytes, empty and null
 * values, events with no route, CloudEvents structured JSON that is malformed, truncated, has
 * wrong types, invalid UTF-8, NUL and lone-surrogate escapes, 10,000 levels of nesting, huge
 * numbers; CloudEvents binary-mode headers with hostile values (64 KiB, invalid UTF-8, NUL bytes,
 * duplicates); an event one byte over event.max.bytes (and one exactly at it, which runs); an
 * event older than max.record.age.ms by its Kafka timestamp (the worker's clock for age; the
 * event's own time_ms is not used); no key and a 64 KiB key; and `evfleet.*` headers forged by a
 * producer on the source topic.
 *
 * What the contract (DESIGN.md) makes of forged `evfleet.*` headers on a source topic, asserted here:
 *   - `evfleet.retry.not-before` is obeyed only on the group's retry topics: on a source topic the
 *     event runs at once (a forged far-future value must not park the partition);
 *   - `evfleet.attempts` is cumulative, so a dead letter carries the forged prior count plus this
 *     delivery's runs; it never stops an event from running (retry.max.attempts counts the runs of
 *     one delivery);
 *   - set-once headers (`evfleet.original.*`, `evfleet.first.failed.at`, …) are carried, not
 *     replaced, and `evfleet.original.timestamp` is where max.record.age.ms measures from — so a
 *     forged old original timestamp dead-letters a fresh event as max-age (no more than a producer
 *     can already do with the Kafka timestamp itself), and a forged `evfleet.replay.count` exempts
 *     an old event from max-age (replayed copies are exempt);
 *   - replaced headers (`evfleet.error.class`, `evfleet.worker`, …) are replaced.
 *
 * Asserted at the end: every hostile message is in `<topic>.<group>.dlq` exactly once, with the
 * right `evfleet.error.class`, byte-exact key and value, its own non-`evfleet.` headers kept in
 * order (duplicates and all), the contract's `evfleet.*` headers (one value each; an error message
 * that is valid UTF-8 and at most 1024 bytes); every good event is in the ledger exactly once and
 * nothing else is; the group's committed offsets reach the end of both partitions; the worker is
 * alive, /readyz answers 200 and /metrics' dead-letter counters match the dead letters per class;
 * SIGTERM then stops it with exit 0.
 *
 * Forged evfleet.attempts and evfleet.original.topic are covered by `forged_headers_not_trusted`. */
#include <check.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "deadletter.h"
#include "event.h"
#include "fleet.h"
#include "kafka.h"
#include "testutil.h"

#define READY_MS 60000
#define STOP_MS 30000
#define MAX_BYTES 65536          /* event.max.bytes of the worker: room for 10,000 levels of JSON */
#define MAX_AGE_MS 600000        /* max.record.age.ms of the worker */
#define DAY_MS ((int64_t)86400000)
#define PARTS 2
#define MAX_MSGS 128
#define BIG_KEY (64 * 1024)

static int64_t wall_ms(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void *xmemdup(const void *p, size_t n) {
    void *q = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(q);
    if (n)
        memcpy(q, p, n);
    return q;
}

/* ------------------------------------------------------------------------------------------ */
/* The messages of a run and what must become of each                                           */

typedef struct {
    char what[96];           /* for failure messages */
    char *key;               /* NULL: no key */
    size_t key_len;
    char *value;             /* NULL: a null value */
    size_t value_len;
    rd_kafka_headers_t *hdrs; /* what was sent (a copy; may be NULL) */
    int64_t timestamp;       /* Kafka timestamp; 0: the producer's now */
    const char *cls;         /* expected class; NULL: a good event */
    char id[128];            /* good events: the event id the ledger must count once */
    const char *processor;   /* dead letters: evfleet.processor ("" when no route was found) */
    int64_t prior_attempts;  /* forged evfleet.attempts carried into the dead letter's count */
    int32_t partition;       /* where it landed (delivery report) */
    int64_t offset;
    int64_t dr_timestamp;
    int delivered;
    int dead_letters;        /* how many dead letters matched it */
} bmsg_t;

typedef struct {
    rd_kafka_t *rk;
    bmsg_t msgs[MAX_MSGS];
    size_t n;
    const char *topic;
    char group[128];
} run_t;

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    (void)opaque;
    bmsg_t *b = m->_private;
    if (!b)
        return;
    b->delivered = m->err ? -1 : 1;
    b->partition = m->partition;
    b->offset = m->offset;
    b->dr_timestamp = rd_kafka_message_timestamp(m, NULL);
}

static void run_open(run_t *r, const char *topic, const char *group) {
    char err[512];
    memset(r, 0, sizeof(*r));
    r->topic = topic;
    snprintf(r->group, sizeof(r->group), "%s", group);
    evf_conf_t *conf = evf_test_conf();
    rd_kafka_conf_t *kc = evf_kafka_conf_new(conf, EVF_KAFKA_PRODUCER, err, sizeof(err));
    ck_assert_msg(kc, "%s", err);
    evf_conf_destroy(conf);
    /* None of the test's messages may be compressed away or reordered. */
    ck_assert_int_eq(evf_kafka_conf_set(kc, "compression.codec", "none", err, sizeof(err)), 0);
    ck_assert_int_eq(evf_kafka_conf_set(kc, "message.max.bytes", "2000000", err, sizeof(err)), 0);
    rd_kafka_conf_set_dr_msg_cb(kc, dr_msg_cb);
    r->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof(err));
    ck_assert_msg(r->rk, "%s", err);
}

/* Send one message to the next partition (round robin), remembering it. Takes ownership of hdrs. */
static bmsg_t *put(run_t *r, const char *what, const void *key, size_t key_len, const void *value,
                   size_t value_len, rd_kafka_headers_t *hdrs, int64_t timestamp, const char *cls) {
    ck_assert_uint_lt(r->n, MAX_MSGS);
    bmsg_t *b = &r->msgs[r->n];
    memset(b, 0, sizeof(*b));
    snprintf(b->what, sizeof(b->what), "#%zu %s", r->n, what);
    b->key = key ? xmemdup(key, key_len) : NULL;
    b->key_len = key ? key_len : 0;
    b->value = value ? xmemdup(value, value_len) : NULL;
    b->value_len = value ? value_len : 0;
    b->hdrs = hdrs ? rd_kafka_headers_copy(hdrs) : NULL;
    b->timestamp = timestamp;
    b->cls = cls;
    b->processor = "";
    b->partition = (int32_t)(r->n % PARTS);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        r->rk, RD_KAFKA_V_TOPIC(r->topic), RD_KAFKA_V_PARTITION(b->partition),
        RD_KAFKA_V_KEY(key, key ? key_len : 0), RD_KAFKA_V_VALUE((void *)value, value ? value_len : 0),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_TIMESTAMP(timestamp),
        RD_KAFKA_V_HEADERS(hdrs ? hdrs : rd_kafka_headers_new(0)), RD_KAFKA_V_OPAQUE(b), RD_KAFKA_V_END);
    ck_assert_msg(!e, "produce %s: %s", b->what, rd_kafka_err2str(e));
    r->n++;
    rd_kafka_poll(r->rk, 0);
    return b;
}

static void run_flush(run_t *r) {
    ck_assert_msg(rd_kafka_flush(r->rk, 60000) == RD_KAFKA_RESP_ERR_NO_ERROR,
                  "messages still in flight after 60 s");
    for (size_t i = 0; i < r->n; i++)
        ck_assert_msg(r->msgs[i].delivered == 1, "%s was not delivered", r->msgs[i].what);
    rd_kafka_destroy(r->rk);
    r->rk = NULL;
}

static void run_free(run_t *r) {
    for (size_t i = 0; i < r->n; i++) {
        free(r->msgs[i].key);
        free(r->msgs[i].value);
        if (r->msgs[i].hdrs)
            rd_kafka_headers_destroy(r->msgs[i].hdrs);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Events                                                                                       */

static evf_event_t *iot_event(const char *id, const char *device, int64_t time_ms, double value) {
    evf_event_t *ev = evf_event_new();
    evf_event_set_str(&ev->id, id);
    ev->source = EVFLEET__V1__SOURCE__IOT;
    evf_event_set_str(&ev->type, "iot:telemetry");
    evf_event_set_str(&ev->subject, device);
    ev->time_ms = time_ms;
    Evfleet__V1__IotTelemetry *iot = evf_event_set_iot(ev);
    evf_event_set_str(&iot->device_id, device);
    evf_event_set_str(&iot->metric, "temp");
    iot->value = value;
    evf_event_set_str(&iot->unit, "C");
    return ev;
}

/* The producer's CloudEvents binary-mode headers of ev. */
static rd_kafka_headers_t *ce_headers(const evf_event_t *ev) {
    evf_header_kv_t kv[8];
    char scratch[128];
    size_t n = evf_event_ce_headers(ev, kv, 8, scratch, sizeof(scratch));
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    for (size_t i = 0; i < n; i++)
        rd_kafka_header_add(h, kv[i].name, -1, kv[i].value, -1);
    return h;
}

/* Send ev as the producers do (protobuf value, its Kafka key, CloudEvents headers), plus the
 * extra headers (may be NULL; their ownership is taken), with Kafka timestamp ts (0: now).
 * Frees ev. A good event when cls is NULL. */
static bmsg_t *put_event(run_t *r, const char *what, evf_event_t *ev, rd_kafka_headers_t *extra,
                         int64_t ts, const char *cls) {
    char key[512];
    size_t len = 0;
    evf_event_kafka_key(ev, key, sizeof(key));
    uint8_t *buf = evf_event_encode(ev, &len);
    rd_kafka_headers_t *h = ce_headers(ev);
    const char *name;
    const void *val;
    size_t vlen;
    for (size_t i = 0; extra && !rd_kafka_header_get_all(extra, i, &name, &val, &vlen); i++)
        rd_kafka_header_add(h, name, -1, val, (ssize_t)vlen);
    if (extra)
        rd_kafka_headers_destroy(extra);
    bmsg_t *b = put(r, what, key, strlen(key), buf, len, h, ts, cls);
    if (!cls)
        snprintf(b->id, sizeof(b->id), "%s", ev->id);
    free(buf);
    evf_event_free(ev);
    return b;
}

static int seq;

/* A unique event id of this run. */
static const char *next_id(const run_t *r, char *buf, size_t size) {
    snprintf(buf, size, "%s-ev-%d", r->group, ++seq);
    return buf;
}

/* A good IoT event, plain. */
static void put_good(run_t *r, const char *what) {
    char id[128];
    put_event(r, what, iot_event(next_id(r, id, sizeof(id)), "dev-good", wall_ms(), 20.5), NULL, 0,
              NULL);
}

/* Headers from name/value/length triples (len -1: strlen). */
static rd_kafka_headers_t *hdr(rd_kafka_headers_t *h, const char *name, const void *val,
                               ssize_t len) {
    if (!h)
        h = rd_kafka_headers_new(8);
    rd_kafka_header_add(h, name, -1, val, len);
    return h;
}

/* A CUSTOM event whose protobuf encoding is exactly `want` bytes. */
static uint8_t *custom_of_size(const char *id, size_t want, size_t *len) {
    evf_event_t *ev = evf_event_new();
    evf_event_set_str(&ev->id, id);
    ev->source = EVFLEET__V1__SOURCE__CUSTOM;
    evf_event_set_str(&ev->type, "custom:sized");
    evf_event_set_str(&ev->subject, "sized");
    ev->time_ms = wall_ms();
    size_t d = want - 100;
    char *data = malloc(want);
    ck_assert_ptr_nonnull(data);
    memset(data, 'x', want);
    uint8_t *buf = NULL;
    for (int tries = 0; tries < 8; tries++) {
        evf_event_set_data(ev, data, d);
        free(buf);
        buf = evf_event_encode(ev, len);
        if (*len == want)
            break;
        d = d + want - *len;
    }
    ck_assert_uint_eq(*len, want);
    free(data);
    evf_event_free(ev);
    return buf;
}

/* The fixture's premise: these bytes do not decode (so a class other than decode is the
 * worker's doing, not the fixture's). */
static void assert_undecodable(const void *v, size_t len, const char *ct, const char *what) {
    char err[256];
    evf_event_t *ev = evf_event_decode_message(v, len, ct, err, sizeof(err));
    ck_assert_msg(!ev, "fixture %s decodes (id '%s')", what, ev ? ev->id : "");
}

/* ------------------------------------------------------------------------------------------ */
/* The mix                                                                                      */

static void put_cloudevent(run_t *r, const char *what, const char *doc, size_t len,
                           const char *cls) {
    rd_kafka_headers_t *h = hdr(NULL, "content-type", EVF_CT_CLOUDEVENTS_JSON, -1);
    if (cls && !strcmp(cls, "decode"))
        assert_undecodable(doc, len, EVF_CT_CLOUDEVENTS_JSON, what);
    char key[160];
    snprintf(key, sizeof(key), "ce-%d", ++seq);
    put(r, what, key, strlen(key), doc, len, h, 0, cls);
}

/* A good CloudEvents JSON event: head, a fresh id, tail. */
static void put_good_cloudevent(run_t *r, const char *what, const char *head, const char *tail) {
    char id[128], doc[4096];
    next_id(r, id, sizeof(id));
    ck_assert_int_lt(snprintf(doc, sizeof(doc), "%s%s%s", head, id, tail), (int)sizeof(doc));
    put_cloudevent(r, what, doc, strlen(doc), NULL);
    snprintf(r->msgs[r->n - 1].id, sizeof(r->msgs[r->n - 1].id), "%s", id);
}

static char *nested(const char *head, int depth, const char *open, const char *close,
                    const char *tail) {
    size_t ol = strlen(open), cl = strlen(close);
    size_t n = strlen(head) + (size_t)depth * (ol + cl) + strlen(tail) + 1;
    char *s = malloc(n), *p = s;
    ck_assert_ptr_nonnull(s);
    p += sprintf(p, "%s", head);
    for (int i = 0; i < depth; i++, p += ol)
        memcpy(p, open, ol);
    for (int i = 0; i < depth; i++, p += cl)
        memcpy(p, close, cl);
    sprintf(p, "%s", tail);
    return s;
}

static void publish_mix(run_t *r) {
    char id[128], doc[4096];
    const int64_t now = wall_ms();
    put_good(r, "good first");

    /* ---- protobuf truncated at several lengths ---- */
    {
        evf_event_t *ev = iot_event(next_id(r, id, sizeof(id)), "dev-truncated-subject", now, 1.0);
        size_t len = 0;
        uint8_t *full = evf_event_encode(ev, &len);
        const uint8_t *subj = memmem(full, len, "dev-truncated-subject", 21);
        ck_assert_ptr_nonnull(subj);
        /* tag only; tag and length; inside the id; inside the subject; inside the iot detail */
        size_t cuts[] = {1, 2, 6, (size_t)(subj - full) + 10, len - 1};
        for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
            char what[64];
            snprintf(what, sizeof(what), "protobuf truncated to %zu of %zu bytes", cuts[i], len);
            assert_undecodable(full, cuts[i], EVF_CT_PROTOBUF, what);
            put(r, what, "dev-truncated", 13, full, cuts[i],
                hdr(NULL, "content-type", EVF_CT_PROTOBUF, -1), 0, "decode");
            put_good(r, "good after truncated");
        }
        free(full);
        evf_event_free(ev);
    }

    /* ---- random bytes, empty and null values ---- */
    {
        unsigned char rnd[300];
        unsigned int state = 0x5eed1234;
        for (size_t i = 0; i < sizeof(rnd); i++) {
            state = state * 1103515245u + 12345u;
            rnd[i] = (unsigned char)(state >> 16);
        }
        assert_undecodable(rnd, sizeof(rnd), NULL, "random bytes");
        put(r, "random bytes", "rnd", 3, rnd, sizeof(rnd), NULL, 0, "decode");
        put(r, "empty value", "empty", 5, "", 0, NULL, 0, "decode");
        put_good(r, "good after empty");
        put(r, "null value", "null", 4, NULL, 0, NULL, 0, "decode");
        put(r, "null value, no key, no headers", NULL, 0, NULL, 0, NULL, 0, "decode");
        /* undecodable with a 64 KiB key: the copy carries it */
        char *bigkey = malloc(BIG_KEY);
        ck_assert_ptr_nonnull(bigkey);
        for (size_t i = 0; i < BIG_KEY; i++)
            bigkey[i] = (char)('a' + i % 26);
        bigkey[0] = 'B';
        put(r, "random bytes with a 64 KiB key", bigkey, BIG_KEY, rnd, 40, NULL, 0, "decode");
        put(r, "random bytes without a key", NULL, 0, rnd + 40, 40, NULL, 0, "decode");
        /* good events with no key and with a 64 KiB key run as any other */
        evf_event_t *ev = iot_event(next_id(r, id, sizeof(id)), "dev-nokey", now, 3.0);
        size_t len;
        uint8_t *buf = evf_event_encode(ev, &len);
        bmsg_t *b = put(r, "good, no key", NULL, 0, buf, len, ce_headers(ev), 0, NULL);
        snprintf(b->id, sizeof(b->id), "%s", ev->id);
        free(buf);
        evf_event_free(ev);
        ev = iot_event(next_id(r, id, sizeof(id)), "dev-bigkey", now, 4.0);
        buf = evf_event_encode(ev, &len);
        bigkey[0] = 'G';
        b = put(r, "good, 64 KiB key", bigkey, BIG_KEY, buf, len, ce_headers(ev), 0, NULL);
        snprintf(b->id, sizeof(b->id), "%s", ev->id);
        free(buf);
        evf_event_free(ev);
        free(bigkey);
    }

    /* ---- no route ---- */
    {
        evf_event_t *ev = evf_event_new();
        evf_event_set_str(&ev->id, next_id(r, id, sizeof(id)));
        ev->source = EVFLEET__V1__SOURCE__CUSTOM;
        evf_event_set_str(&ev->type, "nobody:home");
        evf_event_set_str(&ev->subject, "unroutable");
        evf_event_set_data(ev, "x", 1);
        put_event(r, "protobuf, unknown type", ev, NULL, 0, "unroutable");
        /* a long type of 3-byte characters: the error message quotes it, cut */
        char type[1024] = "nobody:";
        for (int i = 0; i < 200; i++)
            strcat(type, "\xe2\x82\xac"); /* € */
        ev = evf_event_new();
        evf_event_set_str(&ev->id, next_id(r, id, sizeof(id)));
        ev->source = EVFLEET__V1__SOURCE__CUSTOM;
        evf_event_set_str(&ev->type, type);
        put_event(r, "protobuf, long multibyte unknown type", ev, NULL, 0, "unroutable");
        snprintf(doc, sizeof(doc),
                 "{\"specversion\":\"1.0\",\"id\":\"%s\",\"source\":\"x/y\",\"type\":\"nobody:json\"}",
                 next_id(r, id, sizeof(id)));
        put_cloudevent(r, "CloudEvents JSON, unknown type", doc, strlen(doc), "unroutable");
        put_good(r, "good after unroutable");
    }

    /* ---- CloudEvents structured JSON ---- */
    {
        put_good_cloudevent(r, "good CloudEvents JSON",
                            "{\"specversion\":\"1.0\",\"id\":\"",
                            "\",\"source\":\"evfleet/iot\","
                            "\"type\":\"iot:telemetry\",\"time\":\"2024-01-02T03:04:05Z\","
                            "\"subject\":\"dev-ce\",\"data\":{\"deviceId\":\"dev-ce\","
                            "\"metric\":\"temp\",\"value\":1.5}}");
        static const char *const bad[] = {
            "{\"specversion\":\"1.0\",,}",
            "{\"specversion\":\"1.0\",\"id\":\"x1\",\"source\":\"s\",\"type\":\"iot:telemetry\"",
            "{\"specversion\":\"1.0\",\"id\":\"x2\",\"source\":\"s\",\"type\":\"iot:tel",
            "{",
            "",
            "null",
            "[]",
            "\"just a string\"",
            "{\"specversion\":\"1.0\",\"id\":42,\"source\":\"s\",\"type\":\"iot:telemetry\"}",
            "{\"specversion\":1.0,\"id\":\"x3\",\"source\":\"s\",\"type\":\"iot:telemetry\"}",
            "{\"specversion\":\"1.0\",\"id\":\"x4\",\"source\":\"s\",\"type\":[\"iot:telemetry\"]}",
            "{\"specversion\":\"1.0\",\"id\":\"x5\",\"source\":\"s\",\"type\":\"iot:telemetry\","
            "\"time\":12345}",
            "{\"specversion\":\"1.0\",\"id\":\"x6\",\"source\":\"s\",\"type\":\"iot:telemetry\","
            "\"time\":\"yesterday\"}",
            "{\"specversion\":\"1.0\",\"id\":\"x7\",\"source\":\"s\",\"type\":\"iot:telemetry\","
            "\"data\":{\"deviceId\":7}}",
            "{\"specversion\":\"1.0\",\"id\":\"x8\",\"source\":\"s\",\"type\":\"iot:telemetry\","
            "\"data\":{\"deviceId\":\"d\",\"value\":\"hot\"}}",
            "{\"specversion\":\"0.3\",\"id\":\"x9\",\"source\":\"s\",\"type\":\"iot:telemetry\"}",
            "{\"specversion\":\"1.0\",\"id\":\"\",\"source\":\"s\",\"type\":\"iot:telemetry\"}",
            "{\"specversion\":\"1.0\",\"source\":\"s\",\"type\":\"iot:telemetry\"}",
            /* invalid UTF-8 inside strings */
            "{\"specversion\":\"1.0\",\"id\":\"x\xc3\x28\",\"source\":\"s\",\"type\":\"iot:telemetry\"}",
            "{\"specversion\":\"1.0\",\"id\":\"x10\",\"source\":\"s\",\"type\":\"iot:\xff\xfe\"}",
            "{\"specversion\":\"1.0\",\"id\":\"x11\",\"source\":\"s\",\"type\":\"iot:t\xed\xa0\x80\"}",
            /* a NUL and a lone surrogate escaped */
            "{\"specversion\":\"1.0\",\"id\":\"x\\u0000y\",\"source\":\"s\",\"type\":\"iot:telemetry\"}",
            "{\"specversion\":\"1.0\",\"id\":\"x\\ud800\",\"source\":\"s\",\"type\":\"iot:telemetry\"}",
            /* huge numbers */
            "{\"specversion\":\"1.0\",\"id\":\"x12\",\"source\":\"s\",\"type\":\"iot:telemetry\","
            "\"data\":{\"deviceId\":\"d\",\"metric\":\"m\",\"value\":1e999}}",
            "{\"specversion\":\"1.0\",\"id\":\"x13\",\"source\":\"s\",\"type\":\"iot:telemetry\","
            "\"ext\":123456789012345678901234567890123456789}",
            "{\"specversion\":\"1.0\",\"id\":\"x14\",\"source\":\"evfleet/s3\",\"type\":\"s3:x\","
            "\"data\":{\"bucket\":\"b\",\"key\":\"k\",\"size\":\"99999999999999999999\"}}",
            "{\"specversion\":\"1.0\",\"id\":\"x15\",\"source\":\"evfleet/s3\",\"type\":\"s3:x\","
            "\"data\":{\"bucket\":\"b\",\"key\":\"k\",\"size\":1e300}}",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            char what[64];
            snprintf(what, sizeof(what), "bad CloudEvents JSON %zu", i);
            put_cloudevent(r, what, bad[i], strlen(bad[i]), "decode");
            if (i % 3 == 0)
                put_good(r, "good among bad JSON");
        }
        /* a truncated valid document */
        snprintf(doc, sizeof(doc),
                 "{\"specversion\":\"1.0\",\"id\":\"%s\",\"source\":\"evfleet/iot\","
                 "\"type\":\"iot:telemetry\",\"data\":{\"deviceId\":\"d\",\"value\":2}}",
                 next_id(r, id, sizeof(id)));
        put_cloudevent(r, "CloudEvents JSON truncated", doc, strlen(doc) / 2, "decode");
        /* sniffed (no content type): JSON that is not, tried as protobuf too */
        static const char sniffed[] = "   {\"specversion\": nope";
        assert_undecodable(sniffed, strlen(sniffed), NULL, "sniffed bad JSON");
        put(r, "bad JSON, no content type", "sniff", 5, sniffed, strlen(sniffed), NULL, 0,
            "decode");
        /* 10,000 levels of nesting in data and as an extension; 20,000 bare brackets */
        char *deep = nested("{\"specversion\":\"1.0\",\"id\":\"x16\",\"source\":\"evfleet/custom\","
                            "\"type\":\"custom:deep\",\"data\":",
                            10000, "[", "]", "}");
        put_cloudevent(r, "10,000 nested arrays in data", deep, strlen(deep), "decode");
        free(deep);
        deep = nested("{\"specversion\":\"1.0\",\"id\":\"x17\",\"source\":\"evfleet/custom\","
                      "\"type\":\"custom:deep\",\"ext\":",
                      10000, "{\"a\":", "}", "}");
        put_cloudevent(r, "10,000 nested objects", deep, strlen(deep), "decode");
        free(deep);
        deep = nested("", 20000, "[", "", "");
        put_cloudevent(r, "20,000 unclosed brackets", deep, strlen(deep), "decode");
        free(deep);
        /* moderate nesting is a valid CUSTOM event */
        char *tail = nested("\",\"source\":\"evfleet/custom\",\"type\":\"custom:deep\",\"data\":",
                            200, "[", "]", "}");
        put_good_cloudevent(r, "good, 200 nested arrays", "{\"specversion\":\"1.0\",\"id\":\"", tail);
        free(tail);
        put_good(r, "good after JSON");
    }

    /* ---- CloudEvents binary-mode headers with hostile values ---- */
    {
        char *longv = malloc(BIG_KEY);
        ck_assert_ptr_nonnull(longv);
        memset(longv, 'L', BIG_KEY);
        static const char nul_bytes[] = {'e', 'v', 0, 'f', 0, 0, 'x'};
        static const char bad_utf8[] = {'\xc3', '\x28', '\xff', '\xed', '\xa0', '\x80'};
        rd_kafka_headers_t *h = hdr(NULL, "ce_id", longv, BIG_KEY);
        hdr(h, "ce_type", bad_utf8, sizeof(bad_utf8));
        hdr(h, "ce_source", nul_bytes, sizeof(nul_bytes));
        hdr(h, "ce_id", "second-ce_id", -1);
        hdr(h, "ce_specversion", "9.9", -1);
        hdr(h, "ce_time", "not a time", -1);
        hdr(h, "ce_empty", "", 0);
        hdr(h, "ce_null", NULL, 0);
        rd_kafka_headers_t *h2 = rd_kafka_headers_copy(h);
        /* valid protobuf under them: the value is the event, the headers are informative */
        put_event(r, "good, hostile ce_* headers",
                  iot_event(next_id(r, id, sizeof(id)), "dev-cehdr", now, 5.0), h, 0, NULL);
        /* undecodable under them: every header kept byte for byte in the dead letter */
        hdr(h2, "content-type", EVF_CT_PROTOBUF, -1);
        put(r, "junk, hostile ce_* headers", "cehdr", 5, "\xff\xff\xff\xff", 4, h2, 0, "decode");
        /* a content type of 64 KiB and one with NUL bytes over junk */
        put(r, "junk, 64 KiB content-type", "ct-long", 7, "\x0a\x05", 2,
            hdr(NULL, "content-type", longv, BIG_KEY), 0, "decode");
        put(r, "junk, NUL in content-type", "ct-nul", 6, "\x0a\x05", 2,
            hdr(NULL, "content-type", "application/protobuf\0;x", 24), 0, "decode");
        /* duplicate content-type headers: the last one counts (JSON over a protobuf value) */
        evf_event_t *ev = iot_event(next_id(r, id, sizeof(id)), "dev-ctdup", now, 6.0);
        put_event(r, "protobuf, last content-type says JSON", ev,
                  hdr(NULL, "content-type", EVF_CT_CLOUDEVENTS_JSON, -1), 0, "decode");
        free(longv);
        put_good(r, "good after hostile headers");
    }

    /* ---- too large ---- */
    {
        size_t len;
        uint8_t *at = custom_of_size(next_id(r, id, sizeof(id)), MAX_BYTES, &len);
        bmsg_t *b = put(r, "CUSTOM event of exactly event.max.bytes", "sized", 5, at, len,
                        hdr(NULL, "content-type", EVF_CT_PROTOBUF, -1), 0, NULL);
        snprintf(b->id, sizeof(b->id), "%s", id);
        free(at);
        uint8_t *over = custom_of_size(next_id(r, id, sizeof(id)), MAX_BYTES + 1, &len);
        put(r, "CUSTOM event one byte over event.max.bytes", "sized", 5, over, len,
            hdr(NULL, "content-type", EVF_CT_PROTOBUF, -1), 0, "too-large");
        free(over);
        char *junk = malloc(100000);
        ck_assert_ptr_nonnull(junk);
        memset(junk, '{', 100000);
        put(r, "100 kB of '{'", "big", 3, junk, 100000, NULL, 0, "too-large");
        free(junk);
        put_good(r, "good after too-large");
    }

    /* ---- age: the Kafka timestamp (or a carried evfleet.original.timestamp) counts ---- */
    {
        char ts[32];
        bmsg_t *b = put_event(r, "event with a Kafka timestamp a day old",
                              iot_event(next_id(r, id, sizeof(id)), "dev-old", now, 7.0), NULL,
                              now - DAY_MS, "max-age");
        b->processor = "ledger";
        put_event(r, "good, event time_ms in 1970, fresh Kafka timestamp",
                  iot_event(next_id(r, id, sizeof(id)), "dev-1970", 1, 8.0), NULL, 0, NULL);
        snprintf(ts, sizeof(ts), "%" PRId64, now - DAY_MS);
        b = put_event(r, "fresh event, forged evfleet.original.timestamp a day old",
                      iot_event(next_id(r, id, sizeof(id)), "dev-forged-ts", now, 9.0),
                      hdr(NULL, EVF_H_ORIGINAL_TIMESTAMP, ts, -1), 0, "max-age");
        b->processor = "ledger";
        put_event(r, "good, a day old, forged evfleet.replay.count (replays are exempt)",
                  iot_event(next_id(r, id, sizeof(id)), "dev-replayed", now, 10.0),
                  hdr(NULL, EVF_H_REPLAY_COUNT, "1", -1), now - DAY_MS, NULL);
        put_event(r, "good, unparsable evfleet.original.timestamp",
                  iot_event(next_id(r, id, sizeof(id)), "dev-badts", now, 11.0),
                  hdr(NULL, EVF_H_ORIGINAL_TIMESTAMP, "yesterday", -1), 0, NULL);
        /* a number with trailing junk is not a time either (read by its prefix, "12abc" would
         * make the event 12 ms after the epoch, far past max.record.age.ms) */
        put_event(r, "good, evfleet.original.timestamp with trailing junk",
                  iot_event(next_id(r, id, sizeof(id)), "dev-badts2", now, 11.5),
                  hdr(NULL, EVF_H_ORIGINAL_TIMESTAMP, "12abc", -1), 0, NULL);
    }

    /* ---- evfleet.* headers forged by a producer on the source topic ---- */
    {
        char nb[32];
        snprintf(nb, sizeof(nb), "%" PRId64, now + 365 * DAY_MS);
        put_event(r, "good, forged evfleet.retry.not-before a year ahead",
                  iot_event(next_id(r, id, sizeof(id)), "dev-nb", now, 12.0),
                  hdr(NULL, EVF_H_RETRY_NOT_BEFORE, nb, -1), 0, NULL);
        put_event(r, "good, forged evfleet.retry.not-before overflowing",
                  iot_event(next_id(r, id, sizeof(id)), "dev-nb2", now, 13.0),
                  hdr(NULL, EVF_H_RETRY_NOT_BEFORE, "99999999999999999999999999", -1), 0, NULL);
        put_event(r, "good, forged evfleet.attempts=999999",
                  iot_event(next_id(r, id, sizeof(id)), "dev-att", now, 14.0),
                  hdr(NULL, EVF_H_ATTEMPTS, "999999", -1), 0, NULL);
        rd_kafka_headers_t *h = hdr(NULL, EVF_H_ERROR_CLASS, "permanent", -1);
        hdr(h, EVF_H_WORKER, "someone-else", -1);
        hdr(h, EVF_H_ORIGINAL_TOPIC, "some.other.topic", -1);
        hdr(h, EVF_H_ORIGINAL_OFFSET, "424242", -1);
        put_event(r, "good, forged class, worker, original topic and offset",
                  iot_event(next_id(r, id, sizeof(id)), "dev-forged", now, 15.0), h, 0, NULL);
        /* dead-lettered with forged headers: replaced ones replaced, set-once ones carried,
         * attempts counted on from the forged prior */
        h = hdr(NULL, EVF_H_ATTEMPTS, "999999", -1);
        hdr(h, EVF_H_ERROR_CLASS, "permanent", -1);
        hdr(h, EVF_H_PROCESSOR, "forged", -1);
        hdr(h, EVF_H_GROUP, "other-group", -1);
        hdr(h, EVF_H_ORIGINAL_OFFSET, "424242", -1);
        hdr(h, EVF_H_ORIGINAL_PARTITION, "7", -1);
        hdr(h, EVF_H_RETRY_NOT_BEFORE, nb, -1);
        hdr(h, EVF_H_IDEMPOTENCY_KEY, "forged-key", -1);
        bmsg_t *b = put(r, "junk with forged evfleet.* headers", "forged", 6, "\xff\x01", 2, h, 0,
                        "decode");
        b->prior_attempts = 999999;
        put_good(r, "good last");
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Checks                                                                                       */

static int bytes_eq(const void *a, size_t al, const void *b, size_t bl) {
    return al == bl && (!al || !memcmp(a, b, al));
}

static const char *hval(const evf_fleet_msg_t *m, const char *name, char *buf, size_t size) {
    return evf_fleet_header(m, name, buf, size);
}

/* The first value of header name in hdrs (NULL when absent), as a string in buf. */
static const char *first_header(rd_kafka_headers_t *hdrs, const char *name, char *buf,
                                size_t size) {
    const void *v;
    size_t len;
    if (!hdrs || rd_kafka_header_get(hdrs, 0, name, &v, &len))
        return NULL;
    snprintf(buf, size, "%.*s", (int)len, v ? (const char *)v : "");
    return buf;
}

static void expect_header(const bmsg_t *b, const evf_fleet_msg_t *dl, const char *name,
                          const char *want) {
    char buf[1200];
    const char *v = hval(dl, name, buf, sizeof(buf));
    ck_assert_msg(v, "%s: dead letter has no %s", b->what, name);
    ck_assert_msg(!strcmp(v, want), "%s: dead letter %s = '%s', want '%s'", b->what, name, v, want);
}

/* A set-once header: the forged value when the source carried one, else the actual one. */
static void expect_set_once(const bmsg_t *b, const evf_fleet_msg_t *dl, const char *name,
                            const char *actual) {
    char buf[256];
    const char *forged = first_header(b->hdrs, name, buf, sizeof(buf));
    expect_header(b, dl, name, forged ? forged : actual);
}

static void check_dead_letter(const bmsg_t *b, const evf_fleet_msg_t *dl, const char *topic,
                              const char *group, const char *instance, int64_t t0, int64_t t1) {
    char num[32], buf[2048];
    ck_assert_msg((dl->key == NULL) == (b->key == NULL), "%s: key null-ness differs", b->what);
    expect_header(b, dl, EVF_H_ERROR_CLASS, b->cls);
    snprintf(num, sizeof(num), "%" PRId64, b->prior_attempts);
    expect_header(b, dl, EVF_H_ATTEMPTS, num);
    expect_header(b, dl, EVF_H_PROCESSOR, b->processor);
    expect_header(b, dl, EVF_H_WORKER, instance);
    expect_header(b, dl, EVF_H_GROUP, group);
    expect_set_once(b, dl, EVF_H_ORIGINAL_TOPIC, topic);
    snprintf(num, sizeof(num), "%d", b->partition);
    expect_set_once(b, dl, EVF_H_ORIGINAL_PARTITION, num);
    snprintf(num, sizeof(num), "%" PRId64, b->offset);
    expect_set_once(b, dl, EVF_H_ORIGINAL_OFFSET, num);
    snprintf(num, sizeof(num), "%" PRId64, b->dr_timestamp);
    expect_set_once(b, dl, EVF_H_ORIGINAL_TIMESTAMP, num);
    if (first_header(b->hdrs, EVF_H_IDEMPOTENCY_KEY, buf, sizeof(buf)))
        expect_header(b, dl, EVF_H_IDEMPOTENCY_KEY, buf);
    ck_assert_msg(!hval(dl, EVF_H_RETRY_NOT_BEFORE, buf, sizeof(buf)),
                  "%s: a dead letter carries evfleet.retry.not-before", b->what);
    const void *mv;
    size_t ml;
    ck_assert_msg(!rd_kafka_header_get_last(dl->headers, EVF_H_ERROR_MESSAGE, &mv, &ml) && ml > 0,
                  "%s: no evfleet.error.message", b->what);
    ck_assert_msg(ml <= EVF_DLQ_MESSAGE_MAX, "%s: evfleet.error.message of %zu bytes", b->what, ml);
    ck_assert_msg(evf_utf8_valid(mv, ml) && !memchr(mv, '\0', ml),
                  "%s: evfleet.error.message is not valid UTF-8 without NUL: '%.*s'", b->what,
                  (int)ml, (const char *)mv);
    int64_t failed_at = 0, first = 0;
    ck_assert_msg(hval(dl, EVF_H_FAILED_AT, buf, sizeof(buf)), "%s: no failed.at", b->what);
    failed_at = strtoll(buf, NULL, 10);
    ck_assert_msg(failed_at >= t0 && failed_at <= t1, "%s: failed.at %" PRId64 " not in the run",
                  b->what, failed_at);
    ck_assert_msg(hval(dl, EVF_H_FIRST_FAILED_AT, buf, sizeof(buf)), "%s: no first.failed.at",
                  b->what);
    first = strtoll(buf, NULL, 10);
    ck_assert_msg(first >= t0 && first <= failed_at, "%s: first.failed.at %" PRId64, b->what, first);

    /* evfleet.* headers one value each; the source's own headers kept, in order, byte for byte. */
    size_t i = 0, k = 0;
    const char *name, *sname;
    const void *val, *sval;
    size_t len, slen;
    while (!rd_kafka_header_get_all(dl->headers, i++, &name, &val, &len)) {
        if (!strncmp(name, "evfleet.", 8)) {
            ck_assert_msg(rd_kafka_header_get(dl->headers, 1, name, &sval, &slen),
                          "%s: %s appears more than once", b->what, name);
            continue;
        }
        for (;;) { /* the next non-evfleet header of the source */
            ck_assert_msg(b->hdrs && !rd_kafka_header_get_all(b->hdrs, k++, &sname, &sval, &slen),
                          "%s: dead letter has header %s the source did not", b->what, name);
            if (strncmp(sname, "evfleet.", 8))
                break;
        }
        ck_assert_msg(!strcmp(name, sname) && bytes_eq(val, len, sval, slen) &&
                          (val == NULL) == (sval == NULL),
                      "%s: header %s (%zu bytes) differs from the source's %s (%zu bytes)", b->what,
                      name, len, sname, slen);
    }
    while (b->hdrs && !rd_kafka_header_get_all(b->hdrs, k++, &sname, &sval, &slen))
        ck_assert_msg(!strncmp(sname, "evfleet.", 8), "%s: source header %s not kept", b->what,
                      sname);
}

static const char *instance_of(evf_fleet_worker_t *w, char *buf, size_t size) {
    json_t *st = evf_fleet_status(w);
    ck_assert_ptr_nonnull(st);
    const char *id = json_string_value(json_object_get(st, "instance"));
    ck_assert_ptr_nonnull(id);
    snprintf(buf, size, "%s", id);
    json_decref(st);
    return buf;
}

static void wait_committed_to_end(const char *group, const char *topic, evf_fleet_worker_t *w) {
    int64_t hw[PARTS], co[PARTS];
    evf_fleet_high_watermarks(topic, PARTS, hw);
    int64_t deadline = evf_test_now_ms() + 30000;
    for (;;) {
        evf_fleet_committed(group, topic, PARTS, co);
        int done = 1;
        for (int p = 0; p < PARTS; p++)
            done &= co[p] == hw[p];
        if (done)
            return;
        ck_assert_msg(evf_test_now_ms() < deadline,
                      "committed offsets %" PRId64 ", %" PRId64 " never reached the ends %" PRId64
                      ", %" PRId64 "; log:\n%s",
                      co[0], co[1], hw[0], hw[1], evf_fleet_log_tail(w, 3000));
        usleep(200 * 1000);
    }
}

static const char *const worker_extra[] = {
    "route.iot:*=ledger",       "route.custom:*=ledger", "route.s3:*=ledger",
    "event.max.bytes=65536",    "max.record.age.ms=600000", "worker.threads=2",
    NULL};

START_TEST(hostile_input_dead_lettered_good_events_once) {
    evf_fleet_names_t n;
    evf_fleet_worker_t w;
    run_t *r = calloc(1, sizeof(*r));
    char instance[80], class_match[400];
    ck_assert_ptr_nonnull(r);
    evf_fleet_names(&n, "badin", 0);
    evf_fleet_create_topic(n.topic, PARTS);
    int64_t t0 = wall_ms();

    run_open(r, n.topic, n.group);
    publish_mix(r);
    run_flush(r);
    size_t good = 0, bad = 0;
    evf_fleet_idmap_t *want_ids = evf_fleet_idmap_new();
    for (size_t i = 0; i < r->n; i++) {
        if (r->msgs[i].cls) {
            bad++;
        } else {
            good++;
            ck_assert_msg(r->msgs[i].id[0], "%s: no id", r->msgs[i].what);
            ck_assert_int_eq(evf_fleet_idmap_add(want_ids, r->msgs[i].id, 1), 1);
        }
    }

    fprintf(stderr, "bad_input: %zu messages over %d partitions: %zu good, %zu hostile\n", r->n,
            PARTS, good, bad);
    evf_redis_t *rd = evf_fleet_redis();
    evf_fleet_start(&w, &n, worker_extra, NULL);
    evf_fleet_wait_ready(&w, READY_MS);
    instance_of(&w, instance, sizeof(instance));

    evf_fleet_wait_ledger(rd, n.ledger, (int64_t)good, 60000, 30000, NULL);
    evf_fleet_msgs_t dlq;
    evf_fleet_read_topic_until(evf_fleet_derived(&n, "dlq"), bad, &dlq, 60000);
    wait_committed_to_end(n.group, n.topic, &w);
    /* Everything is done: nothing more may come (a second dead letter, a late ledger count). */
    ck_assert_msg(evf_fleet_alive(&w), "the worker died; log:\n%s", evf_fleet_log_tail(&w, 4000));
    int status = 0;
    char *body = evf_fleet_get(&w, "/readyz", &status);
    ck_assert_msg(status == 200, "/readyz %d: %s", status, body ? body : "");
    free(body);

    /* The ledger: every good event once, nothing else. */
    evf_fleet_idmap_t *ledger = evf_fleet_hash(rd, n.ledger);
    size_t missing = 0, wrong = 0, extra = 0;
    char first_wrong[256] = "";
    ck_assert_msg(evf_fleet_ledger_exact(ledger, want_ids, &missing, &wrong, &extra, first_wrong,
                                         sizeof(first_wrong)),
                  "ledger: %zu good events missing, %zu counted other than once (%s), %zu "
                  "unexpected ids",
                  missing, wrong, first_wrong, extra);
    evf_fleet_idmap_free(ledger);

    /* Each hostile message dead-lettered once, with its class and the contract's headers. */
    int64_t t1 = wall_ms();
    ck_assert_msg(dlq.count == bad, "%zu dead letters for %zu hostile messages", dlq.count, bad);
    for (size_t d = 0; d < dlq.count; d++) {
        const evf_fleet_msg_t *dl = &dlq.msgs[d];
        bmsg_t *match = NULL;
        for (size_t i = 0; i < r->n && !match; i++) {
            bmsg_t *b = &r->msgs[i];
            if (b->cls && !b->dead_letters && bytes_eq(dl->key, dl->key_len, b->key, b->key_len) &&
                bytes_eq(dl->value, dl->value_len, b->value, b->value_len))
                match = b;
        }
        char buf[64];
        ck_assert_msg(match, "dead letter @%d:%" PRId64 " (class %s, key %zu bytes, value %zu bytes)"
                             " matches no hostile message byte for byte",
                      dl->partition, dl->offset,
                      hval(dl, EVF_H_ERROR_CLASS, buf, sizeof(buf)) ?: "-", dl->key_len,
                      dl->value_len);
        match->dead_letters++;
        check_dead_letter(match, dl, n.topic, n.group, instance, t0, t1);
    }
    for (size_t i = 0; i < r->n; i++)
        ck_assert_msg(!r->msgs[i].cls || r->msgs[i].dead_letters == 1, "%s: %d dead letters",
                      r->msgs[i].what, r->msgs[i].dead_letters);

    /* /metrics: the dead letters per class, all under the source topic. */
    evf_prom_t *p = evf_fleet_metrics(&w);
    static const char *const classes[] = {"decode", "unroutable", "too-large", "max-age"};
    for (size_t c = 0; c < sizeof(classes) / sizeof(classes[0]); c++) {
        int want = 0;
        for (size_t i = 0; i < r->n; i++)
            want += r->msgs[i].cls && !strcmp(r->msgs[i].cls, classes[c]);
        ck_assert_msg(want > 0, "the mix has no %s case", classes[c]);
        snprintf(class_match, sizeof(class_match), "topic=%s,class=%s", n.topic, classes[c]);
        double got = evf_prom_sum(p, "evfleet_dlq_events_total", class_match, NULL);
        ck_assert_msg((int)got == want, "evfleet_dlq_events_total{%s} = %g, want %d", class_match,
                      got, want);
    }
    double all = evf_prom_sum(p, "evfleet_dlq_events_total", NULL, NULL);
    ck_assert_msg((int)all == (int)bad, "evfleet_dlq_events_total sums to %g, want %zu", all, bad);
    double ok = evf_prom_sum(p, "evfleet_events_processed_total", "processor=ledger,outcome=ok", NULL);
    ck_assert_msg((int)ok == (int)good, "ledger ok = %g, want %zu", ok, good);
    snprintf(class_match, sizeof(class_match), "topic=%s", n.topic);
    double consumed = evf_prom_sum(p, "evfleet_events_consumed_total", class_match, NULL);
    ck_assert_msg((int)consumed == (int)r->n, "consumed %g of %zu", consumed, r->n);
    evf_prom_free(p);

    int64_t ms = 0;
    int rc = evf_fleet_stop(&w, STOP_MS, &ms);
    ck_assert_msg(rc == 0, "worker exited %d after %" PRId64 " ms; log:\n%s", rc, ms,
                  evf_fleet_log_tail(&w, 3000));
    evf_fleet_msgs_free(&dlq);
    evf_fleet_idmap_free(want_ids);
    evf_redis_destroy(rd);
    run_free(r);
    free(r);
}
END_TEST

/*
 * Forged headers the worker must not trust:
 *   1. evfleet.attempts is a whole non-negative integer or ignored, and prior + runs saturates at
 *      INT_MAX: a forged 2147483647 on a source event once overflowed a signed int (the UBSan
 *      build aborted the worker, which then crash-looped on that event).
 *   2. evfleet_dlq_events_total is labelled by the topic the message came from, not by its own
 *      evfleet.original.topic (a producer could pick the label and miss the source's count).
 */
START_TEST(forged_headers_not_trusted) {
    evf_fleet_names_t n;
    evf_fleet_worker_t w;
    run_t *r = calloc(1, sizeof(*r));
    char id[128], fail_id[128], fail_opt[200], forged_topic[200], match[400], buf[64];
    ck_assert_ptr_nonnull(r);
    evf_fleet_names(&n, "badfx", 0);
    evf_fleet_create_topic(n.topic, PARTS);
    snprintf(forged_topic, sizeof(forged_topic), "%s.forged", n.topic);

    run_open(r, n.topic, n.group);
    const int64_t now = wall_ms();
    bmsg_t *good = put_event(r, "good, forged evfleet.attempts=2147483647",
                             iot_event(next_id(r, id, sizeof(id)), "dev-att", now, 1.0),
                             hdr(NULL, EVF_H_ATTEMPTS, "2147483647", -1), 0, NULL);
    evf_event_t *ev = iot_event(next_id(r, fail_id, sizeof(fail_id)), "dev-att", now, 2.0);
    evf_event_set_str(&ev->type, "custom:fail");
    put_event(r, "failing, forged evfleet.attempts=2147483647", ev,
              hdr(NULL, EVF_H_ATTEMPTS, "2147483647", -1), 0, "permanent");
    put(r, "junk, evfleet.attempts past int64", "big", 3, "\xff", 1,
        hdr(NULL, EVF_H_ATTEMPTS, "99999999999999999999", -1), 0, "decode");
    put(r, "junk, forged evfleet.original.topic", "topic", 5, "\xff", 1,
        hdr(NULL, EVF_H_ORIGINAL_TOPIC, forged_topic, -1), 0, "decode");
    put_good(r, "good last");
    run_flush(r);

    snprintf(fail_opt, sizeof(fail_opt), "processor.chaos.fail.ids=%s", fail_id);
    const char *extra[] = {"route.iot:*=ledger",          "route.custom:fail=chaos",
                           "processor.chaos.fail.rate=0", "processor.chaos.fail.kind=permanent",
                           fail_opt,                      "breaker.chaos.min.calls=0",
                           "retry.max.attempts=1",        NULL};
    evf_redis_t *rd = evf_fleet_redis();
    evf_fleet_start(&w, &n, extra, NULL);
    evf_fleet_wait_ready(&w, READY_MS);
    /* Every problem is collected, so one run names them all. */
    char problems[2048] = "";
    size_t pl = 0;
#define PROBLEM(...) (pl += (size_t)snprintf(problems + pl, pl < sizeof(problems) ? sizeof(problems) - pl : 0, __VA_ARGS__))
    evf_fleet_msgs_t dlq;
    evf_fleet_read_topic_until(evf_fleet_derived(&n, "dlq"), 3, &dlq, 60000);
    int64_t deadline = evf_test_now_ms() + 20000;
    while (evf_fleet_hlen(rd, n.ledger) < 2 && evf_fleet_alive(&w) && evf_test_now_ms() < deadline)
        usleep(100 * 1000);
    if (!evf_fleet_alive(&w))
        PROBLEM("bug 1: the worker died on a forged evfleet.attempts (log: %s); ", w.log_path);
    if (strcmp(evf_fleet_hget(rd, n.ledger, good->id, buf, sizeof(buf)) ?: "-", "1"))
        PROBLEM("bug 1: the good event with a forged evfleet.attempts was not processed once; ");
    if (dlq.count != 3)
        PROBLEM("%zu dead letters, want 3; ", dlq.count);
    for (size_t i = 0; i < dlq.count; i++) {
        int64_t attempts = -1;
        const evf_fleet_msg_t *m = &dlq.msgs[i];
        if (evf_dlq_header_int(m->headers, EVF_H_ATTEMPTS, &attempts) != 0)
            PROBLEM("dead letter of key '%.*s' without an integer evfleet.attempts; ",
                    (int)m->key_len, m->key ? m->key : "");
        else if (attempts < 0 ||
                 (m->key_len == 7 && !memcmp(m->key, "dev-att", 7) && attempts < 2147483647))
            PROBLEM("bug 1: dead letter of key '%.*s' has evfleet.attempts %" PRId64 "; ",
                    (int)m->key_len, m->key ? m->key : "", attempts);
    }
    if (evf_fleet_alive(&w)) {
        evf_prom_t *p = evf_fleet_metrics(&w);
        snprintf(match, sizeof(match), "topic=%s", forged_topic);
        int nforged = 0;
        evf_prom_sum(p, "evfleet_dlq_events_total", match, &nforged);
        snprintf(match, sizeof(match), "topic=%s,class=decode", n.topic);
        double decode = evf_prom_sum(p, "evfleet_dlq_events_total", match, NULL);
        evf_prom_free(p);
        if (nforged || (int)decode != 2)
            PROBLEM("bug 2: %d dlq series labelled with the forged topic; %g decode letters for "
                    "the source (want 2); ",
                    nforged, decode);
    }
#undef PROBLEM
    ck_assert_msg(!problems[0], "%s", problems);
    ck_assert_int_eq(evf_fleet_stop(&w, STOP_MS, NULL), 0);
    evf_fleet_msgs_free(&dlq);
    evf_redis_destroy(rd);
    run_free(r);
    free(r);
}
END_TEST

Suite *bad_input_suite(void);
Suite *bad_input_suite(void) {
    Suite *s = suite_create("bad_input");
    TCase *tc = tcase_create("bad_input");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, hostile_input_dead_lettered_good_events_once);
    tcase_add_test(tc, forged_headers_not_trusted);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(bad_input_suite());
    evf_fleet_session_begin();
    srunner_run_all(sr, CK_NORMAL);
    evf_fleet_session_end();
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
