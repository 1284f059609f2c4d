/* tests/unit/test_event_codec.c — the event codec core: construction, protobuf round trips,
 * rejection of corrupt input (never a crash; run under ASan too), content-type dispatch, Kafka
 * keys, CloudEvents headers, field lookup and the seed corpus in tests/fuzz/corpus/event/. */
#include <check.h>
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "event.h"

/* ---------------------------------------------------------------- helpers */

static evf_event_t *make_s3(void) {
    evf_event_t *ev = evf_event_new();
    evf_event_set_str(&ev->id, "7f9c1d2e-0000-4000-8000-000000000001");
    ev->source = EVFLEET__V1__SOURCE__S3;
    evf_event_set_str(&ev->type, "s3:ObjectCreated:Put");
    ev->time_ms = 1795757360123;
    evf_event_set_str(&ev->subject, "photos/2026/cat.jpg");
    evf_event_set_attr(ev, "trace", "abc123");
    evf_event_set_attr(ev, "tenant", "acme");
    Evfleet__V1__S3Object *s3 = evf_event_set_s3(ev);
    evf_event_set_str(&s3->bucket, "photos");
    evf_event_set_str(&s3->key, "2026/cat.jpg");
    s3->size = 48213;
    evf_event_set_str(&s3->etag, "9b2cf535f27731c974343645a3985328");
    evf_event_set_str(&s3->version_id, "v1");
    evf_event_set_str(&s3->sequencer, "0055AED6DCD90281E5");
    evf_event_set_str(&s3->content_type, "image/jpeg");
    evf_event_set_str(&s3->event_name, "ObjectCreated:Put");
    evf_event_set_str(&s3->region, "eu-west-1");
    return ev;
}

static evf_event_t *make_stream(void) {
    evf_event_t *ev = evf_event_new();
    evf_event_set_str(&ev->id, "ev-stream-1");
    ev->source = EVFLEET__V1__SOURCE__STREAM;
    evf_event_set_str(&ev->type, "stream:MODIFY");
    ev->time_ms = -5; /* negative int64 must survive too */
    evf_event_set_str(&ev->subject, "orders/{\"id\":42}");
    Evfleet__V1__StreamRecord *st = evf_event_set_stream(ev);
    evf_event_set_str(&st->table, "orders");
    st->op = EVFLEET__V1__STREAM_OP__MODIFY;
    evf_event_set_str(&st->sequence_number, "000000000001");
    evf_event_set_str(&st->keys, "{ \"region\": \"eu\", \"id\": 42 }");
    evf_event_set_str(&st->old_image, "{\"id\":42,\"total\":10}");
    evf_event_set_str(&st->new_image, "{\"id\":42,\"total\":12.5}");
    st->approximate_creation_ms = INT64_MAX;
    return ev;
}

static evf_event_t *make_iot(void) {
    evf_event_t *ev = evf_event_new();
    evf_event_set_str(&ev->id, "ev-iot-1");
    ev->source = EVFLEET__V1__SOURCE__IOT;
    evf_event_set_str(&ev->type, "iot:telemetry");
    ev->time_ms = 1795757360789;
    evf_event_set_str(&ev->subject, "sensor-7");
    Evfleet__V1__IotTelemetry *iot = evf_event_set_iot(ev);
    evf_event_set_str(&iot->device_id, "sensor-7");
    evf_event_set_str(&iot->metric, "temperature");
    iot->value = 21.5;
    evf_event_set_str(&iot->unit, "C");
    evf_event_iot_set_reading(iot, "humidity", 40.25);
    evf_event_iot_set_reading(iot, "pressure", 1013.2);
    evf_event_iot_set_reading(iot, "co2", -0.1);
    Evfleet__V1__Location *loc = evf_event_iot_set_location(iot, 1, 2, 3);
    ck_assert_ptr_eq(evf_event_iot_set_location(iot, 52.52, 13.405, 34), loc); /* replaces */
    return ev;
}

static const uint8_t custom_bytes[] = {0x00, 0x01, 0x02, 0xff, 0xfe, 0x7b, 0x0a, 0x80};

static evf_event_t *make_custom(void) {
    evf_event_t *ev = evf_event_new();
    evf_event_set_str(&ev->id, "ev-custom-1");
    ev->source = EVFLEET__V1__SOURCE__CUSTOM;
    evf_event_set_str(&ev->type, "custom:blob");
    evf_event_set_data(ev, custom_bytes, sizeof custom_bytes);
    return ev;
}

typedef evf_event_t *(*maker_t)(void);
static const maker_t makers[] = {make_s3, make_stream, make_iot, make_custom};
#define N_MAKERS (sizeof makers / sizeof makers[0])

/* Encode both and compare the bytes: equal encodings of our deterministic encoder = equal events
 * (field by field checks are below for each kind). */
static void assert_same_encoding(const evf_event_t *a, const evf_event_t *b) {
    size_t la, lb;
    uint8_t *ea = evf_event_encode(a, &la), *eb = evf_event_encode(b, &lb);
    ck_assert_uint_eq(la, lb);
    ck_assert_mem_eq(ea, eb, la);
    free(ea);
    free(eb);
}

static evf_event_t *round_trip(const evf_event_t *ev) {
    char err[256] = "";
    size_t len;
    uint8_t *buf = evf_event_encode(ev, &len);
    evf_event_t *back = evf_event_decode(buf, len, err, sizeof err);
    free(buf);
    ck_assert_msg(back != NULL, "decode failed: %s", err);
    return back;
}

/* A decode result must be a clean error or a usable event. */
static void check_decode_outcome(const uint8_t *buf, size_t len) {
    char err[256] = "";
    evf_event_t *ev = evf_event_decode(buf, len, err, sizeof err);
    if (!ev) {
        ck_assert_msg(err[0] != '\0', "NULL without a reason (len %zu)", len);
        return;
    }
    ck_assert(ev->id && ev->id[0]);
    ck_assert(evf_utf8_valid(ev->id, strlen(ev->id)));
    /* Whatever decoded must be usable by every other function. */
    char key[64], fp[33], hdr_scratch[64];
    evf_header_kv_t hdrs[6];
    evf_event_kafka_key(ev, key, sizeof key);
    evf_event_fingerprint(ev, fp);
    evf_event_ce_headers(ev, hdrs, 6, hdr_scratch, sizeof hdr_scratch);
    free(evf_event_to_json(ev));
    size_t relen;
    free(evf_event_encode(ev, &relen));
    evf_event_free(ev);
}

