/* producers/generate.c — see generate.h. The shapes imitate what the real sources send: S3 keys
 * with dates, user folders and the odd space or parenthesis; DynamoDB-style tables with single
 * and composite keys; device fleets whose devices always report the same metrics. */
#include "generate.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct evf_gen_s {
    uint64_t s[4];          /* xoshiro256** state */
    uint64_t s3_sequencer;  /* S3 sequencers grow, like the real ones do per key */
    uint64_t stream_seq;    /* stream sequence numbers grow */
};

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t urandom_seed(void) {
    uint64_t seed = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n;
        do
            n = read(fd, &seed, sizeof(seed));
        while (n < 0 && errno == EINTR);
        close(fd);
        if (n == (ssize_t)sizeof(seed) && seed)
            return seed;
    }
    /* No /dev/urandom: the clock and pid still make runs differ. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    seed = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 16);
    return seed ? seed : 1;
}

evf_gen_t *evf_gen_new(uint64_t seed) {
    evf_gen_t *gen = calloc(1, sizeof(*gen));
    if (!gen)
        abort();
    uint64_t x = seed ? seed : urandom_seed();
    for (int i = 0; i < 4; i++)
        gen->s[i] = splitmix64(&x);
    gen->s3_sequencer = 0x0055AA0000000000ULL + (evf_gen_u64(gen) >> 24);
    gen->stream_seq = 100000000000000ULL + evf_gen_u64(gen) % 100000000000000ULL;
    return gen;
}

void evf_gen_destroy(evf_gen_t *gen) {
    free(gen);
}

static inline uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

uint64_t evf_gen_u64(evf_gen_t *gen) {
    uint64_t *s = gen->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, n). The modulo bias is irrelevant for n this small against 64 bits. */
static uint32_t below(evf_gen_t *gen, uint32_t n) {
    return (uint32_t)(evf_gen_u64(gen) % n);
}

/* Uniform in [0, 1). */
static double unit_interval(evf_gen_t *gen) {
    return (double)(evf_gen_u64(gen) >> 11) * (1.0 / 9007199254740992.0);
}

/* Roughly normal (Irwin–Hall with 4 terms): cheap and good enough for sensor noise. */
static double around(evf_gen_t *gen, double mean, double spread) {
    double sum = unit_interval(gen) + unit_interval(gen) + unit_interval(gen) +
                 unit_interval(gen) - 2.0;
    return mean + sum * spread;
}

static double round2(double v) {
    return round(v * 100.0) / 100.0;
}

static void hex_lower(evf_gen_t *gen, char *out, size_t n) {
    static const char digits[] = "0123456789abcdef";
    uint64_t bits = 0;
    for (size_t i = 0; i < n; i++) {
        if (i % 16 == 0)
            bits = evf_gen_u64(gen);
        out[i] = digits[bits & 0xf];
        bits >>= 4;
    }
    out[n] = '\0';
}

void evf_gen_uuid(evf_gen_t *gen, char out[EVF_GEN_UUID_LEN + 1]) {
    static const char digits[] = "0123456789abcdef";
    uint8_t b[16];
    uint64_t hi = evf_gen_u64(gen), lo = evf_gen_u64(gen);
    for (int i = 0; i < 8; i++) {
        b[i] = (uint8_t)(hi >> (8 * i));
        b[8 + i] = (uint8_t)(lo >> (8 * i));
    }
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = digits[b[i] >> 4];
        *p++ = digits[b[i] & 0xf];
    }
    *p = '\0';
}

static void utc_date(int64_t time_ms, struct tm *tm) {
    time_t secs = (time_t)(time_ms / 1000);
    gmtime_r(&secs, tm);
}

/* ---- S3 ---- */

static const char *const s3_apps[] = {"media",    "logs",      "backups", "uploads",
                                      "datalake", "invoices",  "thumbs",  "exports"};
static const char *const s3_envs[] = {"prod", "staging", "dev"};
static const char *const s3_regions[] = {"eu-west-1", "us-east-1", "us-west-2", "ap-southeast-2"};
static const char *const doc_names[] = {"contract",      "invoice",      "Q3 report (final)",
                                        "meeting notes", "résumé",       "budget 2024",
                                        "scan_0001",     "Summer, 2024!"};

