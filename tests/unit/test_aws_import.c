/* tests/unit/test_aws_import.c — JSON documents → events: AWS S3 notifications (create, remove,
 * URL-encoded keys), DynamoDB Streams (INSERT/MODIFY/REMOVE; S, N, BOOL, NULL, M, L, SS, NS, B,
 * BS), proto3 JSON and CloudEvents lines, malformed JSON and unknown shapes. */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "aws_import.h"
#include "testutil.h"

#define DATA_DIR "tests/data/aws/"

static evf_gen_t *ids;

static void setup(void) {
    ids = evf_gen_new(42);
}

static void teardown(void) {
    evf_gen_destroy(ids);
    ids = NULL;
}

/* Import a sample file; it must give exactly `expect` events. */
static evf_event_t **import_file(const char *name, size_t expect) {
    char path[256], err[512] = "";
    size_t len = 0, count = 0;
    evf_event_t **events = NULL;
    snprintf(path, sizeof(path), DATA_DIR "%s", name);
    char *text = evf_test_read_file(path, &len);
    ck_assert_msg(text, "cannot read %s (run from the repository root)", path);
    int rc = evf_aws_import(text, len, ids, &events, &count, err, sizeof(err));
    ck_assert_msg(rc == 0, "%s: %s", name, err);
    ck_assert_uint_eq(count, expect);
    free(text);
    return events;
}

/* Import inline text that must fail; returns the reason. */
static const char *import_fails(const char *text) {
    static char err[512];
    evf_event_t **events = (evf_event_t **)1;
    size_t count = 99;
    err[0] = '\0';
    ck_assert_int_eq(evf_aws_import(text, strlen(text), ids, &events, &count, err, sizeof(err)),
                     -1);
    ck_assert_ptr_null(events);
    ck_assert_uint_eq(count, 0);
    ck_assert_msg(err[0], "no reason given for %s", text);
    return err;
}

static void assert_uuid4(const char *id) {
    ck_assert_uint_eq(strlen(id), 36);
    ck_assert_int_eq(id[8], '-');
    ck_assert_int_eq(id[14], '4');
    ck_assert_msg(strchr("89ab", id[19]), "variant of %s", id);
}

static void assert_kafka_key(const evf_event_t *ev, const char *expect) {
    char key[1024];
    evf_event_kafka_key(ev, key, sizeof(key));
    ck_assert_str_eq(key, expect);
}

START_TEST(s3_put_with_url_encoded_keys) {
    evf_event_t **ev = import_file("s3_put.json", 2);

    ck_assert_int_eq(ev[0]->source, EVFLEET__V1__SOURCE__S3);
    ck_assert_str_eq(ev[0]->type, "s3:ObjectCreated:Put");
    ck_assert_int_eq(ev[0]->detail_case, EVFLEET__V1__EVENT__DETAIL_S3);
    ck_assert_str_eq(ev[0]->s3->bucket, "acme-media-prod");
    ck_assert_str_eq(ev[0]->s3->key, "photos/My Summer, 2024!.jpg");
    ck_assert_str_eq(ev[0]->subject, "acme-media-prod/photos/My Summer, 2024!.jpg");
    ck_assert_int_eq(ev[0]->s3->size, 1048576);
    ck_assert_str_eq(ev[0]->s3->etag, "d41d8cd98f00b204e9800998ecf8427e");
    ck_assert_str_eq(ev[0]->s3->version_id, "096fKKXTRTtl3on89fVO.nfljtsv6qko");
    ck_assert_str_eq(ev[0]->s3->sequencer, "0055AED6DCD90281E5");
    ck_assert_str_eq(ev[0]->s3->event_name, "ObjectCreated:Put");
    ck_assert_str_eq(ev[0]->s3->region, "eu-west-1");
    ck_assert_int_eq(ev[0]->time_ms, 1720949213589LL);
    assert_uuid4(ev[0]->id);
    assert_kafka_key(ev[0], "acme-media-prod/photos/My Summer, 2024!.jpg");

    /* %C3%A9 is UTF-8 'é'; %20 and '+' are both spaces; %28/%29 parentheses. */
    ck_assert_str_eq(ev[1]->type, "s3:ObjectCreated:CompleteMultipartUpload");
    ck_assert_str_eq(ev[1]->s3->key, "videos/r\xc3\xa9sum\xc3\xa9 final (v2).mp4");
    ck_assert_int_eq(ev[1]->s3->size, 5368709120LL);
    ck_assert_int_eq(ev[1]->time_ms, 1720949214000LL);
    ck_assert_str_ne(ev[0]->id, ev[1]->id);

    /* The event survives the wire format. */
    size_t len;
    char err[256];
    uint8_t *buf = evf_event_encode(ev[1], &len);
    evf_event_t *back = evf_event_decode(buf, len, err, sizeof(err));
    ck_assert_msg(back, "%s", err);
    ck_assert_str_eq(back->s3->key, ev[1]->s3->key);
    evf_event_free(back);
    free(buf);
    evf_aws_import_free(ev, 2);
}
END_TEST

