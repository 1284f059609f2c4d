/* tests/fuzz/fuzz_common.h — what the fuzz targets share.
 *
 * Each target file defines one entry function, `void evf_fuzz_<target>(const uint8_t *data,
 * size_t size)`, that runs one input and checks properties with EVF_FUZZ_CHECK (a failed
 * property aborts, which libFuzzer reports as a crash, as it does a sanitizer finding). Built by
 * tests/fuzz/run.sh with -DEVF_LIBFUZZER, EVF_FUZZ_TARGET also defines LLVMFuzzerTestOneInput;
 * without it the entry functions are plain functions, which tests/unit/test_fuzz_regressions.c
 * calls on every file of tests/regress/<target>/ (so `make test` replays what once crashed,
 * without clang). */
#ifndef EVF_FUZZ_COMMON_H
#define EVF_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "event.h"

/* A property that must hold for every input; on failure: the message on stderr, then abort(). */
#define EVF_FUZZ_CHECK(cond, ...)                                                                  \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz property failed at %s:%d: %s\n  ", __FILE__, __LINE__, #cond);   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#ifdef EVF_LIBFUZZER
#define EVF_FUZZ_TARGET(entry)                                                                     \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);                                  \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {                                 \
        entry(data, size);                                                                         \
        return 0;                                                                                  \
    }
#else
#define EVF_FUZZ_TARGET(entry)
#endif

/* The entry functions, one per target (tests/fuzz/fuzz_<target>.c). */
void evf_fuzz_event_decode(const uint8_t *data, size_t size);
void evf_fuzz_event_json(const uint8_t *data, size_t size);
void evf_fuzz_aws_import(const uint8_t *data, size_t size);
void evf_fuzz_config(const uint8_t *data, size_t size);
void evf_fuzz_redis_url(const uint8_t *data, size_t size);
void evf_fuzz_dlq_headers(const uint8_t *data, size_t size);

/* evf_fuzz_check_event flags. */
#define EVF_FUZZ_EV_ID_MAY_BE_EMPTY 0x1 /* proto3 JSON input: the producer assigns ids later */

/**
 * @brief The properties every event our parsers return must have, whichever parser made it:
 * it encodes to protobuf that evf_event_decode accepts again (unless its id is empty and flags
 * allow that) with the same bytes and fingerprint; its proto3 JSON is valid UTF-8 and valid
 * JSON and parses back to the same JSON and fingerprint; dup, Kafka key, CloudEvents headers and
 * every field path work and agree with each other.
 */
void evf_fuzz_check_event(const evf_event_t *ev, int flags);

/** @brief A NUL-terminated malloc'd copy of data (caller frees). */
char *evf_fuzz_strndup(const uint8_t *data, size_t size);

#endif
