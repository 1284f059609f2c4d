/* consumer/effects.h — the effect queue of one event, and the ONE server-side script that applies
 * the queued effects of a batch of events and marks each event's idempotency record done
 * (DESIGN.md "Processing guarantees"). Per event the script checks the record is still held by
 * this worker's token (fencing), validates every key it will touch (types, numeric fields) and the
 * guards before its first write, then applies all of the event's effects or none. */
#ifndef EVF_EFFECTS_H
#define EVF_EFFECTS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "evfleet/processor.h"
#include "redis.h"

typedef struct evf_fx_s evf_fx_t;

/** @brief An empty effect queue holding at most max_ops guards + effects. */
evf_fx_t *evf_fx_new(size_t max_ops);
void evf_fx_destroy(evf_fx_t *fx); /* NULL-safe */
/** @brief Forget everything queued (keeps the memory). */
void evf_fx_reset(evf_fx_t *fx);

/** @brief Declare a guard. @returns its id (> 0), or -1 (full or invalid op, reason in *why). */
int evf_fx_guard(evf_fx_t *fx, evf_guard_op_t op, const char *key, const char *field,
                 const char *value, const char **why);
/**
 * @brief Queue one effect (strings copied). Numeric values are validated here (HINCRBY/INCRBY
 * need an integer, HINCRBYFLOAT/HMAX/HMIN a finite number, PEXPIRE a positive integer).
 * @returns 0, or -1 with the reason in *why (static string).
 */
int evf_fx_add(evf_fx_t *fx, int guard_id, evf_fx_op_t op, const char *key, const char *field,
               const char *value, const char **why);
size_t evf_fx_count(const evf_fx_t *fx); /* guards + effects */
/** @returns 1 when a guard or an effect of fx names key. */
int evf_fx_touches(const evf_fx_t *fx, const char *key);

/** One event of a completion batch. */
typedef struct {
    const evf_fx_t *fx;     /* may be NULL or empty */
    const char *record_key; /* idempotency record, NULL when idempotency is off */
    const char *token;      /* fencing token of our acquisition (with record_key) */
    const char *fp;         /* fingerprint to store in the record */
    int64_t ttl_ms;         /* record TTL */
} evf_fx_commit_t;

typedef enum {
    EVF_FX_APPLIED = 0, /* effects applied, record done */
    EVF_FX_ALREADY,     /* record already done under our token (a repeated call after a lost
                           reply): nothing applied again, counts as applied */
    EVF_FX_FENCED,      /* the record is held by another token now: nothing applied */
    EVF_FX_REJECTED,    /* validation failed (wrong key type, non-numeric field): nothing applied */
} evf_fx_status_t;

/**
 * @brief Apply a batch in one script call. results[i] gets each event's status; for REJECTED the
 * reason is written into reasons[i] (each ≥ 128 bytes) when reasons is not NULL.
 * @returns EVF_OK, or EVF_ERR_TRANSPORT when Redis failed (nothing is known to be applied; the
 * caller retries the batch later — a repeat is answered EVF_FX_ALREADY where it had been applied).
 */
evf_err_t evf_fx_apply_batch(evf_redis_t *r, const evf_fx_commit_t *items, size_t n,
                             evf_fx_status_t *results, char (*reasons)[128]);

#endif
