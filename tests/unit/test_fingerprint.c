/* tests/unit/test_fingerprint.c — SHA-256 against the FIPS 180-4 examples, and the event
 * fingerprint: one logical event has one fingerprint whether it came as protobuf or CloudEvents
 * JSON; id, time, source and attributes do not count; type, subject and every detail field do. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "sha256.h"

/* Computed independently (Python hashlib) from the canonical form documented in fingerprint.c. */
#define GOLDEN_S3_FP "8fe4177d43e91f5222f76aa7bff3897c"
#define GOLDEN_EMPTY_FP "114cdd6b668e0245fab09ec436703c43"

static void hex(const uint8_t *d, size_t n, char *out) {
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void assert_sha256(const void *data, size_t len, const char *want) {
    uint8_t digest[32];
    char got[65];
    evf_sha256(data, len, digest);
    hex(digest, 32, got);
    ck_assert_str_eq(got, want);
    /* Fed in uneven pieces, the result is the same. */
    evf_sha256_t ctx;
    evf_sha256_init(&ctx);
    const uint8_t *p = data;
    size_t step = 1;
    for (size_t off = 0; off < len; off += step, step = step * 3 % 67 + 1)
        evf_sha256_update(&ctx, p + off, off + step <= len ? step : len - off);
    evf_sha256_final(&ctx, digest);
    hex(digest, 32, got);
    ck_assert_str_eq(got, want);
}

START_TEST(test_sha256_vectors) {
    assert_sha256("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_sha256("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    assert_sha256(m448, strlen(m448),
                  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnop"
                       "jklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    assert_sha256(m896, strlen(m896),
                  "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
    char *million = malloc(1000000);
    memset(million, 'a', 1000000);
    assert_sha256(million, 1000000,
                  "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(million);
}
END_TEST

START_TEST(test_sha256_block_boundaries) {
    /* Lengths around the padding boundary: one-shot and byte-at-a-time agree. */
    uint8_t data[130];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 37);
    for (size_t len = 50; len <= sizeof data; len++) {
        uint8_t one[32], bytewise[32];
        evf_sha256(data, len, one);
        evf_sha256_t ctx;
        evf_sha256_init(&ctx);
        for (size_t i = 0; i < len; i++)
            evf_sha256_update(&ctx, data + i, 1);
        evf_sha256_final(&ctx, bytewise);
        ck_assert_mem_eq(one, bytewise, 32);
    }
    uint8_t d55[32], d56[32];
    evf_sha256(data, 55, d55);
    evf_sha256(data, 56, d56);
    ck_assert(memcmp(d55, d56, 32) != 0);
}
END_TEST

/* Where the CPU has the SHA extensions the digests come from them: the portable compression must
 * give the same digests (every length 0..300, so 0 to 5 blocks and every padding case). */
START_TEST(test_sha256_extensions_match_portable) {
    uint8_t data[300];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 131 + 7);
    for (size_t len = 0; len <= sizeof data; len++) {
        uint8_t fast[32], portable[32];
        evf_sha256(data, len, fast);
        evf_sha256_force_portable(1);
        evf_sha256(data, len, portable);
        evf_sha256_force_portable(0);
        ck_assert_msg(!memcmp(fast, portable, 32), "digests differ at length %zu", len);
    }
}
END_TEST

/* ---------------------------------------------------------------- events */

static evf_event_t *stream_pb(void) {
    evf_event_t *ev = evf_event_new();
    evf_event_set_str(&ev->id, "pb-id-1");
    ev->source = EVFLEET__V1__SOURCE__STREAM;
    evf_event_set_str(&ev->type, "stream:MODIFY");
    ev->time_ms = 1000;
    evf_event_set_str(&ev->subject, "orders/{\"id\":42}");
    evf_event_set_attr(ev, "trace", "t1");
    Evfleet__V1__StreamRecord *st = evf_event_set_stream(ev);
    evf_event_set_str(&st->table, "orders");
    st->op = EVFLEET__V1__STREAM_OP__MODIFY;
    evf_event_set_str(&st->sequence_number, "100");
    evf_event_set_str(&st->keys, "{\"region\":\"eu\",\"id\":42}");
    evf_event_set_str(&st->old_image, "{\"id\":42,\"total\":10,\"tags\":[\"a\",\"b\"]}");
    evf_event_set_str(&st->new_image, "{\"id\":42,\"total\":12.5,\"name\":\"caf\xc3\xa9\"}");
    st->approximate_creation_ms = 999;
    return ev;
}

static const char *stream_ce =
    "{\"type\":\"stream:MODIFY\",\"specversion\":\"1.0\",\"id\":\"ce-other-id\","
    "\"source\":\"evfleet/stream\",\"time\":\"2031-01-01T00:00:00Z\","
    "\"subject\":\"orders/{\\\"id\\\":42}\",\"traceparent\":\"00-abc\","
    "\"data\":{\"approximateCreationMs\":999,\"table\":\"orders\",\"op\":\"MODIFY\","
    "\"sequenceNumber\":\"100\",\"keys\":\"{ \\\"id\\\" : 42, \\\"region\\\" : \\\"eu\\\" }\","
    "\"oldImage\":{\"tags\":[\"a\",\"b\"],\"total\":10,\"id\":42},"
    "\"new_image\":\"{\\\"name\\\":\\\"caf\\\\u00e9\\\",\\n \\\"total\\\":12.5,\\\"id\\\":42}\"}}";

static evf_event_t *s3_pb(void) {
    evf_event_t *ev = evf_event_new();
    evf_event_set_str(&ev->id, "a");
    ev->source = EVFLEET__V1__SOURCE__S3;
    evf_event_set_str(&ev->type, "s3:ObjectCreated:Put");
    evf_event_set_str(&ev->subject, "photos/cat.jpg");
    Evfleet__V1__S3Object *s3 = evf_event_set_s3(ev);
    evf_event_set_str(&s3->bucket, "photos");
    evf_event_set_str(&s3->key, "cat.jpg");
    s3->size = 12;
    evf_event_set_str(&s3->etag, "e");
    evf_event_set_str(&s3->version_id, "v");
    evf_event_set_str(&s3->sequencer, "s");
    evf_event_set_str(&s3->content_type, "image/jpeg");
    evf_event_set_str(&s3->event_name, "ObjectCreated:Put");
    evf_event_set_str(&s3->region, "eu-west-1");
    return ev;
}

static const char *s3_ce =
    "{\"specversion\":\"1.0\",\"id\":\"b\",\"source\":\"/somewhere\","
    "\"type\":\"s3:ObjectCreated:Put\",\"subject\":\"photos/cat.jpg\",\"tenant\":\"x\","
    "\"data\":{\"region\":\"eu-west-1\",\"eventName\":\"ObjectCreated:Put\","
    "\"contentType\":\"image/jpeg\",\"sequencer\":\"s\",\"versionId\":\"v\",\"etag\":\"e\","
    "\"size\":12,\"key\":\"cat.jpg\",\"bucket\":\"photos\"}}";

static evf_event_t *iot_pb(void) {
    evf_event_t *ev = evf_event_new();
    evf_event_set_str(&ev->id, "a");
    ev->source = EVFLEET__V1__SOURCE__IOT;
    evf_event_set_str(&ev->type, "iot:telemetry");
    evf_event_set_str(&ev->subject, "dev-1");
    Evfleet__V1__IotTelemetry *iot = evf_event_set_iot(ev);
    evf_event_set_str(&iot->device_id, "dev-1");
    evf_event_set_str(&iot->metric, "multi");
    iot->value = 0.1;
    evf_event_set_str(&iot->unit, "C");
    evf_event_iot_set_reading(iot, "temp", 21.5);
    evf_event_iot_set_reading(iot, "rh", 40);
    evf_event_iot_set_reading(iot, "zero", 0.0);
    iot->location = malloc(sizeof *iot->location);
    evfleet__v1__location__init(iot->location);
    iot->location->lat = 52.52;
    iot->location->lon = 13.405;
    return ev;
}

static const char *iot_ce =
    "{\"specversion\":\"1.0\",\"id\":\"b\",\"source\":\"evfleet/iot\",\"type\":\"iot:telemetry\","
    "\"subject\":\"dev-1\",\"data\":{\"deviceId\":\"dev-1\",\"metric\":\"multi\","
    "\"value\":\"0.1\",\"unit\":\"C\",\"readings\":{\"zero\":-0.0,\"rh\":40.0,\"temp\":21.5},"
    "\"location\":{\"lon\":13.405,\"lat\":52.52}}}";

static evf_event_t *ce(const char *json) {
    char err[256] = "";
    evf_event_t *ev = evf_event_from_cloudevent(json, strlen(json), err, sizeof err);
    ck_assert_msg(ev != NULL, "%s", err);
    return ev;
}

/* Through the wire and back, as the worker would see it. */
static evf_event_t *via_protobuf(const evf_event_t *ev) {
    size_t len;
    char err[256] = "";
    uint8_t *buf = evf_event_encode(ev, &len);
    evf_event_t *back = evf_event_decode(buf, len, err, sizeof err);
    free(buf);
    ck_assert_msg(back != NULL, "%s", err);
    return back;
}

static void fingerprint(const evf_event_t *ev, char out[33]) {
    evf_event_fingerprint(ev, out);
    ck_assert_uint_eq(strlen(out), 32);
    ck_assert_uint_eq(strspn(out, "0123456789abcdef"), 32);
}

static void assert_same_fp(const evf_event_t *a, const evf_event_t *b) {
    char fa[33], fb[33];
    fingerprint(a, fa);
    fingerprint(b, fb);
    ck_assert_str_eq(fa, fb);
}

START_TEST(test_same_event_protobuf_and_cloudevent) {
    struct {
        evf_event_t *(*pb)(void);
        const char *json;
    } cases[] = {{stream_pb, NULL}, {s3_pb, NULL}, {iot_pb, NULL}};
    cases[0].json = stream_ce;
    cases[1].json = s3_ce;
    cases[2].json = iot_ce;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        evf_event_t *a = cases[i].pb();
        evf_event_t *wire = via_protobuf(a);
        evf_event_t *b = ce(cases[i].json);
        ck_assert_str_ne(a->id, b->id); /* different ids, times, attributes — same event */
        assert_same_fp(a, wire);
        assert_same_fp(a, b);
        /* And through the proto3 JSON form. */
        char *json = evf_event_to_json(b);
        char err[256] = "";
        evf_event_t *c = evf_event_from_json(json, strlen(json), err, sizeof err);
        ck_assert_msg(c != NULL, "%s", err);
        assert_same_fp(a, c);
        free(json);
        evf_event_free(a);
        evf_event_free(wire);
        evf_event_free(b);
        evf_event_free(c);
    }
}
END_TEST

START_TEST(test_custom_data_protobuf_and_cloudevent) {
    evf_event_t *a = evf_event_new();
    evf_event_set_str(&a->id, "a");
    evf_event_set_str(&a->type, "custom:blob");
    evf_event_set_data(a, "\x00\x01\xff", 3);
    evf_event_t *b = ce("{\"specversion\":\"1.0\",\"id\":\"b\",\"source\":\"x\","
                        "\"type\":\"custom:blob\",\"data_base64\":\"AAH_\"}");
    assert_same_fp(a, b);
    evf_event_free(a);
    evf_event_free(b);
}
END_TEST

START_TEST(test_not_id_time_source_attributes) {
    evf_event_t *a = stream_pb(), *b = stream_pb();
    evf_event_set_str(&b->id, "another");
    b->time_ms = 123456;
    b->source = EVFLEET__V1__SOURCE__CUSTOM;
    evf_event_set_attr(b, "trace", "t2");
    evf_event_set_attr(b, "extra", "1");
    assert_same_fp(a, b);
    evf_event_free(a);
    evf_event_free(b);
}
END_TEST

typedef void (*mutate_t)(evf_event_t *ev);

static void m_type(evf_event_t *ev) { evf_event_set_str(&ev->type, "stream:INSERT"); }
static void m_subject(evf_event_t *ev) { evf_event_set_str(&ev->subject, "orders/{\"id\":43}"); }
static void m_table(evf_event_t *ev) { evf_event_set_str(&ev->stream->table, "orders2"); }
static void m_op(evf_event_t *ev) { ev->stream->op = EVFLEET__V1__STREAM_OP__REMOVE; }
static void m_seq(evf_event_t *ev) { evf_event_set_str(&ev->stream->sequence_number, "101"); }
static void m_keys(evf_event_t *ev) { evf_event_set_str(&ev->stream->keys, "{\"id\":43}"); }
static void m_old(evf_event_t *ev) { evf_event_set_str(&ev->stream->old_image, ""); }
static void m_new(evf_event_t *ev) {
    evf_event_set_str(&ev->stream->new_image, "{\"id\":42,\"total\":12.6,\"name\":\"cafe\"}");
}
static void m_approx(evf_event_t *ev) { ev->stream->approximate_creation_ms = 1000; }
static void m_to_s3(evf_event_t *ev) { evf_event_set_s3(ev); }
static void m_to_iot(evf_event_t *ev) { evf_event_set_iot(ev); }
static void m_to_data(evf_event_t *ev) { evf_event_set_data(ev, NULL, 0); }
/* Moving text between adjacent fields must not collide (the length prefixes see to that). */
static void m_shift(evf_event_t *ev) {
    evf_event_set_str(&ev->type, "stream:MODIFYorders/{\"id\":42}");
    evf_event_set_str(&ev->subject, "");
}

START_TEST(test_changes_change_fingerprint) {
    const mutate_t mutations[] = {m_type, m_subject, m_table, m_op,     m_seq,    m_keys,   m_old,
                                  m_new,  m_approx,  m_to_s3, m_to_iot, m_to_data, m_shift};
    char base_fp[33], fp[33];
    evf_event_t *base = stream_pb();
    fingerprint(base, base_fp);
    for (size_t i = 0; i < sizeof mutations / sizeof mutations[0]; i++) {
        evf_event_t *ev = stream_pb();
        mutations[i](ev);
        fingerprint(ev, fp);
        ck_assert_msg(strcmp(fp, base_fp) != 0, "mutation %zu kept the fingerprint", i);
        evf_event_free(ev);
    }
    evf_event_free(base);
}
END_TEST

START_TEST(test_every_s3_and_iot_field_counts) {
    char base_fp[33], fp[33];
    evf_event_t *base = s3_pb();
    fingerprint(base, base_fp);
    size_t offsets[] = {
        offsetof(Evfleet__V1__S3Object, bucket),     offsetof(Evfleet__V1__S3Object, key),
        offsetof(Evfleet__V1__S3Object, etag),       offsetof(Evfleet__V1__S3Object, version_id),
        offsetof(Evfleet__V1__S3Object, sequencer),  offsetof(Evfleet__V1__S3Object, content_type),
        offsetof(Evfleet__V1__S3Object, event_name), offsetof(Evfleet__V1__S3Object, region),
    };
    for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
        evf_event_t *ev = s3_pb();
        evf_event_set_str((char **)((char *)ev->s3 + offsets[i]), "changed");
        fingerprint(ev, fp);
        ck_assert_msg(strcmp(fp, base_fp) != 0, "s3 field at %zu ignored", offsets[i]);
        evf_event_free(ev);
    }
    evf_event_t *ev = s3_pb();
    ev->s3->size = 13;
    fingerprint(ev, fp);
    ck_assert_str_ne(fp, base_fp);
    evf_event_free(ev);
    evf_event_free(base);

    base = iot_pb();
    fingerprint(base, base_fp);
    for (int i = 0; i < 12; i++) {
        ev = iot_pb();
        Evfleet__V1__IotTelemetry *iot = ev->iot;
        switch (i) {
        case 0:
            evf_event_set_str(&iot->device_id, "dev-2");
            break;
        case 1:
            evf_event_set_str(&iot->metric, "m");
            break;
        case 2:
            iot->value = 0.1000000000000001;
            break;
        case 3:
            evf_event_set_str(&iot->unit, "F");
            break;
        case 4:
            evf_event_iot_set_reading(iot, "temp", 21.6); /* a reading's value */
            break;
        case 5:
            evf_event_set_str(&iot->readings[1]->key, "RH"); /* a reading's name */
            break;
        case 6:
            evf_event_iot_set_reading(iot, "co2", 400); /* one more reading */
            break;
        case 7:
            iot->location->lat = 52.53;
            break;
        case 8:
            iot->location->lon = 0;
            break;
        case 9:
            iot->location->alt = 1;
            break;
        case 10:
            protobuf_c_message_free_unpacked(&iot->location->base, NULL);
            iot->location = NULL;
            break;
        case 11:
            iot->value = NAN;
            break;
        }
        fingerprint(ev, fp);
        ck_assert_msg(strcmp(fp, base_fp) != 0, "iot change %d ignored", i);
        evf_event_free(ev);
    }
    evf_event_free(base);
}
END_TEST

