/* producers/aws_import.c — see aws_import.h. */
#include "aws_import.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A growing array of events, freed whole on failure. */
typedef struct {
    evf_event_t **events;
    size_t count, cap;
} event_list_t;

static void list_push(event_list_t *list, evf_event_t *ev) {
    if (list->count == list->cap) {
        list->cap = list->cap ? list->cap * 2 : 4;
        list->events = realloc(list->events, list->cap * sizeof(*list->events));
        if (!list->events)
            abort();
    }
    list->events[list->count++] = ev;
}

void evf_aws_import_free(evf_event_t **events, size_t count) {
    for (size_t i = 0; events && i < count; i++)
        evf_event_free(events[i]);
    free(events);
}

static void set_uuid(evf_event_t *ev, evf_gen_t *ids) {
    char id[EVF_GEN_UUID_LEN + 1];
    evf_gen_uuid(ids, id);
    evf_event_set_str(&ev->id, id);
}

/* ---- small field readers; each error names the field by its path ---- */

/* An optional string member: 0 with *out (NULL when absent or null), -1 if not a string. */
static int opt_string(json_t *obj, const char *name, const char *path, const char **out,
                      char *errstr, size_t errstr_size) {
    json_t *v = json_object_get(obj, name);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        snprintf(errstr, errstr_size, "%s.%s: expected a string", path, name);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

static int req_string(json_t *obj, const char *name, const char *path, const char **out,
                      char *errstr, size_t errstr_size) {
    if (opt_string(obj, name, path, out, errstr, errstr_size))
        return -1;
    if (!*out || !**out) {
        snprintf(errstr, errstr_size, "%s.%s: missing", path, name);
        return -1;
    }
    return 0;
}

static json_t *req_object(json_t *obj, const char *name, const char *path, char *errstr,
                          size_t errstr_size) {
    json_t *v = json_object_get(obj, name);
    if (!json_is_object(v)) {
        snprintf(errstr, errstr_size, "%s.%s: %s", path, name,
                 v ? "expected an object" : "missing");
        return NULL;
    }
    return v;
}

/* RFC 3339 / ISO 8601 UTC time as S3 writes it ("2024-05-17T12:34:56.789Z"), any fraction
 * length, `Z` or a numeric offset. */
static int parse_time_ms(const char *s, int64_t *out) {
    int year, mon, day, hour, min, sec, n = 0;
    if (sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &year, &mon, &day, &hour, &min, &sec,
               &n) != 6 ||
        n == 0)
        return -1;
    if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60 ||
        year < 1970)
        return -1;
    const char *p = s + n;
    int64_t frac_ms = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; isdigit((unsigned char)*p); p++, digits++) {
            if (digits < 3)
                frac_ms = frac_ms * 10 + (*p - '0');
        }
        if (digits == 0)
            return -1;
        for (; digits < 3; digits++)
            frac_ms *= 10;
    }
    int64_t offset_s = 0;
    if (*p == 'Z' || *p == 'z')
        p++;
    else if (*p == '+' || *p == '-') {
        int oh, om, m = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &m) != 2 || m != 5 || oh > 23 || om > 59)
            return -1;
        offset_s = (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
        p += 1 + m;
    } else
        return -1;
    if (*p)
        return -1;
    struct tm tm = {.tm_year = year - 1900,
                    .tm_mon = mon - 1,
                    .tm_mday = day,
                    .tm_hour = hour,
                    .tm_min = min,
                    .tm_sec = sec};
    time_t secs = timegm(&tm);
    if (secs == (time_t)-1)
        return -1;
    *out = ((int64_t)secs - offset_s) * 1000 + frac_ms;
    return 0;
}

/* ---- S3 ---- */

