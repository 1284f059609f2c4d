/* dlq/replay.h — the replay ledger (DESIGN.md "The replay ledger (evfleet-dlq)") and the replay
 * and purge runs of evfleet-dlq.
 *
 * Ledger: one Redis hash per dead letter, `<idempotency.key.prefix>:dlq:<dlq-topic>:<partition>:
 * <offset>`, fields `state` (sending | sent | purged), `at` (Unix ms of the last change), `to`
 * (the topic the copy went to; "" for purged) and `count` (the `evfleet.replay.count` the copy
 * carries; for purged, the letter's own). No TTL. The intent (`sending`) is written, in one
 * script with the clearing of the event's idempotency record, before the copy is sent; `sent`
 * once its delivery is confirmed. A run that finds `sending` sends the copy again, to the topic
 * the entry names: the copy keeps its event id, so the worker's idempotency counts the second as
 * a duplicate.
 *
 * Threads: everything here runs on the caller's thread (delivery reports are served by the
 * publisher's poll calls made here). */
#ifndef EVF_DLQ_REPLAY_H
#define EVF_DLQ_REPLAY_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "reader.h"
#include "redis.h"
#include "topics.h"

/* ---- the ledger ---- */

typedef enum {
    EVF_LEDGER_NONE = 0, /* no entry: never replayed nor purged */
    EVF_LEDGER_SENDING,  /* a copy was (being) sent; its delivery was not confirmed */
    EVF_LEDGER_SENT,
    EVF_LEDGER_PURGED,
    EVF_LEDGER_UNKNOWN, /* Redis could not be read */
} evf_ledger_state_t;

typedef struct {
    evf_ledger_state_t state;
    int64_t at; /* -1 when absent */
    char to[EVF_TOPIC_NAME_MAX + 1];
    int64_t count; /* -1 when absent */
} evf_ledger_entry_t;

/** @brief Write the ledger key of one dead letter. @returns its length, or -1 if it did not fit. */
int evf_dlq_ledger_key(char *out, size_t out_size, const char *prefix, const char *dlq_topic,
                       int32_t partition, int64_t offset);

/** @returns "" for NONE, "sending", "sent", "purged", "unknown". */
const char *evf_ledger_state_name(evf_ledger_state_t s);

/**
 * @brief Read the entries of n letters of dlq_topic in one round trip (pipelined HMGET).
 * @returns EVF_OK, or EVF_ERR_TRANSPORT (every entry then UNKNOWN).
 */
evf_err_t evf_dlq_ledger_read(evf_redis_t *r, const char *prefix, const char *dlq_topic,
                              evf_dlq_letter_t *const *letters, size_t n, evf_ledger_entry_t *out);

/** Where a dead letter stands. */
typedef enum {
    EVF_DLQ_PENDING = 0, /* not replayed nor purged, may be replayed */
    EVF_DLQ_SENDING,     /* an unconfirmed send: the next replay sends it again */
    EVF_DLQ_REPLAYED,
    EVF_DLQ_PURGED,
    EVF_DLQ_PARKED,      /* evfleet.replay.count reached dlq.replay.max: not replayed again */
    EVF_DLQ_UNKNOWN,     /* the ledger could not be read */
} evf_dlq_status_t;

/**
 * @brief The status of a letter from its ledger entry (NULL: none) and dlq.replay.max: sent →
 * replayed, purged → purged, sending → sending, otherwise parked when replay_count ≥ replay_max,
 * else pending.
 */
evf_dlq_status_t evf_dlq_status(const evf_dlq_letter_t *l, const evf_ledger_entry_t *e,
                                int64_t replay_max);
/** @returns "pending", "sending", "replayed", "purged", "parked", "unknown". */
const char *evf_dlq_status_name(evf_dlq_status_t s);

/* ---- targets ---- */

typedef enum {
    EVF_DLQ_TO_INBOX = 0, /* `<original topic>.<group>.replay`: only the failing group sees it */
    EVF_DLQ_TO_SOURCE,    /* the original topic: every group reading it sees it */
    EVF_DLQ_TO_TOPIC,     /* a topic by name */
} evf_dlq_to_t;

/**
 * @brief Parse `--to`: `inbox`, `source` or a topic name (written to topic). Dead-letter and
 * retry topics (`*.dlq`, `*.retry.<n>`) are refused, as are names Kafka would refuse.
 * @returns 0, or -1 with the reason in errstr.
 */
int evf_dlq_to_parse(const char *arg, evf_dlq_to_t *to, char *topic, size_t topic_size,
                     char *errstr, size_t errstr_size);

/**
 * @brief Check that group is a valid group id and that dlq_topic is `<something>.<group>.dlq`.
 * @returns 0, or -1 with the reason in errstr.
 */
int evf_dlq_check_group(const char *dlq_topic, const char *group, char *errstr,
                        size_t errstr_size);

/**
 * @brief The topic a replay of l goes to. Source: `evfleet.original.topic` (or, when absent and
 * group is known, dlq_topic without `.<group>.dlq`). Inbox: `<source>.<group>.replay`, group as
 * given (NULL or "": derived from dlq_topic and the source, see evf_dlq_group_of). A
 * `fingerprint-mismatch` letter is refused for inbox and source.
 * @returns 0 with the topic in out, or -1 with why it cannot be replayed in why.
 */
int evf_dlq_target(evf_dlq_to_t to, const char *to_topic, const char *group,
                   const char *dlq_topic, const evf_dlq_letter_t *l, char *out, size_t out_size,
                   char *why, size_t why_size);

/* ---- scanning (list, show, stats) ---- */

