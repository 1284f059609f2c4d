/* tests/fuzz/fuzz_event_decode.c — a Kafka message value as the worker decodes it: strict
 * protobuf (evf_event_decode) and the content-type sniffing of evf_event_decode_message (JSON if
 * it starts with `{` after whitespace, else protobuf, and protobuf again after a JSON failure when
 * there was leading whitespace). Seeds: tests/fuzz/corpus/event/ (make_event_corpus.sh).
 *
 * Properties: no crash, leak or undefined behaviour; a refusal always has a reason; a value that
 * does not sniff as JSON decodes exactly as strict protobuf does; every event returned passes
 * evf_fuzz_check_event (protobuf and JSON round trips, fingerprint, key, headers, fields). */
#include "fuzz_common.h"

#include <string.h>

static int decode_is_json_sniffed(const uint8_t *data, size_t size) {
    size_t i = 0;
    while (i < size && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n'))
        i++;
    return i < size && data[i] == '{';
}

void evf_fuzz_event_decode(const uint8_t *data, size_t size) {
    char err[512], err2[512];
    /* A copy of exactly size bytes, so ASan sees any read past the end. */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        abort();
    if (size)
        memcpy(copy, data, size);

    err[0] = '\0';
    evf_event_t *strict = evf_event_decode(copy, size, err, sizeof err);
    if (!strict)
        EVF_FUZZ_CHECK(err[0] != '\0', "evf_event_decode refused without a reason");
    else
        evf_fuzz_check_event(strict, 0);

    err2[0] = '\0';
    evf_event_t *sniffed = evf_event_decode_message(copy, size, NULL, err2, sizeof err2);
    if (!sniffed)
        EVF_FUZZ_CHECK(err2[0] != '\0', "evf_event_decode_message refused without a reason");
    if (!decode_is_json_sniffed(copy, size)) {
        EVF_FUZZ_CHECK(!strict == !sniffed, "sniffed protobuf: strict %s, sniffed %s",
                       strict ? "ok" : err, sniffed ? "ok" : err2);
        if (strict && sniffed) {
            size_t a, b;
            uint8_t *ea = evf_event_encode(strict, &a), *eb = evf_event_encode(sniffed, &b);
            EVF_FUZZ_CHECK(a == b && !memcmp(ea, eb, a), "sniffed and strict decodes differ");
            free(ea);
            free(eb);
        }
    } else if (sniffed) {
        evf_fuzz_check_event(sniffed, 0);
    }

    /* An explicit content type takes the named path only. */
    evf_event_t *as_pb = evf_event_decode_message(copy, size, " Application/Protobuf ; x=1",
                                                  NULL, 0);
    EVF_FUZZ_CHECK(!as_pb == !strict, "content type application/protobuf differs from decode");
    evf_event_free(as_pb);

    evf_event_free(strict);
    evf_event_free(sniffed);
    free(copy);
}

EVF_FUZZ_TARGET(evf_fuzz_event_decode)
