/* tests/lib/fleet.h — helpers for the worker-core integration suites (test_worker_*.c): run
 * `evfleet-worker` replicas against the local Kafka + Redis, each with its own http.listen port and
 * log file; wait for /readyz; read /status and /metrics (a small Prometheus text parser); read a
 * topic back; read the ledger hash; stop replicas with SIGTERM and time their exit; clean up the
 * topics, Redis keys and processes a test made, even when it fails.
 *
 * Runs in the forked check child of each test. Every process started here gets SIGKILL when the
 * test process dies (PR_SET_PDEATHSIG), so a test killed by check's timeout leaves no worker
 * behind. Topics, Redis keys and processes a test makes are removed when its process exits
 * normally, and written to a track file that evf_fleet_session_end() sweeps after the suite, for
 * the tests that failed (check's child leaves with _exit() on a failed assertion) or timed out. */
#ifndef EVF_FLEET_H
#define EVF_FLEET_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "redis.h"

/* ---- a scenario: unique names, tracked for cleanup ---- */

/** @brief Call in main() before srunner_run_all: starts the track file of this run. */
void evf_fleet_session_begin(void);
/** @brief Call in main() after srunner_run_all: removes everything the tests tracked. */
void evf_fleet_session_end(void);

typedef struct {
    char topic[128];  /* the source topic */
    char group[128];  /* kafka.group.id */
    char prefix[96];  /* idempotency.key.prefix ("evf" unless asked for a unique one) */
    char ledger[256]; /* the ledger hash: <prefix>:ledger:<group> */
} evf_fleet_names_t;

/**
 * Fill n with a unique topic and group (both from `what`), prefix "evf" (or a unique prefix when
 * unique_prefix), and track all of it for cleanup: the topic, its derived topics
 * (`<topic>.<group>.retry.1..4`, `.dlq`, `.replay`) and the Redis keys `<prefix>:<group>:*` and
 * the ledger (every `<prefix>:*` key when the prefix is unique).
 */
void evf_fleet_names(evf_fleet_names_t *n, const char *what, int unique_prefix);

/** @brief Delete this topic at exit too. */
void evf_fleet_track_topic(const char *topic);
/** @brief Delete the Redis keys matching this SCAN pattern at exit too. */
void evf_fleet_track_keys(const char *pattern);
/** @brief Remove this log file when the test passes (kept when it fails). */
void evf_fleet_track_log(const char *path);

/** @brief Create topic with `partitions` partitions (fails the test on error); tracked. */
void evf_fleet_create_topic(const char *topic, int partitions);

/** @returns the name of a derived topic: "<topic>.<group>.<suffix>" in a static buffer per
 * call (kept until 16 later calls). */
const char *evf_fleet_derived(const evf_fleet_names_t *n, const char *suffix);

/* ---- worker processes ---- */

typedef struct {
    pid_t pid;            /* 0 once reaped */
    int port;             /* http.listen port */
    char base_url[64];    /* http://127.0.0.1:<port> */
    char log_path[256];   /* stdout + stderr: $EVF_BUILD/test-logs/workers/…, kept on failure */
    int exit_status;      /* raw wait status once reaped */
} evf_fleet_worker_t;

/** @returns a TCP port on 127.0.0.1 that was free a moment ago. */
int evf_fleet_free_port(void);

/**
 * Start `evfleet-worker` for n with the suite's base flags (local brokers and Redis, group,
 * topics, `route.*=ledger` unless extra has a `route.` key of its own, its own http.listen, JSON
 * logs, session 6 s / heartbeat 0.5 s, shutdown.grace.ms=5000, retry.topics.delays.ms= empty,
 * idempotency.key.prefix), then `extra` (NULL-terminated "key=value" strings, each passed as -X;
 * later wins), then `args` (NULL-terminated raw arguments; may be NULL). The process is tracked:
 * killed at exit if still running.
 */
void evf_fleet_start(evf_fleet_worker_t *w, const evf_fleet_names_t *n,
                     const char *const *extra, const char *const *args);

