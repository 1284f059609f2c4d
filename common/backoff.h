/* common/backoff.h — retry delays: exponential backoff with jitter, and the small RNG it draws
 * from. Pure arithmetic, no shared state (a NULL rng_state uses a per-thread generator), so every
 * call is thread-safe. */
#ifndef EVF_BACKOFF_H
#define EVF_BACKOFF_H

#include <stdint.h>

/* How a delay is spread around the exponential curve (AWS "Exponential Backoff and Jitter"). */
typedef enum {
    EVF_JITTER_FULL = 0, /* uniform in [0, base] */
    EVF_JITTER_EQUAL,    /* base/2 + uniform in [0, base/2] */
    EVF_JITTER_NONE,     /* exactly base */
} evf_jitter_t;

typedef struct evf_backoff_s {
    int64_t initial_ms; /* delay before the 2nd run (attempt 1); negative counts as 0 */
    int64_t max_ms;     /* cap on the un-jittered delay; negative counts as 0 */
    double multiplier;  /* growth per attempt; below 1.0 (or NaN) counts as 1.0 */
    evf_jitter_t jitter;
} evf_backoff_t;

/**
 * @brief The delay before the next run, in milliseconds.
 *
 * attempt 1 is the delay before the 2nd run, 2 before the 3rd, …; attempts below 1 count as 1.
 * base = min(max_ms, initial_ms × multiplier^(attempt-1)), computed without overflow for any
 * attempt; the jitter then draws from rng_state (advanced), or from a per-thread generator seeded
 * by evf_rand_seed() when rng_state is NULL.
 * @returns a delay in [0, base] (full), [base/2, base] (equal) or base (none).
 */
int64_t evf_backoff_delay(const evf_backoff_t *b, int attempt, uint64_t *rng_state);

/**
 * @brief The un-jittered delay for attempt: min(max_ms, initial_ms × multiplier^(attempt-1)).
 */
int64_t evf_backoff_base(const evf_backoff_t *b, int attempt);

/**
 * @brief Next 64 random bits from a splitmix64 generator (any state, 0 included, is valid).
 * Not cryptographic. *state is advanced.
 */
uint64_t evf_rand_next(uint64_t *state);

/**
 * @brief Uniform integer in [0, bound] (bound inclusive) from *state.
 */
uint64_t evf_rand_uniform(uint64_t *state, uint64_t bound);

/**
 * @brief A fresh seed from the clocks, the pid, the thread and a process-wide counter, so two
 * calls (or two processes started together) get different seeds.
 */
uint64_t evf_rand_seed(void);

/**
 * @brief Parse "full" | "equal" | "none" (case-insensitive).
 * @returns 0 and sets *out, or -1 if name is none of them.
 */
int evf_jitter_parse(const char *name, evf_jitter_t *out);

/** @returns the name of j ("full", "equal", "none"), or "?" when out of range. */
const char *evf_jitter_name(evf_jitter_t j);

#endif
