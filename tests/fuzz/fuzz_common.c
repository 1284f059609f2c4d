/* tests/fuzz/fuzz_common.c — the event properties every decoding target checks; see
 * fuzz_common.h. */
#include "fuzz_common.h"

#include <string.h>

#include <jansson.h>

char *evf_fuzz_strndup(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s)
        abort();
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* Every field path evf_event_field knows (plus a few it must refuse), so lookup runs on each. */
static const char *const fuzz_field_paths[] = {
    "id",
    "source",
    "type",
    "time_ms",
    "subject",
    "s3.bucket",
    "s3.key",
    "s3.size",
    "s3.etag",
    "s3.version_id",
    "s3.sequencer",
    "s3.content_type",
    "s3.event_name",
    "s3.region",
    "stream.table",
    "stream.op",
    "stream.sequence_number",
    "stream.keys",
    "stream.old_image",
    "stream.new_image",
    "stream.approximate_creation_ms",
    "iot.device_id",
    "iot.metric",
    "iot.value",
    "iot.unit",
    "iot.location.lat",
    "iot.location.lon",
    "iot.location.alt",
    "iot.readings.temperature",
    "attributes.trace",
    "", /* refused: */
    ".",
    "attributes.",
    "iot.readings.",
    "iot.location.",
    "iot.location.x",
    "s3",
    "s3.",
    "stream.nope",
    "data",
    "nope.id",
};

static void check_field_path(const evf_event_t *ev, const char *path) {
    char out[4096], tiny[4];
    int valid = evf_event_field_valid(path);
    int rc = evf_event_field(ev, path, out, sizeof out);
    EVF_FUZZ_CHECK(rc >= -1 && rc <= 2, "evf_event_field('%s') returned %d", path, rc);
    EVF_FUZZ_CHECK((rc != -1) == valid, "evf_event_field('%s') = %d but field_valid = %d", path,
                   rc, valid);
    if (rc == 0)
        EVF_FUZZ_CHECK(strlen(out) < sizeof out, "field '%s' not terminated", path);
    int rc_tiny = evf_event_field(ev, path, tiny, sizeof tiny);
    EVF_FUZZ_CHECK(strlen(tiny) < sizeof tiny, "field '%s' overflowed a tiny buffer", path);
    if (rc == 0)
        EVF_FUZZ_CHECK(rc_tiny == (strlen(out) < sizeof tiny ? 0 : 2),
                       "field '%s': %d with a tiny buffer, value '%s'", path, rc_tiny, out);
    else if (rc != 2)
        EVF_FUZZ_CHECK(rc_tiny == rc, "field '%s': %d with a tiny buffer, %d with a big one", path,
                       rc_tiny, rc);
}

static void check_fields(const evf_event_t *ev) {
    char path[600];
    for (size_t i = 0; i < sizeof fuzz_field_paths / sizeof fuzz_field_paths[0]; i++)
        check_field_path(ev, fuzz_field_paths[i]);
    /* Paths built from the event's own map keys exist. */
    if (ev->n_attributes) {
        snprintf(path, sizeof path, "attributes.%s", ev->attributes[0]->key);
        if (strlen(ev->attributes[0]->key) + 11 < sizeof path && ev->attributes[0]->key[0]) {
            char out[4096];
            int rc = evf_event_field(ev, path, out, sizeof out);
            EVF_FUZZ_CHECK(rc == 0 || rc == 2, "attribute '%s' not found (%d)",
                           ev->attributes[0]->key, rc);
        }
    }
    if (ev->detail_case == EVFLEET__V1__EVENT__DETAIL_IOT && ev->iot->n_readings) {
        const char *key = ev->iot->readings[0]->key;
        snprintf(path, sizeof path, "iot.readings.%s", key);
        if (strlen(key) + 13 < sizeof path && key[0]) {
            char out[64];
            EVF_FUZZ_CHECK(evf_event_field(ev, path, out, sizeof out) == 0,
                           "reading '%s' not found", key);
        }
    }
}

static void check_kafka_key(const evf_event_t *ev) {
    size_t n = evf_event_kafka_key(ev, NULL, 0);
    char *key = malloc(n + 1);
    if (!key)
        abort();
    EVF_FUZZ_CHECK(evf_event_kafka_key(ev, key, n + 1) == n, "kafka key length changed");
    EVF_FUZZ_CHECK(strlen(key) == n, "kafka key holds a NUL (%zu of %zu bytes)", strlen(key), n);
    for (size_t size = 1; size <= n && size <= 9; size++) {
        char small[10];
        memset(small, 'x', sizeof small);
        EVF_FUZZ_CHECK(evf_event_kafka_key(ev, small, size) == n, "kafka key length (size %zu)",
                       size);
        EVF_FUZZ_CHECK(small[size - 1] == '\0' && !memcmp(small, key, size - 1) &&
                           small[size] == 'x',
                       "kafka key into %zu bytes", size);
    }
    free(key);
}