static const char *s3_key(evf_gen_t *gen, size_t app, const struct tm *tm, char *key,
                          size_t key_size) {
    uint32_t n = below(gen, 100000);
    switch (app) {
    case 0: /* media */
        snprintf(key, key_size, "photos/%04d/%02d/%02d/IMG_%05u.jpg", tm->tm_year + 1900,
                 tm->tm_mon + 1, tm->tm_mday, n);
        return "image/jpeg";
    case 1: /* logs */
        snprintf(key, key_size, "app-%02u/%04d-%02d-%02dT%02d/%05u.log.gz", n % 40,
                 tm->tm_year + 1900, tm->tm_mon + 1, tm->tm_mday, tm->tm_hour, n);
        return "application/gzip";
    case 2: /* backups */
        snprintf(key, key_size, "db-%02u/%04d%02d%02d/dump-%05u.tar.zst", n % 24,
                 tm->tm_year + 1900, tm->tm_mon + 1, tm->tm_mday, n);
        return "application/zstd";
    case 3: /* uploads: user folders, human file names with spaces and punctuation */
        snprintf(key, key_size, "users/%06u/%s %u.pdf", n,
                 doc_names[below(gen, sizeof(doc_names) / sizeof(doc_names[0]))], n % 97);
        return "application/pdf";
    case 4: /* datalake */
        snprintf(key, key_size, "events/dt=%04d-%02d-%02d/hour=%02d/part-%05u.parquet",
                 tm->tm_year + 1900, tm->tm_mon + 1, tm->tm_mday, tm->tm_hour, n);
        return "application/vnd.apache.parquet";
    case 5: /* invoices */
        snprintf(key, key_size, "%04d/%02d/INV-%08u.pdf", tm->tm_year + 1900, tm->tm_mon + 1,
                 n * 1000 + below(gen, 1000));
        return "application/pdf";
    case 6: /* thumbs */
        snprintf(key, key_size, "%ux%u/%05u.webp", 64u << (n % 4), 64u << (n % 4), n);
        return "image/webp";
    default: /* exports */
        snprintf(key, key_size, "reports/customer-%05u/export-%u.csv", n, n % 13);
        return "text/csv";
    }
}

static void gen_s3(evf_gen_t *gen, evf_event_t *ev, int64_t time_ms) {
    size_t napps = sizeof(s3_apps) / sizeof(s3_apps[0]);
    size_t nenvs = sizeof(s3_envs) / sizeof(s3_envs[0]);
    size_t nregions = sizeof(s3_regions) / sizeof(s3_regions[0]);
    size_t app = below(gen, (uint32_t)napps);
    const char *env = s3_envs[below(gen, (uint32_t)nenvs)];
    const char *region = s3_regions[below(gen, (uint32_t)nregions)];
    char bucket[96], key[256], buf[512];
    struct tm tm;

    snprintf(bucket, sizeof(bucket), "acme-%s-%s-%s", s3_apps[app], env, region);
    utc_date(time_ms, &tm);
    const char *content_type = s3_key(gen, app, &tm, key, sizeof(key));

    uint32_t roll = below(gen, 100);
    const char *name = roll < 80   ? "ObjectCreated:Put"
                       : roll < 88 ? "ObjectCreated:CompleteMultipartUpload"
                       : roll < 92 ? "ObjectCreated:Copy"
                       : roll < 98 ? "ObjectRemoved:Delete"
                                   : "ObjectRemoved:DeleteMarkerCreated";
    int removed = roll >= 92;

    Evfleet__V1__S3Object *s3 = evf_event_set_s3(ev);
    evf_event_set_str(&s3->bucket, bucket);
    evf_event_set_str(&s3->key, key);
    evf_event_set_str(&s3->event_name, name);
    evf_event_set_str(&s3->region, region);
    if (!removed) {
        /* Log-uniform sizes: many small objects, a few huge ones. */
        int bits = (int)below(gen, 31);
        s3->size = (int64_t)(1ULL << bits) + (int64_t)(evf_gen_u64(gen) % (1ULL << bits));
        char etag[40];
        hex_lower(gen, etag, 32);
        if (roll >= 80 && roll < 88) /* multipart ETags end in -<parts> */
            snprintf(etag + 32, sizeof(etag) - 32, "-%u", 2 + below(gen, 60));
        evf_event_set_str(&s3->etag, etag);
        evf_event_set_str(&s3->content_type, content_type);
    }
    if (below(gen, 2)) {
        char version[33];
        hex_lower(gen, version, 32);
        evf_event_set_str(&s3->version_id, version);
    }
    char sequencer[24];
    snprintf(sequencer, sizeof(sequencer), "%016llX", (unsigned long long)gen->s3_sequencer++);
    evf_event_set_str(&s3->sequencer, sequencer);

    ev->source = EVFLEET__V1__SOURCE__S3;
    snprintf(buf, sizeof(buf), "s3:%s", name);
    evf_event_set_str(&ev->type, buf);
    snprintf(buf, sizeof(buf), "%s/%s", bucket, key);
    evf_event_set_str(&ev->subject, buf);
}

