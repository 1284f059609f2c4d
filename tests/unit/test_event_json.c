/* tests/unit/test_event_json.c — the proto3 JSON form (both ways) and CloudEvents structured JSON
 * in: exact output, round trips for every event kind, input variants (original names, int64 as
 * number or string, base64 alphabets, NaN/Infinity), field-naming errors, RFC 3339 times. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"

static evf_event_t *parse_ok(const char *json) {
    char err[256] = "";
    evf_event_t *ev = evf_event_from_json(json, strlen(json), err, sizeof err);
    ck_assert_msg(ev != NULL, "rejected %s: %s", json, err);
    return ev;
}

/* Parse must fail with an error containing want. */
static void parse_fails(const char *json, const char *want) {
    char err[256] = "";
    evf_event_t *ev = evf_event_from_json(json, strlen(json), err, sizeof err);
    ck_assert_msg(ev == NULL, "accepted %s", json);
    ck_assert_msg(strstr(err, want) != NULL, "%s: error '%s' lacks '%s'", json, err, want);
}

static evf_event_t *ce_ok(const char *json) {
    char err[256] = "";
    evf_event_t *ev = evf_event_from_cloudevent(json, strlen(json), err, sizeof err);
    ck_assert_msg(ev != NULL, "rejected %s: %s", json, err);
    return ev;
}

static void ce_fails(const char *json, const char *want) {
    char err[256] = "";
    evf_event_t *ev = evf_event_from_cloudevent(json, strlen(json), err, sizeof err);
    ck_assert_msg(ev == NULL, "accepted %s", json);
    ck_assert_msg(strstr(err, want) != NULL, "%s: error '%s' lacks '%s'", json, err, want);
}

static void assert_same_encoding(const evf_event_t *a, const evf_event_t *b) {
    size_t la, lb;
    uint8_t *ea = evf_event_encode(a, &la), *eb = evf_event_encode(b, &lb);
    ck_assert_uint_eq(la, lb);
    ck_assert_mem_eq(ea, eb, la);
    free(ea);
    free(eb);
}

/* to_json → from_json → same encoding; and the JSON is stable across the trip. */
static void assert_json_round_trip(const evf_event_t *ev) {
    char *json = evf_event_to_json(ev);
    evf_event_t *back = parse_ok(json);
    assert_same_encoding(ev, back);
    char *json2 = evf_event_to_json(back);
    ck_assert_str_eq(json, json2);
    free(json);
    free(json2);
    evf_event_free(back);
}

/* ---------------------------------------------------------------- builders */

static evf_event_t *make_s3(void) {
    evf_event_t *ev = evf_event_new();
    evf_event_set_str(&ev->id, "e1");
    ev->source = EVFLEET__V1__SOURCE__S3;
    evf_event_set_str(&ev->type, "s3:ObjectCreated:Put");
    ev->time_ms = 1795757360123;
    evf_event_set_str(&ev->subject, "photos/cat.jpg");
    evf_event_set_attr(ev, "a", "first");
    evf_event_set_attr(ev, "z", "last");
    Evfleet__V1__S3Object *s3 = evf_event_set_s3(ev);
    evf_event_set_str(&s3->bucket, "photos");
    evf_event_set_str(&s3->key, "cat.jpg");
    s3->size = 12;
    evf_event_set_str(&s3->version_id, "v1");
    evf_event_set_str(&s3->content_type, "image/jpeg");
    evf_event_set_str(&s3->event_name, "ObjectCreated:Put");
    return ev;
}

static evf_event_t *make_stream(void) {
    evf_event_t *ev = evf_event_new();
    evf_event_set_str(&ev->id, "e2");
    ev->source = EVFLEET__V1__SOURCE__STREAM;
    evf_event_set_str(&ev->type, "stream:INSERT");
    ev->time_ms = -1;
    Evfleet__V1__StreamRecord *st = evf_event_set_stream(ev);
    evf_event_set_str(&st->table, "orders");
    st->op = EVFLEET__V1__STREAM_OP__INSERT;
    evf_event_set_str(&st->sequence_number, "42");
    evf_event_set_str(&st->keys, "{\"id\":7}");
    evf_event_set_str(&st->new_image, "{\"id\":7,\"note\":\"line\\nbreak \\\"q\\\"\"}");
    st->approximate_creation_ms = INT64_MIN;
    return ev;
}

static evf_event_t *make_iot(void) {
    evf_event_t *ev = evf_event_new();
    evf_event_set_str(&ev->id, "e3");
    ev->source = EVFLEET__V1__SOURCE__IOT;
    evf_event_set_str(&ev->type, "iot:telemetry");
    Evfleet__V1__IotTelemetry *iot = evf_event_set_iot(ev);
    evf_event_set_str(&iot->device_id, "dev-1");
    evf_event_set_str(&iot->metric, "temp");
    iot->value = 0.1;
    evf_event_set_str(&iot->unit, "C");
    /* In key order, as to_json writes them, so the round trip compares byte for byte. */
    evf_event_iot_set_reading(iot, "bad", NAN);
    evf_event_iot_set_reading(iot, "big", 1e300);
    evf_event_iot_set_reading(iot, "cold", -INFINITY);
    evf_event_iot_set_reading(iot, "hot", INFINITY);
    evf_event_iot_set_reading(iot, "neg", -2);
    evf_event_iot_set_reading(iot, "rh", 40.5);
    evf_event_iot_set_reading(iot, "tiny", 5e-324);
    iot->location = malloc(sizeof *iot->location);
    evfleet__v1__location__init(iot->location);
    iot->location->lat = 52.52;
    iot->location->lon = -13.405;
    return ev;
}

