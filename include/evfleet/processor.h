/* include/evfleet/processor.h — the public processor plugin ABI.
 *
 * A processor is a table of three functions the worker calls: init (once, with its
 * `processor.<name>.*` settings), process (once per event delivery, possibly again on retry) and
 * destroy. Built-ins and plugins use the same table; a plugin is a shared object named by
 * `processor.<name>.library` that exports `evf_processor_entry`, returning its table.
 *
 * Processors never write Redis themselves. They read through the context's read-only lookups and
 * queue effects; the worker applies an event's effects and marks it done in one fenced server-side
 * script, all or nothing. Effects may be guarded by a condition on a stored value, evaluated in
 * that same script, so out-of-order and concurrent updates stay correct.
 *
 * Derived events go out through emit(); the worker gives them deterministic ids (source event id,
 * processor, index) and confirms their delivery before the source event counts as done.
 *
 * Build a plugin: cc -shared -fPIC -I<evfleet>/include -I<generated protobuf-c dir> myproc.c
 * (see examples/ and the README). */
#ifndef EVF_PROCESSOR_H
#define EVF_PROCESSOR_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "evfleet/v1/event.pb-c.h"

/* Bumped on any incompatible change of this file; a plugin built for another version is refused. */
#define EVF_PROCESSOR_ABI_VERSION 1

typedef Evfleet__V1__Event evf_proc_event_t;
typedef struct evf_proc_ctx_s evf_proc_ctx_t;

typedef enum {
    EVF_PROC_OK = 0,    /* done: apply the queued effects */
    EVF_PROC_RETRY = 1, /* transient failure: effects discarded, run again later */
    EVF_PROC_FAIL = 2,  /* permanent failure: effects discarded, dead-lettered */
} evf_proc_result_t;

/* Effect operations (Redis commands the worker applies on completion). */
typedef enum {
    EVF_FX_HSET = 1,        /* key field value */
    EVF_FX_HINCRBY,         /* key field integer */
    EVF_FX_HINCRBYFLOAT,    /* key field number */
    EVF_FX_HDEL,            /* key field */
    EVF_FX_HMAX,            /* key field number: store max(stored, number) (absent = number) */
    EVF_FX_HMIN,            /* key field number: store min(stored, number) */
    EVF_FX_SET,             /* key value */
    EVF_FX_INCRBY,          /* key integer */
    EVF_FX_DEL,             /* key */
    EVF_FX_SADD,            /* key member(value) */
    EVF_FX_SREM,            /* key member(value) */
    EVF_FX_PEXPIRE,         /* key milliseconds(value) */
} evf_fx_op_t;

/* Guards: "stored value of key/field compares as … with the given value". A guard that does not
 * hold skips the effects it guards (not an error). An absent key or field always passes a *_LT
 * guard. Numbers compare as arbitrary-length unsigned decimals, sequencers as hex strings
 * (left-padded to equal length), strings bytewise. */
typedef enum {
    EVF_GUARD_LT_NUM = 1, /* stored < given (decimal) */
    EVF_GUARD_LT_HEX,     /* stored < given (hex, e.g. S3 sequencers) */
    EVF_GUARD_LT_STR,     /* stored < given (bytewise) */
    EVF_GUARD_ABSENT,     /* field (or key, when field is NULL) does not exist */
    EVF_GUARD_NE,         /* stored != given (absent counts as different) */
} evf_guard_op_t;

typedef enum {
    EVF_PROC_LOG_DEBUG = 0,
    EVF_PROC_LOG_INFO = 1,
    EVF_PROC_LOG_WARN = 2,
    EVF_PROC_LOG_ERROR = 3,
} evf_proc_log_level_t;

/* The operations a context offers; call them through the inline helpers below. Every call is
 * valid only during the process() call that received the context. */
