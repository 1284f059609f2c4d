/* common/event.c — the event codec core: construction, protobuf decode/encode with validation,
 * content-type dispatch, Kafka key, CloudEvents binary-mode headers and field lookup.
 * The JSON forms live in event_json.c, the fingerprint in fingerprint.c. */
#include "event.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

/* Nesting of our schema is 3 (Event → IotTelemetry → Location); anything deeper is not ours. */
#define EVENT_MAX_DEPTH 8

static void *xmalloc(size_t size) {
    void *p = malloc(size ? size : 1);
    if (!p)
        abort();
    return p;
}

static void *xrealloc(void *old, size_t size) {
    void *p = realloc(old, size ? size : 1);
    if (!p)
        abort();
    return p;
}

static char *xstrdup(const char *s) {
    size_t len = strlen(s);
    char *p = xmalloc(len + 1);
    memcpy(p, s, len + 1);
    return p;
}

static void set_err(char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *errstr, size_t errstr_size, const char *fmt, ...) {
    va_list ap;
    if (!errstr || errstr_size == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(errstr, errstr_size, fmt, ap);
    va_end(ap);
}

static int is_empty_str(const char *s) {
    return !s || !*s;
}

/* ---------------------------------------------------------------- construction */

evf_event_t *evf_event_new(void) {
    evf_event_t *ev = xmalloc(sizeof *ev);
    evfleet__v1__event__init(ev);
    return ev;
}

void evf_event_free(evf_event_t *ev) {
    /* Strings equal to protobuf_c_empty_string are the fields' default_value, which free_unpacked
     * skips; everything else in an event is individually malloc'd, as unpack would have made it. */
    if (ev)
        protobuf_c_message_free_unpacked(&ev->base, NULL);
}

void evf_event_set_str(char **field, const char *value) {
    char *old = *field;
    *field = is_empty_str(value) ? (char *)protobuf_c_empty_string : xstrdup(value);
    if (old && old != protobuf_c_empty_string)
        free(old);
}

void evf_event_set_attr(evf_event_t *ev, const char *name, const char *value) {
    for (size_t i = 0; i < ev->n_attributes; i++) {
        if (!strcmp(ev->attributes[i]->key, name)) {
            evf_event_set_str(&ev->attributes[i]->value, value);
            return;
        }
    }
    Evfleet__V1__Event__AttributesEntry *entry = xmalloc(sizeof *entry);
    evfleet__v1__event__attributes_entry__init(entry);
    evf_event_set_str(&entry->key, name);
    evf_event_set_str(&entry->value, value);
    ev->attributes = xrealloc(ev->attributes, (ev->n_attributes + 1) * sizeof *ev->attributes);
    ev->attributes[ev->n_attributes++] = entry;
}

static void clear_detail(evf_event_t *ev) {
    switch (ev->detail_case) {
    case EVFLEET__V1__EVENT__DETAIL_S3:
        protobuf_c_message_free_unpacked(&ev->s3->base, NULL);
        break;
    case EVFLEET__V1__EVENT__DETAIL_STREAM:
        protobuf_c_message_free_unpacked(&ev->stream->base, NULL);
        break;
    case EVFLEET__V1__EVENT__DETAIL_IOT:
        protobuf_c_message_free_unpacked(&ev->iot->base, NULL);
        break;
    case EVFLEET__V1__EVENT__DETAIL_DATA:
        free(ev->data.data);
        break;
    default:
        break;
    }
    ev->detail_case = EVFLEET__V1__EVENT__DETAIL__NOT_SET;
    memset(&ev->data, 0, sizeof ev->data);
}

Evfleet__V1__S3Object *evf_event_set_s3(evf_event_t *ev) {
    clear_detail(ev);
    ev->s3 = xmalloc(sizeof *ev->s3);
    evfleet__v1__s3_object__init(ev->s3);
    ev->detail_case = EVFLEET__V1__EVENT__DETAIL_S3;
    return ev->s3;
}

Evfleet__V1__StreamRecord *evf_event_set_stream(evf_event_t *ev) {
    clear_detail(ev);
    ev->stream = xmalloc(sizeof *ev->stream);
    evfleet__v1__stream_record__init(ev->stream);
    ev->detail_case = EVFLEET__V1__EVENT__DETAIL_STREAM;
    return ev->stream;
}

Evfleet__V1__IotTelemetry *evf_event_set_iot(evf_event_t *ev) {
    clear_detail(ev);
    ev->iot = xmalloc(sizeof *ev->iot);
    evfleet__v1__iot_telemetry__init(ev->iot);
    ev->detail_case = EVFLEET__V1__EVENT__DETAIL_IOT;
    return ev->iot;
}

void evf_event_set_data(evf_event_t *ev, const void *data, size_t len) {
    /* Copy first: data may point into the current detail. Always allocate, so a zero-length
     * payload still has a valid pointer for pack's memcpy. */
    uint8_t *copy = xmalloc(len);
    if (len)
        memcpy(copy, data, len);
    clear_detail(ev);
    ev->detail_case = EVFLEET__V1__EVENT__DETAIL_DATA;
    ev->data.data = copy;
    ev->data.len = len;
}

void evf_event_iot_set_reading(Evfleet__V1__IotTelemetry *iot, const char *name, double value) {
    for (size_t i = 0; i < iot->n_readings; i++) {
        if (!strcmp(iot->readings[i]->key, name)) {
            iot->readings[i]->value = value;
            return;
        }
    }
    Evfleet__V1__IotTelemetry__ReadingsEntry *entry = xmalloc(sizeof *entry);
    evfleet__v1__iot_telemetry__readings_entry__init(entry);
    evf_event_set_str(&entry->key, name);
    entry->value = value;
    iot->readings = xrealloc(iot->readings, (iot->n_readings + 1) * sizeof *iot->readings);
    iot->readings[iot->n_readings++] = entry;
}

Evfleet__V1__Location *evf_event_iot_set_location(Evfleet__V1__IotTelemetry *iot, double lat,
                                                  double lon, double alt) {
    if (!iot->location) {
        iot->location = xmalloc(sizeof *iot->location);
        evfleet__v1__location__init(iot->location);
    }
    iot->location->lat = lat;
    iot->location->lon = lon;
    iot->location->alt = alt;
    return iot->location;
}

evf_event_t *evf_event_dup(const evf_event_t *ev) {
    /* Pack + unpack is a deep copy that allocates exactly as evf_event_free expects. */
    size_t len = 0;
    uint8_t *buf = evf_event_encode(ev, &len);
    evf_event_t *copy = evfleet__v1__event__unpack(NULL, len, buf);
    free(buf);
    if (!copy)
        abort(); /* our own encoding always unpacks; only out-of-memory gets here */
    return copy;
}

/* ---------------------------------------------------------------- UTF-8 */

int evf_utf8_valid(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *end = p + len;
    while (p < end) {
        unsigned char c = *p;
        if (c < 0x80) {
            p++;
            continue;
        }
        size_t need;
        unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            if (c == 0xe0)
                lo = 0xa0; /* overlong */
            else if (c == 0xed)
                hi = 0x9f; /* UTF-16 surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            if (c == 0xf0)
                lo = 0x90; /* overlong */
            else if (c == 0xf4)
                hi = 0x8f; /* past U+10FFFF */
        } else {
            return 0;
        }
        if ((size_t)(end - p) < need + 1)
            return 0;
        if (p[1] < lo || p[1] > hi)
            return 0;
        for (size_t i = 2; i <= need; i++)
            if ((p[i] & 0xc0) != 0x80)
                return 0;
        p += need + 1;
    }
    return 1;
}

