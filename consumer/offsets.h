/* consumer/offsets.h — per-partition offset tracker: which polled offsets are done, and the
 * contiguous done prefix that may be stored (DESIGN.md "Processing guarantees": an offset is stored
 * only when it and every earlier offset of its partition is done). Offsets are tracked in poll
 * order (strictly increasing; gaps from compaction or transaction markers are fine). Not
 * thread-safe: the caller holds its partition's lock. */
#ifndef EVF_OFFSETS_H
#define EVF_OFFSETS_H

#include <stddef.h>
#include <stdint.h>

typedef struct evf_offsets_s evf_offsets_t;

evf_offsets_t *evf_offsets_new(void);
void evf_offsets_destroy(evf_offsets_t *t); /* NULL-safe */

/** @brief Record a polled offset (must be greater than every tracked one). @returns 0, -1 if not. */
int evf_offsets_track(evf_offsets_t *t, int64_t offset);

/** @brief Mark a tracked offset done. @returns 0, or -1 if it is not tracked or already done. */
int evf_offsets_done(evf_offsets_t *t, int64_t offset);

/**
 * @brief The offset to store (the next offset to consume: last contiguous done offset + 1), or -1
 * when nothing new is done since the last call that returned it.
 */
int64_t evf_offsets_committable(evf_offsets_t *t);

/** @returns offsets tracked and not yet done. */
size_t evf_offsets_pending(const evf_offsets_t *t);

/** @returns the lowest tracked offset not done, or -1 when none. */
int64_t evf_offsets_first_pending(const evf_offsets_t *t);

#endif
