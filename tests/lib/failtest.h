/* tests/lib/failtest.h — helpers for the failure-path suite (issue #6, test_failure_path.c): the
 * call trace written by the flaky_downstream example plugin (examples/flaky_downstream.c), topic
 * configuration through the admin API (create with a config, AlterConfigs), and the contract's
 * copy headers (DESIGN.md "Headers on retry, dead-letter and replay copies").
 *
 * Runs in the forked check child of each test; failures fail the test (check asserts). */
#ifndef EVF_FAILTEST_H
#define EVF_FAILTEST_H

#include <stddef.h>
#include <stdint.h>

#include "fleet.h"

/* ---- the flaky_downstream trace ---- */

/** One processor call as the plugin recorded it. */
typedef struct {
    int64_t at_ms;    /* Unix ms when the call started */
    int attempt;      /* ctx->attempt */
    int ok;           /* 1: returned ok, 0: retry */
    char topic[256];  /* where the event was read */
    int32_t partition;
    int64_t offset;
    char id[128];     /* event id */
} evf_ftrace_call_t;

typedef struct {
    evf_ftrace_call_t *calls;
    size_t count;
} evf_ftrace_t;

/** @brief A fresh trace file path under $EVF_BUILD/test-logs (removed at exit when passing). */
void evf_ftrace_path(char *out, size_t size, const char *what);

/** @brief Read the trace file (absent: empty). Lines in file order. Fails on a bad line. */
void evf_ftrace_read(const char *path, evf_ftrace_t *out);
void evf_ftrace_free(evf_ftrace_t *t);

/** @brief The calls of one event id in time order (pointers into t, at most max). @returns n. */
size_t evf_ftrace_of(const evf_ftrace_t *t, const char *id, const evf_ftrace_call_t **out,
                     size_t max);

/** @returns the trace as text (malloc'd, at most max_lines lines), for failure messages. */
char *evf_ftrace_text(const evf_ftrace_t *t, size_t max_lines);

/* ---- topics ---- */

/**
 * @brief Create topic (tracked for deletion) with `partitions` partitions and the given config
 * pairs (NULL-terminated name, value, name, value, …), and wait until it has leaders.
 */
void evf_ftopic_create(const char *topic, int partitions, const char *const *configs);

/**
 * @brief Set one config of an existing topic with AlterConfigs (librdkafka 2.0.2 has no
 * IncrementalAlterConfigs: the whole dynamic config of the topic becomes the pairs given, so pass
 * every non-default value to keep). NULL-terminated name, value pairs. Fails the test on error.
 */
void evf_ftopic_alter(const char *topic, const char *const *configs);

/** @brief Read one config of topic (DescribeConfigs) into out. */
void evf_ftopic_config(const char *topic, const char *name, char *out, size_t size);

/* ---- headers ---- */

/** @returns how many headers named `name` m has. */
int evf_fhdr_count(const evf_fleet_msg_t *m, const char *name);

/** @returns the integer value of header `name` (fails the test when absent or not decimal). */
int64_t evf_fhdr_int(const evf_fleet_msg_t *m, const char *name);

/** @returns the header as a string in buf (fails the test when absent). */
const char *evf_fhdr_str(const evf_fleet_msg_t *m, const char *name, char *buf, size_t size);

/** @returns all headers of m as "name=value; …" (static buffer), for failure messages. */
const char *evf_fhdr_text(const evf_fleet_msg_t *m);

/**
 * @brief Check the parts every copy of src shares: key and value byte for byte, every header of
 * src (non-`evfleet.`) kept with its value, each `evfleet.*` header present at most once, and
 * the set-once `evfleet.original.*` naming src's position (topic, partition, offset,
 * timestamp). `what` names the copy in failure messages.
 */
void evf_fcopy_check_common(const evf_fleet_msg_t *copy, const evf_fleet_msg_t *src,
                            const char *src_topic, const char *what);

#endif
