/* tests/integration/test_builtins_e2e.c — the built-in processors end to end (issue #5): a real
 * `evfleet-worker` on the local Kafka + Redis runs s3_index, stream_materialize and iot_rollup on
 * events published with late (out-of-order) and duplicate deliveries, and the Redis state it
 * builds must equal the state computed here, independently, from the published sequence and the
 * layouts documented at the top of consumer/proc_s3_index.c, proc_stream_materialize.c and
 * proc_iot_rollup.c — every key, every field, nothing more.
 *
 *   - S3: objects in several buckets (keys with spaces and UTF-8), creates and removes whose
 *     sequencers are written in either case and with different zero padding, delivered out of
 *     order and twice; one object without sequencers (ordered by time_ms); events that are
 *     neither create nor remove.
 *   - Streams: rows of three tables, INSERT/MODIFY/REMOVE out of order and twice, keys written in
 *     different member orders and spacing (one row), sequence numbers of growing length (numeric,
 *     not textual, order) and of 21 digits, and a table ordered by approximate_creation_ms.
 *   - IoT: readings crossing thresholds up, down and up again (above and below), a message
 *     delivered twice, multi-metric messages (one crossing two thresholds at once), windows.
 *   - Alerts (a topic of their own): exactly one per crossing with the documented content; the
 *     same events run again in a fresh group and key prefix give alerts with the same ids.
 *
 * Both runs (two groups, two prefixes, two alert topics) consume the same source topic at once. */
#include <check.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "demotest.h"
#include "fleet.h"
#include "testutil.h"

#define SEED 0x5eed2026ULL
#define PARTS 4
#define READY_MS 60000
#define FINISH_MS 120000
#define STOP_MS 30000
#define WINDOW_MS 60000
#define TTL_MS 7200000
#define T_BASE 1700000000000LL /* fixed event times: windows are the same on every run */

#define MAX_EVENTS 1024
#define MAX_SENDS 2048
#define MAX_ENT 64

/* ------------------------------------------------------------------------------------------ */
/* The scenario: events, and the order they are published in (a duplicate repeats a pointer)   */

typedef enum { K_S3, K_STREAM, K_IOT } kind_t;

typedef struct {
    evf_event_t *events[MAX_EVENTS];
    size_t nevents;
    evf_event_t *sends[MAX_SENDS];
    kind_t send_kind[MAX_SENDS];
    size_t nsends;
    size_t late[3], dups[3]; /* how many late deliveries and duplicates, per kind */
} scenario_t;

/* One entity's (object's, row's, device's) sends, in its own order. */
typedef struct {
    evf_event_t *ev[64];
    size_t n;
    kind_t kind;
} lane_t;

static uint64_t rng_state;

static uint32_t rnd(uint32_t n) {
    /* xorshift64*: deterministic for a fixed seed */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545F4914F6CDD1DULL) >> 33) % n;
}

static evf_event_t *new_event(scenario_t *sc, const char *id_prefix, int64_t time_ms) {
    ck_assert_uint_lt(sc->nevents, MAX_EVENTS);
    evf_event_t *ev = evf_event_new();
    char id[64];
    snprintf(id, sizeof(id), "%s-%04zu", id_prefix, sc->nevents);
    evf_event_set_str(&ev->id, id);
    ev->time_ms = time_ms;
    sc->events[sc->nevents++] = ev;
    return ev;
}

/* Lay an entity's events out as sends: mostly in order, some adjacent pairs swapped (the older
 * delivered after the newer), and some events delivered again later. */
static void lay_out(scenario_t *sc, lane_t *lane, evf_event_t **evs, size_t n, kind_t kind,
                    int shuffle) {
    evf_event_t *order[64];
    ck_assert_uint_le(n, 32);
    memcpy(order, evs, n * sizeof(*order));
    if (shuffle) {
        for (size_t i = 0; i + 1 < n; i++) {
            if (rnd(100) < 35) {
                evf_event_t *t = order[i];
                order[i] = order[i + 1];
                order[i + 1] = t;
                sc->late[kind]++;
                i++;
            }
        }
    }
    lane->n = 0;
    lane->kind = kind;
    for (size_t i = 0; i < n; i++) {
        lane->ev[lane->n++] = order[i];
        if (shuffle && rnd(100) < 30) {
            lane->ev[lane->n++] = order[rnd((uint32_t)i + 1)];
            sc->dups[kind]++;
        }
    }
}

/* Interleave the lanes: each step publishes the next send of a random lane. */
static void interleave(scenario_t *sc, lane_t *lanes, size_t nlanes) {
    size_t pos[MAX_ENT] = {0};
    size_t left = 0;
    for (size_t i = 0; i < nlanes; i++)
        left += lanes[i].n;
    while (left) {
        size_t l = rnd((uint32_t)nlanes);
        while (pos[l] == lanes[l].n)
            l = (l + 1) % nlanes;
        ck_assert_uint_lt(sc->nsends, MAX_SENDS);
        sc->send_kind[sc->nsends] = lanes[l].kind;
        sc->sends[sc->nsends++] = lanes[l].ev[pos[l]++];
        left--;
    }
}

/* ---- S3 ---- */

static const char *const s3_buckets[] = {"e2e-media", "e2e-docs"};
static const char *const s3_keys[] = {"photos/2026/cat.jpg", "photos/2026/dog pic (1).jpg",
                                      "r\xc3\xa9sum\xc3\xa9 final.pdf", "a/b/c/d.txt"};
static const char *const s3_types[] = {"image/jpeg", "application/pdf", "text/plain",
                                       "application/octet-stream"};

static void s3_fill(evf_event_t *ev, const char *bucket, const char *key, const char *name,
                    int64_t size, const char *sequencer) {
    char buf[512];
    Evfleet__V1__S3Object *s3 = evf_event_set_s3(ev);
    ev->source = EVFLEET__V1__SOURCE__S3;
    snprintf(buf, sizeof(buf), "s3:%s", name);
    evf_event_set_str(&ev->type, buf);
    snprintf(buf, sizeof(buf), "%s/%s", bucket, key);
    evf_event_set_str(&ev->subject, buf);
    evf_event_set_str(&s3->bucket, bucket);
    evf_event_set_str(&s3->key, key);
    evf_event_set_str(&s3->event_name, name);
    evf_event_set_str(&s3->region, "eu-west-1");
    if (sequencer)
        evf_event_set_str(&s3->sequencer, sequencer);
    if (rnd(2)) {
        snprintf(buf, sizeof(buf), "v%08x", rnd(1u << 30));
        evf_event_set_str(&s3->version_id, buf);
    }
    if (strstr(name, "ObjectCreated")) {
        s3->size = size;
        snprintf(buf, sizeof(buf), "%08x%08x%08x%08x", rnd(1u << 30), rnd(1u << 30),
                 rnd(1u << 30), rnd(1u << 30));
        evf_event_set_str(&s3->etag, buf);
        evf_event_set_str(&s3->content_type, s3_types[rnd(4)]);
    }
}