static const uint8_t blob[] = {0xfb, 0xff, 0xbf, 0x00, 0x3e, 0x3f, 0x7e};

static evf_event_t *make_custom(void) {
    evf_event_t *ev = evf_event_new();
    evf_event_set_str(&ev->id, "e4");
    ev->source = EVFLEET__V1__SOURCE__CUSTOM;
    evf_event_set_str(&ev->type, "custom:x");
    evf_event_set_data(ev, blob, sizeof blob);
    return ev;
}

/* ---------------------------------------------------------------- output */

START_TEST(test_to_json_exact) {
    evf_event_t *ev = make_s3();
    evf_event_set_attr(ev, "m", "middle"); /* entries are written sorted by key */
    char *json = evf_event_to_json(ev);
    ck_assert_str_eq(json, "{\"id\":\"e1\",\"source\":\"S3\",\"type\":\"s3:ObjectCreated:Put\","
                           "\"timeMs\":\"1795757360123\",\"subject\":\"photos/cat.jpg\","
                           "\"attributes\":{\"a\":\"first\",\"m\":\"middle\",\"z\":\"last\"},"
                           "\"s3\":{\"bucket\":\"photos\",\"key\":\"cat.jpg\",\"size\":\"12\","
                           "\"versionId\":\"v1\",\"contentType\":\"image/jpeg\","
                           "\"eventName\":\"ObjectCreated:Put\"}}");
    free(json);
    evf_event_free(ev);

    ev = make_stream();
    json = evf_event_to_json(ev);
    ck_assert_str_eq(json, "{\"id\":\"e2\",\"source\":\"STREAM\",\"type\":\"stream:INSERT\","
                           "\"timeMs\":\"-1\",\"stream\":{\"table\":\"orders\",\"op\":\"INSERT\","
                           "\"sequenceNumber\":\"42\",\"keys\":\"{\\\"id\\\":7}\","
                           "\"newImage\":\"{\\\"id\\\":7,\\\"note\\\":\\\"line\\\\nbreak "
                           "\\\\\\\"q\\\\\\\"\\\"}\","
                           "\"approximateCreationMs\":\"-9223372036854775808\"}}");
    free(json);
    evf_event_free(ev);

    ev = make_iot();
    json = evf_event_to_json(ev);
    ck_assert_str_eq(json, "{\"id\":\"e3\",\"source\":\"IOT\",\"type\":\"iot:telemetry\","
                           "\"iot\":{\"deviceId\":\"dev-1\",\"metric\":\"temp\",\"value\":0.1,"
                           "\"unit\":\"C\",\"readings\":{\"bad\":\"NaN\",\"big\":1e+300,"
                           "\"cold\":\"-Infinity\",\"hot\":\"Infinity\",\"neg\":-2,"
                           "\"rh\":40.5,\"tiny\":5e-324},"
                           "\"location\":{\"lat\":52.52,\"lon\":-13.405}}}");
    free(json);
    evf_event_free(ev);

    ev = make_custom();
    json = evf_event_to_json(ev);
    ck_assert_str_eq(json, "{\"id\":\"e4\",\"source\":\"CUSTOM\",\"type\":\"custom:x\","
                           "\"data\":\"+/+/AD4/fg==\"}");
    free(json);
    evf_event_free(ev);
}
END_TEST

START_TEST(test_to_json_defaults_and_empty_oneof) {
    evf_event_t *ev = evf_event_new();
    char *json = evf_event_to_json(ev);
    ck_assert_str_eq(json, "{}");
    free(json);
    evf_event_set_s3(ev);
    json = evf_event_to_json(ev);
    ck_assert_str_eq(json, "{\"s3\":{}}");
    free(json);
    Evfleet__V1__IotTelemetry *iot = evf_event_set_iot(ev);
    iot->location = malloc(sizeof *iot->location);
    evfleet__v1__location__init(iot->location);
    json = evf_event_to_json(ev);
    ck_assert_str_eq(json, "{\"iot\":{\"location\":{}}}");
    free(json);
    evf_event_set_data(ev, NULL, 0);
    json = evf_event_to_json(ev);
    ck_assert_str_eq(json, "{\"data\":\"\"}");
    free(json);
    /* Enum values outside the enum are written as numbers. */
    ev->source = (Evfleet__V1__Source)9;
    json = evf_event_to_json(ev);
    ck_assert_str_eq(json, "{\"source\":9,\"data\":\"\"}");
    evf_event_t *back = parse_ok(json);
    ck_assert_int_eq(back->source, 9);
    evf_event_free(back);
    free(json);
    evf_event_free(ev);
}
END_TEST