/* ---------------------------------------------------------------- protobuf decode */

/* Read a varint at *p (bounded by end). @returns 0 and advances *p, or -1 if truncated/overlong. */
static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *out) {
    uint64_t value = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        if (*p >= end)
            return -1;
        uint8_t b = *(*p)++;
        value |= (uint64_t)(b & 0x7f) << (shift < 64 ? shift : 63);
        if (!(b & 0x80)) {
            *out = value;
            return 0;
        }
    }
    return -1;
}

/* The field path of a wire check ("detail.s3.key"), one frame per nesting level; written out
 * only for an error message. */
typedef struct wire_path_s {
    const struct wire_path_s *up;
    const char *name;
} wire_path_t;

static size_t wire_path_fmt(const wire_path_t *pt, char *out, size_t size) {
    size_t n = pt->up ? wire_path_fmt(pt->up, out, size) : 0;
    int w = snprintf(out + n, size - n, "%s%s", n ? "." : "", pt->name);
    n += w > 0 ? (size_t)w : 0;
    return n < size ? n : size - 1;
}

/* protobuf-c copies string bytes without checking them, and a NUL inside would silently cut the
 * C string short; so walk the raw wire form with the descriptors and check every string field
 * (map entries are messages, so their keys and values are covered by the recursion). */
