/* common/event_json.c — evfleet.v1.Event as proto3 canonical JSON (both ways, one field table per
 * message drives writer and parser) and CloudEvents 1.0 structured-mode JSON in. */
#include "event.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

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

/* ---------------------------------------------------------------- the field tables */

typedef enum {
    JF_STR,
    JF_JSON_TEXT, /* a string holding JSON text; input also takes the JSON value itself */
    JF_I64,
    JF_DOUBLE,
    JF_SOURCE,
    JF_STREAM_OP,
    JF_ATTRIBUTES, /* Event only */
    JF_READINGS,   /* IotTelemetry only */
    JF_LOCATION,   /* IotTelemetry only */
    JF_DETAIL_S3,  /* the Event's oneof members */
    JF_DETAIL_STREAM,
    JF_DETAIL_IOT,
    JF_DETAIL_DATA,
} jkind_t;

typedef struct {
    const char *json_name;  /* lowerCamelCase */
    const char *proto_name; /* as in the .proto */
    jkind_t kind;
    size_t offset;
} jfield_t;

typedef struct {
    const jfield_t *fields; /* in field-number order */
    size_t n_fields;
} jmessage_t;

#define JF(type, member, camel, kind) {camel, #member, kind, offsetof(type, member)}

static const jfield_t s3_jfields[] = {
    JF(Evfleet__V1__S3Object, bucket, "bucket", JF_STR),
    JF(Evfleet__V1__S3Object, key, "key", JF_STR),
    JF(Evfleet__V1__S3Object, size, "size", JF_I64),
    JF(Evfleet__V1__S3Object, etag, "etag", JF_STR),
    JF(Evfleet__V1__S3Object, version_id, "versionId", JF_STR),
    JF(Evfleet__V1__S3Object, sequencer, "sequencer", JF_STR),
    JF(Evfleet__V1__S3Object, content_type, "contentType", JF_STR),
    JF(Evfleet__V1__S3Object, event_name, "eventName", JF_STR),
    JF(Evfleet__V1__S3Object, region, "region", JF_STR),
};

static const jfield_t stream_jfields[] = {
    JF(Evfleet__V1__StreamRecord, table, "table", JF_STR),
    JF(Evfleet__V1__StreamRecord, op, "op", JF_STREAM_OP),
    JF(Evfleet__V1__StreamRecord, sequence_number, "sequenceNumber", JF_STR),
    JF(Evfleet__V1__StreamRecord, keys, "keys", JF_JSON_TEXT),
    JF(Evfleet__V1__StreamRecord, old_image, "oldImage", JF_JSON_TEXT),
    JF(Evfleet__V1__StreamRecord, new_image, "newImage", JF_JSON_TEXT),
    JF(Evfleet__V1__StreamRecord, approximate_creation_ms, "approximateCreationMs", JF_I64),
};

static const jfield_t location_jfields[] = {
    JF(Evfleet__V1__Location, lat, "lat", JF_DOUBLE),
    JF(Evfleet__V1__Location, lon, "lon", JF_DOUBLE),
    JF(Evfleet__V1__Location, alt, "alt", JF_DOUBLE),
};

static const jfield_t iot_jfields[] = {
    JF(Evfleet__V1__IotTelemetry, device_id, "deviceId", JF_STR),
    JF(Evfleet__V1__IotTelemetry, metric, "metric", JF_STR),
    JF(Evfleet__V1__IotTelemetry, value, "value", JF_DOUBLE),
    JF(Evfleet__V1__IotTelemetry, unit, "unit", JF_STR),
    JF(Evfleet__V1__IotTelemetry, readings, "readings", JF_READINGS),
    JF(Evfleet__V1__IotTelemetry, location, "location", JF_LOCATION),
};

static const jfield_t event_jfields[] = {
    JF(Evfleet__V1__Event, id, "id", JF_STR),
    JF(Evfleet__V1__Event, source, "source", JF_SOURCE),
    JF(Evfleet__V1__Event, type, "type", JF_STR),
    JF(Evfleet__V1__Event, time_ms, "timeMs", JF_I64),
    JF(Evfleet__V1__Event, subject, "subject", JF_STR),
    JF(Evfleet__V1__Event, attributes, "attributes", JF_ATTRIBUTES),
    JF(Evfleet__V1__Event, s3, "s3", JF_DETAIL_S3),
    JF(Evfleet__V1__Event, stream, "stream", JF_DETAIL_STREAM),
    JF(Evfleet__V1__Event, iot, "iot", JF_DETAIL_IOT),
    JF(Evfleet__V1__Event, data, "data", JF_DETAIL_DATA),
};

static const jmessage_t s3_jmessage = {s3_jfields, N_ELEMS(s3_jfields)};
static const jmessage_t stream_jmessage = {stream_jfields, N_ELEMS(stream_jfields)};
static const jmessage_t location_jmessage = {location_jfields, N_ELEMS(location_jfields)};
static const jmessage_t iot_jmessage = {iot_jfields, N_ELEMS(iot_jfields)};
static const jmessage_t event_jmessage = {event_jfields, N_ELEMS(event_jfields)};

