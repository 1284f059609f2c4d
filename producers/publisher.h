/* producers/publisher.h — the publishing library: evfleet-produce uses it, and the worker reuses it
 * for `emit`, retry copies and dead-letter copies. An idempotent librdkafka producer (acks=all,
 * enable.idempotence=true, zstd or no compression) whose delivery reports are all counted and
 * handed to one callback with the caller's per-message opaque. */
#ifndef EVF_PUBLISHER_H
#define EVF_PUBLISHER_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "event.h"

typedef struct evf_pub_s evf_pub_t;

/**
 * Delivery report callback: runs on the thread that calls evf_pub_poll()/evf_pub_flush() (or
 * evf_pub_send() while it waits for queue room), or only on the publisher's own poll thread with
 * `poll_thread` — except in evf_pub_destroy(), whose thread serves the reports of messages purged
 * at shutdown (err RD_KAFKA_RESP_ERR__PURGE_QUEUE / __PURGE_INFLIGHT). Every message accepted by
 * evf_pub_send gets exactly one report before evf_pub_destroy returns (unless librdkafka cannot
 * even purge it, which is then counted as failed). err is RD_KAFKA_RESP_ERR_NO_ERROR on success.
 */
typedef void(evf_pub_dr_cb_t)(void *msg_opaque, rd_kafka_resp_err_t err, const char *topic,
                              int32_t partition, int64_t offset, void *cb_opaque);

typedef struct {
    const char *client_id;       /* NULL: "evfleet-produce" */
    evf_pub_dr_cb_t *dr_cb;      /* NULL: only counted */
    void *dr_opaque;
    int poll_thread;             /* 1: serve delivery reports on an internal thread */
    int64_t message_max_bytes;   /* 0: librdkafka default; else producer message.max.bytes */
    int create_topics;           /* 1: create missing topics on first send (admin API, with
                                    topics.partitions / topics.replication.factor; ≤ 30 s) */
} evf_pub_opts_t;

/**
 * @brief A publisher: one idempotent producer configured by evf_kafka_conf_new(conf, PRODUCER)
 * (so `kafka.*` keys apply), client.id from opts unless `kafka.client.id` is set. conf is read
 * only here; opts may be NULL (all defaults).
 * @returns a publisher, or NULL with the reason (no secrets) in errstr.
 */
evf_pub_t *evf_pub_new(const evf_conf_t *conf, const evf_pub_opts_t *opts, char *errstr,
                       size_t errstr_size);

/**
 * @brief Flush what is in flight (up to timeout_ms), purge what remains (its reports reach dr_cb
 * as failures, on this thread) and destroy. NULL-safe.
 * @returns the number of messages that were still undelivered (counted as failed).
 */
int evf_pub_destroy(evf_pub_t *pub, int timeout_ms);

/**
 * @brief Queue one message. Takes ownership of hdrs (may be NULL) whatever the result. When the
 * local queue is full, serves delivery reports and waits up to queue_wait_ms for room.
 * partition RD_KAFKA_PARTITION_UA lets the partitioner pick (by key: murmur2_random, as Java).
 * @returns EVF_OK (the delivery report will come), EVF_ERR_FULL (still full after waiting) or
 * EVF_ERR_INVALID / EVF_ERR_TRANSPORT (no report will come; reason in errstr).
 */
evf_err_t evf_pub_send(evf_pub_t *pub, const char *topic, int32_t partition, const void *key,
                       size_t key_len, const void *value, size_t value_len,
                       rd_kafka_headers_t *hdrs, void *msg_opaque, int queue_wait_ms,
                       char *errstr, size_t errstr_size);

/**
 * @brief Encode ev as protobuf with its Kafka key and CloudEvents binary-mode headers and queue it
 * to topic. Same results as evf_pub_send.
 */
evf_err_t evf_pub_send_event(evf_pub_t *pub, const char *topic, const evf_event_t *ev,
                             void *msg_opaque, int queue_wait_ms, char *errstr,
                             size_t errstr_size);

/** @brief Serve delivery reports for up to timeout_ms. @returns how many were served. */
int evf_pub_poll(evf_pub_t *pub, int timeout_ms);

/**
 * @brief Wait up to timeout_ms for every queued message's delivery report (served here, or by the
 * poll thread with `poll_thread`). @returns how many are still in flight.
 */
int evf_pub_flush(evf_pub_t *pub, int timeout_ms);

typedef struct {
    uint64_t queued;    /* accepted by evf_pub_send (each gets one delivery report) */
    uint64_t delivered; /* delivery report without error */
    uint64_t failed;    /* delivery report with an error, or refused by send */
    rd_kafka_resp_err_t last_err;
    char last_reason[256]; /* the last failure's reason, for summaries */
} evf_pub_stats_t;

/** @brief A consistent snapshot of the counters (thread-safe). */
void evf_pub_stats(evf_pub_t *pub, evf_pub_stats_t *out);

/** @brief The underlying producer handle (for metadata/admin calls). Owned by pub. */
rd_kafka_t *evf_pub_handle(evf_pub_t *pub);

#endif