/** @brief As evf_fleet_start with a raw argument vector only (no base flags; argv[0] excluded). */
void evf_fleet_start_raw(evf_fleet_worker_t *w, const char *const *args);

/** @returns 1 while the process runs (reaps it and records exit_status when it has exited). */
int evf_fleet_alive(evf_fleet_worker_t *w);

/**
 * @brief Wait until GET /readyz answers 200. Fails the test (with the log's tail) when the
 * process exits or timeout_ms passes.
 */
void evf_fleet_wait_ready(evf_fleet_worker_t *w, int timeout_ms);

/**
 * @brief SIGTERM, then wait up to timeout_ms for the exit. @returns the exit code (0..255), or
 * -1 if it did not exit in time (then SIGKILLed) or died by a signal. *elapsed_ms (may be NULL)
 * gets the time from the signal to the exit.
 */
int evf_fleet_stop(evf_fleet_worker_t *w, int timeout_ms, int64_t *elapsed_ms);

/** @brief Send SIGTERM without waiting (then evf_fleet_wait_exit). */
void evf_fleet_term(evf_fleet_worker_t *w);

/** @brief SIGKILL and reap (no-op when already reaped). */
void evf_fleet_kill(evf_fleet_worker_t *w);

/**
 * @brief Wait for the process to exit by itself. @returns the exit code, or -1 on a timeout
 * (the process is left running) or a death by signal.
 */
int evf_fleet_wait_exit(evf_fleet_worker_t *w, int timeout_ms);

/** @returns the log file's contents (malloc'd, "" when absent). */
char *evf_fleet_log(const evf_fleet_worker_t *w);

/** @returns the last `max` bytes of the log (malloc'd), for failure messages. */
char *evf_fleet_log_tail(const evf_fleet_worker_t *w, size_t max);

/**
 * @brief GET base_url + path. @returns the body (malloc'd, NUL-terminated) with the status in
 * *status, or NULL when no HTTP response came (status -1).
 */
char *evf_fleet_get(const evf_fleet_worker_t *w, const char *path, int *status);

/** @returns /status parsed (a jansson json_t *, cast to void * so this header needs no jansson);
 * NULL when it cannot be read or parsed. Free with json_decref. */
void *evf_fleet_status(const evf_fleet_worker_t *w);

/**
 * @brief Partitions of `topic` (NULL: of every topic) in w's /status assignment: writes up to
 * max of them into parts. @returns how many are assigned, or -1 when /status cannot be read.
 */
int evf_fleet_assigned(const evf_fleet_worker_t *w, const char *topic, int *parts, int max);

/**
 * @brief Wait until the replicas' /status assignments of `topic` together hold each of its
 * `partitions` partitions exactly once, every replica holding at least one partition of the
 * group (any topic: the assignor balances the total over source, retry and replay topics), and
 * that stays so for stable_ms. Fails the test on timeout (naming who holds what).
 */
void evf_fleet_wait_balanced(evf_fleet_worker_t *ws, size_t nw, const char *topic, int partitions,
                             int stable_ms, int timeout_ms);

/* ---- programs ---- */

/**
 * @brief Run `evfleet-produce` with args (NULL-terminated, without argv[0]) and wait up to
 * timeout_ms. @returns its exit code (-1: killed, timed out); the output (malloc'd) in *out when
 * out is not NULL.
 */
int evf_fleet_produce(const char *const *args, int timeout_ms, char **out);

/** @brief Start `evfleet-produce` in the background (tracked). @returns its pid. */
pid_t evf_fleet_produce_start(const char *const *args, const char *log_path);

/**
 * @brief Run any program (argv[0] a path) with output into a fresh temporary file and wait up to
 * timeout_ms. @returns the exit code (-1: signal or timeout) and the output (malloc'd) in *out.
 */
int evf_fleet_run(const char *const *argv, int timeout_ms, char **out);

/* ---- publishing crafted messages ---- */

