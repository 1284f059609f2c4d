/* tests/unit/test_generate.c — the event generators: UUIDv4 ids that never repeat, keys spread
 * over many buckets/objects, tables/items and devices, well-formed events of each kind, the same
 * sequence for the same seed, and the --mix weights. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "generate.h"

#define NOW_MS 1720949213589LL

/* A small open-addressing set of strings, enough to count distinct values in a test. */
typedef struct {
    char **slots;
    size_t cap, count;
} strset_t;

static void set_init(strset_t *s, size_t cap) {
    s->cap = cap * 2;
    s->count = 0;
    s->slots = calloc(s->cap, sizeof(char *));
    ck_assert_ptr_nonnull(s->slots);
}

static int set_add(strset_t *s, const char *v) { /* 1 if new */
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = v; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    for (size_t i = h % s->cap;; i = (i + 1) % s->cap) {
        if (!s->slots[i]) {
            ck_assert_uint_lt(s->count + 1, s->cap);
            s->slots[i] = strdup(v);
            s->count++;
            return 1;
        }
        if (!strcmp(s->slots[i], v))
            return 0;
    }
}

static void set_free(strset_t *s) {
    for (size_t i = 0; i < s->cap; i++)
        free(s->slots[i]);
    free(s->slots);
}

static int is_uuid4(const char *id) {
    if (strlen(id) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (id[i] != '-')
                return 0;
        } else if (!strchr("0123456789abcdef", id[i]))
            return 0;
    }
    return id[14] == '4' && strchr("89ab", id[19]) != NULL;
}

START_TEST(uuids_are_v4_and_distinct) {
    evf_gen_t *gen = evf_gen_new(0);
    strset_t ids;
    char id[EVF_GEN_UUID_LEN + 1];
    set_init(&ids, 200000);
    for (int i = 0; i < 200000; i++) {
        evf_gen_uuid(gen, id);
        ck_assert_msg(is_uuid4(id), "not a UUIDv4: %s", id);
        ck_assert_msg(set_add(&ids, id), "id repeated after %d: %s", i, id);
    }
    set_free(&ids);
    evf_gen_destroy(gen);
}
END_TEST

START_TEST(random_seeds_differ) {
    evf_gen_t *a = evf_gen_new(0), *b = evf_gen_new(0);
    char ida[EVF_GEN_UUID_LEN + 1], idb[EVF_GEN_UUID_LEN + 1];
    evf_gen_uuid(a, ida);
    evf_gen_uuid(b, idb);
    ck_assert_str_ne(ida, idb);
    evf_gen_destroy(a);
    evf_gen_destroy(b);
}
END_TEST

