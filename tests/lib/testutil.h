/* tests/lib/testutil.h — shared by the check suites: where the local services and programs are,
 * unique names so tests never interfere, and child processes. */
#ifndef EVF_TESTUTIL_H
#define EVF_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"

/** "127.0.0.1:$KAFKA_PORT" (default 9092). */
const char *evf_test_brokers(void);
/** $REDIS_PORT (default 6379). */
int evf_test_redis_port(void);
/** "redis://127.0.0.1:$REDIS_PORT/0". */
const char *evf_test_redis_url(void);
/** Path of a program: "$EVF_BIN/<name>" (EVF_BIN defaults to "bin"). Static buffer per call site
 * is not needed: returns a malloc'd string the test may leak. */
char *evf_test_bin(const char *name);
/** Path of a built plugin: "$EVF_BUILD/plugins/<name>.so". malloc'd. */
char *evf_test_plugin(const char *name);

/** Write `<prefix>-<pid>-<n>-<random>` (only [A-Za-z0-9._-]) into out. */
void evf_test_unique(char *out, size_t out_size, const char *prefix);

/** A configuration pointing at the local services (kafka.bootstrap.servers, redis.url). */
evf_conf_t *evf_test_conf(void);

/** Milliseconds from a monotonic clock. */
int64_t evf_test_now_ms(void);

/**
 * Start argv[0] with argv, stdout+stderr appended to logfile (NULL: inherit). extra_env is a
 * NULL-terminated list of "K=V" added to the environment (may be NULL). Returns the pid.
 */
pid_t evf_test_spawn(char *const argv[], char *const extra_env[], const char *logfile);

/**
 * Wait for pid up to timeout_ms. Returns 0 with the raw wait status in *status, or -1 on timeout
 * (the child is left running).
 */
int evf_test_wait(pid_t pid, int timeout_ms, int *status);

/** SIGKILL pid (ours) and reap it. */
void evf_test_kill(pid_t pid);

/** Run a shell command line; returns its exit code (or -1). Output appended to logfile if set. */
int evf_test_sh(const char *cmdline);

/** Read a whole file (malloc'd, NUL-terminated); NULL if it cannot be read. */
char *evf_test_read_file(const char *path, size_t *len);

#endif
