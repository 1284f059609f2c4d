/* consumer/offsets.c — a ring of (offset, done) in poll order; the done prefix is popped as soon
 * as it forms, so the ring holds only the window between the oldest unfinished offset and the
 * newest polled one. */
#include "offsets.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t offset;
    int done;
} slot_t;

struct evf_offsets_s {
    slot_t *ring;
    size_t cap, head, count;   /* head: index of the oldest tracked slot */
    int64_t last_popped;       /* highest offset popped as done, -1 none */
    int64_t last_returned;     /* committable value last returned */
    int64_t last_tracked;
};

evf_offsets_t *evf_offsets_new(void) {
    evf_offsets_t *t = calloc(1, sizeof(*t));
    if (!t)
        abort();
    t->cap = 64;
    t->ring = calloc(t->cap, sizeof(slot_t));
    if (!t->ring)
        abort();
    t->last_popped = t->last_returned = t->last_tracked = -1;
    return t;
}

void evf_offsets_destroy(evf_offsets_t *t) {
    if (!t)
        return;
    free(t->ring);
    free(t);
}

static void grow(evf_offsets_t *t) {
    slot_t *n = calloc(t->cap * 2, sizeof(slot_t));
    if (!n)
        abort();
    for (size_t i = 0; i < t->count; i++)
        n[i] = t->ring[(t->head + i) % t->cap];
    free(t->ring);
    t->ring = n;
    t->head = 0;
    t->cap *= 2;
}

int evf_offsets_track(evf_offsets_t *t, int64_t offset) {
    if (offset <= t->last_tracked)
        return -1;
    if (t->count == t->cap)
        grow(t);
    t->ring[(t->head + t->count) % t->cap] = (slot_t){offset, 0};
    t->count++;
    t->last_tracked = offset;
    return 0;
}

int evf_offsets_done(evf_offsets_t *t, int64_t offset) {
    size_t lo = 0, hi = t->count;
    if (t->count == 0)
        return -1;
    /* Offsets are increasing along the ring: binary search. */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int64_t o = t->ring[(t->head + mid) % t->cap].offset;
        if (o < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == t->count)
        return -1;
    slot_t *s = &t->ring[(t->head + lo) % t->cap];
    if (s->offset != offset || s->done)
        return -1;
    s->done = 1;
    while (t->count && t->ring[t->head].done) {
        t->last_popped = t->ring[t->head].offset;
        t->head = (t->head + 1) % t->cap;
        t->count--;
    }
    return 0;
}

int64_t evf_offsets_committable(evf_offsets_t *t) {
    if (t->last_popped < 0 || t->last_popped + 1 == t->last_returned)
        return -1;
    t->last_returned = t->last_popped + 1;
    return t->last_returned;
}

size_t evf_offsets_pending(const evf_offsets_t *t) {
    size_t n = 0;
    for (size_t i = 0; i < t->count; i++)
        n += !t->ring[(t->head + i) % t->cap].done;
    return n;
}

int64_t evf_offsets_first_pending(const evf_offsets_t *t) {
    return t->count ? t->ring[t->head].offset : -1;
}