/* Every generated event must be a valid, self-consistent event of its kind. */
static void check_event(const evf_event_t *ev, evf_gen_kind_t kind) {
    char key[1024], err[256];
    ck_assert(is_uuid4(ev->id));
    ck_assert_int_eq(ev->time_ms, NOW_MS);
    ck_assert_int_eq(evf_gen_kind_of(ev), kind);
    ck_assert_uint_gt(strlen(ev->subject), 0);
    evf_event_kafka_key(ev, key, sizeof(key));
    switch (kind) {
    case EVF_GEN_S3: {
        char subject[600];
        ck_assert_int_eq(ev->detail_case, EVFLEET__V1__EVENT__DETAIL_S3);
        snprintf(subject, sizeof(subject), "%s/%s", ev->s3->bucket, ev->s3->key);
        ck_assert_str_eq(ev->subject, subject);
        ck_assert_str_eq(key, subject);
        ck_assert_msg(!strncmp(ev->type, "s3:Object", 9), "%s", ev->type);
        ck_assert_str_eq(ev->type + 3, ev->s3->event_name);
        ck_assert_uint_gt(strlen(ev->s3->sequencer), 0);
        ck_assert_uint_gt(strlen(ev->s3->region), 0);
        if (!strncmp(ev->s3->event_name, "ObjectCreated:", 14)) {
            ck_assert_int_gt(ev->s3->size, 0);
            ck_assert_uint_ge(strlen(ev->s3->etag), 32);
        }
        break;
    }
    case EVF_GEN_STREAM: {
        const Evfleet__V1__StreamRecord *st = ev->stream;
        ck_assert_int_eq(ev->detail_case, EVFLEET__V1__EVENT__DETAIL_STREAM);
        /* Keys and images are valid JSON already in canonical (sorted, compact) form. */
        char *canon = evf_event_json_canonical(st->keys);
        ck_assert_msg(canon && !strcmp(canon, st->keys), "keys %s", st->keys);
        free(canon);
        const char *images[2] = {st->old_image, st->new_image};
        for (int i = 0; i < 2; i++) {
            if (!*images[i])
                continue;
            canon = evf_event_json_canonical(images[i]);
            ck_assert_msg(canon && !strcmp(canon, images[i]), "image %s", images[i]);
            free(canon);
        }
        switch (st->op) {
        case EVFLEET__V1__STREAM_OP__INSERT:
            ck_assert_str_eq(ev->type, "stream:INSERT");
            ck_assert(*st->new_image && !*st->old_image);
            break;
        case EVFLEET__V1__STREAM_OP__MODIFY:
            ck_assert_str_eq(ev->type, "stream:MODIFY");
            ck_assert(*st->new_image && *st->old_image);
            ck_assert_str_ne(st->new_image, st->old_image);
            break;
        case EVFLEET__V1__STREAM_OP__REMOVE:
            ck_assert_str_eq(ev->type, "stream:REMOVE");
            ck_assert(!*st->new_image && *st->old_image);
            break;
        default:
            ck_abort_msg("op %d", st->op);
        }
        char subject[600];
        snprintf(subject, sizeof(subject), "%s/%s", st->table, st->keys);
        ck_assert_str_eq(ev->subject, subject);
        ck_assert_str_eq(key, subject);
        ck_assert_int_eq(st->approximate_creation_ms, NOW_MS);
        break;
    }
    default:
        ck_assert_int_eq(ev->detail_case, EVFLEET__V1__EVENT__DETAIL_IOT);
        ck_assert_str_eq(ev->type, "iot:telemetry");
        ck_assert_str_eq(ev->subject, ev->iot->device_id);
        ck_assert_str_eq(key, ev->iot->device_id);
        ck_assert_uint_gt(strlen(ev->iot->metric), 0);
        ck_assert_uint_gt(strlen(ev->iot->unit), 0);
        break;
    }

    /* And it survives the wire format. */
    size_t len;
    uint8_t *buf = evf_event_encode(ev, &len);
    evf_event_t *back = evf_event_decode(buf, len, err, sizeof(err));
    ck_assert_msg(back, "decode: %s", err);
    ck_assert_str_eq(back->id, ev->id);
    ck_assert_str_eq(back->subject, ev->subject);
    evf_event_free(back);
    free(buf);
}

START_TEST(s3_events_spread) {
    evf_gen_t *gen = evf_gen_new(7);
    strset_t ids, buckets, objects;
    int removed = 0;
    set_init(&ids, 20000);
    set_init(&buckets, 20000);
    set_init(&objects, 20000);
    for (int i = 0; i < 20000; i++) {
        evf_event_t *ev = evf_gen_event(gen, EVF_GEN_S3, NOW_MS);
        check_event(ev, EVF_GEN_S3);
        ck_assert(set_add(&ids, ev->id));
        set_add(&buckets, ev->s3->bucket);
        set_add(&objects, ev->subject);
        removed += !strncmp(ev->s3->event_name, "ObjectRemoved:", 14);
        evf_event_free(ev);
    }
    ck_assert_uint_ge(buckets.count, 60);    /* 8 apps × 3 environments × 4 regions */
    ck_assert_uint_ge(objects.count, 19000); /* almost every event a different object */
    ck_assert_int_gt(removed, 500);          /* some deletes among the creates */
    ck_assert_int_lt(removed, 3000);
    set_free(&ids);
    set_free(&buckets);
    set_free(&objects);
    evf_gen_destroy(gen);
}
END_TEST

