/* dlq/reader.h — reading a dead-letter topic for evfleet-dlq (DESIGN.md "Headers on retry,
 * dead-letter and replay copies"): one dead letter with its `evfleet.*` headers parsed and its
 * event decoded when it decodes; the command-line filters and their matching; and a reader that
 * reads every selected partition from the beginning to the high watermark taken when it starts,
 * with a READER consumer (assign(), never committing), so a run sees a fixed set of letters even
 * while workers keep adding to the topic.
 *
 * Threads: a reader is used by one thread. The filter helpers are pure and thread-safe. */
#ifndef EVF_DLQ_READER_H
#define EVF_DLQ_READER_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "deadletter.h"
#include "err.h"
#include "event.h"
#include "topics.h"

/** One dead letter. Strings are "" and numbers -1 when the header is absent (replay_count: 0). */
typedef struct {
    int32_t partition;
    int64_t offset;
    int64_t timestamp; /* the message timestamp (Unix ms), -1 when unknown */

    char cls[32];      /* evfleet.error.class */
    char processor[128];
    int64_t attempts;
    char original_topic[EVF_TOPIC_NAME_MAX + 1];
    int64_t original_partition;
    int64_t original_offset;
    int64_t original_timestamp;
    int64_t failed_at;       /* evfleet.failed.at */
    int64_t first_failed_at; /* evfleet.first.failed.at */
    int64_t replay_count;    /* evfleet.replay.count; absent = 0 */
    int64_t replayed_at;     /* evfleet.replayed.at (the last replay this copy came from) */
    char idempotency_key[1024];
    char group[256];
    char worker[256];
    char message[EVF_DLQ_MESSAGE_MAX + 1];

    char *id;   /* the event id (decoded event, else the ce_id header, else ""); never NULL */
    char *type; /* the event type (decoded event, else ce_type, else ""); never NULL */
    evf_event_t *event;    /* NULL when the value does not decode */
    char decode_error[256]; /* why it does not decode ("" when it does) */

    rd_kafka_message_t *msg; /* owned; NULL for letters built by hand (tests) */
} evf_dlq_letter_t;

/**
 * @brief A letter from a consumed message: headers parsed, value decoded by its content-type
 * header. Takes ownership of msg. Never NULL (aborts on out-of-memory).
 */
evf_dlq_letter_t *evf_dlq_letter_from_msg(rd_kafka_message_t *msg);

/** @brief An empty letter (numbers -1, strings ""), for tests and callers filling it by hand. */
evf_dlq_letter_t *evf_dlq_letter_new(void);

/** @brief Set id or type (copied): evf_dlq_letter_set(&l->id, "e-1"). */
void evf_dlq_letter_set(char **field, const char *value);

/** @brief Free a letter with its message and event. NULL-safe. */
void evf_dlq_letter_free(evf_dlq_letter_t *l);

/** @returns the headers of the letter's message (NULL when it has none or no message). */
const rd_kafka_headers_t *evf_dlq_letter_headers(const evf_dlq_letter_t *l);

/* ---- filters ---- */

typedef struct {
    char **v;
    size_t n;
} evf_dlq_strlist_t;

/**
 * The command-line filters. Within one filter the values are alternatives (`--class a --class b`
 * and `--class a,b` are the same); different filters must all match. Empty lists match all.
 */
typedef struct {
    evf_dlq_strlist_t classes;         /* error class names (validated) */
    evf_dlq_strlist_t processors;      /* exact */
    evf_dlq_strlist_t original_topics; /* exact */
    evf_dlq_strlist_t types;           /* event type globs (`*` any run of characters) */
    evf_dlq_strlist_t ids;             /* exact event ids */
    int32_t *partitions;
    size_t n_partitions;
    int64_t offset_min; /* inclusive; 0 = from the beginning */
    int64_t offset_max; /* inclusive; INT64_MAX = to the end */
    int64_t since_ms;   /* failed at ≥ since (0: no bound) */
    int64_t until_ms;   /* failed at < until (0: no bound) */
} evf_dlq_filter_t;

void evf_dlq_filter_init(evf_dlq_filter_t *f);
void evf_dlq_filter_clear(evf_dlq_filter_t *f); /* frees what it holds; init state after */

/**
 * @brief Add one command-line filter. name: `class`, `processor`, `original-topic`, `type`, `id`
 * (comma-separated values, repeatable), `partition` (comma-separated numbers, repeatable),
 * `offset-range` (`A-B`, `A-` or `A`, inclusive), `since` / `until` (RFC 3339 or a relative
 * duration before now_ms, see evf_dlq_parse_time; the later given wins).
 * @returns 0, or -1 with "--name: reason" in errstr.
 */