struct evf_pub_s;
/** @returns a publisher on the local brokers (no topic creation). */
struct evf_pub_s *evf_fleet_publisher(void);
/** @brief Flush, check that every message was delivered (fails the test otherwise), destroy. */
void evf_fleet_publisher_done(struct evf_pub_s *pub);

/* ---- reading back ---- */

/** One message read back from a topic (everything copied). */
typedef struct {
    int32_t partition;
    int64_t offset;
    int64_t timestamp;
    char *key;          /* NUL-terminated copy (NULL when the message has no key) */
    size_t key_len;
    char *value;        /* NUL-terminated copy (NULL when the value is null) */
    size_t value_len;
    rd_kafka_headers_t *headers; /* copy (may be NULL) */
} evf_fleet_msg_t;

typedef struct {
    evf_fleet_msg_t *msgs;
    size_t count;
} evf_fleet_msgs_t;

/**
 * @brief Read every message of topic from the beginning to the current end (all partitions, in
 * offset order per partition; partitions one after another). A topic that does not exist reads
 * as empty. Fails the test after timeout_ms.
 */
void evf_fleet_read_topic(const char *topic, evf_fleet_msgs_t *out, int timeout_ms);

/** @brief Read until at least `want` messages are there (re-reading), or timeout_ms passed. */
void evf_fleet_read_topic_until(const char *topic, size_t want, evf_fleet_msgs_t *out,
                                int timeout_ms);
void evf_fleet_msgs_free(evf_fleet_msgs_t *m);

/** @returns the last header `name` of m as a NUL-terminated string in buf, or NULL if absent. */
const char *evf_fleet_header(const evf_fleet_msg_t *m, const char *name, char *buf,
                             size_t size);

/* ---- a set of strings with a count each ---- */

typedef struct evf_fleet_idmap_s evf_fleet_idmap_t;

evf_fleet_idmap_t *evf_fleet_idmap_new(void);
void evf_fleet_idmap_free(evf_fleet_idmap_t *m);
/** @brief Add delta to key's count (creating it at 0). @returns the new count. */
int64_t evf_fleet_idmap_add(evf_fleet_idmap_t *m, const char *key, int64_t delta);
/** @returns key's count, or -1 when absent. */
int64_t evf_fleet_idmap_get(const evf_fleet_idmap_t *m, const char *key);
size_t evf_fleet_idmap_size(const evf_fleet_idmap_t *m);
/** @brief Iterate: i from 0 while it returns 1 (slots may be empty: *key NULL then). */
int evf_fleet_idmap_at(const evf_fleet_idmap_t *m, size_t i, const char **key, int64_t *count);

/** @brief The ids of the events (decoded) of a topic, each counted once per message. */
evf_fleet_idmap_t *evf_fleet_topic_ids(const char *topic, int timeout_ms);

/**
 * @brief Which messages of topic (decoded event ids) are absent from ledger, as partition offset
 * ranges: "N of the topic's messages are not in the ledger, at [partition] offsets: [4] 2036-2058
 * …". @returns a malloc'd string.
 */
char *evf_fleet_missing_report(const char *topic, const evf_fleet_idmap_t *ledger);

/* ---- Redis ---- */

/** @returns a connected handle on the local Redis (fails the test otherwise). */
evf_redis_t *evf_fleet_redis(void);

/** @returns a connected handle on another Redis (fails the test otherwise). */
evf_redis_t *evf_fleet_redis_url(const char *url, const char *password);

/** @returns the fields of hash key with their integer values (HGETALL). */
evf_fleet_idmap_t *evf_fleet_hash(evf_redis_t *r, const char *key);

/** @returns HLEN key (-1 on error). */
int64_t evf_fleet_hlen(evf_redis_t *r, const char *key);

/** @brief HGET key field into buf. @returns buf, or NULL when absent. */
const char *evf_fleet_hget(evf_redis_t *r, const char *key, const char *field, char *buf,
                           size_t size);

/** @brief Delete the keys matching a SCAN pattern. @returns how many. */
long evf_fleet_del_pattern(evf_redis_t *r, const char *pattern);