static int check_wire_strings(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t len,
                              const wire_path_t *up, int depth, char *errstr,
                              size_t errstr_size) {
    const uint8_t *end = p + len;
    if (depth > EVENT_MAX_DEPTH) {
        set_err(errstr, errstr_size, "malformed protobuf: nested too deeply");
        return -1;
    }
    while (p < end) {
        uint64_t tag, length;
        /* Field number 0 is invalid; protobuf-c refuses it only in its one-byte form. */
        if (read_varint(&p, end, &tag) < 0 || tag >> 3 == 0)
            goto malformed;
        switch (tag & 7) {
        case 0: { /* varint */
            uint64_t ignored;
            if (read_varint(&p, end, &ignored) < 0)
                goto malformed;
            break;
        }
        case 1: /* 64-bit */
            if (end - p < 8)
                goto malformed;
            p += 8;
            break;
        case 5: /* 32-bit */
            if (end - p < 4)
                goto malformed;
            p += 4;
            break;
        case 2: { /* length-delimited */
            if (read_varint(&p, end, &length) < 0 || length > (uint64_t)(end - p))
                goto malformed;
            const ProtobufCFieldDescriptor *field =
                tag >> 3 <= UINT32_MAX
                    ? protobuf_c_message_descriptor_get_field(desc, (unsigned)(tag >> 3))
                    : NULL;
            if (field) {
                wire_path_t here = {up, field->name};
                char sub_path[256];
                if (field->type == PROTOBUF_C_TYPE_STRING) {
                    if (memchr(p, 0, length)) {
                        wire_path_fmt(&here, sub_path, sizeof sub_path);
                        set_err(errstr, errstr_size, "field '%s' contains a NUL byte", sub_path);
                        return -1;
                    }
                    if (!evf_utf8_valid((const char *)p, length)) {
                        wire_path_fmt(&here, sub_path, sizeof sub_path);
                        set_err(errstr, errstr_size, "field '%s' is not valid UTF-8", sub_path);
                        return -1;
                    }
                } else if (field->type == PROTOBUF_C_TYPE_MESSAGE) {
                    if (check_wire_strings(field->descriptor, p, length, &here, depth + 1,
                                           errstr, errstr_size) < 0)
                        return -1;
                }
            }
            p += length;
            break;
        }
        default:
            goto malformed;
        }
    }
    return 0;
malformed:
    set_err(errstr, errstr_size, "malformed protobuf");
    return -1;
}

typedef struct {
    const char *key;
    size_t index;
} map_key_ref_t;

static int map_key_ref_cmp(const void *a, const void *b) {
    const map_key_ref_t *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c)
        return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Remove all but the last entry of each key from a map field (an array of entry messages, each
 * starting with its ProtobufCMessage base and then its `char *key`). O(n log n). */