/* ---------------------------------------------------------------- construction */

START_TEST(test_new_and_setters) {
    evf_event_t *ev = evf_event_new();
    ck_assert_str_eq(ev->id, "");
    ck_assert_ptr_eq(ev->id, protobuf_c_empty_string);
    ck_assert_int_eq(ev->detail_case, EVFLEET__V1__EVENT__DETAIL__NOT_SET);

    evf_event_set_str(&ev->subject, "a/b");
    ck_assert_str_eq(ev->subject, "a/b");
    evf_event_set_str(&ev->subject, ev->subject); /* self-assignment is safe */
    ck_assert_str_eq(ev->subject, "a/b");
    evf_event_set_str(&ev->subject, "");
    ck_assert_ptr_eq(ev->subject, protobuf_c_empty_string);
    evf_event_set_str(&ev->subject, NULL);
    ck_assert_ptr_eq(ev->subject, protobuf_c_empty_string);

    evf_event_set_attr(ev, "a", "1");
    evf_event_set_attr(ev, "b", "2");
    evf_event_set_attr(ev, "a", "3");
    ck_assert_uint_eq(ev->n_attributes, 2);
    ck_assert_str_eq(ev->attributes[0]->key, "a");
    ck_assert_str_eq(ev->attributes[0]->value, "3");

    /* Switching the detail frees the previous one (ASan would report a leak otherwise). */
    Evfleet__V1__S3Object *s3 = evf_event_set_s3(ev);
    evf_event_set_str(&s3->bucket, "b");
    ck_assert_int_eq(ev->detail_case, EVFLEET__V1__EVENT__DETAIL_S3);
    Evfleet__V1__IotTelemetry *iot = evf_event_set_iot(ev);
    ck_assert_int_eq(ev->detail_case, EVFLEET__V1__EVENT__DETAIL_IOT);
    evf_event_iot_set_reading(iot, "t", 1.5);
    evf_event_iot_set_reading(iot, "t", 2.5);
    ck_assert_uint_eq(iot->n_readings, 1);
    ck_assert(iot->readings[0]->value == 2.5);
    evf_event_set_stream(ev);
    ck_assert_int_eq(ev->detail_case, EVFLEET__V1__EVENT__DETAIL_STREAM);
    evf_event_set_data(ev, "xyz", 3);
    ck_assert_int_eq(ev->detail_case, EVFLEET__V1__EVENT__DETAIL_DATA);
    ck_assert_uint_eq(ev->data.len, 3);
    evf_event_set_data(ev, ev->data.data, 2); /* from its own current data */
    ck_assert_mem_eq(ev->data.data, "xy", 2);
    evf_event_set_data(ev, NULL, 0);
    ck_assert_uint_eq(ev->data.len, 0);
    ck_assert_int_eq(ev->source, EVFLEET__V1__SOURCE__SOURCE_UNSPECIFIED);
    evf_event_free(ev);
    evf_event_free(NULL);
}
END_TEST

START_TEST(test_dup_is_deep) {
    for (size_t i = 0; i < N_MAKERS; i++) {
        evf_event_t *ev = makers[i]();
        evf_event_t *copy = evf_event_dup(ev);
        assert_same_encoding(ev, copy);
        ck_assert_ptr_ne(copy->id, ev->id);
        evf_event_set_str(&copy->id, "changed");
        ck_assert_str_ne(ev->id, "changed");
        evf_event_free(ev);
        evf_event_free(copy);
    }
}
END_TEST

/* ---------------------------------------------------------------- protobuf round trips */

START_TEST(test_round_trip_s3) {
    evf_event_t *ev = make_s3();
    evf_event_t *back = round_trip(ev);
    ck_assert_str_eq(back->id, ev->id);
    ck_assert_int_eq(back->source, EVFLEET__V1__SOURCE__S3);
    ck_assert_str_eq(back->type, "s3:ObjectCreated:Put");
    ck_assert_int_eq(back->time_ms, 1795757360123);
    ck_assert_str_eq(back->subject, "photos/2026/cat.jpg");
    ck_assert_uint_eq(back->n_attributes, 2);
    ck_assert_str_eq(back->attributes[1]->key, "tenant");
    ck_assert_str_eq(back->attributes[1]->value, "acme");
    ck_assert_int_eq(back->detail_case, EVFLEET__V1__EVENT__DETAIL_S3);
    ck_assert_str_eq(back->s3->bucket, "photos");
    ck_assert_str_eq(back->s3->key, "2026/cat.jpg");
    ck_assert_int_eq(back->s3->size, 48213);
    ck_assert_str_eq(back->s3->etag, "9b2cf535f27731c974343645a3985328");
    ck_assert_str_eq(back->s3->version_id, "v1");
    ck_assert_str_eq(back->s3->sequencer, "0055AED6DCD90281E5");
    ck_assert_str_eq(back->s3->content_type, "image/jpeg");
    ck_assert_str_eq(back->s3->event_name, "ObjectCreated:Put");
    ck_assert_str_eq(back->s3->region, "eu-west-1");
    assert_same_encoding(ev, back);
    evf_event_free(ev);
    evf_event_free(back);
}
END_TEST

START_TEST(test_round_trip_stream) {
    evf_event_t *ev = make_stream();
    evf_event_t *back = round_trip(ev);
    ck_assert_int_eq(back->time_ms, -5);
    ck_assert_int_eq(back->detail_case, EVFLEET__V1__EVENT__DETAIL_STREAM);
    ck_assert_str_eq(back->stream->table, "orders");
    ck_assert_int_eq(back->stream->op, EVFLEET__V1__STREAM_OP__MODIFY);
    ck_assert_str_eq(back->stream->sequence_number, "000000000001");
    ck_assert_str_eq(back->stream->keys, "{ \"region\": \"eu\", \"id\": 42 }");
    ck_assert_str_eq(back->stream->old_image, "{\"id\":42,\"total\":10}");
    ck_assert_str_eq(back->stream->new_image, "{\"id\":42,\"total\":12.5}");
    ck_assert_int_eq(back->stream->approximate_creation_ms, INT64_MAX);
    assert_same_encoding(ev, back);
    evf_event_free(ev);
    evf_event_free(back);
}
END_TEST