typedef struct {
    void (*log)(evf_proc_ctx_t *ctx, int level, const char *fmt, va_list ap);
    /* Read-only lookups, at the current committed state (effects queued by this event are not
     * visible). Return 0 found (value NUL-terminated in out, truncated to out_size), 1 absent,
     * -1 on error (Redis unreachable: return EVF_PROC_RETRY). */
    int (*hget)(evf_proc_ctx_t *ctx, const char *key, const char *field, char *out,
                size_t out_size);
    int (*get)(evf_proc_ctx_t *ctx, const char *key, char *out, size_t out_size);
    /* Declare a guard; returns its id (> 0) for effect(), or -1 if out of room. */
    int (*guard)(evf_proc_ctx_t *ctx, evf_guard_op_t op, const char *key, const char *field,
                 const char *value);
    /* Queue one effect, applied only if guard_id is 0 or its guard holds. Returns 0, or -1 if
     * the event's effect queue is full (then return EVF_PROC_FAIL or RETRY). Strings copied. */
    int (*effect)(evf_proc_ctx_t *ctx, int guard_id, evf_fx_op_t op, const char *key,
                  const char *field, const char *value);
    /* Emit a derived event to topic. Takes ownership of ev (free with
     * protobuf_c_message_free_unpacked semantics: heap strings). Its id is replaced by a
     * deterministic one. Sent only if this call returns EVF_PROC_OK. Returns 0 or -1. */
    int (*emit)(evf_proc_ctx_t *ctx, const char *topic, evf_proc_event_t *ev);
    /* The reason for a RETRY or FAIL outcome (goes into evfleet.error.message). */
    void (*reason)(evf_proc_ctx_t *ctx, const char *fmt, va_list ap);
} evf_proc_ops_t;

struct evf_proc_ctx_s {
    const evf_proc_ops_t *ops;
    const char *idempotency_key; /* pass downstream (like Stripe's Idempotency-Key) */
    int attempt;                 /* runs of the processor for this event so far, this one included */
    int64_t deadline_ms;         /* Unix ms by which process() must return (processing.timeout.ms) */
    const char *topic;           /* where the event was read (source, retry or replay topic) */
    int32_t partition;
    int64_t offset;
    const char *group;      /* the consumer group (kafka.group.id) */
    const char *key_prefix; /* idempotency.key.prefix: start every Redis key with "<prefix>:" */
    void *worker_private; /* the worker's; do not touch */
};

/* One `processor.<name>.<setting> = value` line. */
typedef struct {
    const char *name;  /* the setting, without the `processor.<name>.` prefix */
    const char *value;
} evf_proc_setting_t;

typedef struct {
    int abi_version;     /* EVF_PROCESSOR_ABI_VERSION */
    const char *name;    /* default name (the configured name may differ for plugins) */
    int concurrent;      /* 1: process() may run on several threads at once (different lanes) */
    /* Create state from settings; an unknown or bad setting is an error naming it (the worker
     * exits 2). Returns 0, or -1 with the reason in errstr. */
    int (*init)(void **state, const evf_proc_setting_t *settings, size_t n_settings, char *errstr,
                size_t errstr_size);
    evf_proc_result_t (*process)(void *state, const evf_proc_event_t *ev, evf_proc_ctx_t *ctx);
    void (*destroy)(void *state);
} evf_processor_t;

/* A plugin exports this symbol. */
typedef const evf_processor_t *(*evf_processor_entry_fn)(void);
#define EVF_PROCESSOR_ENTRY_SYMBOL "evf_processor_entry"

/* Convenience wrappers. */
static inline void evf_ctx_log(evf_proc_ctx_t *ctx, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void evf_ctx_log(evf_proc_ctx_t *ctx, int level, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    ctx->ops->log(ctx, level, fmt, ap);
    va_end(ap);
}
static inline void evf_ctx_reason(evf_proc_ctx_t *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline void evf_ctx_reason(evf_proc_ctx_t *ctx, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    ctx->ops->reason(ctx, fmt, ap);
    va_end(ap);
}
static inline int evf_ctx_hget(evf_proc_ctx_t *ctx, const char *key, const char *field, char *out,
                               size_t out_size) {
    return ctx->ops->hget(ctx, key, field, out, out_size);
}
static inline int evf_ctx_guard(evf_proc_ctx_t *ctx, evf_guard_op_t op, const char *key,
                                const char *field, const char *value) {
    return ctx->ops->guard(ctx, op, key, field, value);
}
static inline int evf_ctx_effect(evf_proc_ctx_t *ctx, int guard_id, evf_fx_op_t op,
                                 const char *key, const char *field, const char *value) {
    return ctx->ops->effect(ctx, guard_id, op, key, field, value);
}
static inline int evf_ctx_emit(evf_proc_ctx_t *ctx, const char *topic, evf_proc_event_t *ev) {
    return ctx->ops->emit(ctx, topic, ev);
}

#endif