#define MEMBER(type, msg, offset) ((type *)((char *)(msg) + (offset)))
#define CMEMBER(type, msg, offset) ((const type *)((const char *)(msg) + (offset)))

/* ---------------------------------------------------------------- base64 */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* @returns the 6-bit value of c in the standard or URL-safe alphabet, or -1. */
static int b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* Standard or URL-safe alphabet, padded or not. @returns a malloc'd buffer, or NULL if invalid. */
static uint8_t *base64_decode(const char *s, size_t len, size_t *out_len) {
    size_t pad = 0;
    while (pad < 2 && len > pad && s[len - 1 - pad] == '=')
        pad++;
    if (pad && len % 4 != 0)
        return NULL;
    size_t chars = len - pad;
    if (chars % 4 == 1)
        return NULL;
    uint8_t *out = xmalloc(chars / 4 * 3 + 2);
    size_t n = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < chars; i++) {
        int v = b64_value((unsigned char)s[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
    *out_len = n;
    return out;
}

/* ---------------------------------------------------------------- output */

typedef struct {
    char *buf;
    size_t len, cap;
} sbuf_t;

static void sb_putn(sbuf_t *sb, const char *s, size_t n) {
    if (sb->len + n + 1 > sb->cap) {
        size_t cap = sb->cap ? sb->cap : 256;
        while (cap < sb->len + n + 1)
            cap *= 2;
        sb->buf = xrealloc(sb->buf, cap);
        sb->cap = cap;
    }
    memcpy(sb->buf + sb->len, s, n);
    sb->len += n;
    sb->buf[sb->len] = '\0';
}

static void sb_puts(sbuf_t *sb, const char *s) {
    sb_putn(sb, s, strlen(s));
}

static void sb_putc(sbuf_t *sb, char c) {
    sb_putn(sb, &c, 1);
}

/* A JSON string literal; bytes that are not valid UTF-8 become U+FFFD. */
static void sb_json_string(sbuf_t *sb, const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    sb_putc(sb, '"');
    while (*p) {
        const unsigned char *run = p;
        while (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
            p++;
        sb_putn(sb, (const char *)run, (size_t)(p - run));
        unsigned char c = *p;
        if (!c)
            break;
        if (c < 0x80) {
            char esc[8];
            switch (c) {
            case '"':
                sb_puts(sb, "\\\"");
                break;
            case '\\':
                sb_puts(sb, "\\\\");
                break;
            case '\n':
                sb_puts(sb, "\\n");
                break;
            case '\r':
                sb_puts(sb, "\\r");
                break;
            case '\t':
                sb_puts(sb, "\\t");
                break;
            case '\b':
                sb_puts(sb, "\\b");
                break;
            case '\f':
                sb_puts(sb, "\\f");
                break;
            default:
                snprintf(esc, sizeof esc, "\\u%04x", c);
                sb_puts(sb, esc);
                break;
            }
            p++;
            continue;
        }
        size_t seq = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
        if (strnlen((const char *)p, seq) == seq && evf_utf8_valid((const char *)p, seq)) {
            sb_putn(sb, (const char *)p, seq);
            p += seq;
        } else {
            sb_puts(sb, "\xef\xbf\xbd");
            p++;
        }
    }
    sb_putc(sb, '"');
}

static void sb_key(sbuf_t *sb, int *first, const char *name) {
    if (!*first)
        sb_putc(sb, ',');
    *first = 0;
    sb_json_string(sb, name);
    sb_putc(sb, ':');
}

static void sb_double(sbuf_t *sb, double v) {
    char num[64];
    evf_event_format_double(v, num, sizeof num);
    if (v == 0 && signbit(v)) {
        sb_puts(sb, "-0.0"); /* "-0" would read back as the integer 0 and lose the sign */
    } else if (isfinite(v)) {
        sb_puts(sb, num);
    } else {
        sb_putc(sb, '"');
        sb_puts(sb, num);
        sb_putc(sb, '"');
    }
}

static void sb_base64(sbuf_t *sb, const uint8_t *data, size_t len) {
    char quad[4];
    sb_putc(sb, '"');
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)data[i + 1] << 8;
        if (i + 2 < len)
            v |= data[i + 2];
        quad[0] = b64_alphabet[v >> 18 & 63];
        quad[1] = b64_alphabet[v >> 12 & 63];
        quad[2] = i + 1 < len ? b64_alphabet[v >> 6 & 63] : '=';
        quad[3] = i + 2 < len ? b64_alphabet[v & 63] : '=';
        sb_putn(sb, quad, 4);
    }
    sb_putc(sb, '"');
}

static void sb_enum(sbuf_t *sb, int value, const char *name) {
    if (strcmp(name, "UNKNOWN")) {
        sb_json_string(sb, name);
    } else {
        char num[16];
        snprintf(num, sizeof num, "%d", value);
        sb_puts(sb, num);
    }
}

/* Map entries in key order, so the output is deterministic. Entries of both our maps start with
 * their base and `char *key`. */
typedef struct {
    ProtobufCMessage base;
    char *key;
} map_entry_head_t;

static int entry_key_cmp(const void *a, const void *b) {
    const map_entry_head_t *x = *(map_entry_head_t *const *)a, *y = *(map_entry_head_t *const *)b;
    return strcmp(x->key, y->key);
}

static void **sorted_entries(void *const *entries, size_t n) {
    void **sorted = xmalloc(n * sizeof *sorted);
    memcpy(sorted, entries, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, entry_key_cmp);
    return sorted;
}

static void write_message(sbuf_t *sb, const void *msg, const jmessage_t *jm);

static void write_field(sbuf_t *sb, int *first, const void *msg, const jfield_t *f) {
    switch (f->kind) {
    case JF_STR:
    case JF_JSON_TEXT: {
        const char *s = *CMEMBER(char *, msg, f->offset);
        if (s && *s) {
            sb_key(sb, first, f->json_name);
            sb_json_string(sb, s);
        }
        break;
    }
    case JF_I64: {
        int64_t v = *CMEMBER(int64_t, msg, f->offset);
        if (v) {
            char num[32];
            snprintf(num, sizeof num, "\"%" PRId64 "\"", v);
            sb_key(sb, first, f->json_name);
            sb_puts(sb, num);
        }
        break;
    }
    case JF_DOUBLE: {
        double v = *CMEMBER(double, msg, f->offset);
        if (v != 0 || signbit(v) || isnan(v)) {
            sb_key(sb, first, f->json_name);
            sb_double(sb, v);
        }
        break;
    }
    case JF_SOURCE: {
        Evfleet__V1__Source v = *CMEMBER(Evfleet__V1__Source, msg, f->offset);
        if (v) {
            sb_key(sb, first, f->json_name);
            sb_enum(sb, (int)v, evf_event_source_name(v));
        }
        break;
    }
    case JF_STREAM_OP: {
        Evfleet__V1__StreamOp v = *CMEMBER(Evfleet__V1__StreamOp, msg, f->offset);
        if (v) {
            sb_key(sb, first, f->json_name);
            sb_enum(sb, (int)v, evf_event_stream_op_name(v));
        }
        break;
    }
    case JF_ATTRIBUTES: {
        const evf_event_t *ev = msg;
        if (!ev->n_attributes)
            break;
        void **sorted = sorted_entries((void *const *)ev->attributes, ev->n_attributes);
        sb_key(sb, first, f->json_name);
        sb_putc(sb, '{');
        for (size_t i = 0; i < ev->n_attributes; i++) {
            const Evfleet__V1__Event__AttributesEntry *e = sorted[i];
            if (i)
                sb_putc(sb, ',');
            sb_json_string(sb, e->key);
            sb_putc(sb, ':');
            sb_json_string(sb, e->value);
        }
        sb_putc(sb, '}');
        free(sorted);
        break;
    }
    case JF_READINGS: {
        const Evfleet__V1__IotTelemetry *iot = msg;
        if (!iot->n_readings)
            break;
        void **sorted = sorted_entries((void *const *)iot->readings, iot->n_readings);
        sb_key(sb, first, f->json_name);
        sb_putc(sb, '{');
        for (size_t i = 0; i < iot->n_readings; i++) {
            const Evfleet__V1__IotTelemetry__ReadingsEntry *e = sorted[i];
            if (i)
                sb_putc(sb, ',');
            sb_json_string(sb, e->key);
            sb_putc(sb, ':');
            sb_double(sb, e->value);
        }
        sb_putc(sb, '}');
        free(sorted);
        break;
    }
    case JF_LOCATION: {
        const Evfleet__V1__IotTelemetry *iot = msg;
        if (iot->location) {
            sb_key(sb, first, f->json_name);
            write_message(sb, iot->location, &location_jmessage);
        }
        break;
    }
    case JF_DETAIL_S3:
    case JF_DETAIL_STREAM:
    case JF_DETAIL_IOT:
    case JF_DETAIL_DATA: {
        const evf_event_t *ev = msg;
        /* The member that is set is always written, even when empty (`"s3":{}`). */
        if (f->kind == JF_DETAIL_S3 && ev->detail_case == EVFLEET__V1__EVENT__DETAIL_S3) {
            sb_key(sb, first, f->json_name);
            write_message(sb, ev->s3, &s3_jmessage);
        } else if (f->kind == JF_DETAIL_STREAM &&
                   ev->detail_case == EVFLEET__V1__EVENT__DETAIL_STREAM) {
            sb_key(sb, first, f->json_name);
            write_message(sb, ev->stream, &stream_jmessage);
        } else if (f->kind == JF_DETAIL_IOT && ev->detail_case == EVFLEET__V1__EVENT__DETAIL_IOT) {
            sb_key(sb, first, f->json_name);
            write_message(sb, ev->iot, &iot_jmessage);
        } else if (f->kind == JF_DETAIL_DATA &&
                   ev->detail_case == EVFLEET__V1__EVENT__DETAIL_DATA) {
            sb_key(sb, first, f->json_name);
            sb_base64(sb, ev->data.data, ev->data.len);
        }
        break;
    }
    }
}

static void write_message(sbuf_t *sb, const void *msg, const jmessage_t *jm) {
    int first = 1;
    sb_putc(sb, '{');
    for (size_t i = 0; i < jm->n_fields; i++)
        write_field(sb, &first, msg, &jm->fields[i]);
    sb_putc(sb, '}');
}

char *evf_event_to_json(const evf_event_t *ev) {
    sbuf_t sb = {0};
    write_message(&sb, ev, &event_jmessage);
    return sb.buf;
}

/* ---------------------------------------------------------------- input */

typedef struct {
    char *errstr;
    size_t errstr_size;
} perr_t;

/* "prefix.name", or "name" at the top. */
static void field_path(char *out, size_t out_size, const char *prefix, const char *name) {
    int n = snprintf(out, out_size, "%s%s%s", prefix, *prefix ? "." : "", name);
    if (n < 0 || (size_t)n >= out_size)
        memcpy(out + out_size - 4, "...", 4); /* still a useful name in an error message */
}

static int json_to_int64(const json_t *v, int64_t *out) {
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!isfinite(d) || d != floor(d) || d < -9223372036854775808.0 ||
            d >= 9223372036854775808.0)
            return -1;
        *out = (int64_t)d;
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        const char *digits = *s == '-' ? s + 1 : s;
        if (!*digits || strspn(digits, "0123456789") != strlen(digits))
            return -1;
        errno = 0;
        long long parsed = strtoll(s, NULL, 10);
        if (errno == ERANGE)
            return -1;
        *out = parsed;
        return 0;
    }
    return -1;
}