START_TEST(test_round_trip_iot) {
    evf_event_t *ev = make_iot();
    evf_event_t *back = round_trip(ev);
    ck_assert_int_eq(back->detail_case, EVFLEET__V1__EVENT__DETAIL_IOT);
    const Evfleet__V1__IotTelemetry *iot = back->iot;
    ck_assert_str_eq(iot->device_id, "sensor-7");
    ck_assert_str_eq(iot->metric, "temperature");
    ck_assert(iot->value == 21.5);
    ck_assert_str_eq(iot->unit, "C");
    ck_assert_uint_eq(iot->n_readings, 3);
    ck_assert_str_eq(iot->readings[0]->key, "humidity");
    ck_assert(iot->readings[0]->value == 40.25);
    ck_assert_str_eq(iot->readings[2]->key, "co2");
    ck_assert(iot->readings[2]->value == -0.1);
    ck_assert_ptr_nonnull(iot->location);
    ck_assert(iot->location->lat == 52.52 && iot->location->lon == 13.405);
    ck_assert(iot->location->alt == 34);
    assert_same_encoding(ev, back);

    /* No location stays no location; an all-zero one stays present. */
    protobuf_c_message_free_unpacked(&ev->iot->location->base, NULL);
    ev->iot->location = NULL;
    evf_event_t *back2 = round_trip(ev);
    ck_assert_ptr_null(back2->iot->location);
    ev->iot->location = malloc(sizeof *ev->iot->location);
    evfleet__v1__location__init(ev->iot->location);
    evf_event_t *back3 = round_trip(ev);
    ck_assert_ptr_nonnull(back3->iot->location);
    evf_event_free(ev);
    evf_event_free(back);
    evf_event_free(back2);
    evf_event_free(back3);
}
END_TEST

START_TEST(test_round_trip_custom) {
    evf_event_t *ev = make_custom();
    evf_event_t *back = round_trip(ev);
    ck_assert_int_eq(back->source, EVFLEET__V1__SOURCE__CUSTOM);
    ck_assert_int_eq(back->detail_case, EVFLEET__V1__EVENT__DETAIL_DATA);
    ck_assert_uint_eq(back->data.len, sizeof custom_bytes);
    ck_assert_mem_eq(back->data.data, custom_bytes, sizeof custom_bytes);
    evf_event_free(back);

    /* Empty data is still CUSTOM data, and an empty sub-message is still that detail. */
    evf_event_set_data(ev, NULL, 0);
    back = round_trip(ev);
    ck_assert_int_eq(back->detail_case, EVFLEET__V1__EVENT__DETAIL_DATA);
    ck_assert_uint_eq(back->data.len, 0);
    evf_event_free(back);
    evf_event_set_s3(ev);
    back = round_trip(ev);
    ck_assert_int_eq(back->detail_case, EVFLEET__V1__EVENT__DETAIL_S3);
    ck_assert_str_eq(back->s3->bucket, "");
    evf_event_free(back);
    evf_event_free(ev);
}
END_TEST

START_TEST(test_unicode_and_empty_fields) {
    evf_event_t *ev = evf_event_new();
    evf_event_set_str(&ev->id, "ev-ünï-🚀");
    evf_event_set_str(&ev->subject, "bücket/ключ/日本/🐱");
    evf_event_set_attr(ev, "ключ", "値🎉");
    Evfleet__V1__S3Object *s3 = evf_event_set_s3(ev);
    evf_event_set_str(&s3->key, "ключ/日本/🐱");
    evf_event_t *back = round_trip(ev);
    ck_assert_str_eq(back->id, "ev-ünï-🚀");
    ck_assert_str_eq(back->subject, "bücket/ключ/日本/🐱");
    ck_assert_str_eq(back->attributes[0]->key, "ключ");
    ck_assert_str_eq(back->attributes[0]->value, "値🎉");
    ck_assert_str_eq(back->s3->key, "ключ/日本/🐱");
    ck_assert_str_eq(back->s3->bucket, "");
    ck_assert_str_eq(back->type, "");
    ck_assert_int_eq(back->time_ms, 0);
    evf_event_free(back);

    /* Only an id: every other field default, no detail. */
    evf_event_t *min = evf_event_new();
    evf_event_set_str(&min->id, "x");
    back = round_trip(min);
    ck_assert_str_eq(back->id, "x");
    ck_assert_int_eq(back->detail_case, EVFLEET__V1__EVENT__DETAIL__NOT_SET);
    ck_assert_uint_eq(back->n_attributes, 0);
    evf_event_free(back);
    evf_event_free(min);
    evf_event_free(ev);
}
END_TEST

START_TEST(test_large_fields) {
    size_t big = 1 << 20;
    uint8_t *data = malloc(big);
    for (size_t i = 0; i < big; i++)
        data[i] = (uint8_t)(i * 131 + (i >> 9));
    evf_event_t *ev = make_custom();
    evf_event_set_data(ev, data, big);
    evf_event_t *back = round_trip(ev);
    ck_assert_uint_eq(back->data.len, big);
    ck_assert_mem_eq(back->data.data, data, big);
    evf_event_free(back);
    evf_event_free(ev);
    free(data);

    char *key = malloc(100001);
    for (size_t i = 0; i < 100000; i++)
        key[i] = (char)('a' + i % 26);
    key[100000] = '\0';
    ev = make_s3();
    evf_event_set_str(&ev->s3->key, key);
    back = round_trip(ev);
    ck_assert_uint_eq(strlen(back->s3->key), 100000);
    ck_assert_str_eq(back->s3->key, key);
    char kafka_key[16];
    ck_assert_uint_eq(evf_event_kafka_key(back, kafka_key, sizeof kafka_key), 7 + 100000);
    evf_event_free(back);
    evf_event_free(ev);
    free(key);
}
END_TEST

