/* common/sha256.c — SHA-256 as specified in FIPS 180-4, written from the specification. */
#include "sha256.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define EVF_SHA_NI 1
#endif

static const uint32_t round_constants[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline uint32_t rotr32(uint32_t x, unsigned n) {
    return (x >> n) | (x << (32 - n));
}

static void sha256_compress_portable(uint32_t state[8], const uint8_t block[64]) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)block[4 * i] << 24 | (uint32_t)block[4 * i + 1] << 16 |
               (uint32_t)block[4 * i + 2] << 8 | (uint32_t)block[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = rotr32(w[i - 15], 7) ^ rotr32(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = rotr32(w[i - 2], 17) ^ rotr32(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }

    uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
    uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
    for (int i = 0; i < 64; i++) {
        uint32_t sum1 = rotr32(e, 6) ^ rotr32(e, 11) ^ rotr32(e, 25);
        uint32_t choose = (e & f) ^ (~e & g);
        uint32_t t1 = h + sum1 + choose + round_constants[i] + w[i];
        uint32_t sum0 = rotr32(a, 2) ^ rotr32(a, 13) ^ rotr32(a, 22);
        uint32_t majority = (a & b) ^ (a & c) ^ (b & c);
        uint32_t t2 = sum0 + majority;
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    state[0] += a;
    state[1] += b;
    state[2] += c;
    state[3] += d;
    state[4] += e;
    state[5] += f;
    state[6] += g;
    state[7] += h;
}

#ifdef EVF_SHA_NI
/* The same compression with the SHA extensions (Intel SHA-NI, most x86-64 CPUs since 2016-2019):
 * 4 rounds per pair of sha256rnds2, the message schedule by sha256msg1/msg2 (W[t] = σ1(W[t-2]) +
 * W[t-7] + σ0(W[t-15]) + W[t-16], four words at a time). State is kept as ABEF and CDGH.
 * Fingerprinting every event made the portable compression ~8% of a worker's CPU. */
__attribute__((target("sha,ssse3,sse4.1"))) static void sha256_compress_ni(uint32_t state[8],
                                                                      const uint8_t block[64]) {
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i tmp = _mm_loadu_si128((const __m128i *)&state[0]);
    __m128i s1 = _mm_loadu_si128((const __m128i *)&state[4]);
    tmp = _mm_shuffle_epi32(tmp, 0xB1);        /* CDAB */
    s1 = _mm_shuffle_epi32(s1, 0x1B);          /* EFGH */
    __m128i s0 = _mm_alignr_epi8(tmp, s1, 8);  /* ABEF */
    s1 = _mm_blend_epi16(s1, tmp, 0xF0);       /* CDGH */
    const __m128i abef = s0, cdgh = s1;
    __m128i w[4];
    for (int i = 0; i < 16; i++) {
        __m128i m;
        if (i < 4) {
            m = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(block + 16 * i)), bswap);
        } else {
            /* w[i % 4] holds words 4(i-4)..; the next three slots hold the groups after it. */
            __m128i t = _mm_sha256msg1_epu32(w[i % 4], w[(i + 1) % 4]);
            t = _mm_add_epi32(t, _mm_alignr_epi8(w[(i + 3) % 4], w[(i + 2) % 4], 4));
            m = _mm_sha256msg2_epu32(t, w[(i + 3) % 4]);
        }
        w[i % 4] = m;
        __m128i k = _mm_add_epi32(m, _mm_loadu_si128((const __m128i *)&round_constants[4 * i]));
        s1 = _mm_sha256rnds2_epu32(s1, s0, k);
        k = _mm_shuffle_epi32(k, 0x0E);
        s0 = _mm_sha256rnds2_epu32(s0, s1, k);
    }
    s0 = _mm_add_epi32(s0, abef);
    s1 = _mm_add_epi32(s1, cdgh);
    tmp = _mm_shuffle_epi32(s0, 0x1B);         /* FEBA */
    s1 = _mm_shuffle_epi32(s1, 0xB1);          /* DCHG */
    s0 = _mm_blend_epi16(tmp, s1, 0xF0);       /* DCBA */
    s1 = _mm_alignr_epi8(s1, tmp, 8);          /* HGFE */
    _mm_storeu_si128((__m128i *)&state[0], s0);
    _mm_storeu_si128((__m128i *)&state[4], s1);
}
#endif

