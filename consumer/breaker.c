/* consumer/breaker.c — see breaker.h. The window is BUCKETS time buckets; a bucket older than the
 * window is cleared when time reaches it again. */
#include "breaker.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 10

struct evf_breaker_s {
    pthread_mutex_t lock;
    evf_breaker_conf_t conf;
    int64_t bucket_ms;
    int64_t start[BUCKETS]; /* start time of the bucket's slice, -1 empty */
    int64_t calls[BUCKETS], fails[BUCKETS];
    evf_breaker_state_t state;
    int64_t opened_at;
    int probe_out; /* a half-open probe is running */
    int64_t probe_at;
};

evf_breaker_t *evf_breaker_new(const evf_breaker_conf_t *conf) {
    evf_breaker_t *b = calloc(1, sizeof(*b));
    if (!b)
        abort();
    pthread_mutex_init(&b->lock, NULL);
    b->conf = *conf;
    if (b->conf.window_ms < BUCKETS)
        b->conf.window_ms = BUCKETS;
    b->bucket_ms = b->conf.window_ms / BUCKETS;
    for (int i = 0; i < BUCKETS; i++)
        b->start[i] = -1;
    return b;
}

void evf_breaker_destroy(evf_breaker_t *b) {
    if (!b)
        return;
    pthread_mutex_destroy(&b->lock);
    free(b);
}

static int64_t *bucket(evf_breaker_t *b, int64_t now, int64_t **fails) {
    int64_t slice = now / b->bucket_ms;
    int i = (int)(slice % BUCKETS);
    if (b->start[i] != slice) {
        b->start[i] = slice;
        b->calls[i] = b->fails[i] = 0;
    }
    *fails = &b->fails[i];
    return &b->calls[i];
}

static void totals(evf_breaker_t *b, int64_t now, int64_t *calls, int64_t *fails) {
    int64_t slice = now / b->bucket_ms;
    *calls = *fails = 0;
    for (int i = 0; i < BUCKETS; i++) {
        if (b->start[i] >= 0 && slice - b->start[i] < BUCKETS) {
            *calls += b->calls[i];
            *fails += b->fails[i];
        }
    }
}

static void reset_window(evf_breaker_t *b) {
    for (int i = 0; i < BUCKETS; i++)
        b->start[i] = -1;
}

int evf_breaker_allow(evf_breaker_t *b, int64_t now, int64_t *retry_at) {
    int ok = 1;
    if (b->conf.min_calls <= 0)
        return 1;
    pthread_mutex_lock(&b->lock);
    if (b->state == EVF_BREAKER_OPEN) {
        if (now - b->opened_at >= b->conf.cooldown_ms) {
            b->state = EVF_BREAKER_HALF_OPEN;
            b->probe_out = 1;
            b->probe_at = now;
        } else {
            ok = 0;
            if (retry_at)
                *retry_at = b->opened_at + b->conf.cooldown_ms;
        }
    } else if (b->state == EVF_BREAKER_HALF_OPEN) {
        /* A probe that never reported (its event was not run after all) is replaced. */
        int64_t stale = b->conf.cooldown_ms > 5000 ? b->conf.cooldown_ms : 5000;
        if (b->probe_out && now - b->probe_at > stale)
            b->probe_out = 0;
        if (b->probe_out) {
            ok = 0;
            if (retry_at)
                *retry_at = now + (b->conf.cooldown_ms > 0 && b->conf.cooldown_ms < 1000
                                       ? b->conf.cooldown_ms
                                       : 1000);
        } else {
            b->probe_out = 1;
            b->probe_at = now;
        }
    }
    pthread_mutex_unlock(&b->lock);
    return ok;
}

void evf_breaker_record(evf_breaker_t *b, int64_t now, int failure) {
    int64_t *fails, calls, nfails;
    if (b->conf.min_calls <= 0)
        return;
    pthread_mutex_lock(&b->lock);
    if (b->state == EVF_BREAKER_HALF_OPEN) {
        b->probe_out = 0;
        if (failure) {
            b->state = EVF_BREAKER_OPEN;
            b->opened_at = now;
        } else {
            b->state = EVF_BREAKER_CLOSED;
            reset_window(b);
        }
        pthread_mutex_unlock(&b->lock);
        return;
    }
    if (b->state == EVF_BREAKER_OPEN) {
        /* a call that was already running when it opened */
        pthread_mutex_unlock(&b->lock);
        return;
    }
    int64_t *c = bucket(b, now, &fails);
    (*c)++;
    if (failure)
        (*fails)++;
    totals(b, now, &calls, &nfails);
    if (calls >= b->conf.min_calls && (double)nfails >= b->conf.failure_ratio * (double)calls &&
        nfails > 0) {
        b->state = EVF_BREAKER_OPEN;
        b->opened_at = now;
    }
    pthread_mutex_unlock(&b->lock);
}

evf_breaker_state_t evf_breaker_state(evf_breaker_t *b, int64_t now) {
    pthread_mutex_lock(&b->lock);
    evf_breaker_state_t s = b->state;
    if (s == EVF_BREAKER_OPEN && now - b->opened_at >= b->conf.cooldown_ms)
        s = EVF_BREAKER_HALF_OPEN;
    pthread_mutex_unlock(&b->lock);
    return s;
}

const char *evf_breaker_state_name(evf_breaker_state_t s) {
    switch (s) {
    case EVF_BREAKER_CLOSED:
        return "closed";
    case EVF_BREAKER_OPEN:
        return "open";
    case EVF_BREAKER_HALF_OPEN:
        return "half-open";
    }
    return "unknown";
}

void evf_breaker_counts(evf_breaker_t *b, int64_t now, int64_t *calls, int64_t *failures) {
    pthread_mutex_lock(&b->lock);
    totals(b, now, calls, failures);
    pthread_mutex_unlock(&b->lock);
}