static int json_to_double(const json_t *v, double *out) {
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return 0;
    }
    if (!json_is_string(v))
        return -1;
    const char *s = json_string_value(v);
    if (!strcmp(s, "NaN")) {
        *out = NAN;
        return 0;
    }
    if (!strcmp(s, "Infinity")) {
        *out = INFINITY;
        return 0;
    }
    if (!strcmp(s, "-Infinity")) {
        *out = -INFINITY;
        return 0;
    }
    /* A numeric string; strtod alone would also take hex, "inf" and leading spaces. */
    if (!*s || strspn(s, "0123456789+-.eE") != strlen(s))
        return -1;
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (*end || (errno == ERANGE && isinf(d)))
        return -1;
    *out = d;
    return 0;
}

/* A jansson string as a C string: @returns NULL if it holds a NUL or invalid UTF-8 (possible in
 * a json_t built with json_stringn_nocheck or loaded with JSON_ALLOW_NUL). */
static const char *json_c_string(const json_t *v) {
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (strlen(s) != len || !evf_utf8_valid(s, len))
        return NULL;
    return s;
}

static int parse_string_into(const json_t *v, char **field, const char *path, perr_t *err) {
    const char *s;
    if (!json_is_string(v)) {
        set_err(err->errstr, err->errstr_size, "field '%s': expected a string", path);
        return -1;
    }
    if (!(s = json_c_string(v))) {
        set_err(err->errstr, err->errstr_size,
                "field '%s': string holds a NUL or invalid UTF-8", path);
        return -1;
    }
    evf_event_set_str(field, s);
    return 0;
}