static void gen_s3(scenario_t *sc, lane_t *lanes, size_t *nlanes, int64_t *t) {
    static const char *const creates[] = {"ObjectCreated:Put", "ObjectCreated:Copy",
                                          "ObjectCreated:CompleteMultipartUpload"};
    static const char *const removes[] = {"ObjectRemoved:Delete",
                                          "ObjectRemoved:DeleteMarkerCreated"};
    for (size_t b = 0; b < 2; b++) {
        for (size_t k = 0; k < 4; k++) {
            evf_event_t *evs[32];
            size_t n = 5 + rnd(5);
            uint64_t seq = 0x1f000 + rnd(4096);
            for (size_t i = 0; i < n; i++) {
                char sq[40];
                /* Any case, any zero padding: they compare as hex numbers. */
                int width = rnd(2) ? 16 : 20;
                if (rnd(2))
                    snprintf(sq, sizeof(sq), "%0*" PRIx64, width, seq);
                else
                    snprintf(sq, sizeof(sq), "%0*" PRIX64, width, seq);
                seq += 1 + rnd(300);
                const char *name = i == 0 || rnd(100) < 65 ? creates[rnd(3)] : removes[rnd(2)];
                if (i > 0 && rnd(100) < 8)
                    name = "ObjectTagging:Put"; /* neither create nor remove: no change */
                int64_t size = rnd(10) == 0   ? 0
                               : rnd(10) == 0 ? 5000000000LL + rnd(1000)
                                              : rnd(1u << 20);
                evf_event_t *ev = new_event(sc, "s3", (*t += 1000 + rnd(1000)));
                s3_fill(ev, s3_buckets[b], s3_keys[k], name, size, sq);
                evs[i] = ev;
            }
            lay_out(sc, &lanes[(*nlanes)++], evs, n, K_S3, 1);
        }
    }
    /* Without sequencers: ordered by time_ms. */
    evf_event_t *evs[8];
    int64_t times[] = {T_BASE + 5000, T_BASE + 7000, T_BASE + 6000, T_BASE + 9000, T_BASE + 8000};
    const char *names[] = {"ObjectCreated:Put", "ObjectCreated:Put", "ObjectRemoved:Delete",
                           "ObjectCreated:Put", "ObjectRemoved:Delete"};
    for (size_t i = 0; i < 5; i++) {
        evf_event_t *ev = new_event(sc, "s3", times[i]);
        s3_fill(ev, "e2e-legacy", "old.txt", names[i], 1000 + (int64_t)i, NULL);
        evs[i] = ev;
    }
    lay_out(sc, &lanes[(*nlanes)++], evs, 5, K_S3, 1);
}

/* ---- streams ---- */

static void stream_fill(evf_event_t *ev, const char *table, const char *keys, const char *op,
                        const char *seq, int64_t approx, const char *new_image) {
    char buf[600];
    Evfleet__V1__StreamRecord *st = evf_event_set_stream(ev);
    ev->source = EVFLEET__V1__SOURCE__STREAM;
    snprintf(buf, sizeof(buf), "stream:%s", op);
    evf_event_set_str(&ev->type, buf);
    snprintf(buf, sizeof(buf), "%s/%s", table, keys);
    evf_event_set_str(&ev->subject, buf);
    evf_event_set_str(&st->table, table);
    st->op = !strcmp(op, "INSERT")   ? EVFLEET__V1__STREAM_OP__INSERT
             : !strcmp(op, "MODIFY") ? EVFLEET__V1__STREAM_OP__MODIFY
                                     : EVFLEET__V1__STREAM_OP__REMOVE;
    if (seq)
        evf_event_set_str(&st->sequence_number, seq);
    st->approximate_creation_ms = approx;
    evf_event_set_str(&st->keys, keys);
    if (st->op == EVFLEET__V1__STREAM_OP__REMOVE)
        evf_event_set_str(&st->old_image, "{\"gone\":true}");
    else
        evf_event_set_str(&st->new_image, new_image);
}

static void gen_stream(scenario_t *sc, lane_t *lanes, size_t *nlanes, int64_t *t) {
    for (int table = 0; table < 3; table++) {
        for (int row = 0; row < 4; row++) {
            evf_event_t *evs[32];
            size_t n = 5 + rnd(5);
            uint64_t seq = table == 1 ? 90 + rnd(8) : 100000 + rnd(1000);
            int64_t approx = T_BASE + 100000 + row * 1000;
            for (size_t i = 0; i < n; i++) {
                char keys[128], seqbuf[64], image[256];
                const char *tname = table == 0 ? "orders" : table == 1 ? "users" : "sessions";
                if (table == 0) {
                    /* the same row written two ways: one canonical form in Redis */
                    if (row == 0 && (i % 2))
                        snprintf(keys, sizeof(keys), "{ \"region\" : \"eu\",  \"orderId\" : %d }",
                                 1000 + row);
                    else
                        snprintf(keys, sizeof(keys), "{\"orderId\":%d,\"region\":\"eu\"}",
                                 1000 + row);
                    /* 21 digits: only a numeric comparison of long decimals gets these right */
                    snprintf(seqbuf, sizeof(seqbuf), "987654321%012" PRIu64, seq);
                } else if (table == 1) {
                    snprintf(keys, sizeof(keys), "{\"userId\":\"u-%d\"}", row);
                    /* 90..: crosses 100, where textual order differs from numeric order */
                    snprintf(seqbuf, sizeof(seqbuf), "%" PRIu64, seq);
                } else {
                    snprintf(keys, sizeof(keys), "{\"sessionId\":\"s-%d\"}", row);
                }
                seq += 1 + rnd(9);
                approx += 1 + rnd(500);
                const char *op = i == 0          ? "INSERT"
                                 : rnd(4) == 0   ? "REMOVE"
                                 : rnd(3) == 0   ? "INSERT"
                                                 : "MODIFY";
                /* images are kept as received: whitespace and member order included */
                unsigned note = rnd(1000);
                if (rnd(2))
                    snprintf(image, sizeof(image), "{\"v\":%zu,\"row\":%d,\"note\":\"n%u\"}", i,
                             row, note);
                else
                    snprintf(image, sizeof(image), "{ \"note\": \"n%u\", \"v\": %zu, \"row\": %d }",
                             note, i, row);
                evf_event_t *ev = new_event(sc, "st", (*t += 1000));
                stream_fill(ev, tname, keys, op, table == 2 ? NULL : seqbuf,
                            table == 2 ? approx : 0, image);
                evs[i] = ev;
            }
            lay_out(sc, &lanes[(*nlanes)++], evs, n, K_STREAM, 1);
        }
    }
}

