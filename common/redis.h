/* common/redis.h — one synchronous Redis connection (hiredis 0.14) with reconnect and backoff,
 * pipelining, cached Lua scripts (EVALSHA) and the eviction-policy check (DESIGN.md "The
 * idempotency record").
 *
 * Threads: a handle is used by one thread at a time (the caller guarantees it; one handle per
 * thread). Only evf_redis_connected(), evf_redis_error_count(), evf_redis_endpoint() and
 * evf_redis_last_error_copy() may be called from another thread (e.g. /readyz, /metrics) while
 * the owner uses the handle.
 *
 * Errors never contain the password. SIGPIPE: a write to a connection the server has closed
 * raises no SIGPIPE even when the program does not ignore it (it is blocked and discarded around
 * the handle's I/O when its disposition is not SIG_IGN). */
#ifndef EVF_REDIS_H
#define EVF_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "config.h"
#include "err.h"

typedef struct evf_redis_s evf_redis_t;

/* Reconnect backoff: the first retry after a failed attempt waits ~100 ms, doubling up to 5 s,
 * each delay jittered down by up to a quarter. */
#define EVF_REDIS_BACKOFF_INITIAL_MS 100
#define EVF_REDIS_BACKOFF_MAX_MS 5000

/** What evf_redis_new() reads from the configuration, for callers without one. */
typedef struct {
    const char *url;        /* redis://[user[:password]@]host[:port][/db] */
    const char *password;   /* NULL or "": the URL's password; else overrides it */
    int connect_timeout_ms; /* 0: no connect timeout */
    int command_timeout_ms; /* 0: no command timeout */
    const char *role;       /* shown in logs ("worker-2", "dlq"); NULL: "redis" */
} evf_redis_opts_t;

/**
 * @brief A handle for the configured Redis: reads redis.url, redis.password (overrides the
 * URL's password when non-empty), redis.connect.timeout.ms and redis.command.timeout.ms.
 * Does not connect (see evf_redis_connect() / evf_redis_ensure()). `role` is shown in logs.
 * @returns the handle, or NULL with the reason in errstr (a bad URL; never the password).
 */
evf_redis_t *evf_redis_new(const evf_conf_t *conf, const char *role, char *errstr,
                           size_t errstr_size);

/** @brief As evf_redis_new() from explicit options (copied). */
evf_redis_t *evf_redis_new_opts(const evf_redis_opts_t *opts, char *errstr, size_t errstr_size);

/** @brief Close the connection and free the handle; the password memory is zeroed. NULL-safe. */
void evf_redis_destroy(evf_redis_t *r);

/**
 * @brief Connect now, whatever the backoff says: connect (connect timeout), set the command
 * timeout and TCP keepalive, `AUTH [user] password` when a password is set, `SELECT db` when
 * db != 0, then PING. An existing connection is closed first.
 * @returns EVF_OK, or EVF_ERR_TRANSPORT with e.g. "redis 127.0.0.1:6379: connection refused" or
 * "redis 127.0.0.1:6379: authentication failed for user 'alice' (WRONGPASS …)" in errstr (also
 * kept as the last error). A failure schedules the next evf_redis_ensure() attempt by backoff.
 */
evf_err_t evf_redis_connect(evf_redis_t *r, char *errstr, size_t errstr_size);

/**
 * @brief Make sure the handle is connected, never waiting for the backoff: connected → EVF_OK;
 * disconnected and the next attempt is not due yet → EVF_ERR_TRANSPORT at once; else one
 * connection attempt (which may block up to the connect plus command timeouts). State changes
 * are logged once: "redis unreachable: …" (WARN), then "redis reachable again" (INFO).
 * @returns EVF_OK or EVF_ERR_TRANSPORT (reason in evf_redis_last_error()).
 */
evf_err_t evf_redis_ensure(evf_redis_t *r);

/** @brief Close the connection (the next call reconnects at once). */
void evf_redis_disconnect(evf_redis_t *r);

/**
 * @brief Ensure, then run one command in hiredis's format (`%s` string, `%b` ptr+len binary).
 * Must not be called with pipelined replies pending.
 * @returns the reply (the caller frees it with freeReplyObject()) — a REDIS_REPLY_ERROR reply is
 * a reply, not a transport error — or NULL when Redis is unreachable or the connection failed
 * (I/O error, server closed it, no reply within the command timeout): the connection is then
 * closed, the reason kept in evf_redis_last_error() and the error counter bumped. A command that
 * failed that way may or may not have run on the server.
 */
