/* common/fingerprint.c — the event fingerprint (DESIGN.md "The idempotency record"): SHA-256 of a
 * canonical form of type, subject and detail, first 16 bytes as 32 hex characters.
 *
 * Canonical form, version 1: a sequence of fields, each an 8-byte big-endian length then its
 * bytes, in this order: the tag "evfleet-fp-v1", type, subject, the detail case as a decimal
 * number (0 none, 10 s3, 11 stream, 12 iot, 13 data), then the detail's fields in field-number
 * order. Integers and enums are decimal; doubles are "%.17g" with -0 written as 0 and
 * "NaN"/"Infinity"/"-Infinity"; JSON texts (stream keys and images) are re-serialised compactly
 * with sorted keys (raw when not valid JSON); a map is its entry count then key, value for each
 * entry in bytewise key order (repeated keys: the last one counts, as in protobuf); the optional
 * location is "0", or "1" then lat, lon, alt. Changing any of this changes every fingerprint, so
 * it is versioned by the tag. */
#include "event.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sha256.h"

static void fp_bytes(evf_sha256_t *sha, const void *data, size_t len) {
    uint8_t prefix[8];
    for (int i = 0; i < 8; i++)
        prefix[i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    evf_sha256_update(sha, prefix, sizeof prefix);
    evf_sha256_update(sha, data, len);
}

static void fp_str(evf_sha256_t *sha, const char *s) {
    fp_bytes(sha, s ? s : "", s ? strlen(s) : 0);
}

static void fp_i64(evf_sha256_t *sha, int64_t v) {
    char num[32];
    snprintf(num, sizeof num, "%" PRId64, v);
    fp_str(sha, num);
}

static void fp_double(evf_sha256_t *sha, double v) {
    char num[48];
    if (isnan(v))
        snprintf(num, sizeof num, "NaN");
    else if (isinf(v))
        snprintf(num, sizeof num, "%s", v > 0 ? "Infinity" : "-Infinity");
    else {
        snprintf(num, sizeof num, "%.17g", v == 0 ? 0.0 : v);
        for (char *c = num; *c; c++)
            if (*c == ',') /* a decimal-comma locale must not change the hash */
                *c = '.';
    }
    fp_str(sha, num);
}

static void fp_json_text(evf_sha256_t *sha, const char *text) {
    char *canonical = text && *text ? evf_event_json_canonical(text) : NULL;
    fp_str(sha, canonical ? canonical : text);
    free(canonical);
}

typedef struct {
    const char *key;
    size_t index;
} fp_entry_t;

static int fp_entry_cmp(const void *a, const void *b) {
    const fp_entry_t *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c)
        return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Sort entry keys (index order breaks ties) and drop all but the last of repeated keys.
 * @returns a malloc'd array of the surviving entries, their count in *n_out. */
static fp_entry_t *fp_map_entries(const char *const *keys, size_t n, size_t *n_out) {
    fp_entry_t *entries = malloc((n ? n : 1) * sizeof *entries);
    if (!entries)
        abort();
    for (size_t i = 0; i < n; i++) {
        entries[i].key = keys[i];
        entries[i].index = i;
    }
    qsort(entries, n, sizeof *entries, fp_entry_cmp);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n && !strcmp(entries[i].key, entries[i + 1].key))
            continue;
        entries[kept++] = entries[i];
    }
    *n_out = kept;
    return entries;
}

static void fp_readings(evf_sha256_t *sha, const Evfleet__V1__IotTelemetry *iot) {
    const char **keys = malloc((iot->n_readings ? iot->n_readings : 1) * sizeof *keys);
    if (!keys)
        abort();
    for (size_t i = 0; i < iot->n_readings; i++)
        keys[i] = iot->readings[i]->key;
    size_t n;
    fp_entry_t *entries = fp_map_entries(keys, iot->n_readings, &n);
    fp_i64(sha, (int64_t)n);
    for (size_t i = 0; i < n; i++) {
        fp_str(sha, entries[i].key);
        fp_double(sha, iot->readings[entries[i].index]->value);
    }
    free(entries);
    free(keys);
}

void evf_event_fingerprint(const evf_event_t *ev, char out[33]) {
    evf_sha256_t sha;
    evf_sha256_init(&sha);
    fp_str(&sha, "evfleet-fp-v1");
    fp_str(&sha, ev->type);
    fp_str(&sha, ev->subject);
    fp_i64(&sha, (int64_t)ev->detail_case);
    switch (ev->detail_case) {
    case EVFLEET__V1__EVENT__DETAIL_S3: {
        const Evfleet__V1__S3Object *s3 = ev->s3;
        fp_str(&sha, s3->bucket);
        fp_str(&sha, s3->key);
        fp_i64(&sha, s3->size);
        fp_str(&sha, s3->etag);
        fp_str(&sha, s3->version_id);
        fp_str(&sha, s3->sequencer);
        fp_str(&sha, s3->content_type);
        fp_str(&sha, s3->event_name);
        fp_str(&sha, s3->region);
        break;
    }
    case EVFLEET__V1__EVENT__DETAIL_STREAM: {
        const Evfleet__V1__StreamRecord *st = ev->stream;
        fp_str(&sha, st->table);
        fp_i64(&sha, (int64_t)st->op);
        fp_str(&sha, st->sequence_number);
        fp_json_text(&sha, st->keys);
        fp_json_text(&sha, st->old_image);
        fp_json_text(&sha, st->new_image);
        fp_i64(&sha, st->approximate_creation_ms);
        break;
    }
    case EVFLEET__V1__EVENT__DETAIL_IOT: {
        const Evfleet__V1__IotTelemetry *iot = ev->iot;
        fp_str(&sha, iot->device_id);
        fp_str(&sha, iot->metric);
        fp_double(&sha, iot->value);
        fp_str(&sha, iot->unit);
        fp_readings(&sha, iot);
        if (iot->location) {
            fp_str(&sha, "1");
            fp_double(&sha, iot->location->lat);
            fp_double(&sha, iot->location->lon);
            fp_double(&sha, iot->location->alt);
        } else {
            fp_str(&sha, "0");
        }
        break;
    }
    case EVFLEET__V1__EVENT__DETAIL_DATA:
        fp_bytes(&sha, ev->data.len ? ev->data.data : (const uint8_t *)"", ev->data.len);
        break;
    default:
        break;
    }

    uint8_t digest[EVF_SHA256_DIGEST_LEN];
    evf_sha256_final(&sha, digest);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 15];
    }
    out[32] = '\0';
}