/* ---- IoT ---- */

typedef struct {
    const char *device;
    const char *metric; /* NULL: readings only */
    double value;
    const char *unit;
    const char *rnames[3];
    double rvalues[3];
    int dup; /* deliver this message twice */
} iot_msg_t;

static const iot_msg_t iot_script[] = {
    /* temperature > 80 is above, < 10 below: up, stay, down, up, down to below, normal, up */
    {"e2e-boiler-1", "temperature", 70, "C", {0}, {0}, 0},
    {"e2e-boiler-1", "temperature", 85, "C", {0}, {0}, 1},
    {"e2e-boiler-1", "temperature", 90, "C", {0}, {0}, 0},
    {"e2e-boiler-1", "temperature", 75, "C", {0}, {0}, 0},
    {"e2e-boiler-1", "temperature", 88, "C", {0}, {0}, 0},
    {"e2e-boiler-1", "temperature", 5, "C", {0}, {0}, 1},
    {"e2e-boiler-1", "temperature", 12, "C", {0}, {0}, 0},
    {"e2e-boiler-1", "temperature", 95.25, "C", {0}, {0}, 0},
    /* the limits themselves are not crossings */
    {"e2e-boiler-2", "temperature", 79.5, "C", {0}, {0}, 0},
    {"e2e-boiler-2", "temperature", 80, "C", {0}, {0}, 0},
    {"e2e-boiler-2", "temperature", 80.01, "C", {0}, {0}, 0},
    {"e2e-boiler-2", "temperature", 9.99, "C", {0}, {0}, 0},
    {"e2e-boiler-2", "temperature", 10, "C", {0}, {0}, 0},
    {"e2e-boiler-2", "temperature", 10.5, "C", {0}, {0}, 0},
    /* multi-metric: humidity > 90 is above; a reading named like the metric counts once (the
     * message's value); one message crosses two thresholds at once (two alerts, one event) */
    {"e2e-greenhouse", "temperature", 20, "C", {"humidity", "temperature", "co2"}, {85, 999, 600},
     0},
    {"e2e-greenhouse", "temperature", 21, "C", {"humidity", "co2", NULL}, {92, 610}, 1},
    {"e2e-greenhouse", "temperature", 22, "C", {"humidity", "co2", NULL}, {93, 620}, 0},
    {"e2e-greenhouse", "temperature", 23, "C", {"humidity", "co2", NULL}, {70, 630}, 0},
    {"e2e-greenhouse", "temperature", 81, "C", {"humidity", "co2", NULL}, {96, 640}, 0},
    {"e2e-greenhouse", "temperature", 60, "C", {"humidity", "co2", NULL}, {50, 650}, 0},
    /* readings only: no unit */
    {"e2e-sensor-r", NULL, 0, NULL, {"temperature", "humidity", NULL}, {50, 91}, 0},
    {"e2e-sensor-r", NULL, 0, NULL, {"temperature", "humidity", NULL}, {82, 89}, 1},
    {"e2e-sensor-r", NULL, 0, NULL, {"temperature", "humidity", NULL}, {3, 95}, 0},
};
#define N_IOT (sizeof(iot_script) / sizeof(iot_script[0]))

static void gen_iot(scenario_t *sc, lane_t *lanes, size_t *nlanes) {
    size_t i = 0;
    while (i < N_IOT) {
        lane_t *lane = &lanes[(*nlanes)++];
        const char *dev = iot_script[i].device;
        lane->n = 0;
        lane->kind = K_IOT;
        for (int j = 0; i < N_IOT && !strcmp(iot_script[i].device, dev); i++, j++) {
            const iot_msg_t *m = &iot_script[i];
            /* 25 s apart: a device's readings span several 60 s windows */
            evf_event_t *ev = new_event(sc, "iot", T_BASE + 3 * WINDOW_MS + j * 25000);
            Evfleet__V1__IotTelemetry *iot = evf_event_set_iot(ev);
            ev->source = EVFLEET__V1__SOURCE__IOT;
            evf_event_set_str(&ev->type, "iot:telemetry");
            evf_event_set_str(&ev->subject, dev);
            evf_event_set_str(&iot->device_id, dev);
            if (m->metric) {
                evf_event_set_str(&iot->metric, m->metric);
                iot->value = m->value;
                evf_event_set_str(&iot->unit, m->unit);
            }
            for (int r = 0; r < 3 && m->rnames[r]; r++)
                evf_event_iot_set_reading(iot, m->rnames[r], m->rvalues[r]);
            lane->ev[lane->n++] = ev;
            if (m->dup) {
                lane->ev[lane->n++] = ev;
                sc->dups[K_IOT]++;
            }
        }
    }
}

static void build_scenario(scenario_t *sc) {
    static lane_t lanes[MAX_ENT];
    size_t nlanes = 0;
    int64_t t = T_BASE + 3600000;
    memset(sc, 0, sizeof(*sc));
    rng_state = SEED;
    gen_s3(sc, lanes, &nlanes, &t);
    gen_stream(sc, lanes, &nlanes, &t);
    gen_iot(sc, lanes, &nlanes);
    ck_assert_uint_le(nlanes, MAX_ENT);
    interleave(sc, lanes, nlanes);
    /* the scenario must exercise what it is about */
    ck_assert_msg(sc->late[K_S3] >= 3 && sc->dups[K_S3] >= 3 && sc->late[K_STREAM] >= 3 &&
                      sc->dups[K_STREAM] >= 3 && sc->dups[K_IOT] >= 3,
                  "scenario too tame: late %zu/%zu, duplicates %zu/%zu/%zu", sc->late[K_S3],
                  sc->late[K_STREAM], sc->dups[K_S3], sc->dups[K_STREAM], sc->dups[K_IOT]);
}

