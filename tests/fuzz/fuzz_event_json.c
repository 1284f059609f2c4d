/* tests/fuzz/fuzz_event_json.c — the JSON forms of an event: proto3 canonical JSON
 * (evf_event_from_json: `evfleet-produce json`, `evfleet-dlq` tooling) and CloudEvents 1.0
 * structured mode (evf_event_from_cloudevent: what the worker decodes for
 * `content-type: application/cloudevents+json`), plus evf_event_json_canonical, which the Kafka
 * key, field lookup and fingerprint apply to stream keys and images.
 * Seeds: tests/fuzz/corpus/event_json/.
 *
 * Properties: no crash, leak or undefined behaviour; a refusal always has a reason; every event
 * returned passes evf_fuzz_check_event (a CloudEvent always has an id; proto3 JSON may leave it
 * empty); canonical JSON is a fixed point (canonical(canonical(x)) == canonical(x)). */
#include "fuzz_common.h"

#include <string.h>

static void json_check_canonical(const char *text) {
    char *once = evf_event_json_canonical(text);
    if (!once)
        return;
    char *twice = evf_event_json_canonical(once);
    EVF_FUZZ_CHECK(twice != NULL, "canonical JSON does not parse: %s", once);
    EVF_FUZZ_CHECK(!strcmp(once, twice), "canonical JSON is not a fixed point:\n  %s\n  %s", once,
                   twice);
    free(once);
    free(twice);
}

void evf_fuzz_event_json(const uint8_t *data, size_t size) {
    char err[512];
    /* Exactly size bytes (the parsers take a length; ASan sees any read past it). */
    char *copy = malloc(size ? size : 1);
    if (!copy)
        abort();
    if (size)
        memcpy(copy, data, size);

    err[0] = '\0';
    evf_event_t *ev = evf_event_from_json(copy, size, err, sizeof err);
    if (ev)
        evf_fuzz_check_event(ev, EVF_FUZZ_EV_ID_MAY_BE_EMPTY);
    else
        EVF_FUZZ_CHECK(err[0] != '\0', "from_json refused without a reason");
    evf_event_free(ev);

    err[0] = '\0';
    ev = evf_event_from_cloudevent(copy, size, err, sizeof err);
    if (ev)
        evf_fuzz_check_event(ev, 0);
    else
        EVF_FUZZ_CHECK(err[0] != '\0', "from_cloudevent refused without a reason");
    int ce_ok = ev != NULL;
    evf_event_free(ev);

    ev = evf_event_decode_message(copy, size, "application/cloudevents+json; charset=utf-8",
                                  NULL, 0);
    EVF_FUZZ_CHECK(!ev == !ce_ok, "content type cloudevents+json differs from from_cloudevent");
    evf_event_free(ev);

    char *text = evf_fuzz_strndup(data, size);
    json_check_canonical(text);
    free(text);
    free(copy);
}

EVF_FUZZ_TARGET(evf_fuzz_event_json)