/**
 * @brief Wait until HLEN ledger reaches want. Fails the test when timeout_ms passes or when the
 * count does not move for stall_ms, naming how far it got and, when topic is not NULL, which of
 * its messages are missing (evf_fleet_missing_report).
 */
void evf_fleet_wait_ledger(evf_redis_t *r, const char *ledger, int64_t want, int timeout_ms,
                           int stall_ms, const char *topic);

/**
 * @brief Compare a ledger to the expected ids: writes how many expected ids are missing, how
 * many have a count other than 1 (`wrong`, the first of them in first_wrong), and how many
 * ledger fields are not expected. @returns 1 when all three are 0.
 */
int evf_fleet_ledger_exact(const evf_fleet_idmap_t *ledger, const evf_fleet_idmap_t *expected,
                           size_t *missing, size_t *wrong, size_t *extra, char *first_wrong,
                           size_t first_wrong_size);

/* ---- a private redis-server (to stop and restart) ---- */

typedef struct {
    pid_t pid;
    int port;      /* 0: pick a free one at the first start; kept across restarts */
    char dir[128]; /* its working directory (and log) */
} evf_fleet_redis_srv_t;

/** @brief Start redis-server on srv->port (requirepass may be NULL) and wait for PING; tracked
 * (dies with the test). */
void evf_fleet_redis_srv_start(evf_fleet_redis_srv_t *srv, const char *requirepass);
/** @brief SIGKILL it (the port and directory are kept for a restart). */
void evf_fleet_redis_srv_stop(evf_fleet_redis_srv_t *srv);
/** @brief Stop and remove its directory. */
void evf_fleet_redis_srv_cleanup(evf_fleet_redis_srv_t *srv);

/* ---- Kafka ---- */

/** @brief Committed offsets of group for topic's partitions 0..n-1 into out (-1: none). */
void evf_fleet_committed(const char *group, const char *topic, int n, int64_t *out);

/** @brief High watermarks of topic's partitions 0..n-1 into out. */
void evf_fleet_high_watermarks(const char *topic, int n, int64_t *out);

/* ---- Prometheus text exposition ---- */

typedef struct evf_prom_s evf_prom_t;

/**
 * @brief Parse the text format 0.0.4 strictly: every line blank, a comment, `# HELP name text`,
 * `# TYPE name counter|gauge|histogram|summary|untyped`, or `name[{label="value",…}] value
 * [timestamp]` with a valid metric name, valid label names, escaped label values, a float value
 * (or +Inf/-Inf/NaN); at most one HELP and one TYPE per family, TYPE before the family's samples;
 * every sample belongs to a declared family (`_bucket`/`_sum`/`_count` for histograms, buckets
 * with an `le` label). @returns the parse, or NULL with the first problem and its line in err.
 */
evf_prom_t *evf_prom_parse(const char *text, char *err, size_t err_size);
void evf_prom_free(evf_prom_t *p);

/** @returns the declared TYPE of family name, or NULL when there is none. */
const char *evf_prom_type(const evf_prom_t *p, const char *family);
/** @returns 1 when family has a HELP line. */
int evf_prom_has_help(const evf_prom_t *p, const char *family);

/**
 * @brief Sum of the samples named `name` whose labels include every `k=v` of match
 * ("processor=ledger,outcome=ok"; NULL or "" matches all). *n (may be NULL) gets how many
 * samples matched. @returns the sum (0 when none).
 */
double evf_prom_sum(const evf_prom_t *p, const char *name, const char *match, int *n);

/** @returns the number of samples. */
size_t evf_prom_count(const evf_prom_t *p);

/**
 * @brief Sample i: its name and value, and the value of label `label` (NULL when the sample has
 * no such label; label may be NULL). @returns 0, or -1 when i is out of range.
 */
int evf_prom_sample(const evf_prom_t *p, size_t i, const char **name, double *value,
                    const char *label, const char **label_value);

/** @returns /metrics of w parsed (fails the test when it cannot be read or parsed). */
evf_prom_t *evf_fleet_metrics(const evf_fleet_worker_t *w);

#endif