static int force_portable;

void evf_sha256_force_portable(int on) {
    __atomic_store_n(&force_portable, on, __ATOMIC_RELAXED);
}

/* The SHA extensions when the CPU has them, unless evf_sha256_force_portable(1). */
static void sha256_compress(uint32_t state[8], const uint8_t block[64]) {
#ifdef EVF_SHA_NI
    static int has_ni = -1; /* a benign race: every thread finds the same answer */
    int ni = __atomic_load_n(&has_ni, __ATOMIC_RELAXED);
    if (ni < 0) {
        /* CPUID leaf 7 EBX bit 29: SHA; leaf 1 ECX bits 9, 19: SSSE3, SSE4.1 (the shuffles). */
        unsigned a, b, c, d;
        ni = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b >> 29 & 1) &&
             __get_cpuid(1, &a, &b, &c, &d) && (c >> 9 & 1) && (c >> 19 & 1);
        __atomic_store_n(&has_ni, ni, __ATOMIC_RELAXED);
    }
    if (ni && !__atomic_load_n(&force_portable, __ATOMIC_RELAXED)) {
        sha256_compress_ni(state, block);
        return;
    }
#endif
    sha256_compress_portable(state, block);
}

void evf_sha256_init(evf_sha256_t *ctx) {
    static const uint32_t initial[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                        0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(ctx->state, initial, sizeof initial);
    ctx->total_len = 0;
    ctx->block_len = 0;
}

void evf_sha256_update(evf_sha256_t *ctx, const void *data, size_t len) {
    const uint8_t *p = data;
    ctx->total_len += len;
    if (ctx->block_len > 0) {
        size_t take = 64 - ctx->block_len;
        if (take > len)
            take = len;
        memcpy(ctx->block + ctx->block_len, p, take);
        ctx->block_len += take;
        p += take;
        len -= take;
        if (ctx->block_len < 64)
            return;
        sha256_compress(ctx->state, ctx->block);
        ctx->block_len = 0;
    }
    while (len >= 64) {
        sha256_compress(ctx->state, p);
        p += 64;
        len -= 64;
    }
    if (len > 0) {
        memcpy(ctx->block, p, len);
        ctx->block_len = len;
    }
}

void evf_sha256_final(evf_sha256_t *ctx, uint8_t out[EVF_SHA256_DIGEST_LEN]) {
    uint64_t bit_len = ctx->total_len * 8;
    ctx->block[ctx->block_len++] = 0x80;
    if (ctx->block_len > 56) {
        memset(ctx->block + ctx->block_len, 0, 64 - ctx->block_len);
        sha256_compress(ctx->state, ctx->block);
        ctx->block_len = 0;
    }
    memset(ctx->block + ctx->block_len, 0, 56 - ctx->block_len);
    for (int i = 0; i < 8; i++)
        ctx->block[56 + i] = (uint8_t)(bit_len >> (56 - 8 * i));
    sha256_compress(ctx->state, ctx->block);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(ctx->state[i] >> 24);
        out[4 * i + 1] = (uint8_t)(ctx->state[i] >> 16);
        out[4 * i + 2] = (uint8_t)(ctx->state[i] >> 8);
        out[4 * i + 3] = (uint8_t)ctx->state[i];
    }
}

void evf_sha256(const void *data, size_t len, uint8_t out[EVF_SHA256_DIGEST_LEN]) {
    evf_sha256_t ctx;
    evf_sha256_init(&ctx);
    evf_sha256_update(&ctx, data, len);
    evf_sha256_final(&ctx, out);
}