START_TEST(stream_events_spread) {
    evf_gen_t *gen = evf_gen_new(8);
    strset_t ids, tables, items;
    int ops[4] = {0};
    set_init(&ids, 20000);
    set_init(&tables, 100);
    set_init(&items, 20000);
    for (int i = 0; i < 20000; i++) {
        evf_event_t *ev = evf_gen_event(gen, EVF_GEN_STREAM, NOW_MS);
        check_event(ev, EVF_GEN_STREAM);
        ck_assert(set_add(&ids, ev->id));
        set_add(&tables, ev->stream->table);
        set_add(&items, ev->subject);
        ops[ev->stream->op]++;
        evf_event_free(ev);
    }
    ck_assert_uint_ge(tables.count, 4);
    ck_assert_uint_ge(items.count, 15000);
    ck_assert_int_gt(ops[EVFLEET__V1__STREAM_OP__INSERT], 5000);
    ck_assert_int_gt(ops[EVFLEET__V1__STREAM_OP__MODIFY], 5000);
    ck_assert_int_gt(ops[EVFLEET__V1__STREAM_OP__REMOVE], 1000);
    set_free(&ids);
    set_free(&tables);
    set_free(&items);
    evf_gen_destroy(gen);
}
END_TEST

START_TEST(iot_events_spread) {
    evf_gen_t *gen = evf_gen_new(9);
    strset_t ids, devices, metrics;
    int with_readings = 0, with_location = 0;
    set_init(&ids, 50000);
    set_init(&devices, 50000);
    set_init(&metrics, 100);
    for (int i = 0; i < 50000; i++) {
        evf_event_t *ev = evf_gen_event(gen, EVF_GEN_IOT, NOW_MS);
        check_event(ev, EVF_GEN_IOT);
        ck_assert(set_add(&ids, ev->id));
        set_add(&devices, ev->iot->device_id);
        set_add(&metrics, ev->iot->metric);
        with_readings += ev->iot->n_readings > 0;
        with_location += ev->iot->location != NULL;
        evf_event_free(ev);
    }
    ck_assert_uint_ge(devices.count, 9000); /* of 10000 devices */
    ck_assert_uint_ge(metrics.count, 5);
    ck_assert_int_gt(with_readings, 5000);
    ck_assert_int_gt(with_location, 5000);
    set_free(&ids);
    set_free(&devices);
    set_free(&metrics);
    evf_gen_destroy(gen);
}
END_TEST

START_TEST(same_seed_same_sequence) {
    evf_gen_t *a = evf_gen_new(12345), *b = evf_gen_new(12345), *c = evf_gen_new(12346);
    int differs = 0;
    for (int i = 0; i < 3000; i++) {
        evf_gen_kind_t kind = (evf_gen_kind_t)(i % EVF_GEN__CNT);
        evf_event_t *ea = evf_gen_event(a, kind, NOW_MS), *eb = evf_gen_event(b, kind, NOW_MS);
        evf_event_t *ec = evf_gen_event(c, kind, NOW_MS);
        size_t la, lb;
        uint8_t *ba = evf_event_encode(ea, &la), *bb = evf_event_encode(eb, &lb);
        ck_assert_uint_eq(la, lb);
        ck_assert_msg(!memcmp(ba, bb, la), "event %d differs for the same seed", i);
        differs += strcmp(ea->id, ec->id) != 0;
        free(ba);
        free(bb);
        evf_event_free(ea);
        evf_event_free(eb);
        evf_event_free(ec);
    }
    ck_assert_int_eq(differs, 3000);
    evf_gen_destroy(a);
    evf_gen_destroy(b);
    evf_gen_destroy(c);
}
END_TEST