START_TEST(test_encode_to) {
    evf_event_t *ev = make_s3();
    size_t len;
    uint8_t *full = evf_event_encode(ev, &len);
    uint8_t small[8];
    memset(small, 0xaa, sizeof small);
    ck_assert_uint_eq(evf_event_encode_to(ev, small, sizeof small), len);
    for (size_t i = 0; i < sizeof small; i++)
        ck_assert_uint_eq(small[i], 0xaa); /* nothing written when it does not fit */
    uint8_t *exact = malloc(len);
    ck_assert_uint_eq(evf_event_encode_to(ev, exact, len), len);
    ck_assert_mem_eq(exact, full, len);
    free(exact);
    free(full);
    evf_event_free(ev);
}
END_TEST

/* ---------------------------------------------------------------- rejection */

START_TEST(test_decode_rejects_basic) {
    char err[256];
    err[0] = '\0';
    ck_assert_ptr_null(evf_event_decode("", 0, err, sizeof err));
    ck_assert_str_eq(err, "event has no id");
    err[0] = '\0';
    ck_assert_ptr_null(evf_event_decode(NULL, 0, err, sizeof err));
    ck_assert_str_eq(err, "event has no id");
    /* A valid message without an id. */
    const uint8_t no_id[] = {0x1a, 0x01, 't'};
    ck_assert_ptr_null(evf_event_decode(no_id, sizeof no_id, err, sizeof err));
    ck_assert_str_eq(err, "event has no id");
    /* A wrong wire type, a start group (0x7b is '{'), an unterminated varint. */
    const uint8_t bad1[] = {0x0a, 0x01, 'x', 0x0b};
    const uint8_t bad2[] = {0x0a, 0x01, 'x', 0x7b, 0x7c};
    const uint8_t bad3[] = {0x0a, 0x01, 'x', 0x20, 0xff, 0xff, 0xff};
    ck_assert_ptr_null(evf_event_decode(bad1, sizeof bad1, err, sizeof err));
    ck_assert_str_eq(err, "malformed protobuf");
    ck_assert_ptr_null(evf_event_decode(bad2, sizeof bad2, err, sizeof err));
    ck_assert_str_eq(err, "malformed protobuf");
    ck_assert_ptr_null(evf_event_decode(bad3, sizeof bad3, err, sizeof err));
    ck_assert_str_eq(err, "malformed protobuf");
    /* Field number 0 (a two-byte tag 0x80 0x00), which protobuf-c itself lets through. */
    const uint8_t bad4[] = {0x0a, 0x01, 'x', 0x80, 0x00, 0x01};
    ck_assert_ptr_null(evf_event_decode(bad4, sizeof bad4, err, sizeof err));
    ck_assert_str_eq(err, "malformed protobuf");
    /* errstr may be NULL. */
    ck_assert_ptr_null(evf_event_decode(bad1, sizeof bad1, NULL, 0));
}
END_TEST