START_TEST(test_to_json_escapes_and_bad_utf8) {
    evf_event_t *ev = evf_event_new();
    evf_event_set_str(&ev->id, "tab\there \x01 \"q\" \\ é 🚀 /");
    evf_event_set_str(&ev->subject, "bad\xff\xc3");
    char *json = evf_event_to_json(ev);
    ck_assert_str_eq(json, "{\"id\":\"tab\\there \\u0001 \\\"q\\\" \\\\ é 🚀 /\","
                           "\"subject\":\"bad\xef\xbf\xbd\xef\xbf\xbd\"}");
    /* Still valid JSON that jansson (strict UTF-8) accepts. */
    json_error_t jerr;
    json_t *doc = json_loads(json, 0, &jerr);
    ck_assert_msg(doc != NULL, "%s", jerr.text);
    json_decref(doc);
    free(json);
    evf_event_free(ev);
}
END_TEST

/* ---------------------------------------------------------------- round trips */

START_TEST(test_json_round_trips) {
    evf_event_t *(*makers[])(void) = {make_s3, make_stream, make_iot, make_custom};
    for (size_t i = 0; i < sizeof makers / sizeof makers[0]; i++) {
        evf_event_t *ev = makers[i]();
        assert_json_round_trip(ev);
        evf_event_free(ev);
    }
    /* NaN does not equal itself, so check that reading explicitly. */
    evf_event_t *ev = make_iot();
    char *json = evf_event_to_json(ev);
    evf_event_t *back = parse_ok(json);
    ck_assert(isnan(back->iot->readings[0]->value));
    ck_assert(isinf(back->iot->readings[2]->value) && back->iot->readings[2]->value < 0);
    ck_assert(isinf(back->iot->readings[3]->value) && back->iot->readings[3]->value > 0);
    ck_assert(back->iot->readings[6]->value == 5e-324);
    ck_assert(back->iot->value == 0.1);
    free(json);
    evf_event_free(back);
    evf_event_free(ev);
}
END_TEST

START_TEST(test_json_round_trip_unicode_and_large) {
    evf_event_t *ev = make_s3();
    evf_event_set_str(&ev->subject, "bücket/ключ/日本/🐱");
    evf_event_set_attr(ev, "émoji🎉", "値");
    assert_json_round_trip(ev);
    char *key = malloc(100001);
    for (size_t i = 0; i < 100000; i++)
        key[i] = (char)(' ' + i % 95); /* all printable ASCII, quotes and backslashes included */
    key[100000] = '\0';
    evf_event_set_str(&ev->s3->key, key);
    assert_json_round_trip(ev);
    free(key);
    evf_event_free(ev);

    size_t big = 1 << 20;
    uint8_t *data = malloc(big);
    for (size_t i = 0; i < big; i++)
        data[i] = (uint8_t)(i * 7 + (i >> 11));
    ev = make_custom();
    for (size_t len = 0; len < 5; len++) { /* every padding length */
        evf_event_set_data(ev, data, len);
        assert_json_round_trip(ev);
    }
    evf_event_set_data(ev, data, big);
    assert_json_round_trip(ev);
    free(data);
    evf_event_free(ev);
}
END_TEST

/* ---------------------------------------------------------------- input variants */

START_TEST(test_from_json_original_names) {
    evf_event_t *a = parse_ok(
        "{\"id\":\"x\",\"time_ms\":\"5\",\"s3\":{\"version_id\":\"v\",\"content_type\":\"t\","
        "\"event_name\":\"n\"}}");
    evf_event_t *b = parse_ok("{\"id\":\"x\",\"timeMs\":5,\"s3\":{\"versionId\":\"v\","
                              "\"contentType\":\"t\",\"eventName\":\"n\"}}");
    assert_same_encoding(a, b);
    ck_assert_int_eq(a->time_ms, 5);
    ck_assert_str_eq(a->s3->version_id, "v");
    evf_event_free(a);
    evf_event_free(b);
    a = parse_ok("{\"stream\":{\"sequence_number\":\"1\",\"old_image\":\"{}\","
                 "\"new_image\":\"{}\",\"approximate_creation_ms\":3}}");
    ck_assert_int_eq(a->stream->approximate_creation_ms, 3);
    ck_assert_str_eq(a->stream->old_image, "{}");
    evf_event_free(a);
    a = parse_ok("{\"iot\":{\"device_id\":\"d\"}}");
    ck_assert_str_eq(a->iot->device_id, "d");
    evf_event_free(a);
    parse_fails("{\"timeMs\":1,\"time_ms\":2}", "given twice");
}
END_TEST

START_TEST(test_from_json_int64_forms) {
    evf_event_t *ev = parse_ok("{\"timeMs\":\"-9223372036854775808\",\"s3\":{\"size\":1e3}}");
    ck_assert_int_eq(ev->time_ms, INT64_MIN);
    ck_assert_int_eq(ev->s3->size, 1000);
    evf_event_free(ev);
    ev = parse_ok("{\"timeMs\":9223372036854775807}");
    ck_assert_int_eq(ev->time_ms, INT64_MAX);
    evf_event_free(ev);
    parse_fails("{\"timeMs\":\"9223372036854775808\"}", "'timeMs'");
    parse_fails("{\"timeMs\":\"12a\"}", "'timeMs'");
    parse_fails("{\"timeMs\":\" 12\"}", "'timeMs'");
    parse_fails("{\"timeMs\":\"\"}", "'timeMs'");
    parse_fails("{\"timeMs\":1.5}", "'timeMs'");
    parse_fails("{\"timeMs\":true}", "'timeMs'");
    parse_fails("{\"s3\":{\"size\":[1]}}", "'s3.size'");
}
END_TEST