/* ---- change streams ---- */

static const char *const order_status[] = {"PLACED", "PAID", "PACKED", "SHIPPED", "DELIVERED"};
static const char *const currencies[] = {"EUR", "USD", "GBP"};
static const char *const plans[] = {"free", "pro", "team", "enterprise"};

/* Keys and images are written with their members already in sorted order and without
 * whitespace, the canonical compact form (DESIGN.md "The idempotency record"). Amounts are
 * integer cents: a decimal would not survive that form's re-serialisation unchanged. */
static void gen_stream_table(evf_gen_t *gen, uint32_t table, int version, char *keys,
                             size_t keys_size, char *image, size_t image_size,
                             const char **name) {
    uint32_t n = below(gen, 200000);
    switch (table) {
    case 0: { /* orders: composite key */
        uint32_t customer = n % 20000;
        uint32_t cents = 499 + (n * 7919u) % 50000;
        *name = "orders";
        snprintf(keys, keys_size, "{\"customerId\":\"cust-%05u\",\"orderId\":\"ord-%07u\"}",
                 customer, n);
        snprintf(image, image_size,
                 "{\"currency\":\"%s\",\"customerId\":\"cust-%05u\",\"items\":%u,"
                 "\"orderId\":\"ord-%07u\",\"status\":\"%s\",\"totalCents\":%u,\"version\":%d}",
                 currencies[n % 3], customer, 1 + n % 9, n, order_status[version % 5], cents,
                 version);
        break;
    }
    case 1: /* users: numeric key */
        *name = "users";
        snprintf(keys, keys_size, "{\"userId\":%u}", n);
        snprintf(image, image_size,
                 "{\"active\":%s,\"email\":\"user%u@example.com\",\"plan\":\"%s\","
                 "\"userId\":%u,\"version\":%d}",
                 version % 7 ? "true" : "false", n, plans[(n + (uint32_t)version) % 4], n,
                 version);
        break;
    case 2: /* inventory: sku + warehouse */
        *name = "inventory";
        snprintf(keys, keys_size, "{\"sku\":\"SKU-%06u\",\"warehouse\":\"wh-%02u\"}", n % 50000,
                 n % 12);
        snprintf(image, image_size,
                 "{\"location\":{\"aisle\":%u,\"bin\":\"%c%u\"},\"quantity\":%u,"
                 "\"reserved\":%u,\"sku\":\"SKU-%06u\",\"tags\":[\"%s\",\"%s\"],"
                 "\"version\":%d,\"warehouse\":\"wh-%02u\"}",
                 1 + n % 40, 'A' + (int)(n % 26), n % 100, below(gen, 1000) + (uint32_t)version,
                 below(gen, 50), n % 50000, n % 2 ? "fragile" : "bulk",
                 n % 3 ? "seasonal" : "core", version, n % 12);
        break;
    default: { /* sessions: string key */
        char sid[EVF_GEN_UUID_LEN + 1];
        evf_gen_uuid(gen, sid);
        *name = "sessions";
        snprintf(keys, keys_size, "{\"sessionId\":\"%s\"}", sid);
        snprintf(image, image_size,
                 "{\"device\":\"%s\",\"sessionId\":\"%s\",\"ttl\":%u,\"userId\":%u,"
                 "\"version\":%d}",
                 n % 2 ? "ios" : "web", sid, 3600u + n % 86400, n, version);
        break;
    }
    }
}

