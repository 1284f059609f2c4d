/* tests/lib/fakectx.c — see fakectx.h. Independent of the processors under test on purpose: the
 * guard and effect semantics are re-implemented here from processor.h. */
#include "fakectx.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- a small string map (chained hashing) ---- */

typedef struct ment_s {
    struct ment_s *next;
    uint64_t h;
    char *k;
    char *v;  /* field maps: the value (NULL for set members) */
    void *obj; /* the store: the key's object */
} ment_t;

typedef struct {
    ment_t **b;
    size_t nb, n;
} smap_t;

static void *xcalloc(size_t n, size_t sz) {
    void *p = calloc(n ? n : 1, sz);
    if (!p)
        abort();
    return p;
}

static char *xstrdup(const char *s) {
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

static uint64_t strhash(const char *s) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

static ment_t *smap_get(const smap_t *m, const char *k) {
    if (!m->nb)
        return NULL;
    uint64_t h = strhash(k);
    for (ment_t *e = m->b[h % m->nb]; e; e = e->next)
        if (e->h == h && !strcmp(e->k, k))
            return e;
    return NULL;
}

static void smap_grow(smap_t *m) {
    size_t nb = m->nb ? m->nb * 2 : 16;
    ment_t **b = xcalloc(nb, sizeof(*b));
    for (size_t i = 0; i < m->nb; i++) {
        for (ment_t *e = m->b[i], *next; e; e = next) {
            next = e->next;
            e->next = b[e->h % nb];
            b[e->h % nb] = e;
        }
    }
    free(m->b);
    m->b = b;
    m->nb = nb;
}

/* The entry for k, created empty when absent. */
static ment_t *smap_put(smap_t *m, const char *k) {
    ment_t *e = smap_get(m, k);
    if (e)
        return e;
    if (m->n + 1 > m->nb)
        smap_grow(m);
    e = xcalloc(1, sizeof(*e));
    e->h = strhash(k);
    e->k = xstrdup(k);
    e->next = m->b[e->h % m->nb];
    m->b[e->h % m->nb] = e;
    m->n++;
    return e;
}

/* Unlink k's entry and return it (the caller frees), or NULL. */
static ment_t *smap_take(smap_t *m, const char *k) {
    if (!m->nb)
        return NULL;
    uint64_t h = strhash(k);
    for (ment_t **pp = &m->b[h % m->nb]; *pp; pp = &(*pp)->next) {
        ment_t *e = *pp;
        if (e->h == h && !strcmp(e->k, k)) {
            *pp = e->next;
            m->n--;
            return e;
        }
    }
    return NULL;
}

/* ---- the store ---- */

typedef enum { FK_STRING = 1, FK_HASH, FK_SET } fk_type_t;

typedef struct {
    fk_type_t type;
    char *str;
    smap_t fields; /* hash fields or set members */
    int64_t pttl;  /* -1: none */
} fkey_t;

static void fields_free(smap_t *m) {
    for (size_t i = 0; i < m->nb; i++) {
        for (ment_t *e = m->b[i], *next; e; e = next) {
            next = e->next;
            free(e->k);
            free(e->v);
            free(e);
        }
    }
    free(m->b);
    memset(m, 0, sizeof(*m));
}

static void fkey_free(fkey_t *k) {
    if (!k)
        return;
    free(k->str);
    fields_free(&k->fields);
    free(k);
}

static void store_free(smap_t *s) {
    for (size_t i = 0; i < s->nb; i++) {
        for (ment_t *e = s->b[i], *next; e; e = next) {
            next = e->next;
            fkey_free(e->obj);
            free(e->k);
            free(e);
        }
    }
    free(s->b);
    memset(s, 0, sizeof(*s));
}

static void store_copy(smap_t *dst, const smap_t *src) {
    memset(dst, 0, sizeof(*dst));
    for (size_t i = 0; i < src->nb; i++) {
        for (ment_t *e = src->b[i]; e; e = e->next) {
            const fkey_t *from = e->obj;
            fkey_t *to = xcalloc(1, sizeof(*to));
            to->type = from->type;
            to->str = xstrdup(from->str);
            to->pttl = from->pttl;
            for (size_t j = 0; j < from->fields.nb; j++)
                for (ment_t *fe = from->fields.b[j]; fe; fe = fe->next)
                    smap_put(&to->fields, fe->k)->v = xstrdup(fe->v);
            smap_put(dst, e->k)->obj = to;
        }
    }
}

static fkey_t *store_key(const smap_t *s, const char *key) {
    ment_t *e = smap_get(s, key);
    return e ? e->obj : NULL;
}

/* The key as type, created when absent; NULL when it exists with another type. */
static fkey_t *store_key_as(smap_t *s, const char *key, fk_type_t type) {
    ment_t *e = smap_put(s, key);
    if (!e->obj) {
        fkey_t *k = xcalloc(1, sizeof(*k));
        k->type = type;
        k->pttl = -1;
        e->obj = k;
    }
    fkey_t *k = e->obj;
    return k->type == type ? k : NULL;
}

static void store_del(smap_t *s, const char *key) {
    ment_t *e = smap_take(s, key);
    if (!e)
        return;
    fkey_free(e->obj);
    free(e->k);
    free(e);
}

/* ---- the fake ---- */

struct evf_fakectx_s {
    evf_proc_ctx_t ctx;
    smap_t store;
    char *prefix, *group;
    int64_t next_offset;
    evf_fake_guard_t *guards;
    size_t n_guards, max_guards;
    evf_fake_effect_t *effects;
    size_t n_effects, max_effects;
    evf_fake_emit_t *emits;
    size_t n_emits, max_emits;
    char reason[1024];
    char last_log[1024];
    size_t n_logs;
    size_t bad_calls;
    size_t n_lookups;
    int fail_lookups;
    int lazy_guards;
    int last_apply;
    size_t last_skipped;
    char error[512];
    int verbose;
};

static evf_fakectx_t *fake_of(evf_proc_ctx_t *ctx) {
    return ctx->worker_private;
}

static void op_log(evf_proc_ctx_t *ctx, int level, const char *fmt, va_list ap) {
    evf_fakectx_t *f = fake_of(ctx);
    vsnprintf(f->last_log, sizeof(f->last_log), fmt, ap);
    f->n_logs++;
    if (f->verbose)
        fprintf(stderr, "fakectx log[%d]: %s\n", level, f->last_log);
}

static void op_reason(evf_proc_ctx_t *ctx, const char *fmt, va_list ap) {
    evf_fakectx_t *f = fake_of(ctx);
    vsnprintf(f->reason, sizeof(f->reason), fmt, ap);
}

static int copy_out(const char *v, char *out, size_t out_size) {
    if (out_size > 0)
        snprintf(out, out_size, "%s", v);
    return 0;
}

static int op_hget(evf_proc_ctx_t *ctx, const char *key, const char *field, char *out,
                   size_t out_size) {
    evf_fakectx_t *f = fake_of(ctx);
    f->n_lookups++;
    if (!key || !field) {
        f->bad_calls++;
        return -1;
    }
    if (f->fail_lookups)
        return -1;
    fkey_t *k = store_key(&f->store, key);
    if (!k)
        return 1;
    if (k->type != FK_HASH)
        return -1; /* WRONGTYPE */
    ment_t *e = smap_get(&k->fields, field);
    return e ? copy_out(e->v, out, out_size) : 1;
}

static int op_get(evf_proc_ctx_t *ctx, const char *key, char *out, size_t out_size) {
    evf_fakectx_t *f = fake_of(ctx);
    f->n_lookups++;
    if (!key) {
        f->bad_calls++;
        return -1;
    }
    if (f->fail_lookups)
        return -1;
    fkey_t *k = store_key(&f->store, key);
    if (!k)
        return 1;
    if (k->type != FK_STRING)
        return -1;
    return copy_out(k->str, out, out_size);
}

static int op_guard(evf_proc_ctx_t *ctx, evf_guard_op_t op, const char *key, const char *field,
                    const char *value) {
    evf_fakectx_t *f = fake_of(ctx);
    if (op < EVF_GUARD_LT_NUM || op > EVF_GUARD_NE || !key || !*key ||
        (op != EVF_GUARD_ABSENT && !value)) {
        f->bad_calls++;
        return -1;
    }
    if (f->n_guards >= f->max_guards)
        return -1;
    evf_fake_guard_t *g = &f->guards[f->n_guards++];
    g->op = op;
    g->key = xstrdup(key);
    g->field = field && *field ? xstrdup(field) : NULL; /* "" means the key itself */
    g->value = xstrdup(value);
    return (int)f->n_guards;
}

static int needs_field(evf_fx_op_t op) {
    return op == EVF_FX_HSET || op == EVF_FX_HINCRBY || op == EVF_FX_HINCRBYFLOAT ||
           op == EVF_FX_HDEL || op == EVF_FX_HMAX || op == EVF_FX_HMIN;
}

static int needs_value(evf_fx_op_t op) {
    return op != EVF_FX_HDEL && op != EVF_FX_DEL;
}

static int valid_int(const char *s) {
    char *end = NULL;
    errno = 0;
    (void)strtoll(s, &end, 10);
    return *s && !*end && !errno;
}

static int valid_number(const char *s) {
    char *end = NULL;
    double d = strtod(s, &end);
    return *s && !*end && isfinite(d);
}

/* The values the worker's effect queue refuses up front (consumer/effects.c). */
static int valid_value(evf_fx_op_t op, const char *value) {
    switch (op) {
    case EVF_FX_HINCRBY:
    case EVF_FX_INCRBY:
        return valid_int(value);
    case EVF_FX_HINCRBYFLOAT:
    case EVF_FX_HMAX:
    case EVF_FX_HMIN:
        return valid_number(value);
    case EVF_FX_PEXPIRE:
        return valid_int(value) && atoll(value) > 0;
    default:
        return 1;
    }
}

static int op_effect(evf_proc_ctx_t *ctx, int guard_id, evf_fx_op_t op, const char *key,
                     const char *field, const char *value) {
    evf_fakectx_t *f = fake_of(ctx);
    if (op < EVF_FX_HSET || op > EVF_FX_PEXPIRE || !key || !*key ||
        (needs_field(op) && (!field || !*field)) || (needs_value(op) && !value) ||
        (needs_value(op) && !valid_value(op, value)) || guard_id < 0 ||
        (size_t)guard_id > f->n_guards) {
        f->bad_calls++;
        return -1;
    }
    if (f->n_effects >= f->max_effects)
        return -1;
    evf_fake_effect_t *e = &f->effects[f->n_effects++];
    e->guard_id = guard_id;
    e->op = op;
    e->key = xstrdup(key);
    e->field = needs_field(op) ? xstrdup(field) : NULL;
    e->value = needs_value(op) ? xstrdup(value) : NULL;
    return 0;
}

static int op_emit(evf_proc_ctx_t *ctx, const char *topic, evf_proc_event_t *ev) {
    evf_fakectx_t *f = fake_of(ctx);
    if (!topic || !*topic || !ev) {
        f->bad_calls++;
        if (ev)
            protobuf_c_message_free_unpacked(&ev->base, NULL);
        return -1;
    }
    if (f->n_emits >= f->max_emits) {
        protobuf_c_message_free_unpacked(&ev->base, NULL); /* ownership taken either way */
        return -1;
    }
    f->emits[f->n_emits].topic = xstrdup(topic);
    f->emits[f->n_emits].ev = ev;
    f->n_emits++;
    return 0;
}

static const evf_proc_ops_t fake_ops = {
    .log = op_log,
    .hget = op_hget,
    .get = op_get,
    .guard = op_guard,
    .effect = op_effect,
    .emit = op_emit,
    .reason = op_reason,
};

static void forget_call(evf_fakectx_t *f) {
    for (size_t i = 0; i < f->n_guards; i++) {
        free(f->guards[i].key);
        free(f->guards[i].field);
        free(f->guards[i].value);
    }
    f->n_guards = 0;
    for (size_t i = 0; i < f->n_effects; i++) {
        free(f->effects[i].key);
        free(f->effects[i].field);
        free(f->effects[i].value);
    }
    f->n_effects = 0;
    for (size_t i = 0; i < f->n_emits; i++) {
        free(f->emits[i].topic);
        protobuf_c_message_free_unpacked(&f->emits[i].ev->base, NULL);
    }
    f->n_emits = 0;
    f->reason[0] = '\0';
    f->last_log[0] = '\0';
    f->n_logs = 0;
}

void evf_fakectx_limits(evf_fakectx_t *f, size_t max_guards, size_t max_effects,
                        size_t max_emits) {
    forget_call(f);
    free(f->guards);
    free(f->effects);
    free(f->emits);
    f->max_guards = max_guards;
    f->max_effects = max_effects;
    f->max_emits = max_emits;
    f->guards = xcalloc(max_guards, sizeof(*f->guards));
    f->effects = xcalloc(max_effects, sizeof(*f->effects));
    f->emits = xcalloc(max_emits, sizeof(*f->emits));
}

evf_fakectx_t *evf_fakectx_new(void) {
    evf_fakectx_t *f = xcalloc(1, sizeof(*f));
    f->prefix = xstrdup("evf");
    f->group = xstrdup("test-group");
    f->verbose = getenv("EVF_FAKECTX_VERBOSE") != NULL;
    evf_fakectx_limits(f, 64, 1024, 64);
    f->ctx.ops = &fake_ops;
    f->ctx.worker_private = f;
    return f;
}

void evf_fakectx_destroy(evf_fakectx_t *f) {
    if (!f)
        return;
    forget_call(f);
    free(f->guards);
    free(f->effects);
    free(f->emits);
    store_free(&f->store);
    free(f->prefix);
    free(f->group);
    free(f);
}

void evf_fakectx_set_prefix(evf_fakectx_t *f, const char *key_prefix) {
    free(f->prefix);
    f->prefix = xstrdup(key_prefix);
}

void evf_fakectx_set_group(evf_fakectx_t *f, const char *group) {
    free(f->group);
    f->group = xstrdup(group);
}

evf_proc_ctx_t *evf_fakectx_begin(evf_fakectx_t *f, const evf_proc_event_t *ev, int attempt) {
    struct timespec ts;
    forget_call(f);
    clock_gettime(CLOCK_REALTIME, &ts);
    f->ctx.idempotency_key = ev && ev->id ? ev->id : "";
    f->ctx.attempt = attempt;
    f->ctx.deadline_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 30000;
    f->ctx.topic = "events.test";
    f->ctx.partition = 0;
    f->ctx.offset = f->next_offset++;
    f->ctx.group = f->group;
    f->ctx.key_prefix = f->prefix;
    return &f->ctx;
}

evf_proc_result_t evf_fakectx_run(evf_fakectx_t *f, const evf_processor_t *proc, void *state,
                                  const evf_proc_event_t *ev, int attempt) {
    evf_proc_ctx_t *ctx = evf_fakectx_begin(f, ev, attempt);
    evf_proc_result_t res = proc->process(state, ev, ctx);
    f->last_apply = res == EVF_PROC_OK ? evf_fakectx_apply(f) : 0;
    return res;
}

/* ---- guards and effects ---- */

static int is_num(const char *s, int hex) {
    if (!*s)
        return 0;
    for (; *s; s++) {
        char c = *s;
        int ok = (c >= '0' && c <= '9') ||
                 (hex && ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')));
        if (!ok)
            return 0;
    }
    return 1;
}

static int digit_val(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return c - 'A' + 10;
}

/* Compare unsigned numbers of any length, as if left-padded with zeros. */
static int num_cmp(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b), l = la > lb ? la : lb;
    for (size_t i = 0; i < l; i++) {
        int da = i + la >= l ? digit_val(a[i + la - l]) : 0;
        int db = i + lb >= l ? digit_val(b[i + lb - l]) : 0;
        if (da != db)
            return da < db ? -1 : 1;
    }
    return 0;
}

/* 1 holds, 0 does not, -1 invalid (error set). */
static int guard_eval(evf_fakectx_t *f, const smap_t *store, const evf_fake_guard_t *g) {
    fkey_t *k = store_key(store, g->key);
    const char *stored = NULL;
    if (k) {
        if (g->field) {
            if (k->type != FK_HASH) {
                snprintf(f->error, sizeof(f->error), "guard on %s/%s: key is not a hash", g->key,
                         g->field);
                return -1;
            }
            ment_t *e = smap_get(&k->fields, g->field);
            stored = e ? e->v : NULL;
        } else if (g->op != EVF_GUARD_ABSENT) {
            if (k->type != FK_STRING) {
                snprintf(f->error, sizeof(f->error), "guard on %s: key is not a string", g->key);
                return -1;
            }
            stored = k->str;
        } else {
            return 0; /* the key exists */
        }
    }
    switch (g->op) {
    case EVF_GUARD_ABSENT:
        return stored == NULL;
    case EVF_GUARD_NE:
        return stored == NULL || strcmp(stored, g->value) != 0;
    case EVF_GUARD_LT_STR:
        return stored == NULL || strcmp(stored, g->value) < 0;
    case EVF_GUARD_LT_NUM:
    case EVF_GUARD_LT_HEX: {
        int hex = g->op == EVF_GUARD_LT_HEX;
        if (!is_num(g->value, hex) || (stored && !is_num(stored, hex))) {
            snprintf(f->error, sizeof(f->error), "guard on %s/%s: '%s' < '%s' is not %s",
                     g->key, g->field ? g->field : "", stored ? stored : "", g->value,
                     hex ? "hex" : "decimal");
            return -1;
        }
        return stored == NULL || num_cmp(stored, g->value) < 0;
    }
    }
    return -1;
}

static int parse_ll(const char *s, long long *out) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno)
        return -1;
    *out = v;
    return 0;
}

