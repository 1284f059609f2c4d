/* dlq/deadletter.h — the `evfleet.*` headers of retry, dead-letter and replay copies (DESIGN.md
 * "Headers on retry, dead-letter and replay copies"): building a copy's headers from the message
 * being failed, and reading them back (the worker, evfleet-dlq and tests). */
#ifndef EVF_DEADLETTER_H
#define EVF_DEADLETTER_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define EVF_H_ORIGINAL_TOPIC "evfleet.original.topic"
#define EVF_H_ORIGINAL_PARTITION "evfleet.original.partition"
#define EVF_H_ORIGINAL_OFFSET "evfleet.original.offset"
#define EVF_H_ORIGINAL_TIMESTAMP "evfleet.original.timestamp"
#define EVF_H_FIRST_FAILED_AT "evfleet.first.failed.at"
#define EVF_H_IDEMPOTENCY_KEY "evfleet.idempotency.key"
#define EVF_H_REPLAY_COUNT "evfleet.replay.count"
#define EVF_H_ATTEMPTS "evfleet.attempts"
#define EVF_H_ERROR_CLASS "evfleet.error.class"
#define EVF_H_ERROR_MESSAGE "evfleet.error.message"
#define EVF_H_PROCESSOR "evfleet.processor"
#define EVF_H_FAILED_AT "evfleet.failed.at"
#define EVF_H_WORKER "evfleet.worker"
#define EVF_H_GROUP "evfleet.group"
#define EVF_H_RETRY_NOT_BEFORE "evfleet.retry.not-before"
#define EVF_H_REPLAYED_AT "evfleet.replayed.at"

/* Longest error message kept in a header (longer ones are cut on a UTF-8 boundary). */
#define EVF_DLQ_MESSAGE_MAX 1024

/** What is known about one failure, for the replaced headers. */
typedef struct {
    evf_class_t cls;
    const char *message;         /* error text (cut to EVF_DLQ_MESSAGE_MAX) */
    const char *processor;       /* "" when none ran (decode, unroutable) */
    int attempts;                /* cumulative runs, this delivery's included */
    int64_t failed_at_ms;
    int64_t first_failed_at_ms;  /* the delivery's first failed run; 0 = failed_at_ms */
    const char *worker;          /* instance id */
    const char *group;
    const char *idempotency_key; /* set once: written only if the message has none; may be NULL */
    int64_t retry_not_before_ms; /* retry copies only; 0 = not a retry copy */
} evf_failure_t;

/**
 * @brief Headers for a copy of msg: original non-`evfleet.` headers kept in order; set-once
 * `evfleet.*` headers carried unchanged when msg has them, else set from msg (topic, partition,
 * offset, timestamp) and f (first failed at = first_failed_at_ms, else failed_at_ms); replaced
 * headers from f. `evfleet.replay.count` and `evfleet.replayed.at` are carried unchanged.
 * @returns new headers (caller owns).
 */
rd_kafka_headers_t *evf_dlq_copy_headers(const rd_kafka_message_t *msg, const evf_failure_t *f);

/**
 * @brief The value of the last header named `name` as a NUL-terminated string in out.
 * @returns 0 if found, -1 if absent (out = "").
 */
int evf_dlq_header_str(const rd_kafka_headers_t *hdrs, const char *name, char *out,
                       size_t out_size);

/** @brief An integer header: the whole value a decimal integer (strtoll syntax, at most 31
 * bytes). @returns 0 with *out, -1 if absent or not such an integer (*out untouched). */
int evf_dlq_header_int(const rd_kafka_headers_t *hdrs, const char *name, int64_t *out);

/**
 * @brief The source topic a message belongs to: `evfleet.original.topic` when present, else the
 * message's own topic. Writes into out.
 */
void evf_dlq_source_topic(const rd_kafka_message_t *msg, char *out, size_t out_size);

/**
 * @brief Headers for a replay copy of the dead letter msg (evfleet-dlq): every header of msg in
 * order and unchanged, except `evfleet.replay.count`, `evfleet.replayed.at` (replaced) and
 * `evfleet.retry.not-before` (dropped: a replay runs at once), then `evfleet.replay.count` =
 * replay_count and `evfleet.replayed.at` = replayed_at_ms. @returns new headers (caller owns).
 */
rd_kafka_headers_t *evf_dlq_replay_headers(const rd_kafka_message_t *msg, int64_t replay_count,
                                           int64_t replayed_at_ms);

/**
 * @brief The group of a dead-letter topic `<original topic>.<group>.dlq` (topic names may contain
 * dots: the original topic comes from `evfleet.original.topic`, the group is what lies between
 * `<original topic>.` and `.dlq`). Writes it into out.
 * @returns 0, or -1 when dlq_topic is not `<original_topic>.<group>.dlq` with a non-empty group.
 */
int evf_dlq_group_of(const char *dlq_topic, const char *original_topic, char *out,
                     size_t out_size);

#endif