START_TEST(test_from_json_doubles) {
    evf_event_t *ev = parse_ok(
        "{\"iot\":{\"value\":\"-Infinity\",\"readings\":{\"a\":\"NaN\",\"b\":\"Infinity\","
        "\"c\":\"2.5e1\",\"d\":3},\"location\":{\"lat\":\"1.25\",\"alt\":-0.5}}}");
    ck_assert(isinf(ev->iot->value) && ev->iot->value < 0);
    ck_assert(isnan(ev->iot->readings[0]->value));
    ck_assert(isinf(ev->iot->readings[1]->value));
    ck_assert(ev->iot->readings[2]->value == 25);
    ck_assert(ev->iot->readings[3]->value == 3);
    ck_assert(ev->iot->location->lat == 1.25 && ev->iot->location->alt == -0.5);
    evf_event_free(ev);
    parse_fails("{\"iot\":{\"value\":\"nan\"}}", "'iot.value'");
    parse_fails("{\"iot\":{\"value\":\"0x10\"}}", "'iot.value'");
    parse_fails("{\"iot\":{\"value\":\"1e999\"}}", "'iot.value'");
    parse_fails("{\"iot\":{\"value\":{}}}", "'iot.value'");
    parse_fails("{\"iot\":{\"readings\":{\"x\":\"hot\"}}}", "'iot.readings.x'");
    parse_fails("{\"iot\":{\"location\":{\"lat\":true}}}", "'iot.location.lat'");
    parse_fails("{\"iot\":{\"location\":[]}}", "'iot.location'");
}
END_TEST

START_TEST(test_from_json_base64_variants) {
    /* blob = fb ff bf 00 3e 3f 7e: standard "+/+/AD4/fg==", URL-safe "-_-_AD4_fg". */
    const char *forms[] = {"+/+/AD4/fg==", "+/+/AD4/fg", "-_-_AD4_fg==", "-_-_AD4_fg"};
    for (size_t i = 0; i < 4; i++) {
        char json[128];
        snprintf(json, sizeof json, "{\"data\":\"%s\"}", forms[i]);
        evf_event_t *ev = parse_ok(json);
        ck_assert_int_eq(ev->detail_case, EVFLEET__V1__EVENT__DETAIL_DATA);
        ck_assert_uint_eq(ev->data.len, sizeof blob);
        ck_assert_mem_eq(ev->data.data, blob, sizeof blob);
        evf_event_free(ev);
    }
    evf_event_t *ev = parse_ok("{\"data\":\"\"}");
    ck_assert_int_eq(ev->detail_case, EVFLEET__V1__EVENT__DETAIL_DATA);
    ck_assert_uint_eq(ev->data.len, 0);
    evf_event_free(ev);
    ev = parse_ok("{\"data\":\"QUI=\"}");
    ck_assert_mem_eq(ev->data.data, "AB", 2);
    evf_event_free(ev);
    parse_fails("{\"data\":\"QUJDR\"}", "'data': invalid base64"); /* 5 chars: 1 left over */
    parse_fails("{\"data\":\"QQ=\"}", "invalid base64");             /* padding, bad length */
    parse_fails("{\"data\":\"Q=Q=\"}", "invalid base64");            /* padding inside */
    parse_fails("{\"data\":\"QQ===\"}", "invalid base64");
    parse_fails("{\"data\":\"QU I=\"}", "invalid base64");
    parse_fails("{\"data\":\"QUI*\"}", "invalid base64");
    parse_fails("{\"data\":12}", "'data'");
}
END_TEST

START_TEST(test_from_json_enums) {
    evf_event_t *ev = parse_ok("{\"source\":\"STREAM\",\"stream\":{\"op\":\"REMOVE\"}}");
    ck_assert_int_eq(ev->source, EVFLEET__V1__SOURCE__STREAM);
    ck_assert_int_eq(ev->stream->op, EVFLEET__V1__STREAM_OP__REMOVE);
    evf_event_free(ev);
    ev = parse_ok("{\"source\":3,\"stream\":{\"op\":2}}");
    ck_assert_int_eq(ev->source, EVFLEET__V1__SOURCE__IOT);
    ck_assert_int_eq(ev->stream->op, EVFLEET__V1__STREAM_OP__MODIFY);
    evf_event_free(ev);
    parse_fails("{\"source\":\"KINESIS\"}", "field 'source': unknown enum value 'KINESIS'");
    parse_fails("{\"stream\":{\"op\":\"UPSERT\"}}", "'stream.op'");
    parse_fails("{\"source\":1.5}", "'source'");
    parse_fails("{\"source\":4294967296}", "'source'");
}
END_TEST

