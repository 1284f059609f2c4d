/* common/sha256.h — SHA-256 (FIPS 180-4), small and dependency-free; used for event fingerprints.
 * A context is owned by its caller; no shared state, so thread-safe per context. */
#ifndef EVF_SHA256_H
#define EVF_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define EVF_SHA256_DIGEST_LEN 32

typedef struct evf_sha256_s {
    uint32_t state[8];
    uint64_t total_len; /* bytes hashed so far */
    uint8_t block[64];
    size_t block_len; /* bytes waiting in block */
} evf_sha256_t;

/** @brief Start a new hash. */
void evf_sha256_init(evf_sha256_t *ctx);
/** @brief Hash len more bytes (data may be NULL when len is 0). */
void evf_sha256_update(evf_sha256_t *ctx, const void *data, size_t len);
/** @brief Finish: write the 32-byte digest into out. ctx must be re-initialised before reuse. */
void evf_sha256_final(evf_sha256_t *ctx, uint8_t out[EVF_SHA256_DIGEST_LEN]);
/** @brief 1: use the portable compression even where the CPU has the SHA extensions (tests and
 * benchmarks compare the two); 0: the default, the extensions when present. */
void evf_sha256_force_portable(int on);
/** @brief One-shot digest of data[0..len). */
void evf_sha256(const void *data, size_t len, uint8_t out[EVF_SHA256_DIGEST_LEN]);

#endif