START_TEST(test_decode_huge_lengths) {
    /* id, then field 13 (data) or 5 (subject) claiming far more bytes than there are. */
    static const uint8_t prefixes[][11] = {
        {0xff, 0xff, 0xff, 0xff, 0x0f},                               /* 2^32 - 1 */
        {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},       /* 2^63 - 1 */
        {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, /* 2^64 - 1 */
        {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, /* 11 bytes */
        {0x05},                                                             /* 5 > 3 left */
    };
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        for (int field = 0; field < 2; field++) {
            uint8_t buf[32] = {0x0a, 0x01, 'x', field ? 0x6a : 0x2a};
            size_t n = 4, plen = 0;
            while (plen < 11 && (plen == 0 || prefixes[i][plen - 1] & 0x80))
                buf[n++] = prefixes[i][plen++];
            buf[n++] = 'a';
            buf[n++] = 'b';
            char err[256] = "";
            ck_assert_ptr_null(evf_event_decode(buf, n, err, sizeof err));
            ck_assert_str_eq(err, "malformed protobuf");
        }
    }
}
END_TEST

START_TEST(test_decode_truncated_every_length) {
    for (size_t m = 0; m < N_MAKERS; m++) {
        evf_event_t *ev = makers[m]();
        size_t len;
        uint8_t *full = evf_event_encode(ev, &len);
        size_t clean_errors = 0;
        for (size_t cut = 0; cut < len; cut++) {
            /* A copy of exactly cut bytes, so ASan catches any read past the end. */
            uint8_t *part = malloc(cut ? cut : 1);
            memcpy(part, full, cut);
            char err[256] = "";
            evf_event_t *got = evf_event_decode(part, cut, err, sizeof err);
            if (got) {
                /* A prefix that ends on a field boundary is a valid (smaller) event. */
                size_t relen;
                uint8_t *re = evf_event_encode(got, &relen);
                ck_assert_uint_le(relen, cut);
                free(re);
                evf_event_free(got);
            } else {
                ck_assert(err[0] != '\0');
                clean_errors++;
            }
            check_decode_outcome(part, cut);
            free(part);
        }
        ck_assert_uint_gt(clean_errors, len / 2); /* most cuts land inside a field */
        free(full);
        evf_event_free(ev);
    }
}
END_TEST

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng_next(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

START_TEST(test_decode_random_corruption) {
    for (size_t m = 0; m < N_MAKERS; m++) {
        evf_event_t *ev = makers[m]();
        size_t len;
        uint8_t *full = evf_event_encode(ev, &len);
        uint8_t *buf = malloc(len > 64 ? len : 64);
        for (int round = 0; round < 3000; round++) {
            memcpy(buf, full, len);
            int flips = 1 + (int)(rng_next() % 4);
            for (int f = 0; f < flips; f++) {
                size_t at = rng_next() % len;
                if (rng_next() % 2)
                    buf[at] ^= (uint8_t)(1u << (rng_next() % 8));
                else
                    buf[at] = (uint8_t)rng_next();
            }
            check_decode_outcome(buf, len);
        }
        /* Pure noise too. */
        for (int round = 0; round < 2000; round++) {
            size_t n = rng_next() % 64;
            for (size_t i = 0; i < n; i++)
                buf[i] = (uint8_t)rng_next();
            check_decode_outcome(buf, n);
        }
        free(buf);
        free(full);
        evf_event_free(ev);
    }
}
END_TEST

/* Encode ev with one string set to bytes that are not valid UTF-8: decode must name the field. */
static void assert_rejects_bad_string(evf_event_t *ev, const char *want_in_error) {
    size_t len;
    uint8_t *buf = evf_event_encode(ev, &len);
    char err[256] = "";
    evf_event_t *got = evf_event_decode(buf, len, err, sizeof err);
    ck_assert_msg(got == NULL, "accepted invalid UTF-8 (%s)", want_in_error);
    ck_assert_msg(strstr(err, want_in_error) != NULL, "error '%s' lacks '%s'", err,
                  want_in_error);
    ck_assert_msg(strstr(err, "UTF-8") != NULL, "error '%s'", err);
    free(buf);
    evf_event_free(ev);
}

START_TEST(test_decode_rejects_invalid_utf8) {
    const char *bad = "ok\xc3\x28"; /* a lead byte followed by a non-continuation */
    evf_event_t *ev;

    ev = make_s3();
    evf_event_set_str(&ev->id, "\xff");
    assert_rejects_bad_string(ev, "'id'");
    ev = make_s3();
    evf_event_set_str(&ev->type, bad);
    assert_rejects_bad_string(ev, "'type'");
    ev = make_s3();
    evf_event_set_str(&ev->subject, "\xed\xa0\x80"); /* a UTF-16 surrogate */
    assert_rejects_bad_string(ev, "'subject'");
    ev = make_s3();
    evf_event_set_attr(ev, "k\xc0\xaf", "v"); /* overlong '/' in a map key */
    assert_rejects_bad_string(ev, "'attributes.key'");
    ev = make_s3();
    evf_event_set_attr(ev, "k", "v\xf4\x90\x80\x80"); /* past U+10FFFF in a map value */
    assert_rejects_bad_string(ev, "'attributes.value'");
    ev = make_s3();
    evf_event_set_str(&ev->s3->key, bad);
    assert_rejects_bad_string(ev, "'s3.key'");
    ev = make_s3();
    evf_event_set_str(&ev->s3->region, "\x80");
    assert_rejects_bad_string(ev, "'s3.region'");
    ev = make_stream();
    evf_event_set_str(&ev->stream->new_image, "{\"a\":\"\xe2\x82\"}"); /* truncated sequence */
    assert_rejects_bad_string(ev, "'stream.new_image'");
    ev = make_iot();
    evf_event_set_str(&ev->iot->device_id, bad);
    assert_rejects_bad_string(ev, "'iot.device_id'");
    ev = make_iot();
    evf_event_iot_set_reading(ev->iot, "t\xfe", 1);
    assert_rejects_bad_string(ev, "'iot.readings.key'");
}
END_TEST

START_TEST(test_decode_rejects_nul_in_string) {
    /* id "x", subject "a\0b" — a C string would silently lose "b". */
    const uint8_t buf[] = {0x0a, 0x01, 'x', 0x2a, 0x03, 'a', 0x00, 'b'};
    char err[256] = "";
    ck_assert_ptr_null(evf_event_decode(buf, sizeof buf, err, sizeof err));
    ck_assert_str_eq(err, "field 'subject' contains a NUL byte");
    /* Bytes data may hold NUL, of course. */
    const uint8_t data[] = {0x0a, 0x01, 'x', 0x6a, 0x02, 0x00, 0x00};
    evf_event_t *ev = evf_event_decode(data, sizeof data, err, sizeof err);
    ck_assert_ptr_nonnull(ev);
    ck_assert_uint_eq(ev->data.len, 2);
    evf_event_free(ev);
}
END_TEST

START_TEST(test_utf8_valid) {
    ck_assert(evf_utf8_valid("", 0));
    ck_assert(evf_utf8_valid("plain", 5));
    ck_assert(evf_utf8_valid("\xc3\xa9\xe6\x97\xa5\xf0\x9f\x9a\x80", 9)); /* é 日 🚀 */
    ck_assert(evf_utf8_valid("\xf4\x8f\xbf\xbf", 4));                     /* U+10FFFF */
    ck_assert(evf_utf8_valid("\xed\x9f\xbf", 3));                         /* U+D7FF */
    ck_assert(evf_utf8_valid("a\0b", 3));
    ck_assert(!evf_utf8_valid("\x80", 1));
    ck_assert(!evf_utf8_valid("\xc0\x80", 2));         /* overlong NUL */
    ck_assert(!evf_utf8_valid("\xc1\xbf", 2));         /* overlong */
    ck_assert(!evf_utf8_valid("\xe0\x9f\xbf", 3));     /* overlong */
    ck_assert(!evf_utf8_valid("\xf0\x8f\xbf\xbf", 4)); /* overlong */
    ck_assert(!evf_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    ck_assert(!evf_utf8_valid("\xf4\x90\x80\x80", 4)); /* past U+10FFFF */
    ck_assert(!evf_utf8_valid("\xf5\x80\x80\x80", 4));
    ck_assert(!evf_utf8_valid("\xe6\x97", 2)); /* truncated */
    ck_assert(!evf_utf8_valid("\xe6\x97\xa5", 2));
    ck_assert(!evf_utf8_valid("\xe6\x41\xa5", 3));
    ck_assert(!evf_utf8_valid("\xff", 1));
}
END_TEST

START_TEST(test_decode_repeated_map_keys) {
    /* attributes {k: "1"}, {k: "2"}, {j: "3"}: protobuf map semantics keep the last k. */
    const uint8_t buf[] = {0x0a, 0x01, 'x', 0x32, 0x06, 0x0a, 0x01, 'k', 0x12, 0x01, '1',
                           0x32, 0x06, 0x0a, 0x01, 'k', 0x12, 0x01, '2', 0x32, 0x06, 0x0a,
                           0x01, 'j', 0x12, 0x01, '3'};
    char err[256] = "", out[16];
    evf_event_t *ev = evf_event_decode(buf, sizeof buf, err, sizeof err);
    ck_assert_msg(ev != NULL, "%s", err);
    ck_assert_uint_eq(ev->n_attributes, 2);
    ck_assert_int_eq(evf_event_field(ev, "attributes.k", out, sizeof out), 0);
    ck_assert_str_eq(out, "2");
    ck_assert_int_eq(evf_event_field(ev, "attributes.j", out, sizeof out), 0);
    ck_assert_str_eq(out, "3");
    evf_event_free(ev);
}
END_TEST

/* ---------------------------------------------------------------- by content type */

START_TEST(test_decode_message_dispatch) {
    char err[256] = "";
    evf_event_t *ev = make_s3();
    size_t len;
    uint8_t *pb = evf_event_encode(ev, &len);
    const char *ce = "  \n{\"specversion\":\"1.0\",\"id\":\"ce-1\",\"source\":\"evfleet/s3\","
                     "\"type\":\"s3:ObjectCreated:Put\"}";

    evf_event_t *got = evf_event_decode_message(pb, len, NULL, err, sizeof err);
    ck_assert_ptr_nonnull(got);
    assert_same_encoding(ev, got);
    evf_event_free(got);
    got = evf_event_decode_message(pb, len, "application/protobuf", err, sizeof err);
    ck_assert_ptr_nonnull(got);
    evf_event_free(got);
    got = evf_event_decode_message(pb, len, "text/plain", err, sizeof err);
    ck_assert_ptr_nonnull(got);
    evf_event_free(got);
    /* Protobuf announced as CloudEvents JSON is a JSON error. */
    ck_assert_ptr_null(
        evf_event_decode_message(pb, len, "application/cloudevents+json", err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "JSON"));

    const char *types[] = {NULL, "application/cloudevents+json",
                           "Application/CloudEvents+JSON; charset=utf-8", "application/json"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        got = evf_event_decode_message(ce, strlen(ce), types[i], err, sizeof err);
        ck_assert_msg(got != NULL, "%s: %s", types[i] ? types[i] : "(null)", err);
        ck_assert_str_eq(got->id, "ce-1");
        ck_assert_int_eq(got->source, EVFLEET__V1__SOURCE__S3);
        evf_event_free(got);
    }
    ck_assert_ptr_null(
        evf_event_decode_message(ce, strlen(ce), "application/protobuf", err, sizeof err));
    ck_assert_ptr_null(evf_event_decode_message(NULL, 0, NULL, err, sizeof err));
    free(pb);
    evf_event_free(ev);
}
END_TEST

START_TEST(test_decode_message_sniff_whitespace_protobuf) {
    /* An id of 123 bytes encodes as 0x0a 0x7b …: "\n{" — looks like JSON after whitespace. */
    char id[124];
    memset(id, 'i', 123);
    id[123] = '\0';
    evf_event_t *ev = evf_event_new();
    evf_event_set_str(&ev->id, id);
    size_t len;
    uint8_t *pb = evf_event_encode(ev, &len);
    ck_assert_uint_eq(pb[0], '\n');
    ck_assert_uint_eq(pb[1], '{');
    char err[256] = "";
    evf_event_t *got = evf_event_decode_message(pb, len, NULL, err, sizeof err);
    ck_assert_msg(got != NULL, "%s", err);
    ck_assert_str_eq(got->id, id);
    evf_event_free(got);
    /* Neither JSON nor protobuf: the JSON error is the one reported. */
    const char junk[] = " {not json";
    ck_assert_ptr_null(evf_event_decode_message(junk, strlen(junk), NULL, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "JSON"));
    free(pb);
    evf_event_free(ev);
}
END_TEST

/* ---------------------------------------------------------------- Kafka key, headers, names */

START_TEST(test_kafka_key) {
    char key[256];
    evf_event_t *ev = make_s3();
    ck_assert_uint_eq(evf_event_kafka_key(ev, key, sizeof key), strlen("photos/2026/cat.jpg"));
    ck_assert_str_eq(key, "photos/2026/cat.jpg");
    /* snprintf-like truncation; size 0 writes nothing. */
    char small[8];
    ck_assert_uint_eq(evf_event_kafka_key(ev, small, sizeof small), 19);
    ck_assert_str_eq(small, "photos/");
    ck_assert_uint_eq(evf_event_kafka_key(ev, NULL, 0), 19);
    evf_event_free(ev);

    ev = make_stream(); /* keys "{ \"region\": \"eu\", \"id\": 42 }" */
    evf_event_kafka_key(ev, key, sizeof key);
    ck_assert_str_eq(key, "orders/{\"id\":42,\"region\":\"eu\"}");
    evf_event_set_str(&ev->stream->keys, "not json");
    evf_event_kafka_key(ev, key, sizeof key);
    ck_assert_str_eq(key, "orders/not json");
    evf_event_free(ev);

    ev = make_iot();
    evf_event_set_str(&ev->subject, "other");
    evf_event_kafka_key(ev, key, sizeof key);
    ck_assert_str_eq(key, "sensor-7");
    evf_event_set_str(&ev->iot->device_id, "");
    evf_event_kafka_key(ev, key, sizeof key);
    ck_assert_str_eq(key, "other");
    evf_event_free(ev);

    ev = make_custom();
    evf_event_kafka_key(ev, key, sizeof key);
    ck_assert_str_eq(key, "ev-custom-1"); /* no subject: the id */
    evf_event_set_str(&ev->subject, "tenant-9");
    evf_event_kafka_key(ev, key, sizeof key);
    ck_assert_str_eq(key, "tenant-9");
    evf_event_free(ev);
}
END_TEST

START_TEST(test_ce_headers) {
    evf_event_t *ev = make_s3();
    evf_header_kv_t h[8];
    char scratch[64];
    ck_assert_uint_eq(evf_event_ce_headers(ev, h, 8, scratch, sizeof scratch), 6);
    ck_assert_str_eq(h[0].name, "ce_specversion");
    ck_assert_str_eq(h[0].value, "1.0");
    ck_assert_str_eq(h[1].name, "ce_id");
    ck_assert_str_eq(h[1].value, "7f9c1d2e-0000-4000-8000-000000000001");
    ck_assert_str_eq(h[2].name, "ce_source");
    ck_assert_str_eq(h[2].value, "evfleet/s3");
    ck_assert_str_eq(h[3].name, "ce_type");
    ck_assert_str_eq(h[3].value, "s3:ObjectCreated:Put");
    ck_assert_str_eq(h[4].name, "ce_time");
    ck_assert_str_eq(h[4].value, "2026-11-27T05:29:20.123Z");
    ck_assert_str_eq(h[5].name, "content-type");
    ck_assert_str_eq(h[5].value, "application/protobuf");
    ck_assert_uint_eq(evf_event_ce_headers(ev, h, 2, scratch, sizeof scratch), 2);

    const struct {
        int64_t ms;
        const char *text;
    } times[] = {
        {0, "1970-01-01T00:00:00.000Z"},
        {-1, "1969-12-31T23:59:59.999Z"},
        {951782400000, "2000-02-29T00:00:00.000Z"},
        {-2203891200000, "1900-03-01T00:00:00.000Z"},
        {253402300799999, "9999-12-31T23:59:59.999Z"},
    };
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        ev->time_ms = times[i].ms;
        evf_event_ce_headers(ev, h, 8, scratch, sizeof scratch);
        ck_assert_str_eq(h[4].value, times[i].text);
    }
    evf_event_free(ev);

    ev = make_iot();
    evf_event_ce_headers(ev, h, 8, scratch, sizeof scratch);
    ck_assert_str_eq(h[2].value, "evfleet/iot");
    ev->source = EVFLEET__V1__SOURCE__SOURCE_UNSPECIFIED; /* then by the detail */
    ck_assert_str_eq(evf_event_ce_source(ev), "evfleet/iot");
    evf_event_free(ev);
    ev = make_stream();
    ck_assert_str_eq(evf_event_ce_source(ev), "evfleet/stream");
    evf_event_free(ev);
    ev = make_custom();
    ck_assert_str_eq(evf_event_ce_source(ev), "evfleet/custom");
    evf_event_free(ev);
}
END_TEST

START_TEST(test_enum_names) {
    Evfleet__V1__Source src;
    Evfleet__V1__StreamOp op;
    ck_assert_str_eq(evf_event_source_name(EVFLEET__V1__SOURCE__S3), "S3");
    ck_assert_str_eq(evf_event_source_name(EVFLEET__V1__SOURCE__CUSTOM), "CUSTOM");
    ck_assert_str_eq(evf_event_source_name((Evfleet__V1__Source)77), "UNKNOWN");
    ck_assert_int_eq(evf_event_source_parse("STREAM", &src), 0);
    ck_assert_int_eq(src, EVFLEET__V1__SOURCE__STREAM);
    ck_assert_int_eq(evf_event_source_parse("iot", &src), 0);
    ck_assert_int_eq(src, EVFLEET__V1__SOURCE__IOT);
    ck_assert_int_eq(evf_event_source_parse("kinesis", &src), -1);
    ck_assert_str_eq(evf_event_stream_op_name(EVFLEET__V1__STREAM_OP__REMOVE), "REMOVE");
    ck_assert_int_eq(evf_event_stream_op_parse("insert", &op), 0);
    ck_assert_int_eq(op, EVFLEET__V1__STREAM_OP__INSERT);
    ck_assert_int_eq(evf_event_stream_op_parse("UPSERT", &op), -1);
}
END_TEST

START_TEST(test_shared_helpers) {
    char *c = evf_event_json_canonical(" { \"b\" : [1, {\"z\":1,\"a\":2}], \"a\": \"\\u00e9\" } ");
    ck_assert_str_eq(c, "{\"a\":\"é\",\"b\":[1,{\"a\":2,\"z\":1}]}");
    free(c);
    c = evf_event_json_canonical("42");
    ck_assert_str_eq(c, "42");
    free(c);
    ck_assert_ptr_null(evf_event_json_canonical(""));
    ck_assert_ptr_null(evf_event_json_canonical("{\"a\":"));

    const struct {
        double v;
        const char *text;
    } doubles[] = {{0.1, "0.1"},       {-0.1, "-0.1"},         {21.5, "21.5"},
                   {1e300, "1e+300"},  {5e-324, "5e-324"},     {1.0 / 3, "0.3333333333333333"},
                   {100, "100"}, {1.5e16, "15000000000000000"}, {1e17, "1e+17"}, {1.25e-7, "1.25e-07"},       {-0.0, "-0"},           {0.30000000000000004,
                                                                "0.30000000000000004"},
                   {NAN, "NaN"},       {INFINITY, "Infinity"}, {-INFINITY, "-Infinity"}};
    for (size_t i = 0; i < sizeof doubles / sizeof doubles[0]; i++) {
        char out[64];
        ck_assert_uint_eq(evf_event_format_double(doubles[i].v, out, sizeof out),
                          strlen(doubles[i].text));
        ck_assert_str_eq(out, doubles[i].text);
    }
}
END_TEST

/* ---------------------------------------------------------------- field lookup */

static void assert_field(const evf_event_t *ev, const char *path, int rc, const char *want) {
    char out[256];
    int got = evf_event_field(ev, path, out, sizeof out);
    ck_assert_msg(got == rc, "%s: rc %d, want %d", path, got, rc);
    if (want)
        ck_assert_msg(!strcmp(out, want), "%s: '%s', want '%s'", path, out, want);
}

START_TEST(test_field_lookup) {
    evf_event_t *s3 = make_s3(), *st = make_stream(), *iot = make_iot();
    assert_field(s3, "id", 0, "7f9c1d2e-0000-4000-8000-000000000001");
    assert_field(s3, "type", 0, "s3:ObjectCreated:Put");
    assert_field(s3, "subject", 0, "photos/2026/cat.jpg");
    assert_field(s3, "time_ms", 0, "1795757360123");
    assert_field(s3, "source", 0, "S3");
    assert_field(s3, "attributes.tenant", 0, "acme");
    assert_field(s3, "attributes.nope", 1, "");
    assert_field(s3, "s3.bucket", 0, "photos");
    assert_field(s3, "s3.key", 0, "2026/cat.jpg");
    assert_field(s3, "s3.size", 0, "48213");
    assert_field(s3, "s3.sequencer", 0, "0055AED6DCD90281E5");
    assert_field(s3, "s3.version_id", 0, "v1");
    assert_field(s3, "s3.region", 0, "eu-west-1");
    assert_field(s3, "stream.table", 1, "");
    assert_field(s3, "iot.device_id", 1, "");
    assert_field(s3, "iot.readings.t", 1, "");

    assert_field(st, "time_ms", 0, "-5");
    assert_field(st, "stream.op", 0, "MODIFY");
    assert_field(st, "stream.keys", 0, "{\"id\":42,\"region\":\"eu\"}");
    assert_field(st, "stream.new_image", 0, "{\"id\":42,\"total\":12.5}");
    assert_field(st, "stream.sequence_number", 0, "000000000001");
    assert_field(st, "stream.approximate_creation_ms", 0, "9223372036854775807");
    assert_field(st, "s3.key", 1, "");

    assert_field(iot, "iot.device_id", 0, "sensor-7");
    assert_field(iot, "iot.value", 0, "21.5");
    assert_field(iot, "iot.readings.pressure", 0, "1013.2");
    assert_field(iot, "iot.readings.co2", 0, "-0.1");
    assert_field(iot, "iot.readings.missing", 1, "");
    assert_field(iot, "iot.location.lat", 0, "52.52");
    assert_field(iot, "iot.location.alt", 0, "34");
    protobuf_c_message_free_unpacked(&iot->iot->location->base, NULL);
    iot->iot->location = NULL;
    assert_field(iot, "iot.location.lon", 1, "");

    /* Unknown paths, for every event. */
    const char *unknown[] = {"", "ID", "s3", "s3.", "s3.nope", "stream.keyz", "iot.readings.",
                             "iot.location.x", "attributes.", "detail.bucket", "sourcex",
                             "s3.bucket.x", "time"};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        assert_field(s3, unknown[i], -1, NULL);
        ck_assert_msg(!evf_event_field_valid(unknown[i]), "%s valid", unknown[i]);
    }
    const char *known[] = {"id", "source", "s3.bucket", "s3.key", "s3.sequencer",
                           "stream.keys", "iot.metric", "iot.readings.x", "iot.location.lat",
                           "attributes.trace", "time_ms"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        ck_assert_msg(evf_event_field_valid(known[i]), "%s invalid", known[i]);

    /* A value that does not fit says so. */
    char small[4];
    ck_assert_int_eq(evf_event_field(s3, "s3.bucket", small, sizeof small), 2);
    ck_assert_str_eq(small, "pho");
    ck_assert_int_eq(evf_event_field(s3, "s3.size", small, sizeof small), 2);
    evf_event_free(s3);
    evf_event_free(st);
    evf_event_free(iot);
}
END_TEST

/* ---------------------------------------------------------------- seed corpus */

static DIR *open_corpus(char *dir, size_t dir_size) {
    snprintf(dir, dir_size, "tests/fuzz/corpus/event");
    DIR *d = opendir(dir);
    if (d)
        return d;
    /* Run from elsewhere: the source tree is 4 levels above build/<variant>/tests/unit/. */
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    for (int up = 0; up < 5; up++) {
        char *slash = strrchr(exe, '/');
        if (!slash)
            return NULL;
        *slash = '\0';
    }
    if ((size_t)snprintf(dir, dir_size, "%s/tests/fuzz/corpus/event", exe) >= dir_size)
        return NULL;
    return opendir(dir);
}

START_TEST(test_seed_corpus) {
    char dir[PATH_MAX];
    DIR *d = open_corpus(dir, sizeof dir);
    ck_assert_msg(d != NULL, "seed corpus directory not found (run from the source tree)");
    struct dirent *de;
    int valid = 0, invalid = 0;
    while ((de = readdir(d))) {
        int want_valid = !strncmp(de->d_name, "valid-", 6);
        if (!want_valid && strncmp(de->d_name, "invalid-", 8))
            continue;
        char path[PATH_MAX + 256];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        FILE *f = fopen(path, "rb");
        ck_assert_ptr_nonnull(f);
        uint8_t buf[4096];
        size_t len = fread(buf, 1, sizeof buf, f);
        fclose(f);
        ck_assert_msg(len < sizeof buf, "%s: seeds must stay tiny", de->d_name);
        char err[256] = "";
        evf_event_t *ev = evf_event_decode_message(buf, len, NULL, err, sizeof err);
        if (want_valid) {
            ck_assert_msg(ev != NULL, "%s: %s", de->d_name, err);
            valid++;
        } else {
            ck_assert_msg(ev == NULL, "%s decoded", de->d_name);
            ck_assert(err[0] != '\0');
            invalid++;
        }
        evf_event_free(ev);
    }
    closedir(d);
    ck_assert_int_ge(valid, 5);
    ck_assert_int_ge(invalid, 5);
}
END_TEST

static Suite *event_codec_suite(void) {
    Suite *s = suite_create("event_codec");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_new_and_setters);
    tcase_add_test(tc, test_dup_is_deep);
    tcase_add_test(tc, test_round_trip_s3);
    tcase_add_test(tc, test_round_trip_stream);
    tcase_add_test(tc, test_round_trip_iot);
    tcase_add_test(tc, test_round_trip_custom);
    tcase_add_test(tc, test_unicode_and_empty_fields);
    tcase_add_test(tc, test_large_fields);
    tcase_add_test(tc, test_encode_to);
    tcase_add_test(tc, test_decode_rejects_basic);
    tcase_add_test(tc, test_decode_huge_lengths);
    tcase_add_test(tc, test_decode_truncated_every_length);
    tcase_add_test(tc, test_decode_random_corruption);
    tcase_add_test(tc, test_decode_rejects_invalid_utf8);
    tcase_add_test(tc, test_decode_rejects_nul_in_string);
    tcase_add_test(tc, test_utf8_valid);
    tcase_add_test(tc, test_decode_repeated_map_keys);
    tcase_add_test(tc, test_decode_message_dispatch);
    tcase_add_test(tc, test_decode_message_sniff_whitespace_protobuf);
    tcase_add_test(tc, test_kafka_key);
    tcase_add_test(tc, test_ce_headers);
    tcase_add_test(tc, test_enum_names);
    tcase_add_test(tc, test_shared_helpers);
    tcase_add_test(tc, test_field_lookup);
    tcase_add_test(tc, test_seed_corpus);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(event_codec_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