START_TEST(test_from_json_errors_name_the_field) {
    parse_fails("{\"id\":\"x\",\"color\":\"red\"}", "unknown field 'color'");
    parse_fails("{\"s3\":{\"bukket\":\"b\"}}", "unknown field 's3.bukket'");
    parse_fails("{\"iot\":{\"location\":{\"z\":1}}}", "unknown field 'iot.location.z'");
    parse_fails("{\"id\":5}", "field 'id': expected a string");
    parse_fails("{\"s3\":{\"key\":null,\"bucket\":[]}}", "field 's3.bucket': expected a string");
    parse_fails("{\"attributes\":{\"k\":1}}", "field 'attributes.k': expected a string");
    parse_fails("{\"attributes\":[]}", "field 'attributes'");
    parse_fails("{\"s3\":\"b/k\"}", "field 's3': expected a JSON object");
    parse_fails("{\"s3\":{},\"iot\":{}}", "'s3' and 'iot' are both set");
    parse_fails("{\"data\":\"\",\"stream\":{}}", "'data' and 'stream' are both set");
    parse_fails("{\"stream\":{\"keys\":5}}", "'stream.keys'");
    parse_fails("[1,2]", "expected a JSON object");
    parse_fails("{\"id\":\"x\"", "invalid JSON");
    parse_fails("{\"id\":\"x\"} trailing", "invalid JSON");
    parse_fails("{\"id\":\"a\",\"id\":\"b\"}", "invalid JSON"); /* duplicate key */
    parse_fails("", "invalid JSON");
}
END_TEST

START_TEST(test_from_json_invalid_utf8_and_nul) {
    parse_fails("{\"id\":\"bad\xff\"}", "invalid JSON");
    parse_fails("{\"subject\":\"\xed\xa0\x80\"}", "invalid JSON"); /* surrogate */
    parse_fails("{\"attributes\":{\"k\xc0\xaf\":\"v\"}}", "invalid JSON");
    parse_fails("{\"id\":\"a\\u0000b\"}", "invalid JSON");
    /* A json_t built by hand with a NUL inside is refused, not truncated. */
    json_t *obj = json_object();
    json_object_set_new(obj, "id", json_stringn("a\0b", 3));
    char err[256] = "";
    ck_assert_ptr_null(evf_event_from_json_value(obj, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "'id'"));
    json_decref(obj);
}
END_TEST

START_TEST(test_from_json_nulls_and_json_text_values) {
    evf_event_t *ev = parse_ok("{\"id\":null,\"s3\":null,\"iot\":{\"location\":null},"
                               "\"timeMs\":null,\"attributes\":null}");
    ck_assert_str_eq(ev->id, "");
    ck_assert_int_eq(ev->detail_case, EVFLEET__V1__EVENT__DETAIL_IOT); /* s3:null is unset */
    ck_assert_ptr_null(ev->iot->location);
    evf_event_free(ev);
    ev = parse_ok("{\"stream\":{\"keys\":{\"id\": 7, \"r\": \"eu\"},"
                  "\"newImage\":{\"a\":[1, 2]},\"oldImage\":\"{}\"}}");
    ck_assert_str_eq(ev->stream->keys, "{\"id\":7,\"r\":\"eu\"}");
    ck_assert_str_eq(ev->stream->new_image, "{\"a\":[1,2]}");
    ck_assert_str_eq(ev->stream->old_image, "{}");
    evf_event_free(ev);
}
END_TEST

START_TEST(test_from_json_value) {
    json_t *obj = json_pack("{s:s, s:s, s:{s:s, s:I}}", "id", "v1", "source", "S3", "s3",
                            "bucket", "b", "size", (json_int_t)77);
    char err[256] = "";
    evf_event_t *ev = evf_event_from_json_value(obj, err, sizeof err);
    ck_assert_msg(ev != NULL, "%s", err);
    ck_assert_str_eq(ev->id, "v1");
    ck_assert_int_eq(ev->s3->size, 77);
    evf_event_free(ev);
    json_decref(obj);
    ck_assert_ptr_null(evf_event_from_json_value(NULL, err, sizeof err));
}
END_TEST

/* ---------------------------------------------------------------- CloudEvents */

