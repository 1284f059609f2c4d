/* common/event.h — the event codec: evfleet.v1.Event as protobuf, as proto3 canonical JSON, and as
 * CloudEvents (binary-mode Kafka headers out; structured JSON in). Also the Kafka key, field lookup
 * for idempotency.key.source, and the fingerprint (DESIGN.md "The idempotency record").
 *
 * Every evf_event_t returned here is owned by the caller and freed with evf_event_free(), whichever
 * constructor made it (all strings and sub-messages are individually heap-allocated or point at
 * protobuf-c's empty string). All functions are thread-safe (no shared state). */
#ifndef EVF_EVENT_H
#define EVF_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "evfleet/v1/event.pb-c.h"

typedef Evfleet__V1__Event evf_event_t;

/* CloudEvents structured-mode content type, and our protobuf one. */
#define EVF_CT_PROTOBUF "application/protobuf"
#define EVF_CT_CLOUDEVENTS_JSON "application/cloudevents+json"

/** @brief An empty event (all fields default). */
evf_event_t *evf_event_new(void);
void evf_event_free(evf_event_t *ev); /* NULL-safe */

/**
 * @brief Set a string field, freeing the old value: evf_event_set_str(&ev->subject, "b/k").
 * NULL or "" stores protobuf-c's empty string. Assign string fields only through this (never a
 * literal or borrowed pointer), so evf_event_free can free them. No UTF-8 check here: decode does.
 */
void evf_event_set_str(char **field, const char *value);
/** @brief Add or replace an attribute. */
void evf_event_set_attr(evf_event_t *ev, const char *name, const char *value);
/**
 * @brief Switch the detail to S3/STREAM/IOT (a new, empty sub-message, owned by ev) and return it.
 * The previous detail is freed. ev->source is left as it is (set it yourself).
 */
Evfleet__V1__S3Object *evf_event_set_s3(evf_event_t *ev);
Evfleet__V1__StreamRecord *evf_event_set_stream(evf_event_t *ev);
Evfleet__V1__IotTelemetry *evf_event_set_iot(evf_event_t *ev);
/** @brief Switch the detail to CUSTOM data (copied; len may be 0). ev->source is left as it is. */
void evf_event_set_data(evf_event_t *ev, const void *data, size_t len);
/** @brief Add or replace a reading in a telemetry message. */
void evf_event_iot_set_reading(Evfleet__V1__IotTelemetry *iot, const char *name, double value);
/** @brief Set (allocating it if absent) the optional location of a telemetry message. */
Evfleet__V1__Location *evf_event_iot_set_location(Evfleet__V1__IotTelemetry *iot, double lat,
                                                  double lon, double alt);

/** @brief Deep copy. Never NULL (aborts on out-of-memory, like every constructor here). */
evf_event_t *evf_event_dup(const evf_event_t *ev);

/**
 * @brief Decode protobuf bytes. Rejects truncated or malformed input, strings that are not valid
 * UTF-8 or contain a NUL byte (map keys and values included), and an empty id. Repeated map keys
 * keep the last value (protobuf map semantics), so the decoded maps hold each key once.
 * @returns the event, or NULL with the reason in errstr.
 */
evf_event_t *evf_event_decode(const void *buf, size_t len, char *errstr, size_t errstr_size);

/**
 * @brief Encode to protobuf (deterministic: fields in number order, maps in their array order).
 * @returns a malloc'd buffer (caller frees; never NULL), its size in *len.
 */
uint8_t *evf_event_encode(const evf_event_t *ev, size_t *len);

/** @brief Encode into buf if it fits. @returns the size, or the needed size when > buf_size. */
size_t evf_event_encode_to(const evf_event_t *ev, uint8_t *buf, size_t buf_size);