START_TEST(s3_delete) {
    evf_event_t **ev = import_file("s3_delete.json", 1);
    ck_assert_str_eq(ev[0]->type, "s3:ObjectRemoved:Delete");
    ck_assert_str_eq(ev[0]->s3->event_name, "ObjectRemoved:Delete");
    ck_assert_str_eq(ev[0]->subject, "acme-uploads-prod/users/000042/Q3 report (final).pdf");
    ck_assert_int_eq(ev[0]->s3->size, 0);
    ck_assert_str_eq(ev[0]->s3->etag, "");
    /* Only the key is URL-encoded in notifications: a '+' in a version id stays. */
    ck_assert_str_eq(ev[0]->s3->version_id, "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY");
    ck_assert_str_eq(ev[0]->s3->region, "us-east-1");
    ck_assert_int_eq(ev[0]->time_ms, 1720951200123LL);
    evf_aws_import_free(ev, 1);
}
END_TEST

START_TEST(s3_time_with_offset_and_prefixed_name) {
    const char *doc =
        "{\"Records\":[{\"eventSource\":\"aws:s3\",\"eventName\":\"s3:ObjectRemoved:"
        "DeleteMarkerCreated\",\"eventTime\":\"2024-07-14T11:26:53.5+02:00\",\"s3\":{\"bucket\":"
        "{\"name\":\"b\"},\"object\":{\"key\":\"a%2Bb+c\"}}}]}";
    evf_event_t **ev = NULL;
    size_t n = 0;
    char err[256];
    ck_assert_int_eq(evf_aws_import(doc, strlen(doc), ids, &ev, &n, err, sizeof(err)), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(ev[0]->type, "s3:ObjectRemoved:DeleteMarkerCreated");
    ck_assert_str_eq(ev[0]->s3->key, "a+b c");
    ck_assert_int_eq(ev[0]->time_ms, 1720949213500LL);
    evf_aws_import_free(ev, n);
}
END_TEST

START_TEST(dynamodb_insert) {
    evf_event_t **ev = import_file("dynamodb_insert.json", 1);
    const char *keys = "{\"customerId\":\"cust-00042\",\"orderId\":1001}";
    ck_assert_str_eq(ev[0]->id, "c4ca4238a0b923820dcc509a6f75849b");
    ck_assert_int_eq(ev[0]->source, EVFLEET__V1__SOURCE__STREAM);
    ck_assert_str_eq(ev[0]->type, "stream:INSERT");
    ck_assert_int_eq(ev[0]->detail_case, EVFLEET__V1__EVENT__DETAIL_STREAM);
    ck_assert_str_eq(ev[0]->stream->table, "Orders");
    ck_assert_int_eq(ev[0]->stream->op, EVFLEET__V1__STREAM_OP__INSERT);
    ck_assert_str_eq(ev[0]->stream->keys, keys);
    /* Sorted keys, compact; N as numbers unless they would lose digits; M, L, BOOL, NULL. */
    ck_assert_str_eq(ev[0]->stream->new_image,
                     "{\"coupon\":null,\"customerId\":\"cust-00042\","
                     "\"huge\":\"123456789012345678901234567890\","
                     "\"items\":[{\"qty\":2,\"sku\":\"SKU-000017\"},\"gift-wrap\"],"
                     "\"orderId\":1001,\"paid\":false,"
                     "\"shipping\":{\"city\":\"Lyon\",\"express\":true,\"zip\":\"69001\"},"
                     "\"total\":129.95}");
    ck_assert_str_eq(ev[0]->stream->old_image, "");
    ck_assert_str_eq(ev[0]->stream->sequence_number, "111100000000000000000001");
    ck_assert_int_eq(ev[0]->stream->approximate_creation_ms, 1720949213500LL);
    ck_assert_int_eq(ev[0]->time_ms, 1720949213500LL);
    ck_assert_str_eq(ev[0]->subject, "Orders/{\"customerId\":\"cust-00042\",\"orderId\":1001}");
    assert_kafka_key(ev[0], "Orders/{\"customerId\":\"cust-00042\",\"orderId\":1001}");
    evf_aws_import_free(ev, 1);
}
END_TEST

START_TEST(dynamodb_modify) {
    evf_event_t **ev = import_file("dynamodb_modify.json", 1);
    ck_assert_str_eq(ev[0]->type, "stream:MODIFY");
    ck_assert_int_eq(ev[0]->stream->op, EVFLEET__V1__STREAM_OP__MODIFY);
    /* Keys come sorted whatever order the record lists them in. */
    ck_assert_str_eq(ev[0]->stream->keys, "{\"customerId\":\"cust-00042\",\"orderId\":1001}");
    ck_assert_str_eq(ev[0]->stream->old_image,
                     "{\"customerId\":\"cust-00042\",\"orderId\":1001,\"paid\":false,"
                     "\"status\":\"PLACED\"}");
    ck_assert_str_eq(ev[0]->stream->new_image,
                     "{\"customerId\":\"cust-00042\",\"orderId\":1001,\"paid\":true,"
                     "\"ratings\":[4.5,5],\"status\":\"PAID\",\"tags\":[\"priority\",\"vip\"]}");
    ck_assert_int_eq(ev[0]->time_ms, 1720949220000LL);
    evf_aws_import_free(ev, 1);
}
END_TEST

START_TEST(dynamodb_remove_and_table_name) {
    evf_event_t **ev = import_file("dynamodb_remove.json", 2);
    ck_assert_str_eq(ev[0]->type, "stream:REMOVE");
    ck_assert_str_eq(ev[0]->stream->table, "Sessions");
    ck_assert_int_eq(ev[0]->stream->op, EVFLEET__V1__STREAM_OP__REMOVE);
    ck_assert_str_eq(ev[0]->stream->keys, "{\"sessionId\":\"a1b2c3\"}");
    ck_assert_str_eq(ev[0]->stream->new_image, "");
    ck_assert_str_eq(ev[0]->stream->old_image,
                     "{\"active\":true,\"expiresAt\":1720952800,\"sessionId\":\"a1b2c3\","
                     "\"userId\":42}");
    ck_assert_str_eq(ev[0]->subject, "Sessions/{\"sessionId\":\"a1b2c3\"}");
    /* A TTL expiry is a REMOVE by the service principal; that is kept as an attribute. */
    ck_assert_uint_eq(ev[0]->n_attributes, 1);
    ck_assert_str_eq(ev[0]->attributes[0]->key, "aws.principal");
    ck_assert_str_eq(ev[0]->attributes[0]->value, "dynamodb.amazonaws.com");

    /* tableName instead of an ARN; no eventID → a UUIDv4; no time → 0 (stamped at send). */
    ck_assert_str_eq(ev[1]->stream->table, "Audit");
    assert_uuid4(ev[1]->id);
    ck_assert_int_eq(ev[1]->time_ms, 0);
    ck_assert_str_eq(ev[1]->stream->keys, "{\"pk\":\"audit#1\",\"sk\":-0.25}");
    ck_assert_str_eq(ev[1]->stream->new_image,
                     "{\"blob\":\"aGVsbG8=\",\"blobs\":[\"AQ==\",\"Ag==\"],\"pk\":\"audit#1\","
                     "\"sk\":-0.25}");
    ck_assert_str_eq(ev[1]->subject, "Audit/{\"pk\":\"audit#1\",\"sk\":-0.25}");
    evf_aws_import_free(ev, 2);
}
END_TEST

/* One attribute value through the item converter. */
static void assert_ddb(const char *item, const char *expect) {
    json_error_t jerr;
    char err[256];
    json_t *doc = json_loads(item, 0, &jerr);
    ck_assert_msg(doc, "%s", jerr.text);
    char *text = evf_aws_ddb_item_json(doc, "item", err, sizeof(err));
    ck_assert_msg(text, "%s: %s", item, err);
    ck_assert_str_eq(text, expect);
    free(text);
    json_decref(doc);
}

START_TEST(dynamodb_numbers) {
    assert_ddb("{\"a\":{\"N\":\"0.1\"}}", "{\"a\":0.1}");
    assert_ddb("{\"a\":{\"N\":\"-0\"}}", "{\"a\":0}");
    assert_ddb("{\"a\":{\"N\":\"9223372036854775807\"}}", "{\"a\":9223372036854775807}");
    assert_ddb("{\"a\":{\"N\":\"9223372036854775808\"}}", "{\"a\":\"9223372036854775808\"}");
    assert_ddb("{\"a\":{\"N\":\"1.5E+2\"}}", "{\"a\":150.0}");
    assert_ddb("{\"a\":{\"N\":\"123456789012345.6\"}}", "{\"a\":\"123456789012345.6\"}");
    assert_ddb("{\"a\":{\"N\":\"12345678901234.50\"}}", "{\"a\":12345678901234.5}");
    assert_ddb("{\"a\":{\"N\":\"1e-400\"}}", "{\"a\":\"1e-400\"}");
    assert_ddb("{\"a\":{\"N\":\"not-a-number\"}}", "{\"a\":\"not-a-number\"}");
    assert_ddb("{\"a\":{\"NS\":[\"1\",\"2.5\"]},\"b\":{\"L\":[]},\"c\":{\"M\":{}}}",
               "{\"a\":[1,2.5],\"b\":[],\"c\":{}}");
    assert_ddb("{\"z\":{\"S\":\"\\u00e9\\\"q\\\"\"},\"a\":{\"NULL\":true}}",
               "{\"a\":null,\"z\":\"\xc3\xa9\\\"q\\\"\"}");
}
END_TEST

START_TEST(s3_key_decoding) {
    char err[128];
    char *k = evf_aws_s3_key_decode("a+b%20c%2B%25", err, sizeof(err));
    ck_assert_str_eq(k, "a b c+%");
    free(k);
    ck_assert_ptr_null(evf_aws_s3_key_decode("bad%ZZ", err, sizeof(err)));
    ck_assert_ptr_null(evf_aws_s3_key_decode("short%4", err, sizeof(err)));
    ck_assert_ptr_null(evf_aws_s3_key_decode("short%", err, sizeof(err)));
    ck_assert_ptr_null(evf_aws_s3_key_decode("nul%00", err, sizeof(err)));
    ck_assert_ptr_null(evf_aws_s3_key_decode("latin1-%E9", err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "UTF-8"));
}
END_TEST

START_TEST(malformed_json) {
    const char *err = import_fails("{\"Records\": [");
    ck_assert_msg(strstr(err, "invalid JSON"), "%s", err);
    err = import_fails("{\"id\":\"x\" \"type\":\"y\"}");
    ck_assert_msg(strstr(err, "invalid JSON at column"), "%s", err);
    err = import_fails("");
    ck_assert_msg(strstr(err, "invalid JSON"), "%s", err);
    err = import_fails("{\"a\":1,\"a\":2}"); /* duplicate keys are ambiguous */
    ck_assert_msg(strstr(err, "invalid JSON"), "%s", err);
}
END_TEST

START_TEST(unknown_shapes) {
    const char *err = import_fails("{\"hello\":\"world\"}");
    ck_assert_msg(strstr(err, "unknown document shape"), "%s", err);
    err = import_fails("[1,2,3]");
    ck_assert_msg(strstr(err, "unknown document shape"), "%s", err);
    err = import_fails("{\"Records\":[{\"eventSource\":\"aws:sqs\",\"body\":\"x\"}]}");
    ck_assert_msg(strstr(err, "aws:sqs") && strstr(err, "not supported"), "%s", err);
    err = import_fails("{\"Records\":{}}");
    ck_assert_msg(strstr(err, "Records"), "%s", err);
    err = import_fails("{\"Records\":[{\"eventName\":\"INSERT\"}]}");
    ck_assert_msg(strstr(err, "Records[0].eventSource"), "%s", err);
}
END_TEST

START_TEST(bad_records_name_the_field) {
    const char *err = import_fails(
        "{\"Records\":[{\"eventSource\":\"aws:s3\",\"eventName\":\"ObjectCreated:Put\","
        "\"s3\":{\"object\":{\"key\":\"k\"}}}]}");
    ck_assert_msg(strstr(err, "Records[0].s3.bucket"), "%s", err);
    err = import_fails("{\"Records\":[{\"eventSource\":\"aws:s3\",\"eventName\":\"ObjectCreated:"
                       "Put\",\"s3\":{\"bucket\":{\"name\":\"b\"},\"object\":{\"key\":\"a%G0\"}}}]}");
    ck_assert_msg(strstr(err, "Records[0].s3.object.key") && strstr(err, "percent"), "%s", err);
    err = import_fails("{\"Records\":[{\"eventSource\":\"aws:s3\",\"eventName\":\"ObjectCreated:"
                       "Put\",\"eventTime\":\"yesterday\",\"s3\":{\"bucket\":{\"name\":\"b\"},"
                       "\"object\":{\"key\":\"k\"}}}]}");
    ck_assert_msg(strstr(err, "eventTime"), "%s", err);
    err = import_fails("{\"Records\":[{\"eventSource\":\"aws:dynamodb\",\"eventName\":\"UPSERT\","
                       "\"tableName\":\"T\",\"dynamodb\":{\"Keys\":{\"id\":{\"S\":\"1\"}}}}]}");
    ck_assert_msg(strstr(err, "UPSERT"), "%s", err);
    err = import_fails("{\"Records\":[{\"eventSource\":\"aws:dynamodb\",\"eventName\":\"INSERT\","
                       "\"dynamodb\":{\"Keys\":{\"id\":{\"S\":\"1\"}}}}]}");
    ck_assert_msg(strstr(err, "table"), "%s", err);
    err = import_fails("{\"Records\":[{\"eventSource\":\"aws:dynamodb\",\"eventName\":\"INSERT\","
                       "\"tableName\":\"T\",\"dynamodb\":{\"Keys\":{\"id\":{\"S\":\"1\"}},"
                       "\"NewImage\":{\"a\":{\"M\":{\"b\":{\"X\":\"1\"}}}}}}]}");
    ck_assert_msg(strstr(err, "Records[0].dynamodb.NewImage.a.M.b") && strstr(err, "'X'"), "%s",
                  err);
    err = import_fails("{\"Records\":[{\"eventSource\":\"aws:dynamodb\",\"eventName\":\"INSERT\","
                       "\"tableName\":\"T\",\"dynamodb\":{\"Keys\":{\"id\":{\"S\":1}}}}]}");
    ck_assert_msg(strstr(err, "Keys.id.S"), "%s", err);
    err = import_fails("{\"Records\":[{\"eventSource\":\"aws:dynamodb\",\"eventName\":\"INSERT\","
                       "\"tableName\":\"T\",\"dynamodb\":{\"ApproximateCreationDateTime\":\"x\","
                       "\"Keys\":{\"id\":{\"S\":\"1\"}}}}]}");
    ck_assert_msg(strstr(err, "ApproximateCreationDateTime"), "%s", err);
    /* All or nothing: a good first record is not returned when the second is bad. */
    err = import_fails("{\"Records\":[{\"eventSource\":\"aws:dynamodb\",\"eventName\":\"INSERT\","
                       "\"tableName\":\"T\",\"dynamodb\":{\"Keys\":{\"id\":{\"S\":\"1\"}}}},"
                       "{\"eventSource\":\"aws:dynamodb\",\"eventName\":\"INSERT\"}]}");
    ck_assert_msg(strstr(err, "Records[1]"), "%s", err);
}
END_TEST

START_TEST(empty_records) {
    evf_event_t **ev = (evf_event_t **)1;
    size_t n = 7;
    char err[128];
    ck_assert_int_eq(evf_aws_import("{\"Records\":[]}", 14, ids, &ev, &n, err, sizeof(err)), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(ev);
}
END_TEST

START_TEST(proto3_json_event) {
    const char *line = "{\"id\":\"e-1\",\"source\":\"IOT\",\"type\":\"iot:telemetry\","
                       "\"timeMs\":\"1700000000000\",\"subject\":\"d1\",\"iot\":{\"deviceId\":"
                       "\"d1\",\"metric\":\"temp\",\"value\":21.5,\"unit\":\"C\"}}";
    evf_event_t **ev = NULL;
    size_t n = 0;
    char err[256];
    ck_assert_msg(!evf_aws_import(line, strlen(line), ids, &ev, &n, err, sizeof(err)), "%s", err);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(ev[0]->id, "e-1");
    ck_assert_int_eq(ev[0]->source, EVFLEET__V1__SOURCE__IOT);
    ck_assert_int_eq(ev[0]->time_ms, 1700000000000LL);
    ck_assert_str_eq(ev[0]->iot->device_id, "d1");
    ck_assert(ev[0]->iot->value == 21.5);
    evf_aws_import_free(ev, n);

    /* Without an id the producer gives it a UUIDv4; without a time it stays 0. */
    line = "{\"source\":\"S3\",\"type\":\"s3:ObjectCreated:Put\",\"s3\":{\"bucket\":\"b\","
           "\"key\":\"k\",\"size\":\"3\"}}";
    ck_assert_msg(!evf_aws_import(line, strlen(line), ids, &ev, &n, err, sizeof(err)), "%s", err);
    ck_assert_uint_eq(n, 1);
    assert_uuid4(ev[0]->id);
    ck_assert_int_eq(ev[0]->time_ms, 0);
    ck_assert_int_eq(ev[0]->s3->size, 3);
    evf_aws_import_free(ev, n);

    /* An unknown field of an Event-shaped document is the codec's error, not "unknown shape". */
    const char *why = import_fails("{\"id\":\"x\",\"colour\":\"red\"}");
    ck_assert_msg(strstr(why, "colour"), "%s", why);
}
END_TEST

START_TEST(cloudevent_json) {
    const char *line =
        "{\"specversion\":\"1.0\",\"id\":\"ce-1\",\"source\":\"evfleet/iot\",\"type\":"
        "\"iot:telemetry\",\"time\":\"2024-01-01T00:00:00Z\",\"subject\":\"d2\","
        "\"datacontenttype\":\"application/json\",\"data\":{\"deviceId\":\"d2\",\"metric\":"
        "\"humidity\",\"value\":40}}";
    evf_event_t **ev = NULL;
    size_t n = 0;
    char err[256];
    ck_assert_msg(!evf_aws_import(line, strlen(line), ids, &ev, &n, err, sizeof(err)), "%s", err);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(ev[0]->id, "ce-1");
    ck_assert_int_eq(ev[0]->source, EVFLEET__V1__SOURCE__IOT);
    ck_assert_int_eq(ev[0]->time_ms, 1704067200000LL);
    ck_assert_int_eq(ev[0]->detail_case, EVFLEET__V1__EVENT__DETAIL_IOT);
    ck_assert_str_eq(ev[0]->iot->device_id, "d2");
    evf_aws_import_free(ev, n);
}
END_TEST

static Suite *aws_import_suite(void) {
    Suite *s = suite_create("aws_import");
    TCase *tc = tcase_create("documents");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, s3_put_with_url_encoded_keys);
    tcase_add_test(tc, s3_delete);
    tcase_add_test(tc, s3_time_with_offset_and_prefixed_name);
    tcase_add_test(tc, dynamodb_insert);
    tcase_add_test(tc, dynamodb_modify);
    tcase_add_test(tc, dynamodb_remove_and_table_name);
    tcase_add_test(tc, dynamodb_numbers);
    tcase_add_test(tc, s3_key_decoding);
    tcase_add_test(tc, malformed_json);
    tcase_add_test(tc, unknown_shapes);
    tcase_add_test(tc, bad_records_name_the_field);
    tcase_add_test(tc, empty_records);
    tcase_add_test(tc, proto3_json_event);
    tcase_add_test(tc, cloudevent_json);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(aws_import_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
