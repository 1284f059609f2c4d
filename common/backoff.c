/* common/backoff.c — see backoff.h. */
#include "backoff.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static const char *const jitter_names[] = {
    [EVF_JITTER_FULL] = "full",
    [EVF_JITTER_EQUAL] = "equal",
    [EVF_JITTER_NONE] = "none",
};

uint64_t evf_rand_next(uint64_t *state) {
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

uint64_t evf_rand_uniform(uint64_t *state, uint64_t bound) {
    uint64_t r = evf_rand_next(state);
    if (bound == UINT64_MAX)
        return r;
    /* Lemire's multiply-shift: no modulo, bias below 2^-64 × bound, negligible for delays. */
    return (uint64_t)(((unsigned __int128)r * (bound + 1)) >> 64);
}

uint64_t evf_rand_seed(void) {
    static atomic_uint_fast64_t calls;
    struct timespec real, mono;
    uint64_t state;
    int on_stack;

    clock_gettime(CLOCK_REALTIME, &real);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    state = (uint64_t)real.tv_sec * UINT64_C(1000000000) + (uint64_t)real.tv_nsec;
    state ^= ((uint64_t)mono.tv_nsec << 32) ^ (uint64_t)mono.tv_sec;
    state ^= (uint64_t)getpid() << 16;
    state ^= (uint64_t)(uintptr_t)&on_stack;
    state ^= (uint64_t)pthread_self();
    state += atomic_fetch_add(&calls, 1) * UINT64_C(0xD1B54A32D192ED03);
    return evf_rand_next(&state);
}

int64_t evf_backoff_base(const evf_backoff_t *b, int attempt) {
    int64_t initial = b->initial_ms > 0 ? b->initial_ms : 0;
    int64_t max = b->max_ms > 0 ? b->max_ms : 0;
    double multiplier = b->multiplier >= 1.0 ? b->multiplier : 1.0; /* NaN fails >= too */
    double delay;

    if (attempt < 1)
        attempt = 1;
    if (initial >= max)
        return max;
    /* pow() goes to +Inf rather than wrapping, and +Inf is not below max: no overflow. */
    delay = (double)initial * pow(multiplier, (double)(attempt - 1));
    if (!(delay < (double)max))
        return max;
    /* Round to nearest so 100 × 1.1² is 121, not 120. delay < max ≤ INT64_MAX fits. */
    int64_t ms = (int64_t)llround(delay);
    return ms < max ? ms : max;
}

int64_t evf_backoff_delay(const evf_backoff_t *b, int attempt, uint64_t *rng_state) {
    static __thread uint64_t thread_state;
    static __thread int thread_seeded;
    int64_t base = evf_backoff_base(b, attempt);

    if (b->jitter == EVF_JITTER_NONE || base == 0)
        return base;
    if (!rng_state) {
        if (!thread_seeded) {
            thread_state = evf_rand_seed();
            thread_seeded = 1;
        }
        rng_state = &thread_state;
    }
    if (b->jitter == EVF_JITTER_EQUAL) {
        int64_t half = base / 2;
        /* base - half, not half, so an odd base still reaches base. */
        return half + (int64_t)evf_rand_uniform(rng_state, (uint64_t)(base - half));
    }
    return (int64_t)evf_rand_uniform(rng_state, (uint64_t)base);
}

int evf_jitter_parse(const char *name, evf_jitter_t *out) {
    if (!name)
        return -1;
    for (size_t i = 0; i < sizeof(jitter_names) / sizeof(jitter_names[0]); i++) {
        if (strcasecmp(name, jitter_names[i]) == 0) {
            *out = (evf_jitter_t)i;
            return 0;
        }
    }
    return -1;
}

const char *evf_jitter_name(evf_jitter_t j) {
    if ((int)j < 0 || (size_t)j >= sizeof(jitter_names) / sizeof(jitter_names[0]))
        return "?";
    return jitter_names[j];
}