static void map_dedupe(void **entries, size_t *n, const char *(*key_of)(const void *)) {
    if (*n < 2)
        return;
    map_key_ref_t *refs = xmalloc(*n * sizeof *refs);
    for (size_t i = 0; i < *n; i++) {
        refs[i].key = key_of(entries[i]);
        refs[i].index = i;
    }
    qsort(refs, *n, sizeof *refs, map_key_ref_cmp);
    size_t dropped = 0;
    for (size_t i = 0; i + 1 < *n; i++) {
        if (!strcmp(refs[i].key, refs[i + 1].key)) {
            protobuf_c_message_free_unpacked(entries[refs[i].index], NULL);
            entries[refs[i].index] = NULL;
            dropped++;
        }
    }
    free(refs);
    if (!dropped)
        return;
    size_t kept = 0;
    for (size_t i = 0; i < *n; i++)
        if (entries[i])
            entries[kept++] = entries[i];
    *n = kept;
}

static const char *attr_key(const void *entry) {
    return ((const Evfleet__V1__Event__AttributesEntry *)entry)->key;
}

static const char *reading_key(const void *entry) {
    return ((const Evfleet__V1__IotTelemetry__ReadingsEntry *)entry)->key;
}

evf_event_t *evf_event_decode(const void *buf, size_t len, char *errstr, size_t errstr_size) {
    static const uint8_t empty[1];
    const uint8_t *data = buf ? buf : empty;
    if (!buf)
        len = 0;
    evf_event_t *ev = evfleet__v1__event__unpack(NULL, len, data);
    if (!ev) {
        set_err(errstr, errstr_size, "malformed protobuf");
        return NULL;
    }
    if (check_wire_strings(&evfleet__v1__event__descriptor, data, len, NULL, 0, errstr,
                           errstr_size) < 0)
        goto fail;
    if (is_empty_str(ev->id)) {
        set_err(errstr, errstr_size, "event has no id");
        goto fail;
    }
    map_dedupe((void **)ev->attributes, &ev->n_attributes, attr_key);
    if (ev->detail_case == EVFLEET__V1__EVENT__DETAIL_IOT)
        map_dedupe((void **)ev->iot->readings, &ev->iot->n_readings, reading_key);
    return ev;
fail:
    evf_event_free(ev);
    return NULL;
}

/* ---------------------------------------------------------------- protobuf encode */

uint8_t *evf_event_encode(const evf_event_t *ev, size_t *len) {
    size_t size = evfleet__v1__event__get_packed_size(ev);
    uint8_t *buf = xmalloc(size);
    *len = evfleet__v1__event__pack(ev, buf);
    return buf;
}

size_t evf_event_encode_to(const evf_event_t *ev, uint8_t *buf, size_t buf_size) {
    size_t size = evfleet__v1__event__get_packed_size(ev);
    if (size <= buf_size)
        evfleet__v1__event__pack(ev, buf);
    return size;
}

/* ---------------------------------------------------------------- by content type */

/* @returns 1 if content_type's media type (before any `;` parameters) is want, ignoring case. */
static int media_type_is(const char *content_type, const char *want) {
    while (*content_type == ' ' || *content_type == '\t')
        content_type++;
    size_t n = strcspn(content_type, "; \t");
    return n == strlen(want) && !strncasecmp(content_type, want, n);
}

