/* producers/aws_import.h — turn one JSON document (one line of `evfleet-produce json`) into events.
 *
 * Recognised shapes:
 *  - an Event in its proto3 JSON form (DESIGN.md "JSON form of an Event");
 *  - a CloudEvents 1.0 structured-mode document (it has `specversion`);
 *  - an AWS S3 event notification, `{"Records":[{"eventSource":"aws:s3", …}]}`: one event per
 *    record, type `s3:<eventName>`, subject `bucket/key` with the key URL-decoded ('+' is a space);
 *  - an AWS DynamoDB Streams batch, `{"Records":[{"eventSource":"aws:dynamodb", …}]}`: one event
 *    per record, type `stream:INSERT|MODIFY|REMOVE`, id = eventID, table from `tableName` or the
 *    stream ARN, keys and images converted from DynamoDB attribute values to plain JSON text
 *    (sorted keys, compact), subject `table/<keys>`.
 * Events without an id get a UUIDv4; events without a time keep time_ms = 0 (the caller stamps
 * the send time). A document is all or nothing: if any record is bad, no event is returned. */
#ifndef EVF_AWS_IMPORT_H
#define EVF_AWS_IMPORT_H

#include <stddef.h>

#include "event.h"
#include "generate.h"

/**
 * @brief Parse one JSON document (text[0..len), need not be NUL-terminated) into events.
 * ids supplies UUIDs for events that come without an id.
 * @returns 0 with a malloc'd array of *count events in *events (the caller frees it with
 * evf_aws_import_free; an empty Records array gives 0 events and a NULL array), or -1 with the
 * reason in errstr (malformed JSON with its column, unknown document shape, the bad field's path).
 */
int evf_aws_import(const char *text, size_t len, evf_gen_t *ids, evf_event_t ***events,
                   size_t *count, char *errstr, size_t errstr_size);

/** @brief Free the events and the array returned by evf_aws_import. NULL-safe. */
void evf_aws_import_free(evf_event_t **events, size_t count);

/**
 * @brief Decode an S3 notification object key: `+` is a space, `%XX` a byte.
 * @returns a malloc'd string, or NULL (reason in errstr) on a bad escape, a NUL byte, or a result
 * that is not UTF-8.
 */
char *evf_aws_s3_key_decode(const char *key, char *errstr, size_t errstr_size);

/**
 * @brief Convert a DynamoDB item (a `json_t *` object of attribute values, e.g. `{"id":{"N":"1"}}`)
 * to compact JSON text with sorted keys: S → string, N → number when it converts exactly (else
 * the string), BOOL, NULL, M → object, L → array, SS/BS → array of strings, NS → array of
 * numbers, B → the base64 string. path names the item in errors ("Records[0].dynamodb.Keys").
 * @returns a malloc'd string, or NULL with the offending attribute's path in errstr.
 */
char *evf_aws_ddb_item_json(const void *item, const char *path, char *errstr,
                            size_t errstr_size);

#endif