START_TEST(mix_parse_and_pick) {
    evf_gen_mix_t mix;
    char err[256];
    ck_assert_int_eq(evf_gen_mix_parse("s3=1,stream=1,iot=8", &mix, err, sizeof(err)), 0);
    ck_assert_uint_eq(mix.total, 10);
    ck_assert_uint_eq(mix.weight[EVF_GEN_IOT], 8);
    ck_assert_int_eq(evf_gen_mix_parse(" iot = 3 ", &mix, err, sizeof(err)), 0);
    ck_assert_uint_eq(mix.weight[EVF_GEN_S3], 0);
    ck_assert_uint_eq(mix.weight[EVF_GEN_IOT], 3);

    ck_assert_int_eq(evf_gen_mix_parse("s3=1,kinesis=2", &mix, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "kinesis"));
    ck_assert_int_eq(evf_gen_mix_parse("s3=0,iot=0", &mix, err, sizeof(err)), -1);
    ck_assert_int_eq(evf_gen_mix_parse("s3", &mix, err, sizeof(err)), -1);
    ck_assert_int_eq(evf_gen_mix_parse("s3=-1", &mix, err, sizeof(err)), -1);
    ck_assert_int_eq(evf_gen_mix_parse("s3=x", &mix, err, sizeof(err)), -1);
    ck_assert_int_eq(evf_gen_mix_parse("s3=1,s3=2", &mix, err, sizeof(err)), -1);
    ck_assert_int_eq(evf_gen_mix_parse("", &mix, err, sizeof(err)), -1);

    evf_gen_t *gen = evf_gen_new(3);
    int counts[EVF_GEN__CNT] = {0};
    ck_assert_int_eq(evf_gen_mix_parse("s3=1,stream=1,iot=8", &mix, err, sizeof(err)), 0);
    for (int i = 0; i < 100000; i++)
        counts[evf_gen_pick(gen, &mix)]++;
    ck_assert_int_gt(counts[EVF_GEN_IOT], 78000);
    ck_assert_int_lt(counts[EVF_GEN_IOT], 82000);
    ck_assert_int_gt(counts[EVF_GEN_S3], 9000);
    ck_assert_int_gt(counts[EVF_GEN_STREAM], 9000);
    ck_assert_int_eq(evf_gen_mix_parse("stream=5", &mix, err, sizeof(err)), 0);
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(evf_gen_pick(gen, &mix), EVF_GEN_STREAM);
    evf_gen_destroy(gen);
}
END_TEST

START_TEST(kind_names) {
    evf_gen_kind_t k;
    for (int i = 0; i < EVF_GEN__CNT; i++) {
        ck_assert_int_eq(evf_gen_kind_parse(evf_gen_kind_name((evf_gen_kind_t)i), &k), 0);
        ck_assert_int_eq(k, i);
    }
    ck_assert_int_eq(evf_gen_kind_parse("custom", &k), -1);
    evf_event_t *ev = evf_event_new();
    ck_assert_int_eq(evf_gen_kind_of(ev), -1);
    ev->source = EVFLEET__V1__SOURCE__CUSTOM;
    ck_assert_int_eq(evf_gen_kind_of(ev), -1);
    evf_event_free(ev);
}
END_TEST

static Suite *generate_suite(void) {
    Suite *s = suite_create("generate");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, uuids_are_v4_and_distinct);
    tcase_add_test(tc, random_seeds_differ);
    tcase_add_test(tc, s3_events_spread);
    tcase_add_test(tc, stream_events_spread);
    tcase_add_test(tc, iot_events_spread);
    tcase_add_test(tc, same_seed_same_sequence);
    tcase_add_test(tc, mix_parse_and_pick);
    tcase_add_test(tc, kind_names);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(generate_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