static int parse_enum(const json_t *v, int (*parse)(const char *, int *), int *out,
                      const char *path, perr_t *err) {
    if (json_is_string(v)) {
        if (parse(json_string_value(v), out) == 0)
            return 0;
        set_err(err->errstr, err->errstr_size, "field '%s': unknown enum value '%s'", path,
                json_string_value(v));
        return -1;
    }
    if (json_is_integer(v) && json_integer_value(v) >= INT32_MIN &&
        json_integer_value(v) <= INT32_MAX) {
        *out = (int)json_integer_value(v);
        return 0;
    }
    set_err(err->errstr, err->errstr_size, "field '%s': expected an enum name or number", path);
    return -1;
}

static int parse_source_name(const char *name, int *out) {
    Evfleet__V1__Source v;
    if (evf_event_source_parse(name, &v) < 0)
        return -1;
    *out = (int)v;
    return 0;
}

static int parse_stream_op_name(const char *name, int *out) {
    Evfleet__V1__StreamOp v;
    if (evf_event_stream_op_parse(name, &v) < 0)
        return -1;
    *out = (int)v;
    return 0;
}

static int parse_message(const json_t *obj, void *msg, const jmessage_t *jm, const char *prefix,
                         perr_t *err);

static const char *detail_name(Evfleet__V1__Event__DetailCase c) {
    switch (c) {
    case EVFLEET__V1__EVENT__DETAIL_S3:
        return "s3";
    case EVFLEET__V1__EVENT__DETAIL_STREAM:
        return "stream";
    case EVFLEET__V1__EVENT__DETAIL_IOT:
        return "iot";
    case EVFLEET__V1__EVENT__DETAIL_DATA:
        return "data";
    default:
        return "?";
    }
}