START_TEST(test_cloudevent_all_attributes) {
    evf_event_t *ev = ce_ok(
        "{\"specversion\":\"1.0\",\"id\":\"ce-1\",\"source\":\"evfleet/s3\","
        "\"type\":\"s3:ObjectCreated:Put\",\"subject\":\"photos/cat.jpg\","
        "\"time\":\"2026-11-27T05:29:20.123Z\",\"datacontenttype\":\"application/json\","
        "\"dataschema\":\"https://example.com/s3.json\",\"tenant\":\"acme\",\"priority\":3,"
        "\"ratio\":0.25,\"urgent\":true,\"nothing\":null,"
        "\"data\":{\"bucket\":\"photos\",\"key\":\"cat.jpg\",\"size\":\"12\","
        "\"eventName\":\"ObjectCreated:Put\"}}");
    ck_assert_str_eq(ev->id, "ce-1");
    ck_assert_int_eq(ev->source, EVFLEET__V1__SOURCE__S3);
    ck_assert_str_eq(ev->type, "s3:ObjectCreated:Put");
    ck_assert_str_eq(ev->subject, "photos/cat.jpg");
    ck_assert_int_eq(ev->time_ms, 1795757360123);
    ck_assert_int_eq(ev->detail_case, EVFLEET__V1__EVENT__DETAIL_S3);
    ck_assert_str_eq(ev->s3->bucket, "photos");
    ck_assert_int_eq(ev->s3->size, 12);
    ck_assert_str_eq(ev->s3->event_name, "ObjectCreated:Put");
    char out[64];
    ck_assert_uint_eq(ev->n_attributes, 4);
    ck_assert_int_eq(evf_event_field(ev, "attributes.tenant", out, sizeof out), 0);
    ck_assert_str_eq(out, "acme");
    ck_assert_int_eq(evf_event_field(ev, "attributes.priority", out, sizeof out), 0);
    ck_assert_str_eq(out, "3");
    ck_assert_int_eq(evf_event_field(ev, "attributes.ratio", out, sizeof out), 0);
    ck_assert_str_eq(out, "0.25");
    ck_assert_int_eq(evf_event_field(ev, "attributes.urgent", out, sizeof out), 0);
    ck_assert_str_eq(out, "true");
    ck_assert_int_eq(evf_event_field(ev, "attributes.nothing", out, sizeof out), 1);
    ck_assert_int_eq(evf_event_field(ev, "attributes.dataschema", out, sizeof out), 1);
    evf_event_free(ev);
}
END_TEST

START_TEST(test_cloudevent_source_mapping) {
    const struct {
        const char *source, *type;
        Evfleet__V1__Source want;
    } cases[] = {
        {"evfleet/stream", "anything", EVFLEET__V1__SOURCE__STREAM},
        {"evfleet/iot", "x", EVFLEET__V1__SOURCE__IOT},
        {"evfleet/custom", "s3:ObjectCreated:Put", EVFLEET__V1__SOURCE__CUSTOM},
        {"/my/app", "s3:ObjectRemoved:Delete", EVFLEET__V1__SOURCE__S3},
        {"urn:x", "stream:REMOVE", EVFLEET__V1__SOURCE__STREAM},
        {"urn:x", "iot:telemetry", EVFLEET__V1__SOURCE__IOT},
        {"urn:x", "com.example.thing", EVFLEET__V1__SOURCE__CUSTOM},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char json[256];
        snprintf(json, sizeof json,
                 "{\"specversion\":\"1.0\",\"id\":\"i\",\"source\":\"%s\",\"type\":\"%s\"}",
                 cases[i].source, cases[i].type);
        evf_event_t *ev = ce_ok(json);
        ck_assert_msg(ev->source == cases[i].want, "%s %s", cases[i].source, cases[i].type);
        ck_assert_int_eq(ev->detail_case, EVFLEET__V1__EVENT__DETAIL__NOT_SET);
        evf_event_free(ev);
    }
}
END_TEST

START_TEST(test_cloudevent_data_forms) {
    /* IoT detail in its proto3 JSON form, NaN string included. */
    evf_event_t *ev = ce_ok("{\"specversion\":\"1.0\",\"id\":\"i\",\"source\":\"evfleet/iot\","
                            "\"type\":\"iot:telemetry\",\"data\":{\"deviceId\":\"d\","
                            "\"value\":\"NaN\",\"readings\":{\"a\":1},\"location\":{}}}");
    ck_assert_int_eq(ev->detail_case, EVFLEET__V1__EVENT__DETAIL_IOT);
    ck_assert(isnan(ev->iot->value));
    ck_assert_uint_eq(ev->iot->n_readings, 1);
    ck_assert_ptr_nonnull(ev->iot->location);
    evf_event_free(ev);

    /* Stream keys and images as JSON objects. */
    ev = ce_ok("{\"specversion\":\"1.0\",\"id\":\"i\",\"source\":\"evfleet/stream\","
               "\"type\":\"stream:INSERT\",\"data\":{\"table\":\"t\",\"op\":\"INSERT\","
               "\"keys\":{\"id\":1},\"newImage\":{\"id\":1,\"v\":\"x\"}}}");
    ck_assert_str_eq(ev->stream->keys, "{\"id\":1}");
    ck_assert_str_eq(ev->stream->new_image, "{\"id\":1,\"v\":\"x\"}");
    evf_event_free(ev);

    /* CUSTOM: data_base64 → raw bytes; JSON data → its compact text; text/plain → the string. */
    ev = ce_ok("{\"specversion\":\"1.0\",\"id\":\"i\",\"source\":\"x\",\"type\":\"t\","
               "\"data_base64\":\"+/+/AD4/fg==\"}");
    ck_assert_int_eq(ev->source, EVFLEET__V1__SOURCE__CUSTOM);
    ck_assert_int_eq(ev->detail_case, EVFLEET__V1__EVENT__DETAIL_DATA);
    ck_assert_uint_eq(ev->data.len, sizeof blob);
    ck_assert_mem_eq(ev->data.data, blob, sizeof blob);
    evf_event_free(ev);
    ev = ce_ok("{\"specversion\":\"1.0\",\"id\":\"i\",\"source\":\"x\",\"type\":\"t\","
               "\"data\": { \"a\" : [1, \"é\"] }}");
    ck_assert_uint_eq(ev->data.len, strlen("{\"a\":[1,\"é\"]}"));
    ck_assert_mem_eq(ev->data.data, "{\"a\":[1,\"é\"]}", ev->data.len);
    evf_event_free(ev);
    ev = ce_ok("{\"specversion\":\"1.0\",\"id\":\"i\",\"source\":\"x\",\"type\":\"t\","
               "\"data\":\"hello\"}");
    ck_assert_mem_eq(ev->data.data, "\"hello\"", 7); /* JSON by default */
    evf_event_free(ev);
    ev = ce_ok("{\"specversion\":\"1.0\",\"id\":\"i\",\"source\":\"x\",\"type\":\"t\","
               "\"datacontenttype\":\"text/plain; charset=utf-8\",\"data\":\"hello\"}");
    ck_assert_uint_eq(ev->data.len, 5);
    ck_assert_mem_eq(ev->data.data, "hello", 5);
    evf_event_free(ev);
    ev = ce_ok("{\"specversion\":\"1.0\",\"id\":\"i\",\"source\":\"x\",\"type\":\"t\","
               "\"datacontenttype\":\"application/vnd.x+json\",\"data\":\"hello\"}");
    ck_assert_uint_eq(ev->data.len, 7);
    evf_event_free(ev);
}
END_TEST