static void gen_stream(evf_gen_t *gen, evf_event_t *ev, int64_t time_ms) {
    char keys[256], old_image[1024], new_image[1024], buf[512];
    const char *table = NULL;
    uint32_t table_no = below(gen, 4);
    uint32_t roll = below(gen, 100);
    Evfleet__V1__StreamOp op = roll < 50   ? EVFLEET__V1__STREAM_OP__INSERT
                               : roll < 90 ? EVFLEET__V1__STREAM_OP__MODIFY
                                           : EVFLEET__V1__STREAM_OP__REMOVE;
    const char *op_name = op == EVFLEET__V1__STREAM_OP__INSERT   ? "INSERT"
                          : op == EVFLEET__V1__STREAM_OP__MODIFY ? "MODIFY"
                                                                 : "REMOVE";
    int version = 1 + (int)below(gen, 20);

    /* Generate the same item twice from one saved state so old and new images share a key. */
    uint64_t saved[4];
    memcpy(saved, gen->s, sizeof(saved));
    gen_stream_table(gen, table_no, version, keys, sizeof(keys), new_image, sizeof(new_image),
                     &table);
    if (op == EVFLEET__V1__STREAM_OP__MODIFY) {
        uint64_t after[4];
        memcpy(after, gen->s, sizeof(after));
        memcpy(gen->s, saved, sizeof(saved));
        gen_stream_table(gen, table_no, version - 1, keys, sizeof(keys), old_image,
                         sizeof(old_image), &table);
        memcpy(gen->s, after, sizeof(after));
    }

    Evfleet__V1__StreamRecord *st = evf_event_set_stream(ev);
    evf_event_set_str(&st->table, table);
    st->op = op;
    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)gen->stream_seq++);
    evf_event_set_str(&st->sequence_number, buf);
    evf_event_set_str(&st->keys, keys);
    if (op == EVFLEET__V1__STREAM_OP__INSERT)
        evf_event_set_str(&st->new_image, new_image);
    else if (op == EVFLEET__V1__STREAM_OP__MODIFY) {
        evf_event_set_str(&st->old_image, old_image);
        evf_event_set_str(&st->new_image, new_image);
    } else
        evf_event_set_str(&st->old_image, new_image);
    st->approximate_creation_ms = time_ms;

    ev->source = EVFLEET__V1__SOURCE__STREAM;
    snprintf(buf, sizeof(buf), "stream:%s", op_name);
    evf_event_set_str(&ev->type, buf);
    snprintf(buf, sizeof(buf), "%s/%s", table, keys);
    evf_event_set_str(&ev->subject, buf);
}

/* ---- IoT ---- */

#define IOT_DEVICES_PER_FLEET 2000

static const char *const iot_fleets[] = {"thermo", "meter", "tracker", "airq", "gateway"};

static void gen_iot(evf_gen_t *gen, evf_event_t *ev) {
    uint32_t fleet = below(gen, sizeof(iot_fleets) / sizeof(iot_fleets[0]));
    uint32_t device = below(gen, IOT_DEVICES_PER_FLEET);
    char device_id[64];
    snprintf(device_id, sizeof(device_id), "%s-%05u", iot_fleets[fleet], device);

    Evfleet__V1__IotTelemetry *iot = evf_event_set_iot(ev);
    evf_event_set_str(&iot->device_id, device_id);
    /* Each device has its own baseline, so per-device series look plausible. */
    double base = (double)(device % 100) / 100.0;
    switch (fleet) {
    case 0:
        evf_event_set_str(&iot->metric, "temperature");
        evf_event_set_str(&iot->unit, "C");
        iot->value = round2(around(gen, 18.0 + 8.0 * base, 1.5));
        break;
    case 1:
        evf_event_set_str(&iot->metric, "power");
        evf_event_set_str(&iot->unit, "W");
        iot->value = round2(fabs(around(gen, 300.0 + 2000.0 * base, 150.0)));
        break;
    case 2: {
        evf_event_set_str(&iot->metric, "speed");
        evf_event_set_str(&iot->unit, "km/h");
        iot->value = round2(fabs(around(gen, 45.0, 30.0)));
        Evfleet__V1__Location *loc = calloc(1, sizeof(*loc));
        if (!loc)
            abort();
        evfleet__v1__location__init(loc);
        loc->lat = round(around(gen, 48.0 + 6.0 * base, 0.5) * 1e5) / 1e5;
        loc->lon = round(around(gen, 2.0 + 10.0 * base, 0.5) * 1e5) / 1e5;
        loc->alt = round2(around(gen, 120.0, 40.0));
        iot->location = loc;
        break;
    }
    case 3: /* multi-metric message */
        evf_event_set_str(&iot->metric, "co2");
        evf_event_set_str(&iot->unit, "ppm");
        iot->value = round(around(gen, 600.0 + 400.0 * base, 120.0));
        evf_event_iot_set_reading(iot, "co2", iot->value);
        evf_event_iot_set_reading(iot, "humidity", round2(around(gen, 45.0, 10.0)));
        evf_event_iot_set_reading(iot, "pm2_5", round2(fabs(around(gen, 12.0, 8.0))));
        break;
    default:
        evf_event_set_str(&iot->metric, "cpu");
        evf_event_set_str(&iot->unit, "%");
        iot->value = round2(fmin(100.0, fabs(around(gen, 35.0 + 30.0 * base, 20.0))));
        evf_event_iot_set_reading(iot, "cpu", iot->value);
        evf_event_iot_set_reading(iot, "memory", round2(fmin(100.0, around(gen, 60.0, 15.0))));
        evf_event_iot_set_reading(iot, "rssi", round(around(gen, -67.0, 10.0)));
        break;
    }

    ev->source = EVFLEET__V1__SOURCE__IOT;
    evf_event_set_str(&ev->type, "iot:telemetry");
    evf_event_set_str(&ev->subject, device_id);
}