static void free_scenario(scenario_t *sc) {
    for (size_t i = 0; i < sc->nevents; i++)
        evf_event_free(sc->events[i]);
    sc->nevents = sc->nsends = 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The model: expected keys and hashes                                                          */

typedef struct {
    char *key;
    evf_demo_hash_t h; /* expected fields, sorted */
    int approx;        /* 1: compare values numerically (iot sum/min/max) */
    int ttl;           /* 1: must have a TTL in (0, TTL_MS] */
} exp_key_t;

typedef struct {
    exp_key_t *k;
    size_t n, cap;
} expect_t;

static exp_key_t *exp_get(expect_t *e, const char *key) {
    for (size_t i = 0; i < e->n; i++)
        if (!strcmp(e->k[i].key, key))
            return &e->k[i];
    if (e->n == e->cap) {
        e->cap = e->cap ? 2 * e->cap : 64;
        e->k = realloc(e->k, e->cap * sizeof(*e->k));
        if (!e->k)
            abort();
    }
    exp_key_t *k = &e->k[e->n++];
    memset(k, 0, sizeof(*k));
    k->key = strdup(key);
    return k;
}

static const char *fget(const exp_key_t *k, const char *field) {
    return k ? evf_demo_hash_get(&k->h, field) : NULL;
}

static exp_key_t *exp_find(expect_t *e, const char *key) {
    for (size_t i = 0; i < e->n; i++)
        if (!strcmp(e->k[i].key, key))
            return &e->k[i];
    return NULL;
}

static void fset(exp_key_t *k, const char *field, const char *value) {
    for (size_t i = 0; i < k->h.n; i++) {
        if (!strcmp(k->h.f[i].field, field)) {
            free(k->h.f[i].value);
            k->h.f[i].value = strdup(value);
            return;
        }
    }
    k->h.f = realloc(k->h.f, (k->h.n + 1) * sizeof(*k->h.f));
    if (!k->h.f)
        abort();
    k->h.f[k->h.n].field = strdup(field);
    k->h.f[k->h.n].value = strdup(value);
    k->h.n++;
}

static void fset_i64(exp_key_t *k, const char *field, int64_t v) {
    char b[32];
    snprintf(b, sizeof(b), "%" PRId64, v);
    fset(k, field, b);
}

static int64_t fget_i64(const exp_key_t *k, const char *field) {
    const char *v = fget(k, field);
    return v ? strtoll(v, NULL, 10) : 0;
}

static void fincr(exp_key_t *k, const char *field, int64_t delta) {
    fset_i64(k, field, fget_i64(k, field) + delta);
}

static void expect_free(expect_t *e) {
    for (size_t i = 0; i < e->n; i++) {
        free(e->k[i].key);
        evf_demo_hash_free(&e->k[i].h);
    }
    free(e->k);
    memset(e, 0, sizeof(*e));
}

/* Hex numbers of any length and case: <0, 0, >0. */
static int hexcmp(const char *a, const char *b) {
    while (*a == '0')
        a++;
    while (*b == '0')
        b++;
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb)
        return la < lb ? -1 : 1;
    return strcasecmp(a, b);
}

/* Unsigned decimals of any length. */
static int deccmp(const char *a, const char *b) {
    while (*a == '0' && a[1])
        a++;
    while (*b == '0' && b[1])
        b++;
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb)
        return la < lb ? -1 : 1;
    return strcmp(a, b);
}

static int seen_before(const evf_event_t **seen, size_t *nseen, const evf_event_t *ev) {
    for (size_t i = 0; i < *nseen; i++)
        if (!strcmp(seen[i]->id, ev->id))
            return 1;
    seen[(*nseen)++] = ev;
    return 0;
}

static void model_s3(expect_t *e, const char *p, const evf_event_t *ev) {
    const Evfleet__V1__S3Object *s3 = ev->s3;
    int create = strstr(ev->type, "ObjectCreated") != NULL;
    int remove = strstr(ev->type, "ObjectRemoved") != NULL;
    if (!create && !remove)
        return;
    char seq[64], key[512], bkey[256];
    if (*s3->sequencer) {
        snprintf(seq, sizeof(seq), "%s", s3->sequencer);
        for (char *c = seq; *c; c++)
            if (*c >= 'a' && *c <= 'f')
                *c = (char)(*c - 'a' + 'A');
    } else {
        snprintf(seq, sizeof(seq), "%016" PRIX64, (uint64_t)ev->time_ms);
    }
    snprintf(key, sizeof(key), "%s:s3:obj:%s/%s", p, s3->bucket, s3->key);
    snprintf(bkey, sizeof(bkey), "%s:s3:bucket:%s", p, s3->bucket);
    exp_key_t *obj = exp_find(e, key);
    if (obj && hexcmp(fget(obj, "sequencer"), seq) >= 0)
        return; /* older than or the same as what is stored: nothing changes */
    int was_live = obj && !strcmp(fget(obj, "state"), "live");
    int64_t old_size = was_live ? fget_i64(obj, "size") : 0;
    obj = exp_get(e, key);
    exp_key_t *b = exp_get(e, bkey);
    char when[32];
    snprintf(when, sizeof(when), "%" PRId64, ev->time_ms);
    if (create) {
        fset_i64(obj, "size", s3->size);
        fset(obj, "etag", s3->etag);
        fset(obj, "content_type", s3->content_type);
        fset(obj, "state", "live");
        fincr(b, "created", 1);
        if (was_live) {
            if (s3->size != old_size)
                fincr(b, "live_bytes", s3->size - old_size);
        } else {
            fincr(b, "live_bytes", s3->size);
            fincr(b, "live_objects", 1);
        }
    } else {
        fset(obj, "size", "0");
        fset(obj, "etag", "");
        fset(obj, "content_type", "");
        fset(obj, "state", "removed");
        fincr(b, "removed", 1);
        if (was_live) {
            fincr(b, "live_bytes", -old_size);
            fincr(b, "live_objects", -1);
        }
    }
    fset(obj, "version_id", s3->version_id);
    fset(obj, "last_event", ev->type);
    fset(obj, "last_time_ms", when);
    fset(obj, "sequencer", seq);
}

static char *canonical_json(const char *text) {
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);
    ck_assert_msg(j, "test bug: keys '%s' are not JSON", text);
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    return s;
}