static int parse_field(const json_t *v, void *msg, const jfield_t *f, const char *path,
                       perr_t *err) {
    switch (f->kind) {
    case JF_STR:
        return parse_string_into(v, MEMBER(char *, msg, f->offset), path, err);
    case JF_JSON_TEXT:
        if (json_is_object(v) || json_is_array(v)) {
            char *text = json_dumps(v, JSON_COMPACT);
            if (!text)
                abort();
            evf_event_set_str(MEMBER(char *, msg, f->offset), text);
            free(text);
            return 0;
        }
        if (!json_is_string(v)) {
            set_err(err->errstr, err->errstr_size,
                    "field '%s': expected a string (JSON text) or a JSON object", path);
            return -1;
        }
        return parse_string_into(v, MEMBER(char *, msg, f->offset), path, err);
    case JF_I64:
        if (json_to_int64(v, MEMBER(int64_t, msg, f->offset)) < 0) {
            set_err(err->errstr, err->errstr_size,
                    "field '%s': expected an int64 (integer or decimal string)", path);
            return -1;
        }
        return 0;
    case JF_DOUBLE:
        if (json_to_double(v, MEMBER(double, msg, f->offset)) < 0) {
            set_err(err->errstr, err->errstr_size,
                    "field '%s': expected a number (or \"NaN\", \"Infinity\", \"-Infinity\")",
                    path);
            return -1;
        }
        return 0;
    case JF_SOURCE: {
        int value;
        if (parse_enum(v, parse_source_name, &value, path, err) < 0)
            return -1;
        *MEMBER(Evfleet__V1__Source, msg, f->offset) = (Evfleet__V1__Source)value;
        return 0;
    }
    case JF_STREAM_OP: {
        int value;
        if (parse_enum(v, parse_stream_op_name, &value, path, err) < 0)
            return -1;
        *MEMBER(Evfleet__V1__StreamOp, msg, f->offset) = (Evfleet__V1__StreamOp)value;
        return 0;
    }
    case JF_ATTRIBUTES: {
        evf_event_t *ev = msg;
        const char *name;
        const json_t *value;
        if (!json_is_object(v)) {
            set_err(err->errstr, err->errstr_size, "field '%s': expected a JSON object", path);
            return -1;
        }
        /* A JSON object has no repeated keys, so entries are appended without a search. */
        ev->attributes = xrealloc(ev->attributes,
                                  (ev->n_attributes + json_object_size(v)) * sizeof(void *));
        json_object_foreach((json_t *)v, name, value) {
            char sub[512];
            field_path(sub, sizeof sub, path, name);
            Evfleet__V1__Event__AttributesEntry *e = xmalloc(sizeof *e);
            evfleet__v1__event__attributes_entry__init(e);
            ev->attributes[ev->n_attributes++] = e;
            if (!evf_utf8_valid(name, strlen(name))) {
                set_err(err->errstr, err->errstr_size, "field '%s': invalid UTF-8 key", path);
                return -1;
            }
            evf_event_set_str(&e->key, name);
            if (parse_string_into(value, &e->value, sub, err) < 0)
                return -1;
        }
        return 0;
    }
    case JF_READINGS: {
        Evfleet__V1__IotTelemetry *iot = msg;
        const char *name;
        const json_t *value;
        if (!json_is_object(v)) {
            set_err(err->errstr, err->errstr_size, "field '%s': expected a JSON object", path);
            return -1;
        }
        iot->readings =
            xrealloc(iot->readings, (iot->n_readings + json_object_size(v)) * sizeof(void *));
        json_object_foreach((json_t *)v, name, value) {
            char sub[512];
            field_path(sub, sizeof sub, path, name);
            Evfleet__V1__IotTelemetry__ReadingsEntry *e = xmalloc(sizeof *e);
            evfleet__v1__iot_telemetry__readings_entry__init(e);
            iot->readings[iot->n_readings++] = e;
            if (!evf_utf8_valid(name, strlen(name))) {
                set_err(err->errstr, err->errstr_size, "field '%s': invalid UTF-8 key", path);
                return -1;
            }
            evf_event_set_str(&e->key, name);
            if (json_to_double(value, &e->value) < 0) {
                set_err(err->errstr, err->errstr_size,
                        "field '%s': expected a number (or \"NaN\", \"Infinity\", "
                        "\"-Infinity\")",
                        sub);
                return -1;
            }
        }
        return 0;
    }
    case JF_LOCATION: {
        Evfleet__V1__IotTelemetry *iot = msg;
        if (!iot->location) {
            iot->location = xmalloc(sizeof *iot->location);
            evfleet__v1__location__init(iot->location);
        }
        return parse_message(v, iot->location, &location_jmessage, path, err);
    }
    case JF_DETAIL_S3:
    case JF_DETAIL_STREAM:
    case JF_DETAIL_IOT:
    case JF_DETAIL_DATA: {
        evf_event_t *ev = msg;
        if (ev->detail_case != EVFLEET__V1__EVENT__DETAIL__NOT_SET) {
            set_err(err->errstr, err->errstr_size,
                    "fields '%s' and '%s' are both set (only one detail is allowed)",
                    detail_name(ev->detail_case), path);
            return -1;
        }
        if (f->kind == JF_DETAIL_S3)
            return parse_message(v, evf_event_set_s3(ev), &s3_jmessage, path, err);
        if (f->kind == JF_DETAIL_STREAM)
            return parse_message(v, evf_event_set_stream(ev), &stream_jmessage, path, err);
        if (f->kind == JF_DETAIL_IOT)
            return parse_message(v, evf_event_set_iot(ev), &iot_jmessage, path, err);
        size_t len;
        uint8_t *data;
        if (!json_is_string(v)) {
            set_err(err->errstr, err->errstr_size, "field '%s': expected a base64 string",
                    path);
            return -1;
        }
        if (!(data = base64_decode(json_string_value(v), json_string_length(v), &len))) {
            set_err(err->errstr, err->errstr_size, "field '%s': invalid base64", path);
            return -1;
        }
        evf_event_set_data(ev, data, len);
        free(data);
        return 0;
    }
    }
    return -1;
}