/**
 * @brief Decode a Kafka message value by its content type: `application/cloudevents+json` (with
 * or without parameters) → CloudEvents structured JSON; `application/protobuf` → protobuf; NULL or
 * another type → sniffed (a value starting with `{` after whitespace is JSON, else protobuf).
 * Protobuf never starts with `{` (that would be field 15, start-group), but it can start with a
 * whitespace byte, so a sniffed value with leading whitespace that is not valid JSON is also tried
 * as protobuf before giving up (the JSON error is reported).
 * @returns the event, or NULL with the reason in errstr.
 */
evf_event_t *evf_event_decode_message(const void *value, size_t len, const char *content_type,
                                      char *errstr, size_t errstr_size);

/**
 * @brief The proto3 canonical JSON form: lowerCamelCase names, int64 as strings, bytes base64
 * (standard alphabet, padded), enums by name (unknown values as numbers), doubles as numbers in
 * their shortest round-trip form ("NaN", "Infinity", "-Infinity" as strings), default values
 * omitted except the oneof member that is set (`"s3":{}`). Compact, keys in field-number order,
 * map entries sorted by key, so the output is deterministic. Bytes that are not valid UTF-8 (only
 * possible in an event built by hand) are written as U+FFFD.
 * @returns a malloc'd NUL-terminated string (caller frees). Never NULL.
 */
char *evf_event_to_json(const evf_event_t *ev);

/**
 * @brief Parse the proto3 JSON form (lowerCamelCase or original field names; int64 as string or
 * number; doubles as numbers or "NaN"/"Infinity"/"-Infinity"/numeric strings; bytes in standard or
 * URL-safe base64, padded or not; enums by name or number; null means the default). Unknown
 * fields, wrong JSON types, a field given twice (camel and snake name) and two oneof members set
 * are errors naming the field (`iot.location.lat`). `keys`, `oldImage` and `newImage` also accept
 * a JSON object/array, stored as its compact text. An empty or missing id is accepted here (the
 * producer assigns one). @returns the event, or NULL with the reason in errstr.
 */
evf_event_t *evf_event_from_json(const char *text, size_t len, char *errstr, size_t errstr_size);

/**
 * @brief Same, from an already-parsed jansson object (a `json_t *`; void* keeps jansson out of
 * this header).
 */
evf_event_t *evf_event_from_json_value(const void *json_obj, char *errstr, size_t errstr_size);

/**
 * @brief Parse a CloudEvents 1.0 structured-mode JSON document into an Event. Mapping (also in the
 * README): id → id, type → type, time (RFC 3339) → time_ms, subject → subject, source → Event
 * source (`evfleet/s3|stream|iot|custom`, else by the type prefix `s3:`/`stream:`/`iot:`, else
 * CUSTOM), `data` → the detail in its proto3 JSON form for S3/STREAM/IOT, or for CUSTOM the data's
 * JSON text (`data_base64` → raw bytes); extension attributes (string values) → attributes.
 * Details: `specversion` must be "1.0"; `id`, `source`, `type` are required non-empty strings;
 * `time` is RFC 3339 (`T` or `t`, optional fraction — truncated to ms —, `Z` or ±hh:mm); `data`
 * and `data_base64` are exclusive, `data_base64` only for CUSTOM; a CUSTOM `data` that is a JSON
 * string with a non-JSON `datacontenttype` (e.g. text/plain) becomes that string's bytes;
 * `dataschema` is accepted and ignored; any other member is an extension attribute, and number
 * and boolean extensions are stored as their text ("42", "true"); null members are ignored.
 * @returns the event, or NULL with the reason in errstr.
 */
evf_event_t *evf_event_from_cloudevent(const char *text, size_t len, char *errstr,
                                       size_t errstr_size);

/**
 * @brief The CloudEvents `source` attribute we write for ev ("evfleet/s3", "evfleet/stream",
 * "evfleet/iot", "evfleet/custom"; an unspecified source goes by the detail, else custom).
 */
const char *evf_event_ce_source(const evf_event_t *ev);

/**
 * @brief Source enum ↔ name ("SOURCE_UNSPECIFIED", "S3", "STREAM", "IOT", "CUSTOM"; a value
 * outside the enum is named "UNKNOWN"). parse is case-insensitive, returns 0, or -1 if unknown.
 */