static void model_stream(expect_t *e, const char *p, const evf_event_t *ev) {
    const Evfleet__V1__StreamRecord *st = ev->stream;
    char seq[80], key[512], mkey[256];
    if (*st->sequence_number)
        snprintf(seq, sizeof(seq), "%s", st->sequence_number);
    else
        snprintf(seq, sizeof(seq), "%" PRId64, st->approximate_creation_ms);
    char *keys = canonical_json(st->keys);
    snprintf(key, sizeof(key), "%s:table:%s:%s", p, st->table, keys);
    snprintf(mkey, sizeof(mkey), "%s:table:%s:__meta", p, st->table);
    free(keys);
    exp_key_t *row = exp_find(e, key);
    if (row && deccmp(fget(row, "seq"), seq) >= 0)
        return;
    int was_live = row && strcmp(fget(row, "op"), "REMOVE") != 0;
    row = exp_get(e, key);
    if (st->op == EVFLEET__V1__STREAM_OP__REMOVE) {
        fset(row, "row", "");
        fset(row, "op", "REMOVE");
        if (was_live)
            fincr(exp_get(e, mkey), "rows", -1);
    } else {
        fset(row, "row", st->new_image);
        fset(row, "op", st->op == EVFLEET__V1__STREAM_OP__INSERT ? "INSERT" : "MODIFY");
        if (!was_live)
            fincr(exp_get(e, mkey), "rows", 1);
    }
    fset(row, "seq", seq);
}

/* An alert the model expects. */
typedef struct {
    char device[64], metric[64], unit[16], direction[8], src_id[64];
    double value, limit;
    int64_t time_ms, window;
    char id[64]; /* filled from run 1, compared with run 2 */
} exp_alert_t;

typedef struct {
    const char *metric;
    int has_above, has_below;
    double above, below;
} threshold_t;

static const threshold_t thresholds[] = {
    {"temperature", 1, 1, 80, 10},
    {"humidity", 1, 0, 90, 0},
};

static void fmt_num(char *out, size_t size, double v) {
    snprintf(out, size, "%.17g", v);
}

static void model_iot(expect_t *e, const char *p, const evf_event_t *ev, exp_alert_t *alerts,
                      size_t *nalerts) {
    const Evfleet__V1__IotTelemetry *tel = ev->iot;
    struct {
        const char *name, *unit;
        double value;
    } ms[8];
    size_t n = 0;
    if (*tel->metric)
        ms[n].name = tel->metric, ms[n].unit = tel->unit, ms[n].value = tel->value, n++;
    /* then the readings, sorted by name, without the one named like the metric */
    const char *names[8];
    size_t nn = 0;
    for (size_t i = 0; i < tel->n_readings; i++)
        if (strcmp(tel->readings[i]->key, tel->metric) != 0)
            names[nn++] = tel->readings[i]->key;
    for (size_t i = 0; i < nn; i++)
        for (size_t j = i + 1; j < nn; j++)
            if (strcmp(names[j], names[i]) < 0) {
                const char *t = names[i];
                names[i] = names[j];
                names[j] = t;
            }
    for (size_t i = 0; i < nn; i++)
        for (size_t r = 0; r < tel->n_readings; r++)
            if (!strcmp(tel->readings[r]->key, names[i]))
                ms[n].name = names[i], ms[n].unit = "", ms[n].value = tel->readings[r]->value, n++;

    int64_t start = ev->time_ms / WINDOW_MS * WINDOW_MS;
    for (size_t i = 0; i < n; i++) {
        char key[256], num[40];
        snprintf(key, sizeof(key), "%s:iot:%s:%s:%" PRId64, p, tel->device_id, ms[i].name, start);
        exp_key_t *w = exp_find(e, key);
        int first = w == NULL;
        w = exp_get(e, key);
        w->approx = w->ttl = 1;
        fincr(w, "count", 1);
        double sum = (first ? 0 : strtod(fget(w, "sum"), NULL)) + ms[i].value;
        fmt_num(num, sizeof(num), sum);
        fset(w, "sum", num);
        double mn = first ? ms[i].value : fmin(strtod(fget(w, "min"), NULL), ms[i].value);
        double mx = first ? ms[i].value : fmax(strtod(fget(w, "max"), NULL), ms[i].value);
        fmt_num(num, sizeof(num), mn);
        fset(w, "min", num);
        fmt_num(num, sizeof(num), mx);
        fset(w, "max", num);

        const threshold_t *t = NULL;
        for (size_t k = 0; k < sizeof(thresholds) / sizeof(thresholds[0]); k++)
            if (!strcmp(thresholds[k].metric, ms[i].name))
                t = &thresholds[k];
        if (!t)
            continue;
        const char *now = "normal";
        double limit = 0;
        if (t->has_above && ms[i].value > t->above)
            now = "above", limit = t->above;
        else if (t->has_below && ms[i].value < t->below)
            now = "below", limit = t->below;
        snprintf(key, sizeof(key), "%s:iot:%s:%s:state", p, tel->device_id, ms[i].name);
        exp_key_t *s = exp_find(e, key);
        const char *before = s ? fget(s, "state") : "normal";
        if (!strcmp(before, now))
            continue;
        fset(exp_get(e, key), "state", now);
        if (!strcmp(now, "normal") || !alerts)
            continue;
        exp_alert_t *a = &alerts[(*nalerts)++];
        memset(a, 0, sizeof(*a));
        snprintf(a->device, sizeof(a->device), "%s", tel->device_id);
        snprintf(a->metric, sizeof(a->metric), "%s", ms[i].name);
        snprintf(a->unit, sizeof(a->unit), "%s", ms[i].unit);
        snprintf(a->direction, sizeof(a->direction), "%s", now);
        snprintf(a->src_id, sizeof(a->src_id), "%s", ev->id);
        a->value = ms[i].value;
        a->limit = limit;
        a->time_ms = ev->time_ms;
        a->window = start;
    }
}

typedef struct {
    expect_t keys;          /* every key under the prefix the processors write */
    exp_alert_t alerts[64];
    size_t nalerts;
    double ok[3], dup[3];   /* expected outcomes per processor */
} model_t;

