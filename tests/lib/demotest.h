/* tests/lib/demotest.h — helpers for the end-to-end suites of the built-in processors and of
 * plugins (test_builtins_e2e.c, test_plugin_e2e.c), on top of fleet.h:
 *   - run one `evfleet-worker` with exactly the flags a test gives (fleet.h's evf_fleet_start puts
 *     `route.*=ledger` first, and the first matching route wins, so it cannot route by type);
 *   - publish events in a given order and make sure every one was delivered;
 *   - wait until every published event has a final outcome in /metrics;
 *   - read Redis hashes with their string values, list keys, read TTLs.
 * Runs in the forked check child of each test, like fleet.c; failures fail the test. */
#ifndef EVF_DEMOTEST_H
#define EVF_DEMOTEST_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "fleet.h"
#include "redis.h"

/**
 * @brief Start `evfleet-worker` with: the local Kafka and Redis, http.listen on a free port, JSON
 * logs, session timeout 6 s / heartbeat 0.5 s, shutdown.grace.ms=5000; then `-X` each of xargs
 * (NULL-terminated "key=value"; later wins). Nothing else: routes, topics and group are the
 * test's. The process is tracked (killed at exit if still running).
 */
void evf_demo_start(evf_fleet_worker_t *w, const char *const *xargs);

/**
 * @brief Start `evfleet-worker` with argv exactly (without argv[0]) and wait up to timeout_ms for
 * its exit. @returns the exit code (-1: killed by a signal or timed out, then SIGKILLed) and the
 * output (malloc'd) in *out.
 */
int evf_demo_run_worker(const char *const *args, int timeout_ms, char **out);

/**
 * @returns the sum over the workers of evfleet_events_processed_total with that processor label
 * (NULL: any; "" is the label of events no processor ran) and outcome (NULL: any).
 */
double evf_demo_outcomes(evf_fleet_worker_t *ws, size_t n, const char *processor,
                         const char *outcome);

/**
 * @brief Wait until the workers together report ok + duplicate + dlq outcomes >= want and no
 * event in flight. Fails the test after timeout_ms (naming how far they got, with a log tail).
 */
void evf_demo_wait_finished(evf_fleet_worker_t *ws, size_t n, double want, int timeout_ms);

/* ---- publishing ---- */

typedef struct evf_demo_pub_s evf_demo_pub_t;

/** @returns a publisher on the local Kafka that does not create topics (create them first). */
evf_demo_pub_t *evf_demo_pub_new(void);

/** @brief Queue ev (protobuf, its Kafka key, CloudEvents headers) to topic; fails on refusal. */
void evf_demo_pub_event(evf_demo_pub_t *p, const char *topic, const evf_event_t *ev);

/** @brief Queue a raw message (key may be NULL). */
void evf_demo_pub_raw(evf_demo_pub_t *p, const char *topic, const char *key, const void *value,
                      size_t len);

/**
 * @brief Flush and destroy; fails the test unless every queued message was delivered.
 * @returns how many were delivered.
 */
size_t evf_demo_pub_finish(evf_demo_pub_t *p);

/* ---- cleaning up, even after a failed test ---- */

/*
 * A failing ck_assert _exit()s check's forked child, so exit handlers there (fleet.c's cleanup
 * included) never run after a failure. A suite that wants its topics and keys gone anyway makes
 * their names in an unchecked setup fixture (check's parent process), registers them here, and
 * uses evf_demo_cleanup as the unchecked teardown, which runs in the parent whatever the test's
 * outcome. Names are copied into fixed arrays (no heap: nothing for the child to leak).
 */
/** @brief Delete this topic in evf_demo_cleanup(). */
void evf_demo_cleanup_topic(const char *topic);
/** @brief Delete the Redis keys matching this SCAN pattern in evf_demo_cleanup(). */
void evf_demo_cleanup_keys(const char *pattern);
/** @brief Delete what was registered (a missing topic counts as deleted), then forget it. */
void evf_demo_cleanup(void);

/* ---- Redis ---- */

typedef struct {
    char *field;
    char *value;
} evf_demo_field_t;

/** A hash's fields and string values, sorted by field. */
typedef struct {
    evf_demo_field_t *f;
    size_t n;
} evf_demo_hash_t;

/** @brief HGETALL key into out (empty when the key does not exist). */
void evf_demo_hgetall(evf_redis_t *r, const char *key, evf_demo_hash_t *out);
/** @returns the value of field, or NULL when absent. */
const char *evf_demo_hash_get(const evf_demo_hash_t *h, const char *field);
void evf_demo_hash_free(evf_demo_hash_t *h);

/** @returns the keys matching a SCAN pattern, sorted (malloc'd array of malloc'd strings). */
char **evf_demo_scan(evf_redis_t *r, const char *pattern, size_t *n);
void evf_demo_strv_free(char **v, size_t n);

/** @returns PTTL key (-2: no key, -1: no expiry). */
int64_t evf_demo_pttl(evf_redis_t *r, const char *key);

#endif