START_TEST(test_cloudevent_errors) {
    ce_fails("{\"id\":\"i\",\"source\":\"s\",\"type\":\"t\"}", "specversion");
    ce_fails("{\"specversion\":\"0.3\",\"id\":\"i\",\"source\":\"s\",\"type\":\"t\"}",
             "specversion is \"0.3\"");
    ce_fails("{\"specversion\":1.0,\"id\":\"i\",\"source\":\"s\",\"type\":\"t\"}",
             "'specversion' must be a string");
    ce_fails("{\"specversion\":\"1.0\",\"source\":\"s\",\"type\":\"t\"}", "'id' is required");
    ce_fails("{\"specversion\":\"1.0\",\"id\":\"\",\"source\":\"s\",\"type\":\"t\"}",
             "'id' is required");
    ce_fails("{\"specversion\":\"1.0\",\"id\":\"i\",\"type\":\"t\"}", "'source' is required");
    ce_fails("{\"specversion\":\"1.0\",\"id\":\"i\",\"source\":\"s\"}", "'type' is required");
    ce_fails("{\"specversion\":\"1.0\",\"id\":7,\"source\":\"s\",\"type\":\"t\"}",
             "'id' must be a string");
    ce_fails("{\"specversion\":\"1.0\",\"id\":\"i\",\"source\":\"s\",\"type\":\"t\","
             "\"subject\":[]}",
             "'subject' must be a string");
    ce_fails("{\"specversion\":\"1.0\",\"id\":\"i\",\"source\":\"s\",\"type\":\"t\","
             "\"time\":\"yesterday\"}",
             "'time' is not RFC 3339");
    ce_fails("{\"specversion\":\"1.0\",\"id\":\"i\",\"source\":\"s\",\"type\":\"t\","
             "\"data\":{},\"data_base64\":\"\"}",
             "both 'data' and 'data_base64'");
    ce_fails("{\"specversion\":\"1.0\",\"id\":\"i\",\"source\":\"evfleet/s3\",\"type\":\"t\","
             "\"data_base64\":\"QQ==\"}",
             "only for CUSTOM");
    ce_fails("{\"specversion\":\"1.0\",\"id\":\"i\",\"source\":\"s\",\"type\":\"t\","
             "\"data_base64\":\"@@\"}",
             "'data_base64' is not base64");
    ce_fails("{\"specversion\":\"1.0\",\"id\":\"i\",\"source\":\"evfleet/s3\",\"type\":\"t\","
             "\"data\":{\"bukket\":\"b\"}}",
             "unknown field 'data.bukket'");
    ce_fails("{\"specversion\":\"1.0\",\"id\":\"i\",\"source\":\"evfleet/s3\",\"type\":\"t\","
             "\"data\":\"b/k\"}",
             "field 'data': expected a JSON object");
    ce_fails("{\"specversion\":\"1.0\",\"id\":\"i\",\"source\":\"s\",\"type\":\"t\","
             "\"ext\":{\"a\":1}}",
             "extension 'ext'");
    ce_fails("[]", "not a JSON object");
    ce_fails("{\"specversion\":\"1.0\",", "invalid CloudEvents JSON");
    ce_fails("{\"specversion\":\"1.0\",\"id\":\"\xff\",\"source\":\"s\",\"type\":\"t\"}",
             "invalid CloudEvents JSON");
}
END_TEST

static int64_t ce_time(const char *time_text, int *ok) {
    char json[256], err[256] = "";
    snprintf(json, sizeof json,
             "{\"specversion\":\"1.0\",\"id\":\"i\",\"source\":\"s\",\"type\":\"t\","
             "\"time\":\"%s\"}",
             time_text);
    evf_event_t *ev = evf_event_from_cloudevent(json, strlen(json), err, sizeof err);
    *ok = ev != NULL;
    int64_t ms = ev ? ev->time_ms : 0;
    evf_event_free(ev);
    return ms;
}