static void build_model(const scenario_t *sc, const char *prefix, model_t *m) {
    const evf_event_t *seen[MAX_EVENTS];
    size_t nseen = 0;
    memset(m, 0, sizeof(*m));
    for (size_t i = 0; i < sc->nsends; i++) {
        const evf_event_t *ev = sc->sends[i];
        kind_t k = sc->send_kind[i];
        if (seen_before(seen, &nseen, ev)) {
            m->dup[k]++; /* the idempotency record is done: skipped, no effect */
            continue;
        }
        m->ok[k]++;
        if (k == K_S3)
            model_s3(&m->keys, prefix, ev);
        else if (k == K_STREAM)
            model_stream(&m->keys, prefix, ev);
        else
            model_iot(&m->keys, prefix, ev, m->alerts, &m->nalerts);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Comparing Redis with the model                                                               */

static int num_eq(const char *a, const char *b) {
    if (!a || !b)
        return 0;
    char *ea, *eb;
    double x = strtod(a, &ea), y = strtod(b, &eb);
    if (*ea || *eb)
        return 0;
    return fabs(x - y) <= 1e-9 * fmax(1.0, fmax(fabs(x), fabs(y)));
}

static void assert_redis_matches(evf_redis_t *r, const char *prefix, const model_t *m) {
    char pattern[160];
    size_t nkeys = 0, nexp = 0, checked = 0;
    const char *areas[] = {"s3", "table", "iot"};
    for (size_t a = 0; a < 3; a++) {
        snprintf(pattern, sizeof(pattern), "%s:%s:*", prefix, areas[a]);
        size_t n;
        char **keys = evf_demo_scan(r, pattern, &n);
        nkeys += n;
        /* every key in Redis is expected ... */
        for (size_t i = 0; i < n; i++) {
            const exp_key_t *k = NULL;
            for (size_t j = 0; j < m->keys.n && !k; j++)
                if (!strcmp(m->keys.k[j].key, keys[i]))
                    k = &m->keys.k[j];
            ck_assert_msg(k, "unexpected key in Redis: %s", keys[i]);
            evf_demo_hash_t have;
            evf_demo_hgetall(r, keys[i], &have);
            const evf_demo_hash_t want = k->h;
            /* ... with exactly the expected fields and values */
            for (size_t f = 0; f < want.n; f++) {
                const char *v = evf_demo_hash_get(&have, want.f[f].field);
                int same = k->approx && strcmp(want.f[f].field, "count") != 0
                               ? num_eq(v, want.f[f].value)
                               : v && !strcmp(v, want.f[f].value);
                ck_assert_msg(same, "%s: field %s is %s%s%s, expected '%s'", keys[i],
                              want.f[f].field, v ? "'" : "", v ? v : "absent", v ? "'" : "",
                              want.f[f].value);
            }
            for (size_t f = 0; f < have.n; f++)
                ck_assert_msg(evf_demo_hash_get(&want, have.f[f].field),
                              "%s: unexpected field %s = '%s'", keys[i], have.f[f].field,
                              have.f[f].value);
            if (k->ttl) {
                int64_t ttl = evf_demo_pttl(r, keys[i]);
                ck_assert_msg(ttl > 0 && ttl <= TTL_MS, "%s: PTTL %" PRId64 ", expected (0, %d]",
                              keys[i], ttl, TTL_MS);
            } else {
                ck_assert_msg(evf_demo_pttl(r, keys[i]) == -1, "%s: has a TTL", keys[i]);
            }
            evf_demo_hash_free(&have);
            checked++;
        }
        evf_demo_strv_free(keys, n);
    }
    /* ... and every expected key is in Redis */
    nexp = m->keys.n;
    if (nkeys != nexp) {
        for (size_t j = 0; j < m->keys.n; j++) {
            redisReply *rep = evf_redis_cmd(r, "EXISTS %s", m->keys.k[j].key);
            int there = rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
            if (rep)
                freeReplyObject(rep);
            ck_assert_msg(there, "expected key missing in Redis: %s", m->keys.k[j].key);
        }
    }
    ck_assert_uint_eq(nkeys, nexp);
    ck_assert_uint_eq(checked, nexp);
}

/* ------------------------------------------------------------------------------------------ */
/* Alerts                                                                                       */

static const char *attr(const evf_event_t *ev, const char *name) {
    for (size_t i = 0; i < ev->n_attributes; i++)
        if (!strcmp(ev->attributes[i]->key, name))
            return ev->attributes[i]->value;
    return NULL;
}

/* Read the alerts topic and match every alert to exactly one expected crossing; write the ids
 * into ids[i] for expected alert i. */
static void assert_alerts(const char *topic, const model_t *m, char (*ids)[64]) {
    evf_fleet_msgs_t msgs;
    evf_fleet_read_topic_until(topic, m->nalerts, &msgs, 60000);
    ck_assert_msg(msgs.count == m->nalerts, "%s: %zu alerts, expected exactly %zu (one per "
                  "crossing)", topic, msgs.count, m->nalerts);
    int matched[64] = {0};
    for (size_t i = 0; i < msgs.count; i++) {
        const evf_fleet_msg_t *msg = &msgs.msgs[i];
        char err[256], hdr[128];
        evf_event_t *ev = evf_event_decode(msg->value, msg->value_len, err, sizeof(err));
        ck_assert_msg(ev, "%s[%d]@%" PRId64 ": not an event: %s", topic, msg->partition,
                      msg->offset, err);
        ck_assert_str_eq(ev->type, "iot:alert");
        ck_assert_int_eq(ev->source, EVFLEET__V1__SOURCE__IOT);
        ck_assert_int_eq(ev->detail_case, EVFLEET__V1__EVENT__DETAIL_IOT);
        const char *ce_id = evf_fleet_header(msg, "ce_id", hdr, sizeof(hdr));
        ck_assert_msg(ce_id && !strcmp(ce_id, ev->id), "alert %s: ce_id header %s", ev->id,
                      ce_id ? ce_id : "(none)");
        size_t j = 0;
        for (; j < m->nalerts; j++) {
            const exp_alert_t *a = &m->alerts[j];
            if (!strcmp(a->device, ev->iot->device_id) && !strcmp(a->metric, ev->iot->metric) &&
                a->time_ms == ev->time_ms)
                break;
        }
        ck_assert_msg(j < m->nalerts, "alert %s for %s %s at %" PRId64 " = %g was not expected",
                      ev->id, ev->iot->device_id, ev->iot->metric, ev->time_ms, ev->iot->value);
        ck_assert_msg(!matched[j], "two alerts for %s %s at %" PRId64, m->alerts[j].device,
                      m->alerts[j].metric, m->alerts[j].time_ms);
        matched[j] = 1;
        const exp_alert_t *a = &m->alerts[j];
        char num[32];
        ck_assert_str_eq(ev->subject, a->device);
        ck_assert_msg(msg->key && !strcmp(msg->key, a->device), "alert key %s, expected %s",
                      msg->key ? msg->key : "(none)", a->device);
        ck_assert_msg(ev->iot->value == a->value, "alert %s: value %.17g, expected %.17g",
                      ev->id, ev->iot->value, a->value);
        ck_assert_str_eq(ev->iot->unit, a->unit);
        ck_assert_msg(attr(ev, "direction") && !strcmp(attr(ev, "direction"), a->direction),
                      "alert %s: direction %s, expected %s", ev->id,
                      attr(ev, "direction") ? attr(ev, "direction") : "(none)", a->direction);
        ck_assert_msg(attr(ev, "threshold") && strtod(attr(ev, "threshold"), NULL) == a->limit,
                      "alert %s: threshold %s, expected %g", ev->id,
                      attr(ev, "threshold") ? attr(ev, "threshold") : "(none)", a->limit);
        snprintf(num, sizeof(num), "%" PRId64, a->window);
        ck_assert_msg(attr(ev, "window") && !strcmp(attr(ev, "window"), num),
                      "alert %s: window %s, expected %s", ev->id,
                      attr(ev, "window") ? attr(ev, "window") : "(none)", num);
        ck_assert_uint_gt(strlen(ev->id), 0);
        for (size_t k = 0; k < m->nalerts; k++)
            ck_assert_msg(k == j || strcmp(ids[k], ev->id) != 0, "alert id %s used twice",
                          ev->id);
        snprintf(ids[j], 64, "%s", ev->id);
        evf_event_free(ev);
    }
    evf_fleet_msgs_free(&msgs);
}

/* ------------------------------------------------------------------------------------------ */
/* The test                                                                                     */

typedef struct {
    evf_fleet_names_t n;
    char alerts[160];
    char *own[16];
    const char *xargs[32];
} run_t;

static void run_setup(run_t *run, const char *topic, const char *what) {
    char buf[200];
    int k = 0, a = 0;
    memset(run, 0, sizeof(*run));
    /* one source topic for both runs; a group, key prefix and alerts topic each */
    snprintf(run->n.topic, sizeof(run->n.topic), "%s", topic);
    snprintf(buf, sizeof(buf), "wg-%s", what);
    evf_test_unique(run->n.group, sizeof(run->n.group), buf);
    evf_test_unique(run->n.prefix, sizeof(run->n.prefix), "evft");
    snprintf(buf, sizeof(buf), "%s:*", run->n.prefix);
    evf_demo_cleanup_keys(buf);
    evf_demo_cleanup_topic(evf_fleet_derived(&run->n, "dlq"));
    evf_demo_cleanup_topic(evf_fleet_derived(&run->n, "replay"));
    snprintf(buf, sizeof(buf), "wt-alerts-%s", what);
    evf_test_unique(run->alerts, sizeof(run->alerts), buf);
    evf_demo_cleanup_topic(run->alerts);
#define OWN(...)                                                                                   \
    do {                                                                                           \
        if (asprintf(&run->own[k], __VA_ARGS__) < 0)                                               \
            abort();                                                                               \
        run->xargs[a++] = run->own[k++];                                                           \
    } while (0)
    OWN("kafka.group.id=%s", run->n.group);
    OWN("topics=%s", topic);
    OWN("idempotency.key.prefix=%s", run->n.prefix);
    OWN("processor.iot_rollup.alerts.topic=%s", run->alerts);
#undef OWN
    run->xargs[a++] = "topics.partitions=4";
    run->xargs[a++] = "route.s3:*=s3_index";
    run->xargs[a++] = "route.stream:*=stream_materialize";
    run->xargs[a++] = "route.iot:*=iot_rollup";
    run->xargs[a++] = "retry.topics.delays.ms=";
    run->xargs[a++] = "processor.iot_rollup.window.ms=60000";
    run->xargs[a++] = "processor.iot_rollup.ttl.ms=7200000";
    run->xargs[a++] = "processor.iot_rollup.threshold.temperature.above=80";
    run->xargs[a++] = "processor.iot_rollup.threshold.temperature.below=10";
    run->xargs[a++] = "processor.iot_rollup.threshold.humidity.above=90";
    run->xargs[a++] = "worker.threads=2";
    run->xargs[a] = NULL;
}

static void run_free(run_t *run) {
    for (size_t i = 0; i < 16; i++)
        free(run->own[i]);
}

/* Names are made, and registered for deletion, in check's parent process (an unchecked fixture),
 * so the topics and keys go even when the test fails (see demotest.h). */
static char src_topic[160];
static run_t run1, run2;

static void names_setup(void) {
    evf_test_unique(src_topic, sizeof(src_topic), "wt-builtins");
    evf_demo_cleanup_topic(src_topic);
    run_setup(&run1, src_topic, "builtins1");
    run_setup(&run2, src_topic, "builtins2");
}

static void names_teardown(void) {
    evf_demo_cleanup();
    run_free(&run1);
    run_free(&run2);
}

START_TEST(builtins_match_the_model) {
    static scenario_t sc;
    static model_t m1, m2;
    static char ids1[64][64], ids2[64][64];
    evf_fleet_worker_t ws[2];
    const char *topic = src_topic;

    build_scenario(&sc);
    fprintf(stderr, "scenario (seed %#llx): %zu events, %zu sends; late S3 %zu, stream %zu; "
                    "duplicates S3 %zu, stream %zu, IoT %zu\n",
            (unsigned long long)SEED, sc.nevents, sc.nsends, sc.late[K_S3], sc.late[K_STREAM],
            sc.dups[K_S3], sc.dups[K_STREAM], sc.dups[K_IOT]);

    evf_fleet_create_topic(topic, PARTS);
    build_model(&sc, run1.n.prefix, &m1);
    build_model(&sc, run2.n.prefix, &m2);
    ck_assert_uint_ge(m1.nalerts, 10);

    /* publish in the scenario's order (one idempotent producer: per-partition order kept) */
    evf_demo_pub_t *pub = evf_demo_pub_new();
    for (size_t i = 0; i < sc.nsends; i++)
        evf_demo_pub_event(pub, topic, sc.sends[i]);
    ck_assert_uint_eq(evf_demo_pub_finish(pub), sc.nsends);

    /* the same events, two groups with their own key prefixes and alert topics, at once */
    evf_demo_start(&ws[0], run1.xargs);
    evf_demo_start(&ws[1], run2.xargs);
    evf_fleet_wait_ready(&ws[0], READY_MS);
    evf_fleet_wait_ready(&ws[1], READY_MS);
    evf_demo_wait_finished(&ws[0], 1, (double)sc.nsends, FINISH_MS);
    evf_demo_wait_finished(&ws[1], 1, (double)sc.nsends, FINISH_MS);

    static const char *const procs[] = {"s3_index", "stream_materialize", "iot_rollup"};
    for (size_t w = 0; w < 2; w++) {
        for (size_t k = 0; k < 3; k++) {
            double ok = evf_demo_outcomes(&ws[w], 1, procs[k], "ok");
            double dup = evf_demo_outcomes(&ws[w], 1, procs[k], "duplicate");
            ck_assert_msg(ok == m1.ok[k] && dup == m1.dup[k],
                          "run %zu, %s: ok %.0f duplicate %.0f, expected %.0f and %.0f", w + 1,
                          procs[k], ok, dup, m1.ok[k], m1.dup[k]);
        }
        ck_assert_msg(evf_demo_outcomes(&ws[w], 1, NULL, "dlq") == 0, "run %zu: dead letters",
                      w + 1);
        ck_assert_msg(evf_demo_outcomes(&ws[w], 1, NULL, "retry") == 0, "run %zu: retries",
                      w + 1);
    }

    evf_redis_t *r = evf_fleet_redis();
    assert_redis_matches(r, run1.n.prefix, &m1);
    assert_redis_matches(r, run2.n.prefix, &m2);
    assert_alerts(run1.alerts, &m1, ids1);
    assert_alerts(run2.alerts, &m2, ids2);
    /* deterministic ids: the same source event, processor and index give the same alert id */
    for (size_t i = 0; i < m1.nalerts; i++)
        ck_assert_msg(!strcmp(ids1[i], ids2[i]),
                      "alert for %s %s at %" PRId64 ": id %s in run 1, %s in run 2",
                      m1.alerts[i].device, m1.alerts[i].metric, m1.alerts[i].time_ms, ids1[i],
                      ids2[i]);
    /* one event crossing two thresholds emits two alerts with different ids */
    int two = 0;
    for (size_t i = 0; i < m1.nalerts; i++)
        for (size_t j = i + 1; j < m1.nalerts; j++)
            if (!strcmp(m1.alerts[i].src_id, m1.alerts[j].src_id)) {
                ck_assert_str_ne(ids1[i], ids1[j]);
                two++;
            }
    ck_assert_int_ge(two, 1);

    evf_fleet_msgs_t dlq;
    for (size_t w = 0; w < 2; w++) {
        evf_fleet_read_topic(evf_fleet_derived(w ? &run2.n : &run1.n, "dlq"), &dlq, 30000);
        ck_assert_msg(dlq.count == 0, "run %zu: %zu dead letters", w + 1, dlq.count);
        evf_fleet_msgs_free(&dlq);
    }
    for (size_t w = 0; w < 2; w++) {
        int rc = evf_fleet_stop(&ws[w], STOP_MS, NULL);
        char *tail = rc ? evf_fleet_log_tail(&ws[w], 3000) : NULL;
        ck_assert_msg(rc == 0, "worker %zu exited %d; log:\n%s", w + 1, rc, tail ? tail : "");
        free(tail);
    }
    fprintf(stderr, "checked %zu keys and %zu alerts per run\n", m1.keys.n, m1.nalerts);
    evf_redis_destroy(r);
    expect_free(&m1.keys);
    expect_free(&m2.keys);
    free_scenario(&sc);
}
END_TEST

/* The model itself, on a tiny hand-checked sequence (so a wrong model cannot agree with a wrong
 * worker by accident). */
START_TEST(model_hand_checked) {
    static scenario_t sc;
    model_t m;
    memset(&sc, 0, sizeof(sc));
    rng_state = 1;
    evf_event_t *a = new_event(&sc, "s3", 1), *b = new_event(&sc, "s3", 2),
                *c = new_event(&sc, "s3", 3), *d = new_event(&sc, "s3", 4);
    s3_fill(a, "bk", "k", "ObjectCreated:Put", 100, "0a");
    s3_fill(b, "bk", "k", "ObjectCreated:Put", 250, "000000000F");
    s3_fill(c, "bk", "k", "ObjectCreated:Put", 7, "0B"); /* older than 0F: ignored */
    s3_fill(d, "bk", "k", "ObjectRemoved:Delete", 0, "10");
    evf_event_t *order[] = {a, b, c, b, d};
    for (size_t i = 0; i < 5; i++) {
        sc.sends[sc.nsends] = order[i];
        sc.send_kind[sc.nsends++] = K_S3;
    }
    build_model(&sc, "p", &m);
    ck_assert_int_eq((int)m.ok[K_S3], 4);
    ck_assert_int_eq((int)m.dup[K_S3], 1);
    exp_key_t *obj = exp_find(&m.keys, "p:s3:obj:bk/k");
    exp_key_t *bucket = exp_find(&m.keys, "p:s3:bucket:bk");
    ck_assert_ptr_nonnull(obj);
    ck_assert_ptr_nonnull(bucket);
    ck_assert_str_eq(fget(obj, "state"), "removed");
    ck_assert_str_eq(fget(obj, "sequencer"), "10");
    ck_assert_str_eq(fget(obj, "size"), "0");
    ck_assert_int_eq(fget_i64(bucket, "created"), 2);
    ck_assert_int_eq(fget_i64(bucket, "removed"), 1);
    ck_assert_int_eq(fget_i64(bucket, "live_bytes"), 0);
    ck_assert_int_eq(fget_i64(bucket, "live_objects"), 0);
    ck_assert_uint_eq(m.keys.n, 2);
    expect_free(&m.keys);

    /* users' sequence numbers: 99 then 100 is newer (numeric, not textual) */
    ck_assert_int_lt(deccmp("99", "100"), 0);
    ck_assert_int_gt(deccmp("987654321000000000010", "987654321000000000009"), 0);
    ck_assert_int_eq(hexcmp("000a", "A"), 0);
    ck_assert_int_gt(hexcmp("1f001", "0000000000001F000"), 0);
    free_scenario(&sc);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("builtins_e2e");
    TCase *tc = tcase_create("model");
    tcase_add_test(tc, model_hand_checked);
    suite_add_tcase(s, tc);
    tc = tcase_create("worker");
    tcase_set_timeout(tc, 300);
    tcase_add_unchecked_fixture(tc, names_setup, names_teardown);
    tcase_add_test(tc, builtins_match_the_model);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