START_TEST(test_order_and_negative_zero_do_not_count) {
    evf_event_t *a = iot_pb(), *b = evf_event_new();
    evf_event_set_str(&b->type, "iot:telemetry");
    evf_event_set_str(&b->subject, "dev-1");
    Evfleet__V1__IotTelemetry *iot = evf_event_set_iot(b);
    evf_event_set_str(&iot->device_id, "dev-1");
    evf_event_set_str(&iot->metric, "multi");
    iot->value = 0.1;
    evf_event_set_str(&iot->unit, "C");
    evf_event_iot_set_reading(iot, "zero", -0.0); /* other order, -0 */
    evf_event_iot_set_reading(iot, "rh", 40);
    evf_event_iot_set_reading(iot, "temp", 21.5);
    iot->location = malloc(sizeof *iot->location);
    evfleet__v1__location__init(iot->location);
    iot->location->lat = 52.52;
    iot->location->lon = 13.405;
    iot->location->alt = -0.0;
    assert_same_fp(a, b);
    evf_event_free(a);
    evf_event_free(b);

    /* Non-JSON texts are used raw: different raw texts differ, equal ones agree. */
    a = stream_pb();
    b = stream_pb();
    evf_event_set_str(&a->stream->keys, "not json {");
    evf_event_set_str(&b->stream->keys, "not json {");
    assert_same_fp(a, b);
    evf_event_set_str(&b->stream->keys, "not  json {");
    char fa[33], fb[33];
    fingerprint(a, fa);
    fingerprint(b, fb);
    ck_assert_str_ne(fa, fb);
    evf_event_free(a);
    evf_event_free(b);
}
END_TEST