static int parse_message(const json_t *obj, void *msg, const jmessage_t *jm, const char *prefix,
                         perr_t *err) {
    const char *key;
    const json_t *value;
    const char *seen[16] = {0}; /* the name each field was given under, to refuse it twice */
    if (!json_is_object(obj)) {
        if (*prefix)
            set_err(err->errstr, err->errstr_size, "field '%s': expected a JSON object", prefix);
        else
            set_err(err->errstr, err->errstr_size, "expected a JSON object");
        return -1;
    }
    json_object_foreach((json_t *)obj, key, value) {
        char path[512];
        size_t i;
        field_path(path, sizeof path, prefix, key);
        for (i = 0; i < jm->n_fields; i++)
            if (!strcmp(key, jm->fields[i].json_name) || !strcmp(key, jm->fields[i].proto_name))
                break;
        if (i == jm->n_fields) {
            set_err(err->errstr, err->errstr_size, "unknown field '%s'", path);
            return -1;
        }
        if (seen[i]) {
            set_err(err->errstr, err->errstr_size, "field '%s' is given twice (also as '%s')",
                    path, seen[i]);
            return -1;
        }
        seen[i] = key;
        if (json_is_null(value))
            continue; /* proto3 JSON: null is the default value */
        if (parse_field(value, msg, &jm->fields[i], path, err) < 0)
            return -1;
    }
    return 0;
}

evf_event_t *evf_event_from_json_value(const void *json_obj, char *errstr, size_t errstr_size) {
    perr_t err = {errstr, errstr_size};
    evf_event_t *ev = evf_event_new();
    if (parse_message(json_obj, ev, &event_jmessage, "", &err) < 0) {
        evf_event_free(ev);
        return NULL;
    }
    return ev;
}

