/* consumer/held.c — see held.h. */
#include "held.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HELD_BUCKETS 4096 /* threads × batch is at most a few thousand keys in practice */

typedef struct held_ent_s {
    struct held_ent_s *next;
    const void *owner;
    char key[]; /* NUL-terminated */
} held_ent_t;

struct evf_held_s {
    pthread_mutex_t lock;
    size_t count;
    held_ent_t *buckets[HELD_BUCKETS];
};

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

evf_held_t *evf_held_new(void) {
    evf_held_t *h = calloc(1, sizeof(*h));
    if (!h)
        abort();
    pthread_mutex_init(&h->lock, NULL);
    return h;
}

void evf_held_destroy(evf_held_t *h) {
    if (!h)
        return;
    for (size_t b = 0; b < HELD_BUCKETS; b++) {
        held_ent_t *e = h->buckets[b];
        while (e) {
            held_ent_t *next = e->next;
            free(e);
            e = next;
        }
    }
    pthread_mutex_destroy(&h->lock);
    free(h);
}

void evf_held_claim(evf_held_t *h, const void *owner, const char *const *keys, size_t n, int *ok) {
    pthread_mutex_lock(&h->lock);
    for (size_t i = 0; i < n; i++) {
        size_t b = hash_str(keys[i]) % HELD_BUCKETS;
        held_ent_t *e = h->buckets[b];
        while (e && strcmp(e->key, keys[i]))
            e = e->next;
        if (e) {
            ok[i] = e->owner == owner;
            continue;
        }
        size_t len = strlen(keys[i]);
        e = malloc(sizeof(*e) + len + 1);
        if (!e)
            abort();
        memcpy(e->key, keys[i], len + 1);
        e->owner = owner;
        e->next = h->buckets[b];
        h->buckets[b] = e;
        h->count++;
        ok[i] = 1;
    }
    pthread_mutex_unlock(&h->lock);
}

void evf_held_drop(evf_held_t *h, const void *owner, const char *const *keys, size_t n) {
    pthread_mutex_lock(&h->lock);
    for (size_t i = 0; i < n; i++) {
        size_t b = hash_str(keys[i]) % HELD_BUCKETS;
        for (held_ent_t **pp = &h->buckets[b]; *pp; pp = &(*pp)->next) {
            held_ent_t *e = *pp;
            if (!strcmp(e->key, keys[i])) {
                if (e->owner == owner) {
                    *pp = e->next;
                    free(e);
                    h->count--;
                }
                break;
            }
        }
    }
    pthread_mutex_unlock(&h->lock);
}

size_t evf_held_count(evf_held_t *h) {
    pthread_mutex_lock(&h->lock);
    size_t n = h->count;
    pthread_mutex_unlock(&h->lock);
    return n;
}