START_TEST(test_cloudevent_times) {
    const struct {
        const char *text;
        int64_t ms;
    } good[] = {
        {"2026-11-27T05:29:20.123Z", 1795757360123},
        {"2026-11-27T05:29:20Z", 1795757360000},
        {"2026-11-27t05:29:20.1z", 1795757360100},
        {"2026-11-27T05:29:20.123456789Z", 1795757360123},
        {"2026-11-27T06:29:20.123+01:00", 1795757360123},
        {"2026-11-26T23:59:20.123-05:30", 1795757360123},
        {"2026-11-27T05:29:20.123-00:00", 1795757360123},
        {"1970-01-01T00:00:00Z", 0},
        {"1969-12-31T23:59:59.999Z", -1},
        {"2000-02-29T00:00:00Z", 951782400000},
        {"2024-02-29T12:00:00Z", 1709208000000},
        {"1900-03-01T00:00:00Z", -2203891200000},
        {"2016-12-31T23:59:60Z", 1483228800000}, /* leap second: the next minute's :00 */
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int ok;
        int64_t ms = ce_time(good[i].text, &ok);
        ck_assert_msg(ok, "%s rejected", good[i].text);
        ck_assert_msg(ms == good[i].ms, "%s: %lld, want %lld", good[i].text, (long long)ms,
                      (long long)good[i].ms);
    }
    const char *bad[] = {"",
                         "2026-11-27",
                         "2026-11-27T05:29Z",
                         "2026-11-27T05:29:20",
                         "2026-11-27 05:29:20Z",
                         "2026-13-01T00:00:00Z",
                         "2026-00-01T00:00:00Z",
                         "2023-02-29T00:00:00Z",
                         "1900-02-29T00:00:00Z",
                         "2026-04-31T00:00:00Z",
                         "2026-11-27T24:00:00Z",
                         "2026-11-27T05:60:00Z",
                         "2026-11-27T05:29:61Z",
                         "2026-11-27T05:29:20.Z",
                         "2026-11-27T05:29:20+0100",
                         "2026-11-27T05:29:20+24:00",
                         "2026-11-27T05:29:20Zjunk",
                         "26-11-27T05:29:20Z",
                         "2026-1-27T05:29:20Z"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int ok;
        ce_time(bad[i], &ok);
        ck_assert_msg(!ok, "'%s' accepted", bad[i]);
    }
}
END_TEST

/* ce_time written by evf_event_ce_headers reads back to the same ms, across eras. */
START_TEST(test_cloudevent_time_round_trip) {
    uint64_t x = 88172645463325252ull;
    evf_event_t *ev = evf_event_new();
    evf_event_set_str(&ev->id, "i");
    for (int i = 0; i < 5000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        /* 0001-01-01 … 9999-12-31 */
        int64_t lo = -62135596800000, hi = 253402300799999;
        ev->time_ms = lo + (int64_t)(x % (uint64_t)(hi - lo));
        evf_header_kv_t h[6];
        char scratch[64];
        evf_event_ce_headers(ev, h, 6, scratch, sizeof scratch);
        int ok;
        int64_t back = ce_time(h[4].value, &ok);
        ck_assert_msg(ok && back == ev->time_ms, "%s: %lld vs %lld", h[4].value,
                      (long long)back, (long long)ev->time_ms);
    }
    evf_event_free(ev);
}
END_TEST

static Suite *event_json_suite(void) {
    Suite *s = suite_create("event_json");
    TCase *tc = tcase_create("json");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_to_json_exact);
    tcase_add_test(tc, test_to_json_defaults_and_empty_oneof);
    tcase_add_test(tc, test_to_json_escapes_and_bad_utf8);
    tcase_add_test(tc, test_json_round_trips);
    tcase_add_test(tc, test_json_round_trip_unicode_and_large);
    tcase_add_test(tc, test_from_json_original_names);
    tcase_add_test(tc, test_from_json_int64_forms);
    tcase_add_test(tc, test_from_json_doubles);
    tcase_add_test(tc, test_from_json_base64_variants);
    tcase_add_test(tc, test_from_json_enums);
    tcase_add_test(tc, test_from_json_errors_name_the_field);
    tcase_add_test(tc, test_from_json_invalid_utf8_and_nul);
    tcase_add_test(tc, test_from_json_nulls_and_json_text_values);
    tcase_add_test(tc, test_from_json_value);
    suite_add_tcase(s, tc);
    TCase *ce = tcase_create("cloudevents");
    tcase_set_timeout(ce, 120);
    tcase_add_test(ce, test_cloudevent_all_attributes);
    tcase_add_test(ce, test_cloudevent_source_mapping);
    tcase_add_test(ce, test_cloudevent_data_forms);
    tcase_add_test(ce, test_cloudevent_errors);
    tcase_add_test(ce, test_cloudevent_times);
    tcase_add_test(ce, test_cloudevent_time_round_trip);
    suite_add_tcase(s, ce);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(event_json_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
