/* common/kafka.h — librdkafka client setup shared by all programs: configuration from the
 * `kafka.*` keys on top of our defaults per role, topic creation through the admin API, topic
 * configuration lookup. */
#ifndef EVF_KAFKA_H
#define EVF_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

typedef enum {
    EVF_KAFKA_CONSUMER, /* the worker's group consumer: no auto offset store, cooperative-sticky */
    EVF_KAFKA_PRODUCER, /* idempotent, acks=all */
    EVF_KAFKA_ADMIN,    /* admin calls and metadata only */
    EVF_KAFKA_READER,   /* tools reading topics without committing (evfleet-dlq, tests) */
} evf_kafka_role_t;

/**
 * @brief A librdkafka configuration for role: our defaults for the role first, then every
 * `kafka.*` key of conf verbatim (the user wins). A bad `kafka.*` key or value is an error naming
 * the key and its origin ("ORIGIN: key 'kafka.x': <librdkafka's reason>"; the value of a secret
 * key never appears). `kafka.compression.type` gzip/snappy/lz4 are refused: librdkafka 2.0.2
 * silently does not apply them against Kafka 4.x (use zstd or none). Installs a log callback that
 * routes librdkafka logs through our logger (component "rdkafka"); no error_cb (programs set their
 * own). conf may be NULL (defaults only).
 *
 * Defaults — every role: bootstrap.servers=127.0.0.1:9092, client.id=evfleet.
 * CONSUMER: enable.auto.offset.store=false, enable.auto.commit=true (librdkafka commits stored
 *   offsets every auto.commit.interval.ms=1000), cooperative-sticky, auto.offset.reset=earliest,
 *   session.timeout.ms=10000, heartbeat.interval.ms=1000, max.poll.interval.ms=300000,
 *   queued.max.messages.kbytes=1024, fetch.message.max.bytes=65536, fetch.wait.max.ms=100,
 *   enable.partition.eof=false, statistics.interval.ms=0.
 * PRODUCER: enable.idempotence=true, acks=all, compression.type=none, linger.ms=5,
 *   batch.num.messages=10000, message.timeout.ms=30000, queue.buffering.max.messages=100000,
 *   allow.auto.create.topics=false.
 * ADMIN: allow.auto.create.topics=false.
 * READER: group.id=evfleet-reader (tools set their own), enable.auto.commit=false,
 *   enable.auto.offset.store=false, enable.partition.eof=true, auto.offset.reset=earliest,
 *   allow.auto.create.topics=false.
 * @returns the configuration, or NULL with the reason in errstr.
 */
rd_kafka_conf_t *evf_kafka_conf_new(const evf_conf_t *conf, evf_kafka_role_t role, char *errstr,
                                    size_t errstr_size);

/**
 * @brief Set one librdkafka property (always, overriding the user's `kafka.<name>`).
 * @returns 0, or -1 with "property 'name': <librdkafka's reason>" in errstr.
 */
int evf_kafka_conf_set(rd_kafka_conf_t *kconf, const char *name, const char *value,
                       char *errstr, size_t errstr_size);

/**
 * @brief Set a librdkafka property only if the user did not set `kafka.<name>` in conf (conf may
 * be NULL: always set), so a program's own default (a tool's group.id, say) can be overridden.
 * @returns 0 or -1 as evf_kafka_conf_set.
 */
int evf_kafka_conf_set_default(const evf_conf_t *conf, rd_kafka_conf_t *kconf, const char *name,
                               const char *value, char *errstr, size_t errstr_size);

/** A topic to create if it is missing. */
typedef struct {
    const char *name;
    int partitions;           /* -1: broker default */
    int replication_factor;   /* -1: broker default */
    int64_t max_message_bytes; /* 0: broker default */
    int64_t retention_ms;      /* 0: broker default; -1: forever */
} evf_topic_spec_t;

/**
 * @brief Create the topics that do not exist yet (metadata first, then CreateTopics for the
 * missing ones only; an existing topic is fine and is left unchanged, and TOPIC_ALREADY_EXISTS
 * from a concurrent creator is fine too). Then waits until every topic of specs shows in metadata
 * with a leader for each partition. All of it within timeout_ms. Any handle type works.
 * @returns 0, or -1 with the first failure (topic and broker's reason) in errstr.
 */
int evf_kafka_ensure_topics(rd_kafka_t *rk, const evf_topic_spec_t *specs, size_t count,
                            int timeout_ms, char *errstr, size_t errstr_size);

/**
 * @brief Read one configuration value of a topic (DescribeConfigs), e.g. "max.message.bytes".
 * @returns 0 with the value in out, -1 with the reason in errstr.
 */
int evf_kafka_topic_config(rd_kafka_t *rk, const char *topic, const char *name, char *out,
                           size_t out_size, int timeout_ms, char *errstr, size_t errstr_size);

/**
 * @brief Partition count of a topic from metadata. @returns the count, 0 if the topic does not
 * exist, -1 on error (reason in errstr).
 */
int evf_kafka_partition_count(rd_kafka_t *rk, const char *topic, int timeout_ms, char *errstr,
                              size_t errstr_size);

/**
 * @brief Delete topics (tests clean up after themselves). A topic that does not exist counts as
 * deleted. @returns 0, or -1 with the first failure (topic and reason) in errstr.
 */
int evf_kafka_delete_topics(rd_kafka_t *rk, const char **topics, size_t count, int timeout_ms,
                            char *errstr, size_t errstr_size);

#endif