redisReply *evf_redis_cmd(evf_redis_t *r, const char *fmt, ...);

/** @brief As evf_redis_cmd() with an argument vector (argvlen NULL: strlen of each). */
redisReply *evf_redis_cmdargv(evf_redis_t *r, int argc, const char **argv,
                              const size_t *argvlen);

/**
 * @brief Pipelining: queue a command (ensures a connection when nothing is pending; buffered,
 * sent by the first evf_redis_get_reply()). argvlen NULL: strlen of each.
 * @returns EVF_OK or EVF_ERR_TRANSPORT (then nothing was queued).
 */
evf_err_t evf_redis_append_argv(evf_redis_t *r, int argc, const char **argv,
                                const size_t *argvlen);

/**
 * @brief Pipelining: send every queued command now without waiting for replies (so the server
 * works on them while the caller does something else); read them later with
 * evf_redis_get_reply(). May block up to the command timeout when the socket buffer is full.
 * @returns EVF_OK (also when nothing was queued) or EVF_ERR_TRANSPORT (connection closed, every
 * pending reply lost, as in evf_redis_get_reply()).
 */
evf_err_t evf_redis_flush(evf_redis_t *r);

/**
 * @brief Read the next pipelined reply, in the order they were appended.
 * @returns EVF_OK with the reply in *out (caller frees), EVF_ERR_TRANSPORT with *out NULL when
 * the connection failed (every other pending reply is lost: later calls return
 * EVF_ERR_TRANSPORT too, until the next append), or EVF_ERR_STATE when nothing is pending.
 */
evf_err_t evf_redis_get_reply(evf_redis_t *r, redisReply **out);

/** @returns the number of appended commands whose replies were not read yet. */
int evf_redis_pending(const evf_redis_t *r);

/** A Lua script run by its SHA1 (computed locally, no round trip). */
typedef struct {
    const char *source; /* not copied: must outlive the script (usually a string literal) */
    char sha1[41];      /* lowercase hex */
} evf_redis_script_t;

/** @brief Set s->source and compute s->sha1. */
void evf_redis_script_init(evf_redis_script_t *s, const char *source);

/**
 * @brief `EVALSHA sha1 nkeys argv…` (argv holds the nkeys keys, then the other arguments; argc
 * counts both; argvlen NULL: strlen of each). On a NOSCRIPT error reply: SCRIPT LOAD, then
 * EVALSHA once more. @returns as evf_redis_cmd().
 */
redisReply *evf_redis_eval(evf_redis_t *r, const evf_redis_script_t *s, int nkeys, int argc,
                           const char **argv, const size_t *argvlen);

/**
 * @brief Refuse a Redis that may evict keys: reads `CONFIG GET maxmemory-policy` (or, when that
 * is refused, e.g. by an ACL, the `maxmemory_policy` field of `INFO memory`). Any policy but
 * `noeviction` is an error unless allow_eviction (then a warning is logged).
 * @returns EVF_OK, EVF_ERR_INVALID (evicting policy, or the policy could not be read) or
 * EVF_ERR_TRANSPORT, with the reason in errstr.
 */
evf_err_t evf_redis_check_eviction(evf_redis_t *r, int allow_eviction, char *errstr,
                                   size_t errstr_size);

/** @returns 1 while the handle holds a connection that has not failed. Any thread. */
int evf_redis_connected(const evf_redis_t *r);

/** @returns the most recent failure ("redis 127.0.0.1:6379: connection refused"; kept after a
 * recovery, "" if none). No password in it. Owner thread only; see evf_redis_last_error_copy(). */
const char *evf_redis_last_error(const evf_redis_t *r);

/** @brief Copy the most recent failure into buf (any thread). @returns buf. */
char *evf_redis_last_error_copy(const evf_redis_t *r, char *buf, size_t buf_size);

/** @returns the number of transport failures (failed connection attempts, failed commands) so
 * far, for evfleet_redis_errors_total. Any thread. */
uint64_t evf_redis_error_count(const evf_redis_t *r);

/** @returns how many times the handle has connected (a new count: a new server session, which
 * may have lost its scripts). Any thread. */
uint64_t evf_redis_connect_count(const evf_redis_t *r);

/** @returns "host:port" ("[::1]:6379" for IPv6). Any thread. */
const char *evf_redis_endpoint(const evf_redis_t *r);

/** @returns the database number from the URL. */
int evf_redis_db(const evf_redis_t *r);

#endif