static int parse_ld(const char *s, long double *out) {
    char *end = NULL;
    errno = 0;
    long double v = strtold(s, &end);
    if (!*s || *end || errno || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

static void set_field(fkey_t *k, const char *field, const char *value) {
    ment_t *e = smap_put(&k->fields, field);
    free(e->v);
    e->v = xstrdup(value);
}

#define FX_FAIL(...)                                                                             \
    do {                                                                                         \
        snprintf(f->error, sizeof(f->error), __VA_ARGS__);                                       \
        return -1;                                                                               \
    } while (0)

static int fx_apply(evf_fakectx_t *f, smap_t *s, const evf_fake_effect_t *e) {
    static const char *const names[] = {"?",     "HSET",  "HINCRBY", "HINCRBYFLOAT", "HDEL",
                                        "HMAX",  "HMIN",  "SET",     "INCRBY",       "DEL",
                                        "SADD",  "SREM",  "PEXPIRE"};
    const char *name = names[e->op];
    fkey_t *k;
    char buf[64];
    switch (e->op) {
    case EVF_FX_HSET:
    case EVF_FX_HINCRBY:
    case EVF_FX_HINCRBYFLOAT:
    case EVF_FX_HMAX:
    case EVF_FX_HMIN: {
        if (!(k = store_key_as(s, e->key, FK_HASH)))
            FX_FAIL("%s %s: WRONGTYPE", name, e->key);
        ment_t *fe = smap_get(&k->fields, e->field);
        const char *old = fe ? fe->v : NULL;
        if (e->op == EVF_FX_HSET) {
            set_field(k, e->field, e->value);
        } else if (e->op == EVF_FX_HINCRBY) {
            long long by, cur = 0;
            if (parse_ll(e->value, &by))
                FX_FAIL("HINCRBY %s %s: '%s' is not an integer", e->key, e->field, e->value);
            if (old && parse_ll(old, &cur))
                FX_FAIL("HINCRBY %s %s: stored '%s' is not an integer", e->key, e->field, old);
            if ((by > 0 && cur > INT64_MAX - by) || (by < 0 && cur < INT64_MIN - by))
                FX_FAIL("HINCRBY %s %s: overflow", e->key, e->field);
            snprintf(buf, sizeof(buf), "%lld", cur + by);
            set_field(k, e->field, buf);
        } else {
            long double v, cur = 0;
            if (parse_ld(e->value, &v))
                FX_FAIL("%s %s %s: '%s' is not a number", name, e->key, e->field, e->value);
            if (old && parse_ld(old, &cur))
                FX_FAIL("%s %s %s: stored '%s' is not a number", name, e->key, e->field, old);
            if (e->op == EVF_FX_HINCRBYFLOAT) {
                snprintf(buf, sizeof(buf), "%.17Lg", cur + v);
                set_field(k, e->field, buf);
            } else if (!old || (e->op == EVF_FX_HMAX ? v > cur : v < cur)) {
                set_field(k, e->field, e->value);
            }
        }
        return 0;
    }
    case EVF_FX_HDEL:
        if (!(k = store_key(s, e->key)))
            return 0;
        if (k->type != FK_HASH)
            FX_FAIL("HDEL %s: WRONGTYPE", e->key);
        {
            ment_t *fe = smap_take(&k->fields, e->field);
            if (fe) {
                free(fe->k);
                free(fe->v);
                free(fe);
            }
        }
        if (k->fields.n == 0)
            store_del(s, e->key);
        return 0;
    case EVF_FX_SET: /* overwrites any type and clears the TTL, as Redis does */
        store_del(s, e->key);
        k = store_key_as(s, e->key, FK_STRING);
        k->str = xstrdup(e->value);
        return 0;
    case EVF_FX_INCRBY: {
        long long by, cur = 0;
        if (parse_ll(e->value, &by))
            FX_FAIL("INCRBY %s: '%s' is not an integer", e->key, e->value);
        if (!(k = store_key_as(s, e->key, FK_STRING)))
            FX_FAIL("INCRBY %s: WRONGTYPE", e->key);
        if (k->str && parse_ll(k->str, &cur))
            FX_FAIL("INCRBY %s: stored '%s' is not an integer", e->key, k->str);
        snprintf(buf, sizeof(buf), "%lld", cur + by);
        free(k->str);
        k->str = xstrdup(buf);
        return 0;
    }
    case EVF_FX_DEL:
        store_del(s, e->key);
        return 0;
    case EVF_FX_SADD:
        if (!(k = store_key_as(s, e->key, FK_SET)))
            FX_FAIL("SADD %s: WRONGTYPE", e->key);
        smap_put(&k->fields, e->value);
        return 0;
    case EVF_FX_SREM:
        if (!(k = store_key(s, e->key)))
            return 0;
        if (k->type != FK_SET)
            FX_FAIL("SREM %s: WRONGTYPE", e->key);
        {
            ment_t *fe = smap_take(&k->fields, e->value);
            if (fe) {
                free(fe->k);
                free(fe);
            }
        }
        if (k->fields.n == 0)
            store_del(s, e->key);
        return 0;
    case EVF_FX_PEXPIRE: {
        long long ms;
        if (parse_ll(e->value, &ms))
            FX_FAIL("PEXPIRE %s: '%s' is not an integer", e->key, e->value);
        if (!(k = store_key(s, e->key)))
            return 0;
        if (ms <= 0)
            store_del(s, e->key);
        else
            k->pttl = ms;
        return 0;
    }
    }
    FX_FAIL("unknown effect op %d", (int)e->op);
}

int evf_fakectx_apply(evf_fakectx_t *f) {
    f->error[0] = '\0';
    f->last_skipped = 0;
    int *holds = xcalloc(f->n_guards + 1, sizeof(*holds));
    smap_t work;
    store_copy(&work, &f->store);
    int applied = 0;
    if (!f->lazy_guards) {
        for (size_t i = 0; i < f->n_guards; i++) {
            if ((holds[i + 1] = guard_eval(f, &work, &f->guards[i])) < 0)
                goto fail;
        }
    }
    for (size_t i = 0; i < f->n_effects; i++) {
        const evf_fake_effect_t *e = &f->effects[i];
        if (e->guard_id > 0) {
            int h = f->lazy_guards ? guard_eval(f, &work, &f->guards[e->guard_id - 1])
                                   : holds[e->guard_id];
            if (h < 0)
                goto fail;
            if (!h) {
                f->last_skipped++;
                continue;
            }
        }
        if (fx_apply(f, &work, e))
            goto fail;
        applied++;
    }
    store_free(&f->store);
    f->store = work;
    free(holds);
    return applied;
fail:
    store_free(&work);
    free(holds);
    f->last_skipped = 0;
    return -1;
}

int evf_fakectx_last_apply(const evf_fakectx_t *f) {
    return f->last_apply;
}
size_t evf_fakectx_last_skipped(const evf_fakectx_t *f) {
    return f->last_skipped;
}
const char *evf_fakectx_error(const evf_fakectx_t *f) {
    return f->error;
}

size_t evf_fakectx_n_guards(const evf_fakectx_t *f) {
    return f->n_guards;
}
const evf_fake_guard_t *evf_fakectx_guard(const evf_fakectx_t *f, size_t i) {
    return i < f->n_guards ? &f->guards[i] : NULL;
}
size_t evf_fakectx_n_effects(const evf_fakectx_t *f) {
    return f->n_effects;
}
const evf_fake_effect_t *evf_fakectx_effect(const evf_fakectx_t *f, size_t i) {
    return i < f->n_effects ? &f->effects[i] : NULL;
}
size_t evf_fakectx_n_emits(const evf_fakectx_t *f) {
    return f->n_emits;
}
const evf_fake_emit_t *evf_fakectx_emit(const evf_fakectx_t *f, size_t i) {
    return i < f->n_emits ? &f->emits[i] : NULL;
}
const char *evf_fakectx_reason(const evf_fakectx_t *f) {
    return f->reason;
}
size_t evf_fakectx_n_logs(const evf_fakectx_t *f) {
    return f->n_logs;
}
const char *evf_fakectx_last_log(const evf_fakectx_t *f) {
    return f->last_log;
}
size_t evf_fakectx_bad_calls(const evf_fakectx_t *f) {
    return f->bad_calls;
}
size_t evf_fakectx_n_lookups(const evf_fakectx_t *f) {
    return f->n_lookups;
}
void evf_fakectx_fail_lookups(evf_fakectx_t *f, int on) {
    f->fail_lookups = on;
}
void evf_fakectx_lazy_guards(evf_fakectx_t *f, int on) {
    f->lazy_guards = on;
}

/* ---- store access ---- */

void evf_fakectx_hset(evf_fakectx_t *f, const char *key, const char *field, const char *value) {
    fkey_t *k = store_key_as(&f->store, key, FK_HASH);
    if (!k)
        abort(); /* a test bug: the key holds another type */
    set_field(k, field, value);
}

void evf_fakectx_set(evf_fakectx_t *f, const char *key, const char *value) {
    store_del(&f->store, key);
    store_key_as(&f->store, key, FK_STRING)->str = xstrdup(value);
}

const char *evf_fakectx_hget(const evf_fakectx_t *f, const char *key, const char *field) {
    fkey_t *k = store_key(&f->store, key);
    if (!k || k->type != FK_HASH)
        return NULL;
    ment_t *e = smap_get(&k->fields, field);
    return e ? e->v : NULL;
}

const char *evf_fakectx_get(const evf_fakectx_t *f, const char *key) {
    fkey_t *k = store_key(&f->store, key);
    return k && k->type == FK_STRING ? k->str : NULL;
}

size_t evf_fakectx_len(const evf_fakectx_t *f, const char *key) {
    fkey_t *k = store_key(&f->store, key);
    return k && k->type != FK_STRING ? k->fields.n : 0;
}

int evf_fakectx_sismember(const evf_fakectx_t *f, const char *key, const char *member) {
    fkey_t *k = store_key(&f->store, key);
    return k && k->type == FK_SET && smap_get(&k->fields, member) != NULL;
}

int evf_fakectx_exists(const evf_fakectx_t *f, const char *key) {
    return store_key(&f->store, key) != NULL;
}

int64_t evf_fakectx_pttl(const evf_fakectx_t *f, const char *key) {
    fkey_t *k = store_key(&f->store, key);
    return k ? k->pttl : -2;
}

size_t evf_fakectx_n_keys(const evf_fakectx_t *f) {
    return f->store.n;
}

void evf_fakectx_foreach_key(const evf_fakectx_t *f, void (*fn)(void *opaque, const char *key),
                             void *opaque) {
    for (size_t i = 0; i < f->store.nb; i++)
        for (ment_t *e = f->store.b[i]; e; e = e->next)
            fn(opaque, e->k);
}

void evf_fakectx_clear(evf_fakectx_t *f) {
    store_free(&f->store);
}