/** Called per letter with its ledger entry; the letter stays owned by the scan. Non-zero stops. */
typedef int(evf_dlq_scan_cb_t)(void *opaque, const evf_dlq_letter_t *l,
                               const evf_ledger_entry_t *e);

/**
 * @brief Read rd to its end, batching the ledger reads (redis NULL: entries UNKNOWN). A Redis
 * failure does not stop the scan: *ledger_failed (may be NULL) is set and the entries from then
 * on are UNKNOWN. @returns EVF_OK (also when cb stopped it), EVF_ERR_STATE when *stop was set,
 * or EVF_ERR_TRANSPORT with the reader's error in errstr.
 */
evf_err_t evf_dlq_scan(evf_dlq_reader_t *rd, evf_redis_t *redis, const char *prefix,
                       const char *dlq_topic, evf_dlq_scan_cb_t *cb, void *opaque,
                       volatile sig_atomic_t *stop, int *ledger_failed, char *errstr,
                       size_t errstr_size);

/* ---- replay and purge ---- */

typedef enum {
    EVF_DLQ_ACT_SEND = 0,    /* a copy is sent now (dry run: would be) */
    EVF_DLQ_ACT_RESEND,      /* an earlier send was not confirmed: sent again to the same topic */
    EVF_DLQ_ACT_PURGE,       /* marked purged (dry run: would be) */
    EVF_DLQ_ACT_SKIP_SENT,   /* replayed before */
    EVF_DLQ_ACT_SKIP_PURGED, /* purged before */
    EVF_DLQ_ACT_PARKED,      /* replay count reached dlq.replay.max */
    EVF_DLQ_ACT_REFUSED,     /* cannot be replayed to this target (why says it) */
    EVF_DLQ_ACT_DELIVERED,   /* the copy's delivery was confirmed */
    EVF_DLQ_ACT_FAILED,      /* the copy was not delivered (why says it) */
} evf_dlq_action_t;

/** @returns a short name of act ("send", "resend", "purge", "replayed", …). */
const char *evf_dlq_action_name(evf_dlq_action_t act);

/** What happened to a letter; topic is the target ("" when none). */
typedef void(evf_dlq_note_cb_t)(void *opaque, const evf_dlq_letter_t *l, evf_dlq_action_t act,
                                const char *topic, const char *why);

typedef struct {
    uint64_t selected;      /* letters that matched the filters and were looked at */
    uint64_t sent;          /* copies queued (dry run: that would be) — resends included */
    uint64_t resent;        /* of which unconfirmed earlier sends */
    uint64_t delivered;     /* confirmed deliveries */
    uint64_t failed;        /* copies not delivered */
    uint64_t already;       /* skipped: replayed before */
    uint64_t purged_before; /* skipped: purged before */
    uint64_t parked;
    uint64_t refused;
    uint64_t purged; /* purge: marked (dry run: that would be) */
    uint64_t read, total; /* the reader's progress */
    int limit_reached;
    char first_target[EVF_TOPIC_NAME_MAX + 1]; /* the first target topic */
    int many_targets;                          /* more than one target topic */
    char last_error[512];                      /* the last delivery failure */
} evf_dlq_run_stats_t;

typedef void(evf_dlq_progress_cb_t)(void *opaque, const evf_dlq_run_stats_t *st);

typedef struct {
    const char *dlq_topic;
    const char *prefix;   /* idempotency.key.prefix */
    const char *group;    /* NULL or "": derived per letter for the inbox */
    evf_dlq_to_t to;
    const char *to_topic; /* EVF_DLQ_TO_TOPIC */
    int64_t replay_max;   /* dlq.replay.max */
    double rate;          /* copies per second; 0: as fast as possible */
    uint64_t limit;       /* copies at most (purge: letters); 0: no limit */
    int dry_run;          /* change nothing: no ledger write, no record write, no topic, no send */
    int purge;            /* mark letters purged instead of replaying them */
    evf_dlq_note_cb_t *note;
    evf_dlq_progress_cb_t *progress; /* called often; throttle in it */
    void *opaque;
    volatile sig_atomic_t *stop; /* set by a signal handler: stop sending, finish in-flight */
} evf_dlq_run_conf_t;

/**
 * @brief Replay (or purge) every letter rd gives, resumably. Per letter, from its ledger entry:
 * sent or purged → skipped; sending → sent again to the entry's topic; else parked (replay
 * count ≥ replay_max) or refused (no target, see evf_dlq_target), else the intent is written
 * together with the clearing of the idempotency record named by `evfleet.idempotency.key` (when
 * its state is not done: `unfinished` 0, and a running record whose lease expired released), the
 * copy is sent (headers: evf_dlq_replay_headers, replay count + 1) at most rate per second, and
 * `sent` is written when its delivery is confirmed. Missing inbox and named target topics are
 * created (topics.partitions, topics.replication.factor, the dead-letter topic's
 * max.message.bytes); a missing source topic refuses its letters. Purge writes `purged` for
 * letters not sent or purged before. conf gives the kafka.* settings of the producer.
 * @returns EVF_OK (st->failed counts undelivered copies), EVF_ERR_STATE when interrupted through
 * *stop (in-flight copies were waited for), or EVF_ERR_TRANSPORT when Kafka or Redis failed
 * (reason in errstr; the ledger is consistent: a rerun continues).
 */
evf_err_t evf_dlq_run(const evf_conf_t *conf, evf_dlq_reader_t *rd, evf_redis_t *redis,
                      const evf_dlq_run_conf_t *rc, evf_dlq_run_stats_t *st, char *errstr,
                      size_t errstr_size);

#endif