static int hex_value(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *evf_aws_s3_key_decode(const char *key, char *errstr, size_t errstr_size) {
    size_t len = strlen(key);
    char *out = malloc(len + 1), *w = out;
    if (!out)
        abort();
    for (size_t i = 0; i < len; i++) {
        if (key[i] == '+')
            *w++ = ' ';
        else if (key[i] == '%') {
            int hi = hex_value(key[i + 1]); /* the NUL terminator stops a short escape */
            int lo = hi >= 0 ? hex_value(key[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                snprintf(errstr, errstr_size, "bad percent-escape at offset %zu", i);
                goto fail;
            }
            if (hi == 0 && lo == 0) {
                snprintf(errstr, errstr_size, "percent-escape %%00 (NUL byte) at offset %zu", i);
                goto fail;
            }
            *w++ = (char)(hi << 4 | lo);
            i += 2;
        } else
            *w++ = key[i];
    }
    *w = '\0';
    if (!evf_utf8_valid(out, (size_t)(w - out))) {
        snprintf(errstr, errstr_size, "decoded key is not valid UTF-8");
        goto fail;
    }
    return out;
fail:
    free(out);
    return NULL;
}

static evf_event_t *s3_record(json_t *rec, const char *path, evf_gen_t *ids, char *errstr,
                              size_t errstr_size) {
    char sub[128], buf[1024];
    const char *name, *time_text, *region, *bucket, *raw_key, *etag, *version, *sequencer;
    evf_event_t *ev = NULL;
    char *key = NULL, *subject = NULL;

    if (req_string(rec, "eventName", path, &name, errstr, errstr_size) ||
        opt_string(rec, "eventTime", path, &time_text, errstr, errstr_size) ||
        opt_string(rec, "awsRegion", path, &region, errstr, errstr_size))
        return NULL;
    snprintf(sub, sizeof(sub), "%s.s3", path);
    json_t *s3 = req_object(rec, "s3", path, errstr, errstr_size);
    if (!s3)
        return NULL;
    json_t *bucket_obj = req_object(s3, "bucket", sub, errstr, errstr_size);
    json_t *object = bucket_obj ? req_object(s3, "object", sub, errstr, errstr_size) : NULL;
    if (!object)
        return NULL;
    snprintf(buf, sizeof(buf), "%s.bucket", sub);
    if (req_string(bucket_obj, "name", buf, &bucket, errstr, errstr_size))
        return NULL;
    snprintf(sub, sizeof(sub), "%s.s3.object", path);
    if (req_string(object, "key", sub, &raw_key, errstr, errstr_size) ||
        opt_string(object, "eTag", sub, &etag, errstr, errstr_size) ||
        opt_string(object, "versionId", sub, &version, errstr, errstr_size) ||
        opt_string(object, "sequencer", sub, &sequencer, errstr, errstr_size))
        return NULL;
    json_t *size = json_object_get(object, "size");
    if (size && !json_is_null(size) && (!json_is_integer(size) || json_integer_value(size) < 0)) {
        snprintf(errstr, errstr_size, "%s.size: expected a non-negative integer", sub);
        return NULL;
    }
    int64_t time_ms = 0;
    if (time_text && parse_time_ms(time_text, &time_ms)) {
        snprintf(errstr, errstr_size, "%s.eventTime: '%.64s' is not an RFC 3339 time", path,
                 time_text);
        return NULL;
    }
    key = evf_aws_s3_key_decode(raw_key, buf, sizeof(buf));
    if (!key) {
        snprintf(errstr, errstr_size, "%s.key: %s", sub, buf);
        return NULL;
    }

    ev = evf_event_new();
    set_uuid(ev, ids);
    ev->source = EVFLEET__V1__SOURCE__S3;
    ev->time_ms = time_ms;
    /* Records carry "ObjectCreated:Put"; EventBridge-style names may already have the prefix. */
    if (!strncmp(name, "s3:", 3))
        name += 3;
    if (asprintf(&subject, "s3:%s", name) < 0)
        abort();
    evf_event_set_str(&ev->type, subject);
    free(subject);
    if (asprintf(&subject, "%s/%s", bucket, key) < 0)
        abort();
    evf_event_set_str(&ev->subject, subject);
    free(subject);

    Evfleet__V1__S3Object *s3o = evf_event_set_s3(ev);
    evf_event_set_str(&s3o->bucket, bucket);
    evf_event_set_str(&s3o->key, key);
    evf_event_set_str(&s3o->event_name, name);
    if (size && json_is_integer(size))
        s3o->size = json_integer_value(size);
    if (etag)
        evf_event_set_str(&s3o->etag, etag);
    if (version)
        evf_event_set_str(&s3o->version_id, version);
    if (sequencer)
        evf_event_set_str(&s3o->sequencer, sequencer);
    if (region)
        evf_event_set_str(&s3o->region, region);
    free(key);
    return ev;
}

/* ---- DynamoDB ---- */

/* DynamoDB numbers are decimal strings of up to 38 digits. One becomes a JSON number only when
 * the number keeps its exact value: integers that fit int64, other values with at most
 * DBL_DIG significant digits in the normal double range (printed back with that precision). */
static json_t *ddb_number(const char *text) {
    const char *p = text;
    int digits = 0, significant = 0, trailing_zeros = 0, seen_nonzero = 0, integral = 1;
    if (*p == '-' || *p == '+')
        p++;
    for (; *p && *p != 'e' && *p != 'E'; p++) {
        if (*p == '.') {
            if (!integral)
                return json_string(text);
            integral = 0;
            continue;
        }
        if (!isdigit((unsigned char)*p))
            return json_string(text);
        digits++;
        if (*p != '0' || seen_nonzero) {
            seen_nonzero = 1;
            significant++;
            trailing_zeros = *p == '0' ? trailing_zeros + 1 : 0;
        }
    }
    if (digits == 0)
        return json_string(text);
    if (*p) { /* exponent */
        integral = 0;
        p++;
        if (*p == '-' || *p == '+')
            p++;
        if (!isdigit((unsigned char)*p))
            return json_string(text);
        while (isdigit((unsigned char)*p))
            p++;
        if (*p)
            return json_string(text);
    }
    if (integral) {
        char *end;
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (!errno && !*end)
            return json_integer(v);
        return json_string(text);
    }
    if (significant - trailing_zeros > DBL_DIG)
        return json_string(text);
    errno = 0;
    double v = strtod(text, NULL);
    if (errno || !isfinite(v) || (v != 0.0 && fabs(v) < DBL_MIN))
        return json_string(text);
    return json_real(v);
}

static json_t *ddb_value(json_t *av, const char *path, char *errstr, size_t errstr_size);

/* Convert a map of attribute values (an item, or an M). */
static json_t *ddb_map(json_t *map, const char *path, char *errstr, size_t errstr_size) {
    if (!json_is_object(map)) {
        snprintf(errstr, errstr_size, "%s: expected an object of attribute values", path);
        return NULL;
    }
    json_t *out = json_object();
    const char *name;
    json_t *av;
    json_object_foreach(map, name, av) {
        char sub[512];
        snprintf(sub, sizeof(sub), "%s.%s", path, name);
        json_t *v = ddb_value(av, sub, errstr, errstr_size);
        if (!v) {
            json_decref(out);
            return NULL;
        }
        json_object_set_new(out, name, v);
    }
    return out;
}

/* Convert the elements of an L, SS, NS or BS. */
static json_t *ddb_list(json_t *list, const char *type, const char *path, char *errstr,
                        size_t errstr_size) {
    if (!json_is_array(list)) {
        snprintf(errstr, errstr_size, "%s.%s: expected an array", path, type);
        return NULL;
    }
    json_t *out = json_array();
    size_t i;
    json_t *el;
    json_array_foreach(list, i, el) {
        char sub[512];
        json_t *v = NULL;
        snprintf(sub, sizeof(sub), "%s.%s[%zu]", path, type, i);
        if (type[0] == 'L')
            v = ddb_value(el, sub, errstr, errstr_size);
        else if (!json_is_string(el))
            snprintf(errstr, errstr_size, "%s: expected a string", sub);
        else if (type[0] == 'N')
            v = ddb_number(json_string_value(el));
        else
            v = json_copy(el);
        if (!v) {
            json_decref(out);
            return NULL;
        }
        json_array_append_new(out, v);
    }
    return out;
}

static json_t *ddb_value(json_t *av, const char *path, char *errstr, size_t errstr_size) {
    if (!json_is_object(av) || json_object_size(av) != 1) {
        snprintf(errstr, errstr_size,
                 "%s: expected an attribute value (an object with one type key)", path);
        return NULL;
    }
    const char *type = json_object_iter_key(json_object_iter(av));
    json_t *v = json_object_iter_value(json_object_iter(av));
    if (!strcmp(type, "S") || !strcmp(type, "B") || !strcmp(type, "N")) {
        if (!json_is_string(v)) {
            snprintf(errstr, errstr_size, "%s.%s: expected a string", path, type);
            return NULL;
        }
        return type[0] == 'N' ? ddb_number(json_string_value(v)) : json_copy(v);
    }
    if (!strcmp(type, "BOOL")) {
        if (!json_is_boolean(v)) {
            snprintf(errstr, errstr_size, "%s.BOOL: expected true or false", path);
            return NULL;
        }
        return json_copy(v);
    }
    if (!strcmp(type, "NULL"))
        return json_null();
    if (!strcmp(type, "M")) {
        char sub[512];
        snprintf(sub, sizeof(sub), "%s.M", path);
        return ddb_map(v, sub, errstr, errstr_size);
    }
    if (!strcmp(type, "L") || !strcmp(type, "SS") || !strcmp(type, "NS") ||
        !strcmp(type, "BS"))
        return ddb_list(v, type, path, errstr, errstr_size);
    snprintf(errstr, errstr_size, "%s: unknown attribute type '%.16s'", path, type);
    return NULL;
}

/* Every number we create has at most DBL_DIG significant digits, so printing with that precision
 * gives back exactly the decimal DynamoDB sent. */
#define DDB_DUMP_FLAGS (JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(DBL_DIG))

char *evf_aws_ddb_item_json(const void *item, const char *path, char *errstr,
                            size_t errstr_size) {
    json_t *plain = ddb_map((json_t *)item, path, errstr, errstr_size);
    if (!plain)
        return NULL;
    char *text = json_dumps(plain, DDB_DUMP_FLAGS);
    json_decref(plain);
    if (!text)
        abort();
    return text;
}

/* `arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL` → NAME. */
static int table_from_arn(const char *arn, char *out, size_t out_size) {
    const char *p = strstr(arn, ":table/");
    if (!p)
        return -1;
    p += strlen(":table/");
    size_t n = strcspn(p, "/");
    if (n == 0 || n >= out_size)
        return -1;
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

static evf_event_t *ddb_record(json_t *rec, const char *path, evf_gen_t *ids, char *errstr,
                               size_t errstr_size) {
    char sub[128], table[256];
    const char *name, *event_id, *table_name, *arn, *sequence;
    char *keys = NULL, *new_image = NULL, *old_image = NULL, *text = NULL;
    evf_event_t *ev = NULL;
    Evfleet__V1__StreamOp op;

    if (req_string(rec, "eventName", path, &name, errstr, errstr_size) ||
        opt_string(rec, "eventID", path, &event_id, errstr, errstr_size) ||
        opt_string(rec, "tableName", path, &table_name, errstr, errstr_size) ||
        opt_string(rec, "eventSourceARN", path, &arn, errstr, errstr_size))
        return NULL;
    if (!strcmp(name, "INSERT"))
        op = EVFLEET__V1__STREAM_OP__INSERT;
    else if (!strcmp(name, "MODIFY"))
        op = EVFLEET__V1__STREAM_OP__MODIFY;
    else if (!strcmp(name, "REMOVE"))
        op = EVFLEET__V1__STREAM_OP__REMOVE;
    else {
        snprintf(errstr, errstr_size, "%s.eventName: '%.32s' is not INSERT, MODIFY or REMOVE",
                 path, name);
        return NULL;
    }
    json_t *ddb = req_object(rec, "dynamodb", path, errstr, errstr_size);
    if (!ddb)
        return NULL;
    snprintf(sub, sizeof(sub), "%s.dynamodb", path);
    if (!table_name &&
        opt_string(ddb, "tableName", sub, &table_name, errstr, errstr_size))
        return NULL;
    if (table_name && strlen(table_name) >= sizeof(table)) {
        snprintf(errstr, errstr_size, "%s.tableName: longer than %zu bytes", path,
                 sizeof(table) - 1);
        return NULL;
    }
    if (table_name && *table_name)
        snprintf(table, sizeof(table), "%s", table_name);
    else if (!arn || table_from_arn(arn, table, sizeof(table))) {
        snprintf(errstr, errstr_size,
                 "%s: no table name (neither tableName nor an eventSourceARN with :table/NAME)",
                 path);
        return NULL;
    }
    if (opt_string(ddb, "SequenceNumber", sub, &sequence, errstr, errstr_size))
        return NULL;
    int64_t created_ms = 0;
    json_t *created = json_object_get(ddb, "ApproximateCreationDateTime");
    if (created && !json_is_null(created)) {
        if (!json_is_number(created) || json_number_value(created) < 0 ||
            json_number_value(created) > 1e11) {
            snprintf(errstr, errstr_size,
                     "%s.ApproximateCreationDateTime: expected Unix seconds (a number)", sub);
            return NULL;
        }
        created_ms = llround(json_number_value(created) * 1000.0);
    }
    json_t *keys_obj = req_object(ddb, "Keys", sub, errstr, errstr_size);
    if (!keys_obj)
        return NULL;
    char item_path[160];
    snprintf(item_path, sizeof(item_path), "%s.Keys", sub);
    if (!(keys = evf_aws_ddb_item_json(keys_obj, item_path, errstr, errstr_size)))
        goto fail;
    json_t *image = json_object_get(ddb, "NewImage");
    snprintf(item_path, sizeof(item_path), "%s.NewImage", sub);
    if (image && !(new_image = evf_aws_ddb_item_json(image, item_path, errstr, errstr_size)))
        goto fail;
    image = json_object_get(ddb, "OldImage");
    snprintf(item_path, sizeof(item_path), "%s.OldImage", sub);
    if (image && !(old_image = evf_aws_ddb_item_json(image, item_path, errstr, errstr_size)))
        goto fail;

    ev = evf_event_new();
    if (event_id && *event_id)
        evf_event_set_str(&ev->id, event_id);
    else
        set_uuid(ev, ids);
    ev->source = EVFLEET__V1__SOURCE__STREAM;
    ev->time_ms = created_ms;
    if (asprintf(&text, "stream:%s", name) < 0)
        abort();
    evf_event_set_str(&ev->type, text);
    free(text);
    if (asprintf(&text, "%s/%s", table, keys) < 0)
        abort();
    evf_event_set_str(&ev->subject, text);
    free(text);
    /* TTL expiries arrive as REMOVEs by the dynamodb.amazonaws.com principal; keep who did it. */
    json_t *identity = json_object_get(rec, "userIdentity");
    const char *principal = NULL;
    if (json_is_object(identity) &&
        !opt_string(identity, "principalId", path, &principal, errstr, errstr_size) && principal)
        evf_event_set_attr(ev, "aws.principal", principal);

    Evfleet__V1__StreamRecord *st = evf_event_set_stream(ev);
    evf_event_set_str(&st->table, table);
    st->op = op;
    if (sequence)
        evf_event_set_str(&st->sequence_number, sequence);
    evf_event_set_str(&st->keys, keys);
    if (new_image)
        evf_event_set_str(&st->new_image, new_image);
    if (old_image)
        evf_event_set_str(&st->old_image, old_image);
    st->approximate_creation_ms = created_ms;
fail:
    free(keys);
    free(new_image);
    free(old_image);
    return ev;
}

/* ---- documents ---- */

static int aws_records(json_t *records, evf_gen_t *ids, event_list_t *list, char *errstr,
                       size_t errstr_size) {
    if (!json_is_array(records)) {
        snprintf(errstr, errstr_size, "Records: expected an array");
        return -1;
    }
    size_t i;
    json_t *rec;
    json_array_foreach(records, i, rec) {
        char path[64];
        const char *source;
        evf_event_t *ev = NULL;
        snprintf(path, sizeof(path), "Records[%zu]", i);
        if (!json_is_object(rec)) {
            snprintf(errstr, errstr_size, "%s: expected an object", path);
            return -1;
        }
        if (req_string(rec, "eventSource", path, &source, errstr, errstr_size))
            return -1;
        if (!strcmp(source, "aws:s3"))
            ev = s3_record(rec, path, ids, errstr, errstr_size);
        else if (!strcmp(source, "aws:dynamodb"))
            ev = ddb_record(rec, path, ids, errstr, errstr_size);
        else
            snprintf(errstr, errstr_size,
                     "%s.eventSource: '%.32s' is not supported (aws:s3, aws:dynamodb)", path,
                     source);
        if (!ev)
            return -1;
        list_push(list, ev);
    }
    return 0;
}

/* Field names of the proto3 JSON Event (lowerCamelCase and original). */
static int is_event_field(const char *name) {
    static const char *const fields[] = {"id",      "source",     "type", "timeMs", "time_ms",
                                         "subject", "attributes", "s3",   "stream", "iot",
                                         "data"};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        if (!strcmp(name, fields[i]))
            return 1;
    return 0;
}

int evf_aws_import(const char *text, size_t len, evf_gen_t *ids, evf_event_t ***events,
                   size_t *count, char *errstr, size_t errstr_size) {
    event_list_t list = {0};
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    *events = NULL;
    *count = 0;
    if (!doc) {
        snprintf(errstr, errstr_size, "invalid JSON at column %d: %s", jerr.column, jerr.text);
        return -1;
    }
    if (!json_is_object(doc)) {
        snprintf(errstr, errstr_size, "unknown document shape: not a JSON object");
        goto fail;
    }
    json_t *records = json_object_get(doc, "Records");
    if (json_object_get(doc, "specversion")) {
        evf_event_t *ev = evf_event_from_cloudevent(text, len, errstr, errstr_size);
        if (!ev)
            goto fail;
        list_push(&list, ev);
    } else if (records) {
        if (aws_records(records, ids, &list, errstr, errstr_size))
            goto fail;
    } else {
        const char *name;
        json_t *v;
        int known = 0;
        json_object_foreach(doc, name, v) {
            if (is_event_field(name)) {
                known = 1;
                break;
            }
        }
        if (!known) {
            snprintf(errstr, errstr_size,
                     "unknown document shape: expected an Event (proto3 JSON), a CloudEvent "
                     "(specversion) or AWS Records (aws:s3, aws:dynamodb)");
            goto fail;
        }
        evf_event_t *ev = evf_event_from_json_value(doc, errstr, errstr_size);
        if (!ev)
            goto fail;
        if (!ev->id || !*ev->id)
            set_uuid(ev, ids);
        list_push(&list, ev);
    }
    json_decref(doc);
    *events = list.events;
    *count = list.count;
    return 0;
fail:
    json_decref(doc);
    evf_aws_import_free(list.events, list.count);
    return -1;
}