int evf_dlq_filter_add(evf_dlq_filter_t *f, const char *name, const char *value, int64_t now_ms,
                       char *errstr, size_t errstr_size);

/** @returns 1 when any filter is set. */
int evf_dlq_filter_active(const evf_dlq_filter_t *f);

/** @returns 1 when partition p is selected by the partition filter (always when none). */
int evf_dlq_filter_partition(const evf_dlq_filter_t *f, int32_t p);

/**
 * @brief Whether a letter matches every filter. The time filters compare evfleet.failed.at (the
 * message timestamp when the header is absent); a letter with neither matches no time filter.
 * `--id`/`--type` compare the letter's id/type (a letter without one matches no such filter).
 */
int evf_dlq_filter_match(const evf_dlq_filter_t *f, const evf_dlq_letter_t *l);

/** @returns 1 when s matches glob (`*` matches any run of characters, `?` none special). */
int evf_dlq_glob_match(const char *glob, const char *s);

/**
 * @brief A duration: one or more `<digits><unit>` with unit ms, s, m, h, d or w (`90m`, `1h30m`,
 * `2d`). @returns 0 with *out_ms, or -1 (no unit, unknown unit, overflow, empty).
 */
int evf_dlq_parse_duration(const char *text, int64_t *out_ms);

/**
 * @brief A point in time: RFC 3339 (`2026-05-01T10:00:00Z`, `…T10:00:00.250+02:00`, `t`/`z` and
 * a space for `T` accepted), a date `2026-05-01` (midnight UTC), or a duration (see above) meaning
 * that long before now_ms. @returns 0 with *out_ms (Unix ms), or -1 with the reason in errstr.
 */
int evf_dlq_parse_time(const char *text, int64_t now_ms, int64_t *out_ms, char *errstr,
                       size_t errstr_size);

/**
 * @brief `A-B` (inclusive), `A-` (A to the end) or `A` (just A); non-negative decimals, A ≤ B.
 * @returns 0, or -1 with the reason in errstr.
 */
int evf_dlq_parse_offset_range(const char *text, int64_t *lo, int64_t *hi, char *errstr,
                               size_t errstr_size);

/** @brief `P:O` (show's argument). @returns 0, or -1 when it is not two non-negative numbers. */
int evf_dlq_parse_position(const char *text, int32_t *partition, int64_t *offset);

/**
 * @brief Unix ms as RFC 3339 UTC: `2026-05-01T10:00:00Z`, or with milliseconds
 * `2026-05-01T10:00:00.123Z` when with_ms. A negative value writes "-". @returns out.
 */
char *evf_dlq_format_time(int64_t ms, int with_ms, char *out, size_t out_size);

/* ---- the reader ---- */

typedef struct evf_dlq_reader_s evf_dlq_reader_t;

/* A reader gives up when no message comes for this long while some partition is not read yet. */
#define EVF_DLQ_READER_STALL_MS 30000

/**
 * @brief Open topic for reading: a READER consumer (kafka.* keys of conf apply; its own group.id,
 * never committed), the topic's partitions from metadata, then each partition the filter selects
 * assigned from max(low watermark, offset_min) up to min(high watermark, offset_max + 1), the
 * watermarks taken now. filter is borrowed: it must outlive the reader (may be NULL: all).
 * @returns the reader, or NULL with the reason in errstr ("topic 'x' does not exist", a Kafka
 * error).
 */
evf_dlq_reader_t *evf_dlq_reader_new(const evf_conf_t *conf, const char *topic,
                                     const evf_dlq_filter_t *filter, char *errstr,
                                     size_t errstr_size);
void evf_dlq_reader_destroy(evf_dlq_reader_t *r); /* NULL-safe */

/**
 * @brief The next letter that matches the filter, in offset order within a partition.
 * @returns EVF_OK with *out (the caller owns it), EVF_ERR_NOT_FOUND when every partition is read
 * to its end, EVF_ERR_TIMEOUT when nothing came within timeout_ms (call again), or
 * EVF_ERR_TRANSPORT with the reason in errstr (a fatal Kafka error, the topic went away, or no
 * progress for EVF_DLQ_READER_STALL_MS).
 */
evf_err_t evf_dlq_reader_next(evf_dlq_reader_t *r, evf_dlq_letter_t **out, int timeout_ms,
                              char *errstr, size_t errstr_size);

/** @brief Messages read so far (matching or not), and how many there are to read at most. */
void evf_dlq_reader_progress(const evf_dlq_reader_t *r, uint64_t *read, uint64_t *total);

/** @returns the topic's partition count. */
int evf_dlq_reader_partition_count(const evf_dlq_reader_t *r);

/** @returns the consumer handle, for metadata and admin calls (owned by the reader). */
rd_kafka_t *evf_dlq_reader_handle(evf_dlq_reader_t *r);

#endif
