/* tests/lib/fakectx.h — a fake processor context for unit tests: records what a processor asks
 * for (guards, effects, emits, reason, logs), serves hget/get from an in-memory store, and can
 * apply the recorded effects to that store with the semantics processor.h documents, so a test
 * can run a stream of events through a processor and inspect the resulting state.
 *
 * Apply mirrors the worker's completion script: all or nothing (an invalid effect — wrong key
 * type, a non-number where a number is needed — applies nothing and reports the error); guards
 * are evaluated once against the state before the first write (the default), or, with
 * evf_fakectx_lazy_guards(), each time just before an effect it guards, so a test can show a
 * processor is correct under either evaluation order. Numbers in guards compare as unsigned
 * decimals / hex of any length (left-padded), strings bytewise; an absent key or field passes the
 * *_LT guards and NE. PEXPIRE is recorded (evf_fakectx_pttl), never enforced.
 *
 * Like the worker's effect queue (consumer/effects.c), guard() and effect() refuse up front
 * (return -1 and count a bad call) an empty key, a missing or empty field for the hash ops, a missing
 * value, a value that is not an integer (HINCRBY, INCRBY), not a finite number (HINCRBYFLOAT,
 * HMAX, HMIN) or not a positive integer (PEXPIRE), and an unknown guard id; emit() refuses an empty
 * topic. Tests assert evf_fakectx_bad_calls() == 0 to catch a processor relying on those.
 * Lookups of a key of the wrong type return -1 (WRONGTYPE). Not thread-safe. */
#ifndef EVF_FAKECTX_H
#define EVF_FAKECTX_H

#include <stddef.h>
#include <stdint.h>

#include "evfleet/processor.h"

typedef struct evf_fakectx_s evf_fakectx_t;

typedef struct {
    evf_guard_op_t op;
    char *key;
    char *field; /* NULL: the key itself */
    char *value;
} evf_fake_guard_t;

typedef struct {
    int guard_id; /* 0: unguarded; else 1-based index into the guards */
    evf_fx_op_t op;
    char *key;
    char *field; /* NULL when the op has none */
    char *value; /* NULL when the op has none */
} evf_fake_effect_t;

typedef struct {
    char *topic;
    evf_proc_event_t *ev; /* owned by the fake */
} evf_fake_emit_t;

/** A fake with an empty store; key_prefix "evf", group "test-group". Never NULL. */
evf_fakectx_t *evf_fakectx_new(void);
void evf_fakectx_destroy(evf_fakectx_t *f); /* NULL-safe */

void evf_fakectx_set_prefix(evf_fakectx_t *f, const char *key_prefix); /* copied */
void evf_fakectx_set_group(evf_fakectx_t *f, const char *group);        /* copied */

/**
 * @brief Start a process() call: forget the previous call's guards, effects, emits, reason and
 * logs, and fill the context (idempotency_key = ev's id, attempt, a deadline 30 s ahead, topic
 * "events.test", a fresh offset). @returns the context to pass to process().
 */
evf_proc_ctx_t *evf_fakectx_begin(evf_fakectx_t *f, const evf_proc_event_t *ev, int attempt);

/**
 * @brief begin + process(state, ev, ctx) + apply when the result is OK.
 * @returns the processor's result; evf_fakectx_last_apply() tells how the apply went.
 */
evf_proc_result_t evf_fakectx_run(evf_fakectx_t *f, const evf_processor_t *proc, void *state,
                                  const evf_proc_event_t *ev, int attempt);

/**
 * @brief Apply the recorded effects to the store (guards honoured), all or nothing.
 * @returns the number of effects applied (skipped ones not counted), or -1 when one is invalid
 * (nothing applied; evf_fakectx_error() says why).
 */
int evf_fakectx_apply(evf_fakectx_t *f);
/** @returns the last evf_fakectx_apply result from evf_fakectx_run (0 if it did not apply). */
int evf_fakectx_last_apply(const evf_fakectx_t *f);
/** @returns how many effects the last apply skipped because their guard did not hold. */
size_t evf_fakectx_last_skipped(const evf_fakectx_t *f);
/** @returns the reason of the last failed apply ("" when none). */
const char *evf_fakectx_error(const evf_fakectx_t *f);

/* What the current call recorded. */
size_t evf_fakectx_n_guards(const evf_fakectx_t *f);
const evf_fake_guard_t *evf_fakectx_guard(const evf_fakectx_t *f, size_t i);
size_t evf_fakectx_n_effects(const evf_fakectx_t *f);
const evf_fake_effect_t *evf_fakectx_effect(const evf_fakectx_t *f, size_t i);
size_t evf_fakectx_n_emits(const evf_fakectx_t *f);
const evf_fake_emit_t *evf_fakectx_emit(const evf_fakectx_t *f, size_t i);
/** @returns the reason set by the call ("" when none). */
const char *evf_fakectx_reason(const evf_fakectx_t *f);
size_t evf_fakectx_n_logs(const evf_fakectx_t *f);
const char *evf_fakectx_last_log(const evf_fakectx_t *f); /* "" when none */
/** @returns calls with invalid arguments since creation (bad op, NULL key, unknown guard id…). */
size_t evf_fakectx_bad_calls(const evf_fakectx_t *f);
/** @returns the number of lookups (hget + get) since creation. */
size_t evf_fakectx_n_lookups(const evf_fakectx_t *f);

/* Faults and modes. */
void evf_fakectx_fail_lookups(evf_fakectx_t *f, int on); /* lookups return -1 */
void evf_fakectx_lazy_guards(evf_fakectx_t *f, int on);
/** Room for guards, effects and emits per call (defaults 64, 1024, 64); beyond it calls fail. */
void evf_fakectx_limits(evf_fakectx_t *f, size_t max_guards, size_t max_effects,
                        size_t max_emits);

/* The store. */
void evf_fakectx_hset(evf_fakectx_t *f, const char *key, const char *field, const char *value);
void evf_fakectx_set(evf_fakectx_t *f, const char *key, const char *value);
/** @returns the field's value, or NULL when the key or field is absent (or not a hash). */
const char *evf_fakectx_hget(const evf_fakectx_t *f, const char *key, const char *field);
/** @returns the string value, or NULL when absent (or not a string). */
const char *evf_fakectx_get(const evf_fakectx_t *f, const char *key);
/** @returns the number of fields (hash) or members (set) of key, 0 when absent. */
size_t evf_fakectx_len(const evf_fakectx_t *f, const char *key);
int evf_fakectx_sismember(const evf_fakectx_t *f, const char *key, const char *member);
int evf_fakectx_exists(const evf_fakectx_t *f, const char *key);
/** @returns the last PEXPIRE of key in ms, -1 when it has none, -2 when the key is absent. */
int64_t evf_fakectx_pttl(const evf_fakectx_t *f, const char *key);
/** @returns the number of keys in the store. */
size_t evf_fakectx_n_keys(const evf_fakectx_t *f);
/** @brief Call fn for every key (in no particular order). */
void evf_fakectx_foreach_key(const evf_fakectx_t *f, void (*fn)(void *opaque, const char *key),
                             void *opaque);
/** @brief Empty the store. */
void evf_fakectx_clear(evf_fakectx_t *f);

#endif
