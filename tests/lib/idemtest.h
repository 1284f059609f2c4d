/* tests/lib/idemtest.h — helpers for the idempotency suites (issue #7: test_effects_script,
 * test_idem_records, test_idempotency_worker): a private redis-server child on a free port that can
 * be killed and restarted on the same port, small Redis reply helpers, and crafted IoT events
 * published to a chosen partition.
 *
 * Runs in the forked check child of each test. A private redis-server dies with the process that
 * started it (PR_SET_PDEATHSIG), so a failed or timed-out test leaves none behind; it is killed by
 * its PID only. */
#ifndef EVF_IDEMTEST_H
#define EVF_IDEMTEST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "event.h"
#include "fleet.h"
#include "redis.h"

struct evf_pub_s;

/* ---- a private redis-server ---- */

/** @brief Call in main() before srunner_run_all (names this run's private server dirs). */
void evf_itest_session_begin(void);
/** @brief Call in main() after srunner_run_all: removes the dirs failed tests left behind. */
void evf_itest_session_end(void);

#define EVF_ITEST_REDIS_ARGS_MAX 16

typedef struct {
    pid_t pid;         /* 0 while not running */
    int port;          /* picked once by evf_itest_redis_init, kept across restarts */
    char dir[128];     /* its working directory (AOF files, log) */
    char url[96];      /* redis://127.0.0.1:<port>/0 */
    char log_path[200];
    char *args[EVF_ITEST_REDIS_ARGS_MAX]; /* extra arguments (copied) */
    size_t nargs;
} evf_itest_redis_t;

/**
 * @brief Pick a free port and a fresh directory; remember `extra` (NULL-terminated redis-server
 * arguments such as "--requirepass", "pw"; may be NULL) for every start. Does not start it.
 * The base arguments are `--port P --bind 127.0.0.1 --save '' --appendonly no --dir D`; extra
 * comes after them, so it may override (e.g. "--appendonly", "yes").
 */
void evf_itest_redis_init(evf_itest_redis_t *s, const char *const *extra);

/** @brief Start it (on its port) and wait until it answers (any reply, NOAUTH included). */
void evf_itest_redis_start(evf_itest_redis_t *s);

/** @brief SIGKILL it by PID and reap it (no-op when not running). */
void evf_itest_redis_kill(evf_itest_redis_t *s);

/** @brief Kill it and remove its directory and the copied arguments. */
void evf_itest_redis_cleanup(evf_itest_redis_t *s);

/* ---- Redis helpers ----
 * The command helpers format the line with printf, then split it on spaces into arguments (so a
 * value with a space needs evf_redis_cmd's own %s instead). */

/** @returns a connected handle on url (password may be NULL); fails the test otherwise. */
evf_redis_t *evf_itest_connect(const char *url, const char *password);

/**
 * @brief Run a command that answers an integer (PTTL, EXISTS, HLEN, SCARD…). Fails the test on
 * any other reply.
 */
long long evf_itest_int(evf_redis_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/**
 * @brief Run a command that answers a string or nil (GET, HGET…). @returns a malloc'd copy, or
 * NULL for nil. Fails the test on any other reply.
 */
char *evf_itest_str(evf_redis_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** @brief Run a command that must not answer an error. */
void evf_itest_ok(evf_redis_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** @brief Delete every key starting with `prefix:` (SCAN). */
void evf_itest_del_prefix(evf_redis_t *r, const char *prefix);

/* ---- events ---- */

/**
 * @brief An IoT telemetry event (source IOT, type iot:telemetry) with the given id, device,
 * metric, value and time; subject = device unless subject is not NULL. Free with evf_event_free.
 */
evf_event_t *evf_itest_iot(const char *id, const char *device, const char *metric, double value,
                           int64_t time_ms, const char *subject);

/**
 * @brief Publish ev (protobuf, CloudEvents headers, its Kafka key) to topic: to `partition`, or
 * by key when partition < 0. Fails the test when the send is refused (the delivery is checked
 * by evf_fleet_publisher_done).
 */
void evf_itest_send(struct evf_pub_s *pub, const char *topic, int32_t partition,
                    const evf_event_t *ev);

/* ---- a worker's endpoints ---- */

/** @returns the sum of the samples of metric `name` matching `match` in w's /metrics. */
double evf_itest_metric(const evf_fleet_worker_t *w, const char *name, const char *match);

/**
 * @brief Wait until the metric sum reaches at least want. @returns the last value (fails the
 * test on timeout, naming the metric).
 */
double evf_itest_wait_metric(const evf_fleet_worker_t *w, const char *name, const char *match,
                             double want, int timeout_ms);

/**
 * @brief Wait until GET /readyz answers `status`. @returns the body (malloc'd). Fails the test
 * on timeout (with the last answer and the log's tail) or when the worker exits.
 */
char *evf_itest_wait_readyz(evf_fleet_worker_t *w, int status, int timeout_ms);

/** @returns 1 when haystack contains needle, ignoring ASCII case. */
int evf_itest_contains_ci(const char *haystack, const char *needle);

#endif
