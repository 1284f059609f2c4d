/* consumer/held.h — the idempotency keys the processing threads of this worker hold right now.
 *
 * A record acquired by this worker and not yet finished must not be acquired by another thread
 * of the same worker: the acquire script lets a worker take over its own live lease (so a
 * thread can pick up work another thread gave back), which would otherwise let two messages
 * with one idempotency key (a duplicate in another partition or key lane) run at the same time
 * on two threads. Thread-safe; one mutex, chained hash. */
#ifndef EVF_HELD_H
#define EVF_HELD_H

#include <stddef.h>

typedef struct evf_held_s evf_held_t;

evf_held_t *evf_held_new(void);
void evf_held_destroy(evf_held_t *h);

/**
 * @brief Claim keys for `owner`: ok[i] = 1 when keys[i] is now held by owner (newly or already),
 * 0 when another owner holds it.
 */
void evf_held_claim(evf_held_t *h, const void *owner, const char *const *keys, size_t n, int *ok);

/** @brief Give up keys held by `owner` (keys held by another owner or not held are ignored). */
void evf_held_drop(evf_held_t *h, const void *owner, const char *const *keys, size_t n);

/** @brief Keys held now (tests, /status). */
size_t evf_held_count(evf_held_t *h);

#endif
