/* consumer/breaker.h — a circuit breaker per processor (DESIGN.md keys breaker.<processor>.*):
 * failures over a sliding window; when the failure ratio crosses the threshold (with at least
 * min.calls calls in the window) it opens, and events routed to the processor wait in their lanes
 * (their partitions fill up and pause) instead of burning retries into the dead-letter topic.
 * After the cooldown one probe call is let through (half-open): success closes the breaker,
 * failure opens it again. Thread-safe; time is passed in (Unix ms) so the arithmetic is testable. */
#ifndef EVF_BREAKER_H
#define EVF_BREAKER_H

#include <stdint.h>

typedef struct evf_breaker_s evf_breaker_t;

typedef enum {
    EVF_BREAKER_CLOSED = 0,
    EVF_BREAKER_OPEN,
    EVF_BREAKER_HALF_OPEN,
} evf_breaker_state_t;

typedef struct {
    int64_t window_ms;    /* sliding window length */
    int64_t min_calls;    /* calls in the window before the ratio counts; 0 disables the breaker */
    double failure_ratio; /* open when failures / calls ≥ this */
    int64_t cooldown_ms;  /* open → half-open after this long */
} evf_breaker_conf_t;

evf_breaker_t *evf_breaker_new(const evf_breaker_conf_t *conf);
void evf_breaker_destroy(evf_breaker_t *b); /* NULL-safe */

/**
 * @brief May a call run now? CLOSED: yes. OPEN: no until the cooldown ends, then the first caller
 * becomes the half-open probe (yes) and everyone else waits. *retry_at gets when to ask again
 * (Unix ms) when the answer is no. @returns 1 yes, 0 no.
 */
int evf_breaker_allow(evf_breaker_t *b, int64_t now, int64_t *retry_at);

/** @brief Record a call's outcome (failure = transient or timeout). May open or close it. */
void evf_breaker_record(evf_breaker_t *b, int64_t now, int failure);

/** @brief The state now (an OPEN breaker whose cooldown ended reads as HALF_OPEN). */
evf_breaker_state_t evf_breaker_state(evf_breaker_t *b, int64_t now);
const char *evf_breaker_state_name(evf_breaker_state_t s);

/** @brief Calls and failures in the current window (for /status). */
void evf_breaker_counts(evf_breaker_t *b, int64_t now, int64_t *calls, int64_t *failures);

#endif
