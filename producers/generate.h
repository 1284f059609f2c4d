/* producers/generate.h — varied, realistic events for `evfleet-produce … --count N` and `bench`:
 * S3 object events spread over many buckets and keys, change-stream records over several tables
 * and many items, IoT telemetry from many devices. Ids are UUIDv4 from a PRNG seeded from
 * /dev/urandom, or from a given seed, in which case the whole sequence (ids, keys, values) is
 * deterministic. A generator is not thread-safe; use one per thread. */
#ifndef EVF_GENERATE_H
#define EVF_GENERATE_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"

typedef struct evf_gen_s evf_gen_t;

/* What to generate. The values index evf_gen_kind_name() and the --mix weights. */
typedef enum {
    EVF_GEN_S3 = 0,
    EVF_GEN_STREAM,
    EVF_GEN_IOT,
    EVF_GEN__CNT
} evf_gen_kind_t;

#define EVF_GEN_UUID_LEN 36 /* without the NUL */

/**
 * @brief A generator. seed 0 seeds from /dev/urandom (falling back to the clock and pid).
 * Never NULL (aborts on OOM).
 */
evf_gen_t *evf_gen_new(uint64_t seed);
void evf_gen_destroy(evf_gen_t *gen); /* NULL-safe */

/** @returns the next 64 pseudo-random bits (xoshiro256**). */
uint64_t evf_gen_u64(evf_gen_t *gen);

/** @brief Write a random UUIDv4 (lowercase, 36 characters and a NUL) into out. */
void evf_gen_uuid(evf_gen_t *gen, char out[EVF_GEN_UUID_LEN + 1]);

/**
 * @brief A new event of kind with a fresh UUIDv4 id, the contract's source, type, subject and
 * detail, and time_ms = time_ms. @returns the event (caller frees with evf_event_free).
 */
evf_event_t *evf_gen_event(evf_gen_t *gen, evf_gen_kind_t kind, int64_t time_ms);

/** @returns "s3", "stream" or "iot". */
const char *evf_gen_kind_name(evf_gen_kind_t kind);
/** @returns 0 and sets *out for "s3"/"stream"/"iot", else -1. */
int evf_gen_kind_parse(const char *name, evf_gen_kind_t *out);
/** @returns the kind an event belongs to by its source (CUSTOM and unset: -1). */
int evf_gen_kind_of(const evf_event_t *ev);

/** Relative weights of the kinds in a mix ("s3=1,stream=1,iot=8"). */
typedef struct {
    uint32_t weight[EVF_GEN__CNT];
    uint32_t total;
} evf_gen_mix_t;

/**
 * @brief Parse `kind=weight[,kind=weight…]`; kinds not named get weight 0; at least one weight
 * must be positive. @returns 0, or -1 with the reason in errstr.
 */
int evf_gen_mix_parse(const char *text, evf_gen_mix_t *mix, char *errstr, size_t errstr_size);

/** @returns a kind drawn with the mix's weights. */
evf_gen_kind_t evf_gen_pick(evf_gen_t *gen, const evf_gen_mix_t *mix);

#endif
