/* common/topics.h — derived topic names (DESIGN.md "Topics"): per source topic and group, retry
 * topics `<topic>.<group>.retry.<n>`, the dead-letter topic `<topic>.<group>.dlq`, the replay inbox
 * `<topic>.<group>.replay`. */
#ifndef EVF_TOPICS_H
#define EVF_TOPICS_H

#include <stddef.h>

#define EVF_TOPIC_NAME_MAX 249 /* Kafka's limit */

typedef enum {
    EVF_TOPIC_SOURCE = 0,
    EVF_TOPIC_RETRY,
    EVF_TOPIC_DLQ,
    EVF_TOPIC_REPLAY,
} evf_topic_kind_t;

/**
 * @brief Check a group id can be part of topic names: non-empty, only [A-Za-z0-9._-], and short
 * enough that `<longest source>.<group>.retry.<n>` fits. @returns 0, or -1 with the reason.
 */
int evf_topics_group_valid(const char *group, size_t longest_source, int retry_levels,
                           char *errstr, size_t errstr_size);

/**
 * @brief Write the derived names. @returns the length, or -1 if it does not fit in out, is longer
 * than EVF_TOPIC_NAME_MAX, or (retry) n < 1.
 */
int evf_topic_retry(char *out, size_t out_size, const char *topic, const char *group, int n);
int evf_topic_dlq(char *out, size_t out_size, const char *topic, const char *group);
int evf_topic_replay(char *out, size_t out_size, const char *topic, const char *group);

/**
 * @brief Classify a topic name against a group: a retry topic (level in *n), dead-letter or
 * replay topic of `group` (its source written to source_out), or a source topic (the topic itself
 * written to source_out; *n = 0). source_out (may be NULL) is truncated to source_size-1; n may
 * be NULL. A retry level is a decimal number ≥ 1 without leading zeros.
 */
evf_topic_kind_t evf_topic_classify(const char *topic, const char *group, char *source_out,
                                    size_t source_size, int *n);

/** @brief Like classify, but for any group: `*.dlq`, `*.retry.<n>`, `*.replay` suffixes. */
evf_topic_kind_t evf_topic_kind_any(const char *topic);

#endif