static json_t *load_json(const char *text, size_t len, const char *what, char *errstr,
                         size_t errstr_size) {
    json_error_t jerr;
    json_t *doc = json_loadb(text ? text : "", text ? len : 0, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        set_err(errstr, errstr_size, "invalid %s: %s (line %d, column %d)", what, jerr.text,
                jerr.line, jerr.column);
    return doc;
}

evf_event_t *evf_event_from_json(const char *text, size_t len, char *errstr, size_t errstr_size) {
    json_t *doc = load_json(text, len, "JSON", errstr, errstr_size);
    if (!doc)
        return NULL;
    evf_event_t *ev = evf_event_from_json_value(doc, errstr, errstr_size);
    json_decref(doc);
    return ev;
}

/* ---------------------------------------------------------------- CloudEvents */

/* Howard Hinnant's days_from_civil: proleptic Gregorian date → days since 1970-01-01. */
static int64_t days_from_civil(int64_t year, unsigned month, unsigned day) {
    year -= month <= 2;
    int64_t era = (year >= 0 ? year : year - 399) / 400;
    unsigned yoe = (unsigned)(year - era * 400);
    unsigned doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static unsigned days_in_month(int64_t year, unsigned month) {
    static const unsigned days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

/* Exactly n digits at *p. @returns the value (advancing *p), or -1. */
static int take_digits(const char **p, int n) {
    int value = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        value = value * 10 + (c - '0');
    }
    *p += n;
    return value;
}

/* RFC 3339 date-time (`2026-11-27T05:29:20.123+01:00`) → Unix ms; the fraction is truncated to
 * ms. @returns 0, or -1 if s is not one. */
static int parse_rfc3339_ms(const char *s, int64_t *out_ms) {
    const char *p = s;
    int year, month, day, hour, minute, second, off_h = 0, off_m = 0, sign = 0, frac_ms = 0;
    if ((year = take_digits(&p, 4)) < 0 || *p++ != '-' || (month = take_digits(&p, 2)) < 0 ||
        *p++ != '-' || (day = take_digits(&p, 2)) < 0 || (*p != 'T' && *p != 't'))
        return -1;
    p++;
    if ((hour = take_digits(&p, 2)) < 0 || *p++ != ':' || (minute = take_digits(&p, 2)) < 0 ||
        *p++ != ':' || (second = take_digits(&p, 2)) < 0)
        return -1;
    if (*p == '.') {
        int digits = 0;
        p++;
        while (*p >= '0' && *p <= '9') {
            if (digits < 3)
                frac_ms = frac_ms * 10 + (*p - '0');
            digits++;
            p++;
        }
        if (!digits)
            return -1;
        for (; digits < 3; digits++)
            frac_ms *= 10;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p++ == '+' ? 1 : -1;
        if ((off_h = take_digits(&p, 2)) < 0 || *p++ != ':' || (off_m = take_digits(&p, 2)) < 0)
            return -1;
    } else {
        return -1;
    }
    if (*p || month < 1 || month > 12 || day < 1 ||
        (unsigned)day > days_in_month(year, (unsigned)month) || hour > 23 || minute > 59 ||
        second > 60 || off_h > 23 || off_m > 59)
        return -1;
    int64_t secs = days_from_civil(year, (unsigned)month, (unsigned)day) * 86400 + hour * 3600 +
                   minute * 60 + second - sign * (off_h * 3600 + off_m * 60);
    *out_ms = secs * 1000 + frac_ms;
    return 0;
}

/* @returns 1 if a datacontenttype says the data is JSON (application/json, text/json, *+json). */
static int content_type_is_json(const char *ct) {
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = strcspn(ct, "; \t");
    return (n == 16 && !strncasecmp(ct, "application/json", n)) ||
           (n == 9 && !strncasecmp(ct, "text/json", n)) ||
           (n >= 5 && !strncasecmp(ct + n - 5, "+json", 5));
}

static const char *const ce_known[] = {"specversion", "id",   "source",      "type",
                                       "subject",     "time", "datacontenttype", "dataschema",
                                       "data",        "data_base64"};

/* A CloudEvents attribute that must be a string if present. @returns it, NULL if absent or null;
 * sets *bad if present with another type. */
static const char *ce_string(const json_t *doc, const char *name, int *bad, perr_t *err) {
    const json_t *v = json_object_get(doc, name);
    if (!v || json_is_null(v))
        return NULL;
    const char *s = json_is_string(v) ? json_c_string(v) : NULL;
    if (!s) {
        set_err(err->errstr, err->errstr_size,
                "CloudEvent attribute '%s' must be a string (valid UTF-8, no NUL)", name);
        *bad = 1;
    }
    return s;
}

static int ce_extensions(const json_t *doc, evf_event_t *ev, perr_t *err) {
    const char *name;
    const json_t *v;
    json_object_foreach((json_t *)doc, name, v) {
        size_t i;
        char text[64];
        const char *value = text;
        for (i = 0; i < N_ELEMS(ce_known); i++)
            if (!strcmp(name, ce_known[i]))
                break;
        if (i < N_ELEMS(ce_known) || json_is_null(v))
            continue;
        if (json_is_string(v)) {
            if (!(value = json_c_string(v))) {
                set_err(err->errstr, err->errstr_size,
                        "CloudEvent extension '%s' holds a NUL or invalid UTF-8", name);
                return -1;
            }
        } else if (json_is_integer(v)) {
            snprintf(text, sizeof text, "%lld", (long long)json_integer_value(v));
        } else if (json_is_real(v)) {
            evf_event_format_double(json_real_value(v), text, sizeof text);
        } else if (json_is_boolean(v)) {
            snprintf(text, sizeof text, "%s", json_is_true(v) ? "true" : "false");
        } else {
            set_err(err->errstr, err->errstr_size,
                    "CloudEvent extension '%s' must be a string, number or boolean", name);
            return -1;
        }
        evf_event_set_attr(ev, name, value);
    }
    return 0;
}

static int ce_data(const json_t *doc, evf_event_t *ev, const char *content_type, perr_t *err) {
    const json_t *data = json_object_get(doc, "data");
    const json_t *data_b64 = json_object_get(doc, "data_base64");
    if (data && json_is_null(data))
        data = NULL;
    if (data_b64 && json_is_null(data_b64))
        data_b64 = NULL;
    if (data && data_b64) {
        set_err(err->errstr, err->errstr_size,
                "CloudEvent has both 'data' and 'data_base64' (at most one is allowed)");
        return -1;
    }
    if (ev->source != EVFLEET__V1__SOURCE__CUSTOM) {
        if (data_b64) {
            set_err(err->errstr, err->errstr_size,
                    "CloudEvent 'data_base64' is only for CUSTOM events (this one is %s)",
                    evf_event_source_name(ev->source));
            return -1;
        }
        if (!data)
            return 0;
        if (ev->source == EVFLEET__V1__SOURCE__S3)
            return parse_message(data, evf_event_set_s3(ev), &s3_jmessage, "data", err);
        if (ev->source == EVFLEET__V1__SOURCE__STREAM)
            return parse_message(data, evf_event_set_stream(ev), &stream_jmessage, "data", err);
        return parse_message(data, evf_event_set_iot(ev), &iot_jmessage, "data", err);
    }
    if (data_b64) {
        size_t len;
        uint8_t *bytes;
        if (!json_is_string(data_b64) ||
            !(bytes = base64_decode(json_string_value(data_b64), json_string_length(data_b64),
                                    &len))) {
            set_err(err->errstr, err->errstr_size, "CloudEvent 'data_base64' is not base64");
            return -1;
        }
        evf_event_set_data(ev, bytes, len);
        free(bytes);
        return 0;
    }
    if (!data)
        return 0;
    if (json_is_string(data) && content_type && !content_type_is_json(content_type)) {
        evf_event_set_data(ev, json_string_value(data), json_string_length(data));
        return 0;
    }
    char *text = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text)
        abort();
    evf_event_set_data(ev, text, strlen(text));
    free(text);
    return 0;
}

static Evfleet__V1__Source ce_source_enum(const char *ce_source, const char *type) {
    static const struct {
        const char *ce_source, *type_prefix;
        Evfleet__V1__Source source;
    } map[] = {
        {"evfleet/s3", "s3:", EVFLEET__V1__SOURCE__S3},
        {"evfleet/stream", "stream:", EVFLEET__V1__SOURCE__STREAM},
        {"evfleet/iot", "iot:", EVFLEET__V1__SOURCE__IOT},
        {"evfleet/custom", NULL, EVFLEET__V1__SOURCE__CUSTOM},
    };
    for (size_t i = 0; i < N_ELEMS(map); i++)
        if (!strcmp(ce_source, map[i].ce_source))
            return map[i].source;
    for (size_t i = 0; i < N_ELEMS(map); i++)
        if (map[i].type_prefix && !strncmp(type, map[i].type_prefix, strlen(map[i].type_prefix)))
            return map[i].source;
    return EVFLEET__V1__SOURCE__CUSTOM;
}

evf_event_t *evf_event_from_cloudevent(const char *text, size_t len, char *errstr,
                                       size_t errstr_size) {
    perr_t err = {errstr, errstr_size};
    int bad = 0;
    evf_event_t *ev = NULL;
    json_t *doc = load_json(text, len, "CloudEvents JSON", errstr, errstr_size);
    if (!doc)
        return NULL;
    if (!json_is_object(doc)) {
        set_err(errstr, errstr_size, "CloudEvent is not a JSON object");
        goto fail;
    }
    const char *specversion = ce_string(doc, "specversion", &bad, &err);
    if (bad)
        goto fail;
    if (!specversion || strcmp(specversion, "1.0")) {
        set_err(errstr, errstr_size, "CloudEvent specversion is %s%s%s, want \"1.0\"",
                specversion ? "\"" : "", specversion ? specversion : "missing",
                specversion ? "\"" : "");
        goto fail;
    }
    const char *id = ce_string(doc, "id", &bad, &err);
    const char *source = bad ? NULL : ce_string(doc, "source", &bad, &err);
    const char *type = bad ? NULL : ce_string(doc, "type", &bad, &err);
    const char *subject = bad ? NULL : ce_string(doc, "subject", &bad, &err);
    const char *time_text = bad ? NULL : ce_string(doc, "time", &bad, &err);
    const char *content_type = bad ? NULL : ce_string(doc, "datacontenttype", &bad, &err);
    if (!bad)
        (void)ce_string(doc, "dataschema", &bad, &err);
    if (bad)
        goto fail;
    const char *missing = !id || !*id ? "id" : !source || !*source ? "source"
                                           : !type || !*type       ? "type"
                                                                   : NULL;
    if (missing) {
        set_err(errstr, errstr_size, "CloudEvent attribute '%s' is required (non-empty string)",
                missing);
        goto fail;
    }

    ev = evf_event_new();
    evf_event_set_str(&ev->id, id);
    evf_event_set_str(&ev->type, type);
    ev->source = ce_source_enum(source, type);
    if (subject)
        evf_event_set_str(&ev->subject, subject);
    if (time_text && parse_rfc3339_ms(time_text, &ev->time_ms) < 0) {
        set_err(errstr, errstr_size, "CloudEvent attribute 'time' is not RFC 3339: '%s'",
                time_text);
        goto fail;
    }
    if (ce_data(doc, ev, content_type, &err) < 0 || ce_extensions(doc, ev, &err) < 0)
        goto fail;
    json_decref(doc);
    return ev;
fail:
    evf_event_free(ev);
    json_decref(doc);
    return NULL;
}