const char *evf_event_source_name(Evfleet__V1__Source source);
int evf_event_source_parse(const char *name, Evfleet__V1__Source *out);
/** @brief StreamOp enum ↔ name ("STREAM_OP_UNSPECIFIED", "INSERT", "MODIFY", "REMOVE"), as above. */
const char *evf_event_stream_op_name(Evfleet__V1__StreamOp op);
int evf_event_stream_op_parse(const char *name, Evfleet__V1__StreamOp *out);

/**
 * @brief The Kafka message key: `bucket/key` for S3, `table/<keys>` for streams (keys as the
 * compact JSON text with sorted object keys, so key order and whitespace do not change the
 * partition; raw text if it is not JSON), device id for IoT (if set), else the subject (else the
 * id). @returns the key's full length; writes at most out_size-1 bytes plus NUL (snprintf-like;
 * out may be NULL when out_size is 0).
 */
size_t evf_event_kafka_key(const evf_event_t *ev, char *out, size_t out_size);

/**
 * @brief The binary-mode CloudEvents headers as name/value pairs, for the producer to add:
 * ce_specversion, ce_id, ce_source, ce_type, ce_time (RFC 3339 UTC with ms,
 * `2026-11-27T05:29:20.123Z`), content-type (application/protobuf), in that order.
 * Writes up to max pairs; values point into `scratch` (≥ 64 bytes), into ev or at static strings
 * (valid while ev and scratch are).
 * @returns the number of pairs.
 */
typedef struct {
    const char *name;
    const char *value;
} evf_header_kv_t;
size_t evf_event_ce_headers(const evf_event_t *ev, evf_header_kv_t *out, size_t max,
                            char *scratch, size_t scratch_size);

/**
 * @brief Look up a field by path for idempotency.key.source: `id`, `type`, `subject`, `time_ms`,
 * `source`, `s3.<field>`, `stream.<field>`, `iot.<field>`, `iot.readings.<name>`,
 * `iot.location.lat|lon|alt`, `attributes.<name>` (original field names). Numbers are printed in
 * decimal (doubles in their shortest round-trip form), enums by name, `stream.keys` /
 * `stream.old_image` / `stream.new_image` as compact JSON with sorted keys (raw if not JSON).
 * @returns 0 with the value in out, -1 if the path is not a known field, 1 if it is known but not
 * present in this event (s3.* on an IoT event, a missing attribute, reading or location),
 * 2 if the value did not fit in out (out holds a truncated prefix — do not use it as a key).
 */
int evf_event_field(const evf_event_t *ev, const char *path, char *out, size_t out_size);

/** @returns 1 if path is a field evf_event_field knows (for validating the configuration). */
int evf_event_field_valid(const char *path);

/**
 * @brief The fingerprint: a hash of a canonical form of type, subject and detail (fields in a
 * fixed order, map entries sorted, JSON texts re-serialised with sorted keys and no whitespace) —
 * not id, time or attributes — so one logical event has one fingerprint whether it came as
 * protobuf or CloudEvents JSON. Writes 32 lowercase hex characters and a NUL into out (≥ 33).
 */
void evf_event_fingerprint(const evf_event_t *ev, char out[33]);

/** @returns 1 if s[0..len) is valid UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF; NUL bytes are valid UTF-8). */
int evf_utf8_valid(const char *s, size_t len);

/* Helpers the codec's files share, usable elsewhere too. */

/**
 * @brief Re-serialise a JSON text compactly with sorted object keys (any JSON value).
 * @returns a malloc'd string (caller frees), or NULL if text is not valid JSON.
 */
char *evf_event_json_canonical(const char *text);

/**
 * @brief Format a double in its shortest form that reads back to the same value ("0.1", "1e+20");
 * "NaN", "Infinity", "-Infinity" for the non-finite values. Locale-independent.
 * @returns the length (snprintf-like).
 */
size_t evf_event_format_double(double value, char *out, size_t out_size);

#endif