START_TEST(test_fingerprint_is_stable) {
    /* The canonical form is part of the stored records (`fp`): a change here must be
     * deliberate (and versioned), since it would flag every stored event as a mismatch. */
    char fp[33];
    evf_event_t *ev = s3_pb();
    fingerprint(ev, fp);
    ck_assert_str_eq(fp, GOLDEN_S3_FP);
    evf_event_free(ev);
    ev = evf_event_new();
    fingerprint(ev, fp);
    ck_assert_str_eq(fp, GOLDEN_EMPTY_FP);
    evf_event_free(ev);
}
END_TEST

static Suite *fingerprint_suite(void) {
    Suite *s = suite_create("fingerprint");
    TCase *tc = tcase_create("sha256");
    tcase_add_test(tc, test_sha256_vectors);
    tcase_add_test(tc, test_sha256_block_boundaries);
    tcase_add_test(tc, test_sha256_extensions_match_portable);
    suite_add_tcase(s, tc);
    tc = tcase_create("fingerprint");
    tcase_add_test(tc, test_same_event_protobuf_and_cloudevent);
    tcase_add_test(tc, test_custom_data_protobuf_and_cloudevent);
    tcase_add_test(tc, test_not_id_time_source_attributes);
    tcase_add_test(tc, test_changes_change_fingerprint);
    tcase_add_test(tc, test_every_s3_and_iot_field_counts);
    tcase_add_test(tc, test_order_and_negative_zero_do_not_count);
    tcase_add_test(tc, test_fingerprint_is_stable);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(fingerprint_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
