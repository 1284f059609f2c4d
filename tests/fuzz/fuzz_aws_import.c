/* tests/fuzz/fuzz_aws_import.c — one line of `evfleet-produce json`: evf_aws_import (proto3 JSON
 * Event, CloudEvent, AWS S3 notification, DynamoDB Streams batch), and the two helpers it is
 * built on that are public: evf_aws_s3_key_decode and evf_aws_ddb_item_json.
 * Seeds: tests/fuzz/corpus/aws_import/ (tests/data/aws/ documents, shortened, and variants).
 *
 * Properties: no crash, leak or undefined behaviour; a refusal has a reason and returns no
 * events; every event returned has an id and passes evf_fuzz_check_event — above all, the
 * producer never publishes an event that the worker's decoder would refuse; a decoded S3 key is
 * valid UTF-8 without NUL; an item converts to valid JSON. */
#include "fuzz_common.h"

#include <string.h>

#include <jansson.h>

#include "aws_import.h"
#include "generate.h"

static void aws_check_s3_key(const char *text) {
    char err[256] = "";
    char *key = evf_aws_s3_key_decode(text, err, sizeof err);
    if (!key) {
        EVF_FUZZ_CHECK(err[0] != '\0', "s3 key decode refused without a reason");
        return;
    }
    EVF_FUZZ_CHECK(strlen(key) <= strlen(text), "decoded key is longer than the raw key");
    EVF_FUZZ_CHECK(evf_utf8_valid(key, strlen(key)), "decoded key is not UTF-8");
    free(key);
}

static void aws_check_item(const uint8_t *data, size_t size) {
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)data, size, 0, &jerr);
    if (!doc)
        return;
    if (json_is_object(doc)) {
        char err[512] = "";
        char *text = evf_aws_ddb_item_json(doc, "Item", err, sizeof err);
        if (text) {
            json_t *back = json_loads(text, 0, &jerr);
            EVF_FUZZ_CHECK(back != NULL, "ddb item JSON does not parse (%s): %s", jerr.text, text);
            json_decref(back);
            free(text);
        } else {
            EVF_FUZZ_CHECK(err[0] != '\0', "ddb item refused without a reason");
        }
    }
    json_decref(doc);
}

void evf_fuzz_aws_import(const uint8_t *data, size_t size) {
    char err[1024] = "";
    evf_event_t **events = NULL;
    size_t count = 0;
    char *copy = malloc(size ? size : 1);
    if (!copy)
        abort();
    if (size)
        memcpy(copy, data, size);

    /* A fixed seed: the same input always gives the same events. */
    evf_gen_t *ids = evf_gen_new(42);
    int rc = evf_aws_import(copy, size, ids, &events, &count, err, sizeof err);
    if (rc == 0) {
        EVF_FUZZ_CHECK(count == 0 || events != NULL, "%zu events in a NULL array", count);
        for (size_t i = 0; i < count; i++)
            evf_fuzz_check_event(events[i], 0);
    } else {
        EVF_FUZZ_CHECK(rc == -1, "evf_aws_import returned %d", rc);
        EVF_FUZZ_CHECK(events == NULL && count == 0, "a refused document returned events");
        EVF_FUZZ_CHECK(err[0] != '\0', "evf_aws_import refused without a reason");
    }
    evf_aws_import_free(events, count);
    evf_gen_destroy(ids);

    char *text = evf_fuzz_strndup(data, size);
    aws_check_s3_key(text);
    free(text);
    aws_check_item(data, size);
    free(copy);
}

EVF_FUZZ_TARGET(evf_fuzz_aws_import)
