/* consumer/lanes.h — the worker's lanes: per-partition (or per-key) ordered queues of polled
 * messages, the ready queue processing threads take work from, backoff waits, and the offset
 * tracker of each partition. One mutex guards it all; every call is thread-safe.
 *
 * The poll thread enqueues messages in offset order. A processing thread takes a batch of items
 * from ready lanes (a lane is owned by one thread until finished, so its items run in order), runs
 * them, and finishes them: done items mark their offset done; the rest go back to the head of
 * their lane, which waits until the head's not_before time. A partition whose lanes hold
 * queue_max items asks to be paused; it asks to be resumed when drained to half. */
#ifndef EVF_LANES_H
#define EVF_LANES_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"

typedef struct evf_lanes_s evf_lanes_t;
typedef struct evf_part_s evf_part_t;
typedef struct evf_lane_s evf_lane_t;

typedef enum {
    EVF_DISP_NOT_RUN = 0, /* not run in this batch: back to the lane head, order kept */
    EVF_DISP_DONE,        /* finished (processed, duplicate, copied, dead-lettered): offset done */
    EVF_DISP_WAIT,        /* run again at not_before_ms: back to the lane head */
} evf_disp_t;

/* One polled message on its way through the worker. Fields below `--` belong to the thread that
 * took the item until it is finished. */
typedef struct evf_item_s {
    struct evf_item_s *next;
    rd_kafka_message_t *msg; /* owned */
    evf_part_t *part;
    evf_lane_t *lane;
    int64_t offset;
    /* -- */
    evf_disp_t disp;
    int64_t not_before_ms; /* Unix ms; 0 = now */
    int runs;              /* processor runs for this delivery so far */
    int64_t first_failed_ms;
    evf_event_t *ev;       /* decoded (owned), NULL until decoded or when undecodable */
    void *state;           /* the pipeline's per-item scratch (malloc'd; freed with the item) */
} evf_item_t;

typedef struct {
    int key_ordering;  /* 1: a lane per message key, 0: a lane per partition */
    int queue_max;     /* items per partition before it asks for a pause */
} evf_lanes_conf_t;

evf_lanes_t *evf_lanes_new(const evf_lanes_conf_t *conf);
/** @brief Destroy, dropping every queued message. No thread may still use it. NULL-safe. */
void evf_lanes_destroy(evf_lanes_t *s);

/* ---- poll thread ---- */

/** @brief Start tracking an assigned partition (no-op if already assigned). */
void evf_lanes_assign(evf_lanes_t *s, const char *topic, int32_t partition);

/**
 * @brief Queue a polled message (takes ownership). A message of a partition not assigned is
 * destroyed (it will be fetched again by its owner). @returns 1 if the partition should now be
 * paused (the caller pauses it and calls evf_lanes_set_paused), else 0.
 */
int evf_lanes_enqueue(evf_lanes_t *s, rd_kafka_message_t *msg);

/**
 * @brief Revoke partitions: queued items that have not started are dropped (their offsets are not
 * done: the next owner reads them again); waits up to timeout_ms for items being run. Writes into
 * `offsets` the offset to commit for each partition (its RD_KAFKA_OFFSET_INVALID when nothing was
 * ever done) and forgets the partitions. @returns the number of partitions whose running items
 * did not finish in time (they finish later and their results are discarded).
 */
int evf_lanes_revoke(evf_lanes_t *s, rd_kafka_topic_partition_list_t *offsets, int timeout_ms);

/** @brief Fill `out` with the partitions whose storable offset advanced (offset set). */
void evf_lanes_collect_offsets(evf_lanes_t *s, rd_kafka_topic_partition_list_t *out);

/** @brief Partitions that asked to be resumed since the last call (paused flag cleared). */
void evf_lanes_collect_resumes(evf_lanes_t *s, rd_kafka_topic_partition_list_t *out);
void evf_lanes_set_paused(evf_lanes_t *s, const char *topic, int32_t partition, int paused);

/**
 * @brief Back-pressure for the poll thread: wait up to timeout_ms while `limit` or more items sit
 * in ready lanes (work threads could take now), or until a partition asks to be resumed or the
 * lanes stop. Items of busy or waiting lanes do not count (their partitions are bounded by
 * `queue_max` and paused). @returns the ready item count.
 */
size_t evf_lanes_wait_room(evf_lanes_t *s, size_t limit, int timeout_ms);

/** @brief Set an item's scratch state (freeing the previous one); counted per lanes. The item's
 * owner (the thread that took it) only. */
void evf_lanes_item_state(evf_item_t *it, void *state);

/** @returns items holding a scratch state now (any thread). */
long evf_lanes_items_with_state(evf_lanes_t *s);

/** @brief Stop handing out work (shutdown): evf_lanes_take returns 0 at once. */
void evf_lanes_stop(evf_lanes_t *s);

/** @returns items queued or running in all partitions. */
size_t evf_lanes_inflight(evf_lanes_t *s);

/**
 * @returns items running or ready to run: in-flight minus those in lanes waiting for a later time
 * (backoff, retry not-before, another owner's lease). Shutdown waits for these only.
 */
size_t evf_lanes_active(evf_lanes_t *s);

/* ---- processing threads ---- */

/**
 * @brief Take up to max items from ready lanes (a lane's items consecutive and in order, at most
 * per_lane from one lane), waiting up to timeout_ms for work. @returns the count (0: none/stop).
 */
size_t evf_lanes_take(evf_lanes_t *s, evf_item_t **out, size_t max, size_t per_lane,
                      int timeout_ms);

/**
 * @brief Give back a batch from evf_lanes_take with each item's disp set. DONE items are freed;
 * others return to their lane's head in order. @returns 1 if some partition asked to be resumed.
 */
int evf_lanes_finish(evf_lanes_t *s, evf_item_t **items, size_t n);

/* ---- status ---- */

typedef struct {
    char topic[256];
    int32_t partition;
    size_t queued;           /* items queued or running */
    int paused;
    int64_t committed_next;  /* last stored offset (next to consume), -1 none */
    int64_t first_pending;   /* lowest offset not done, -1 none */
    int64_t high_polled;     /* highest offset polled, -1 none */
    int64_t waiting_until;   /* a lane of this partition waits until (Unix ms), 0 none */
    char hold_reason[160];   /* why the head item waits, "" none */
} evf_part_info_t;

/** @brief Snapshot of up to max partitions. @returns how many were written. */
size_t evf_lanes_parts(evf_lanes_t *s, evf_part_info_t *out, size_t max);

/** @brief Record why a lane's head item waits (shown in /status). */
void evf_lanes_hold_reason(evf_lanes_t *s, evf_item_t *item, const char *reason);

#endif