static int is_json_space(uint8_t c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

evf_event_t *evf_event_decode_message(const void *value, size_t len, const char *content_type,
                                      char *errstr, size_t errstr_size) {
    const uint8_t *p = value;
    if (!p)
        len = 0;
    if (content_type && media_type_is(content_type, EVF_CT_CLOUDEVENTS_JSON))
        return evf_event_from_cloudevent((const char *)p, len, errstr, errstr_size);
    if (content_type && media_type_is(content_type, EVF_CT_PROTOBUF))
        return evf_event_decode(p, len, errstr, errstr_size);

    size_t i = 0;
    while (i < len && is_json_space(p[i]))
        i++;
    if (i == len || p[i] != '{')
        return evf_event_decode(p, len, errstr, errstr_size);
    evf_event_t *ev = evf_event_from_cloudevent((const char *)p, len, errstr, errstr_size);
    if (ev || i == 0)
        return ev;
    /* Leading whitespace bytes are also valid protobuf tags (0x0a is field 1, our id); errstr
     * keeps the JSON error if this fails too. */
    return evf_event_decode(p, len, NULL, 0);
}

/* ---------------------------------------------------------------- names */

static const char *const source_names[] = {"SOURCE_UNSPECIFIED", "S3", "STREAM", "IOT", "CUSTOM"};
static const char *const stream_op_names[] = {"STREAM_OP_UNSPECIFIED", "INSERT", "MODIFY",
                                              "REMOVE"};
#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

const char *evf_event_source_name(Evfleet__V1__Source source) {
    return (unsigned)source < N_ELEMS(source_names) ? source_names[source] : "UNKNOWN";
}

int evf_event_source_parse(const char *name, Evfleet__V1__Source *out) {
    for (size_t i = 0; i < N_ELEMS(source_names); i++) {
        if (!strcasecmp(name, source_names[i])) {
            *out = (Evfleet__V1__Source)i;
            return 0;
        }
    }
    return -1;
}

const char *evf_event_stream_op_name(Evfleet__V1__StreamOp op) {
    return (unsigned)op < N_ELEMS(stream_op_names) ? stream_op_names[op] : "UNKNOWN";
}

int evf_event_stream_op_parse(const char *name, Evfleet__V1__StreamOp *out) {
    for (size_t i = 0; i < N_ELEMS(stream_op_names); i++) {
        if (!strcasecmp(name, stream_op_names[i])) {
            *out = (Evfleet__V1__StreamOp)i;
            return 0;
        }
    }
    return -1;
}

const char *evf_event_ce_source(const evf_event_t *ev) {
    switch (ev->source) {
    case EVFLEET__V1__SOURCE__S3:
        return "evfleet/s3";
    case EVFLEET__V1__SOURCE__STREAM:
        return "evfleet/stream";
    case EVFLEET__V1__SOURCE__IOT:
        return "evfleet/iot";
    case EVFLEET__V1__SOURCE__CUSTOM:
        return "evfleet/custom";
    default:
        break;
    }
    switch (ev->detail_case) {
    case EVFLEET__V1__EVENT__DETAIL_S3:
        return "evfleet/s3";
    case EVFLEET__V1__EVENT__DETAIL_STREAM:
        return "evfleet/stream";
    case EVFLEET__V1__EVENT__DETAIL_IOT:
        return "evfleet/iot";
    default:
        return "evfleet/custom";
    }
}

/* ---------------------------------------------------------------- shared helpers */

char *evf_event_json_canonical(const char *text) {
    json_error_t jerr;
    json_t *doc = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (!doc)
        return NULL;
    char *out = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    json_decref(doc);
    return out;
}

size_t evf_event_format_double(double value, char *out, size_t out_size) {
    char buf[40];
    if (isnan(value))
        snprintf(buf, sizeof buf, "NaN");
    else if (isinf(value))
        snprintf(buf, sizeof buf, "%s", value > 0 ? "Infinity" : "-Infinity");
    else {
        for (int precision = 1; precision <= 17; precision++) {
            snprintf(buf, sizeof buf, "%.*g", precision, value);
            /* A locale with a decimal comma must not leak into wire text. */
            for (char *c = buf; *c; c++)
                if (*c == ',')
                    *c = '.';
            if (strtod(buf, NULL) == value)
                break;
        }
        /* %g goes to exponent form as soon as the exponent reaches the precision ("1e+02");
         * write integers below 10^17 in full instead, as JSON writers usually do. */
        char *e = strchr(buf, 'e');
        if (e && strtol(e + 1, NULL, 10) > 0 && strtol(e + 1, NULL, 10) < 17)
            snprintf(buf, sizeof buf, "%.0f", value);
    }
    return (size_t)snprintf(out, out_size, "%s", buf);
}

/* ---------------------------------------------------------------- Kafka key */

/* Append src to out at *pos, snprintf-like: count everything, write what fits. */
static void key_append(char *out, size_t out_size, size_t *pos, const char *src) {
    size_t n = strlen(src);
    if (out_size > 0 && *pos < out_size - 1) {
        size_t room = out_size - 1 - *pos;
        memcpy(out + *pos, src, n < room ? n : room);
    }
    *pos += n;
}

size_t evf_event_kafka_key(const evf_event_t *ev, char *out, size_t out_size) {
    size_t pos = 0;
    switch (ev->detail_case) {
    case EVFLEET__V1__EVENT__DETAIL_S3:
        key_append(out, out_size, &pos, ev->s3->bucket);
        key_append(out, out_size, &pos, "/");
        key_append(out, out_size, &pos, ev->s3->key);
        break;
    case EVFLEET__V1__EVENT__DETAIL_STREAM: {
        char *canonical = evf_event_json_canonical(ev->stream->keys);
        key_append(out, out_size, &pos, ev->stream->table);
        key_append(out, out_size, &pos, "/");
        key_append(out, out_size, &pos, canonical ? canonical : ev->stream->keys);
        free(canonical);
        break;
    }
    case EVFLEET__V1__EVENT__DETAIL_IOT:
        if (!is_empty_str(ev->iot->device_id)) {
            key_append(out, out_size, &pos, ev->iot->device_id);
            break;
        }
        /* fall through */
    default:
        key_append(out, out_size, &pos, !is_empty_str(ev->subject) ? ev->subject : ev->id);
        break;
    }
    if (out_size > 0)
        out[pos < out_size ? pos : out_size - 1] = '\0';
    return pos;
}

/* ---------------------------------------------------------------- CloudEvents headers */

/* Howard Hinnant's civil_from_days: days since 1970-01-01 → proleptic Gregorian date. */
static void civil_from_days(int64_t days, int64_t *year, unsigned *month, unsigned *day) {
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    unsigned doe = (unsigned)(days - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *day = doy - (153 * mp + 2) / 5 + 1;
    *month = mp < 10 ? mp + 3 : mp - 9;
    *year = (int64_t)yoe + era * 400 + (*month <= 2);
}

/* RFC 3339 UTC with milliseconds: 2026-11-27T05:29:20.123Z. */
static void format_rfc3339_ms(int64_t time_ms, char *out, size_t out_size) {
    int64_t ms = time_ms % 1000, secs = time_ms / 1000;
    if (ms < 0) {
        ms += 1000;
        secs--;
    }
    int64_t days = secs / 86400, sod = secs % 86400;
    if (sod < 0) {
        sod += 86400;
        days--;
    }
    int64_t year;
    unsigned month, day;
    civil_from_days(days, &year, &month, &day);
    snprintf(out, out_size, "%04" PRId64 "-%02u-%02uT%02u:%02u:%02u.%03uZ", year, month, day,
             (unsigned)(sod / 3600), (unsigned)(sod / 60 % 60), (unsigned)(sod % 60),
             (unsigned)ms);
}

size_t evf_event_ce_headers(const evf_event_t *ev, evf_header_kv_t *out, size_t max,
                            char *scratch, size_t scratch_size) {
    evf_header_kv_t all[6];
    size_t n = 0;
    all[n++] = (evf_header_kv_t){"ce_specversion", "1.0"};
    all[n++] = (evf_header_kv_t){"ce_id", ev->id};
    all[n++] = (evf_header_kv_t){"ce_source", evf_event_ce_source(ev)};
    all[n++] = (evf_header_kv_t){"ce_type", ev->type};
    if (scratch && scratch_size >= 32) {
        format_rfc3339_ms(ev->time_ms, scratch, scratch_size);
        all[n++] = (evf_header_kv_t){"ce_time", scratch};
    }
    all[n++] = (evf_header_kv_t){"content-type", EVF_CT_PROTOBUF};
    if (n > max)
        n = max;
    for (size_t i = 0; i < n; i++)
        out[i] = all[i];
    return n;
}

/* ---------------------------------------------------------------- field lookup */

typedef enum {
    FIELD_STR,
    FIELD_I64,
    FIELD_DOUBLE,
    FIELD_SOURCE,
    FIELD_STREAM_OP,
    FIELD_JSON_TEXT,
} field_kind_t;

typedef struct {
    const char *name;
    field_kind_t kind;
    size_t offset;
} field_spec_t;

#define SPEC(type, member, kind) {#member, kind, offsetof(type, member)}

static const field_spec_t event_fields[] = {
    SPEC(Evfleet__V1__Event, id, FIELD_STR),
    SPEC(Evfleet__V1__Event, source, FIELD_SOURCE),
    SPEC(Evfleet__V1__Event, type, FIELD_STR),
    SPEC(Evfleet__V1__Event, time_ms, FIELD_I64),
    SPEC(Evfleet__V1__Event, subject, FIELD_STR),
};

static const field_spec_t s3_fields[] = {
    SPEC(Evfleet__V1__S3Object, bucket, FIELD_STR),
    SPEC(Evfleet__V1__S3Object, key, FIELD_STR),
    SPEC(Evfleet__V1__S3Object, size, FIELD_I64),
    SPEC(Evfleet__V1__S3Object, etag, FIELD_STR),
    SPEC(Evfleet__V1__S3Object, version_id, FIELD_STR),
    SPEC(Evfleet__V1__S3Object, sequencer, FIELD_STR),
    SPEC(Evfleet__V1__S3Object, content_type, FIELD_STR),
    SPEC(Evfleet__V1__S3Object, event_name, FIELD_STR),
    SPEC(Evfleet__V1__S3Object, region, FIELD_STR),
};

static const field_spec_t stream_fields[] = {
    SPEC(Evfleet__V1__StreamRecord, table, FIELD_STR),
    SPEC(Evfleet__V1__StreamRecord, op, FIELD_STREAM_OP),
    SPEC(Evfleet__V1__StreamRecord, sequence_number, FIELD_STR),
    SPEC(Evfleet__V1__StreamRecord, keys, FIELD_JSON_TEXT),
    SPEC(Evfleet__V1__StreamRecord, old_image, FIELD_JSON_TEXT),
    SPEC(Evfleet__V1__StreamRecord, new_image, FIELD_JSON_TEXT),
    SPEC(Evfleet__V1__StreamRecord, approximate_creation_ms, FIELD_I64),
};

static const field_spec_t iot_fields[] = {
    SPEC(Evfleet__V1__IotTelemetry, device_id, FIELD_STR),
    SPEC(Evfleet__V1__IotTelemetry, metric, FIELD_STR),
    SPEC(Evfleet__V1__IotTelemetry, value, FIELD_DOUBLE),
    SPEC(Evfleet__V1__IotTelemetry, unit, FIELD_STR),
};

static const field_spec_t location_fields[] = {
    SPEC(Evfleet__V1__Location, lat, FIELD_DOUBLE),
    SPEC(Evfleet__V1__Location, lon, FIELD_DOUBLE),
    SPEC(Evfleet__V1__Location, alt, FIELD_DOUBLE),
};

#define TABLE(t) t, N_ELEMS(t)

static const field_spec_t *find_spec(const field_spec_t *table, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(table[i].name, name))
            return &table[i];
    return NULL;
}

/* Write s into out; @returns 0, or 2 if it was truncated. */
static int field_out(char *out, size_t out_size, const char *s) {
    size_t n = (size_t)snprintf(out, out_size, "%s", s);
    return n < out_size ? 0 : 2;
}

static int field_value(const void *msg, const field_spec_t *spec, char *out, size_t out_size) {
    const char *base = msg;
    char num[64];
    switch (spec->kind) {
    case FIELD_STR:
        return field_out(out, out_size, *(char *const *)(base + spec->offset));
    case FIELD_I64:
        snprintf(num, sizeof num, "%" PRId64, *(const int64_t *)(base + spec->offset));
        return field_out(out, out_size, num);
    case FIELD_DOUBLE:
        evf_event_format_double(*(const double *)(base + spec->offset), num, sizeof num);
        return field_out(out, out_size, num);
    case FIELD_SOURCE: {
        Evfleet__V1__Source source = *(const Evfleet__V1__Source *)(base + spec->offset);
        return field_out(out, out_size, evf_event_source_name(source));
    }
    case FIELD_STREAM_OP: {
        Evfleet__V1__StreamOp op = *(const Evfleet__V1__StreamOp *)(base + spec->offset);
        return field_out(out, out_size, evf_event_stream_op_name(op));
    }
    case FIELD_JSON_TEXT: {
        const char *text = *(char *const *)(base + spec->offset);
        char *canonical = evf_event_json_canonical(text);
        int rc = field_out(out, out_size, canonical ? canonical : text);
        free(canonical);
        return rc;
    }
    }
    return -1;
}

/* The one parser behind evf_event_field and evf_event_field_valid: ev NULL only validates. */
static int field_lookup(const evf_event_t *ev, const char *path, char *out, size_t out_size) {
    const field_spec_t *spec;
    const char *dot = strchr(path, '.');
    if (!dot) {
        if (!(spec = find_spec(TABLE(event_fields), path)))
            return -1;
        return ev ? field_value(ev, spec, out, out_size) : 0;
    }
    size_t prefix_len = (size_t)(dot - path);
    const char *rest = dot + 1;
#define PREFIX_IS(s) (prefix_len == strlen(s) && !strncmp(path, s, prefix_len))
    if (PREFIX_IS("attributes")) {
        if (!*rest)
            return -1;
        if (!ev)
            return 0;
        for (size_t i = 0; i < ev->n_attributes; i++)
            if (!strcmp(ev->attributes[i]->key, rest))
                return field_out(out, out_size, ev->attributes[i]->value);
        return 1;
    }
    if (PREFIX_IS("s3")) {
        if (!(spec = find_spec(TABLE(s3_fields), rest)))
            return -1;
        if (!ev)
            return 0;
        if (ev->detail_case != EVFLEET__V1__EVENT__DETAIL_S3)
            return 1;
        return field_value(ev->s3, spec, out, out_size);
    }
    if (PREFIX_IS("stream")) {
        if (!(spec = find_spec(TABLE(stream_fields), rest)))
            return -1;
        if (!ev)
            return 0;
        if (ev->detail_case != EVFLEET__V1__EVENT__DETAIL_STREAM)
            return 1;
        return field_value(ev->stream, spec, out, out_size);
    }
    if (PREFIX_IS("iot")) {
        const Evfleet__V1__IotTelemetry *iot =
            ev && ev->detail_case == EVFLEET__V1__EVENT__DETAIL_IOT ? ev->iot : NULL;
        if (!strncmp(rest, "readings.", 9)) {
            const char *name = rest + 9;
            if (!*name)
                return -1;
            if (!ev)
                return 0;
            if (!iot)
                return 1;
            for (size_t i = 0; i < iot->n_readings; i++) {
                if (!strcmp(iot->readings[i]->key, name)) {
                    char num[64];
                    evf_event_format_double(iot->readings[i]->value, num, sizeof num);
                    return field_out(out, out_size, num);
                }
            }
            return 1;
        }
        if (!strncmp(rest, "location.", 9)) {
            if (!(spec = find_spec(TABLE(location_fields), rest + 9)))
                return -1;
            if (!ev)
                return 0;
            if (!iot || !iot->location)
                return 1;
            return field_value(iot->location, spec, out, out_size);
        }
        if (!(spec = find_spec(TABLE(iot_fields), rest)))
            return -1;
        if (!ev)
            return 0;
        if (!iot)
            return 1;
        return field_value(iot, spec, out, out_size);
    }
#undef PREFIX_IS
    return -1;
}

int evf_event_field(const evf_event_t *ev, const char *path, char *out, size_t out_size) {
    if (out && out_size > 0)
        out[0] = '\0';
    return field_lookup(ev, path, out, out_size);
}

int evf_event_field_valid(const char *path) {
    return field_lookup(NULL, path, NULL, 0) == 0;
}