evf_event_t *evf_gen_event(evf_gen_t *gen, evf_gen_kind_t kind, int64_t time_ms) {
    evf_event_t *ev = evf_event_new();
    char id[EVF_GEN_UUID_LEN + 1];
    evf_gen_uuid(gen, id);
    evf_event_set_str(&ev->id, id);
    ev->time_ms = time_ms;
    switch (kind) {
    case EVF_GEN_S3:
        gen_s3(gen, ev, time_ms);
        break;
    case EVF_GEN_STREAM:
        gen_stream(gen, ev, time_ms);
        break;
    default:
        gen_iot(gen, ev);
        break;
    }
    return ev;
}

static const char *const kind_names[EVF_GEN__CNT] = {"s3", "stream", "iot"};

const char *evf_gen_kind_name(evf_gen_kind_t kind) {
    return (unsigned)kind < EVF_GEN__CNT ? kind_names[kind] : "?";
}

int evf_gen_kind_parse(const char *name, evf_gen_kind_t *out) {
    for (int i = 0; i < EVF_GEN__CNT; i++) {
        if (!strcmp(name, kind_names[i])) {
            *out = (evf_gen_kind_t)i;
            return 0;
        }
    }
    return -1;
}

int evf_gen_kind_of(const evf_event_t *ev) {
    switch (ev->source) {
    case EVFLEET__V1__SOURCE__S3:
        return EVF_GEN_S3;
    case EVFLEET__V1__SOURCE__STREAM:
        return EVF_GEN_STREAM;
    case EVFLEET__V1__SOURCE__IOT:
        return EVF_GEN_IOT;
    default:
        return -1;
    }
}

int evf_gen_mix_parse(const char *text, evf_gen_mix_t *mix, char *errstr, size_t errstr_size) {
    int seen[EVF_GEN__CNT] = {0};
    char *copy = strdup(text), *save = NULL;
    if (!copy)
        abort();
    memset(mix, 0, sizeof(*mix));
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        while (*item == ' ')
            item++;
        char *eq = strchr(item, '=');
        evf_gen_kind_t kind;
        if (!eq) {
            snprintf(errstr, errstr_size, "mix entry '%s': expected kind=weight", item);
            goto fail;
        }
        *eq = '\0';
        char *end = eq;
        while (end > item && end[-1] == ' ')
            *--end = '\0';
        if (evf_gen_kind_parse(item, &kind)) {
            snprintf(errstr, errstr_size, "mix entry '%s': unknown kind (s3, stream, iot)", item);
            goto fail;
        }
        if (seen[kind]++) {
            snprintf(errstr, errstr_size, "mix names '%s' twice", item);
            goto fail;
        }
        errno = 0;
        unsigned long weight = strtoul(eq + 1, &end, 10);
        while (*end == ' ')
            end++;
        if (errno || end == eq + 1 || *end || weight > 1000000 || strchr(eq + 1, '-')) {
            snprintf(errstr, errstr_size, "mix weight for '%s' must be an integer 0..1000000",
                     item);
            goto fail;
        }
        mix->weight[kind] = (uint32_t)weight;
        mix->total += (uint32_t)weight;
    }
    if (mix->total == 0) {
        snprintf(errstr, errstr_size, "mix '%s' has no positive weight", text);
        goto fail;
    }
    free(copy);
    return 0;
fail:
    free(copy);
    return -1;
}

evf_gen_kind_t evf_gen_pick(evf_gen_t *gen, const evf_gen_mix_t *mix) {
    uint32_t r = below(gen, mix->total);
    for (int i = 0; i < EVF_GEN__CNT; i++) {
        if (r < mix->weight[i])
            return (evf_gen_kind_t)i;
        r -= mix->weight[i];
    }
    return EVF_GEN_IOT;
}