static void check_ce_headers(const evf_event_t *ev) {
    evf_header_kv_t kv[8];
    char scratch[64];
    size_t n = evf_event_ce_headers(ev, kv, 8, scratch, sizeof scratch);
    EVF_FUZZ_CHECK(n == 6, "%zu CloudEvents headers", n);
    for (size_t i = 0; i < n; i++)
        EVF_FUZZ_CHECK(kv[i].name && kv[i].value, "CloudEvents header %zu is NULL", i);
    EVF_FUZZ_CHECK(!strcmp(kv[1].value, ev->id), "ce_id differs from the id");
    EVF_FUZZ_CHECK(strlen(scratch) < sizeof scratch && scratch[strlen(scratch) - 1] == 'Z',
                   "ce_time '%s'", scratch);
    EVF_FUZZ_CHECK(evf_event_ce_headers(ev, kv, 2, scratch, sizeof scratch) == 2,
                   "max not honoured");
}

/* The protobuf round trip. @returns the re-decoded event (caller frees), or NULL. */
static evf_event_t *check_protobuf(const evf_event_t *ev, int flags, const char *fp) {
    size_t len = 0, len2 = 0;
    char err[512] = "";
    uint8_t *enc = evf_event_encode(ev, &len);
    EVF_FUZZ_CHECK(evf_event_encode_to(ev, NULL, 0) == len, "encode_to size differs");
    evf_event_t *back = evf_event_decode(enc, len, err, sizeof err);
    if (!back) {
        EVF_FUZZ_CHECK((flags & EVF_FUZZ_EV_ID_MAY_BE_EMPTY) && !ev->id[0],
                       "our own encoding of a parsed event does not decode: %s", err);
        free(enc);
        return NULL;
    }
    uint8_t *enc2 = evf_event_encode(back, &len2);
    EVF_FUZZ_CHECK(len == len2 && !memcmp(enc, enc2, len),
                   "encode(decode(encode(ev))) differs from encode(ev) (%zu vs %zu bytes)", len,
                   len2);
    char fp2[33];
    evf_event_fingerprint(back, fp2);
    EVF_FUZZ_CHECK(!strcmp(fp, fp2), "fingerprint changed over protobuf: %s vs %s", fp, fp2);

    /* The content-type dispatch gives the same event. */
    evf_event_t *by_ct = evf_event_decode_message(enc, len, EVF_CT_PROTOBUF, NULL, 0);
    EVF_FUZZ_CHECK(by_ct != NULL, "decode_message(application/protobuf) refused our encoding");
    evf_event_free(by_ct);

    evf_event_t *copy = evf_event_dup(ev);
    uint8_t *enc3 = evf_event_encode(copy, &len2);
    EVF_FUZZ_CHECK(len == len2 && !memcmp(enc, enc3, len), "dup is not an exact copy");
    evf_event_free(copy);
    free(enc);
    free(enc2);
    free(enc3);
    return back;
}

static void check_json(const evf_event_t *ev, const char *fp) {
    char err[512] = "";
    char *json = evf_event_to_json(ev);
    size_t len = strlen(json);
    EVF_FUZZ_CHECK(evf_utf8_valid(json, len), "to_json wrote invalid UTF-8");
    json_error_t jerr;
    json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    EVF_FUZZ_CHECK(doc && json_is_object(doc), "to_json wrote invalid JSON (%s): %s", jerr.text,
                   json);
    json_decref(doc);

    evf_event_t *back = evf_event_from_json(json, len, err, sizeof err);
    EVF_FUZZ_CHECK(back != NULL, "from_json refused to_json's output: %s\n  %s", err, json);
    char *json2 = evf_event_to_json(back);
    EVF_FUZZ_CHECK(!strcmp(json, json2), "JSON round trip changed the event:\n  %s\n  %s", json,
                   json2);
    char fp2[33];
    evf_event_fingerprint(back, fp2);
    EVF_FUZZ_CHECK(!strcmp(fp, fp2), "fingerprint changed over JSON: %s vs %s\n  %s", fp, fp2,
                   json);
    evf_event_free(back);
    free(json);
    free(json2);
}

void evf_fuzz_check_event(const evf_event_t *ev, int flags) {
    char fp[33];
    EVF_FUZZ_CHECK(ev->id != NULL && ev->type != NULL && ev->subject != NULL,
                   "a string field is NULL");
    if (!(flags & EVF_FUZZ_EV_ID_MAY_BE_EMPTY))
        EVF_FUZZ_CHECK(ev->id[0] != '\0', "an event without an id was returned");
    evf_event_fingerprint(ev, fp);
    EVF_FUZZ_CHECK(strlen(fp) == 32, "fingerprint '%s'", fp);

    evf_event_t *back = check_protobuf(ev, flags, fp);
    check_json(ev, fp);
    if (back)
        check_json(back, fp);
    evf_event_free(back);

    check_kafka_key(ev);
    check_ce_headers(ev);
    check_fields(ev);
    (void)evf_event_ce_source(ev);
}
