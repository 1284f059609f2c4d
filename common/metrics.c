/* common/metrics.c — see metrics.h.
 *
 * Values are doubles kept as their bit patterns in _Atomic uint64_t (C11 has no atomic add for
 * floating types): set is a store, add is a compare-and-swap loop. A histogram series keeps one
 * non-cumulative count per bucket plus one for +Inf, and no separate total: the rendered +Inf
 * bucket and _count are both the sum of the counts read, so they are equal and the buckets are
 * cumulative in every scrape, even while other threads observe. Only _sum may lag or lead the
 * counts by the observations in flight.
 *
 * Removed series are hidden, never freed before the registry: a pointer a caller cached can never
 * dangle, and memory stays bounded by the number of distinct label sets ever used. */
#include "metrics.h"

#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    METRIC_COUNTER = 0,
    METRIC_GAUGE,
    METRIC_HISTOGRAM,
    METRIC_GAUGE_FN,
} metric_type_t;

static const char *const type_names[] = {
    [METRIC_COUNTER] = "counter",
    [METRIC_GAUGE] = "gauge",
    [METRIC_HISTOGRAM] = "histogram",
    [METRIC_GAUGE_FN] = "gauge",
};

static const double default_buckets[] = {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};

struct evf_series_s {
    evf_metric_t *family;
    evf_series_t *next;      /* creation order */
    evf_series_t *hash_next; /* same hash bucket */
    uint64_t hash;
    int hidden;                  /* under the registry's mutex */
    char *label_values[EVF_METRICS_MAX_LABELS];
    _Atomic uint64_t value_bits; /* counter/gauge value, histogram sum */
    _Atomic uint64_t counts[];   /* histogram: nbounds + 1 (the last is +Inf) */
};

struct evf_metric_s {
    evf_metrics_t *registry;
    evf_metric_t *next;
    metric_type_t type;
    char *name; /* with the prefix */
    char *help;
    size_t nlabels;
    char *label_names[EVF_METRICS_MAX_LABELS];
    double *bounds; /* histogram upper bounds, +Inf excluded */
    size_t nbounds;
    evf_metrics_gauge_fn_t *fn;
    void *opaque;
    evf_series_t *first, *last;
    evf_series_t **table; /* hash table of series by label values */
    size_t table_size;    /* a power of two, or 0 */
    size_t nseries;
};

struct evf_metrics_s {
    pthread_mutex_t lock;
    char *prefix;
    evf_metric_t *first, *last;
};

/* ------------------------------------------------------------------------------------------ */

static void *xmalloc(size_t size) {
    void *p = malloc(size ? size : 1);
    if (!p) {
        fprintf(stderr, "evf_metrics: out of memory\n");
        abort();
    }
    return p;
}

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) {
        fprintf(stderr, "evf_metrics: out of memory\n");
        abort();
    }
    return p;
}

static char *xstrdup(const char *s) {
    size_t len = strlen(s) + 1;
    char *d = xmalloc(len);
    memcpy(d, s, len);
    return d;
}

__attribute__((noreturn, format(printf, 1, 2))) static void misuse(const char *fmt, ...) {
    va_list ap;
    fputs("evf_metrics: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

static inline double bits_to_double(uint64_t bits) {
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

static inline uint64_t double_to_bits(double v) {
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    return bits;
}

static void atomic_add_double(_Atomic uint64_t *bits, double v) {
    uint64_t old = atomic_load_explicit(bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(bits, &old,
                                                  double_to_bits(bits_to_double(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

/* ------------------------------------------------------------------------------------------ */
/* Registration */

static int valid_metric_name(const char *s) {
    if (!s || !*s)
        return 0;
    for (const char *p = s; *p; p++) {
        int c = (unsigned char)*p;
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
        if (!alpha && !(p != s && c >= '0' && c <= '9'))
            return 0;
    }
    return 1;
}

static int valid_label_name(const char *s) {
    if (!s || !*s || (s[0] == '_' && s[1] == '_'))
        return 0;
    for (const char *p = s; *p; p++) {
        int c = (unsigned char)*p;
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!alpha && !(p != s && c >= '0' && c <= '9'))
            return 0;
    }
    return 1;
}

static int ends_with(const char *s, const char *suffix) {
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && memcmp(s + ls - lx, suffix, lx) == 0;
}

/* Writes prefix+name (or name when it already has the prefix) into a new string. */
static char *full_name(const evf_metrics_t *m, const char *name) {
    size_t lp = strlen(m->prefix), ln = strlen(name);
    if (lp == 0 || strncmp(name, m->prefix, lp) == 0)
        return xstrdup(name);
    char *s = xmalloc(lp + ln + 1);
    memcpy(s, m->prefix, lp);
    memcpy(s + lp, name, ln + 1);
    return s;
}

evf_metrics_t *evf_metrics_new(const char *prefix) {
    if (prefix && *prefix && !valid_metric_name(prefix))
        misuse("invalid metric name prefix \"%s\"", prefix);
    evf_metrics_t *m = xcalloc(1, sizeof(*m));
    pthread_mutex_init(&m->lock, NULL);
    m->prefix = xstrdup(prefix ? prefix : "");
    return m;
}

static void series_free(evf_series_t *s) {
    for (size_t i = 0; i < EVF_METRICS_MAX_LABELS; i++)
        free(s->label_values[i]);
    free(s);
}

static void family_free(evf_metric_t *f) {
    evf_series_t *s = f->first;
    while (s) {
        evf_series_t *next = s->next;
        series_free(s);
        s = next;
    }
    free(f->table);
    for (size_t i = 0; i < EVF_METRICS_MAX_LABELS; i++)
        free(f->label_names[i]);
    free(f->bounds);
    free(f->name);
    free(f->help);
    free(f);
}

void evf_metrics_destroy(evf_metrics_t *m) {
    if (!m)
        return;
    evf_metric_t *f = m->first;
    while (f) {
        evf_metric_t *next = f->next;
        family_free(f);
        f = next;
    }
    pthread_mutex_destroy(&m->lock);
    free(m->prefix);
    free(m);
}

static evf_metric_t *find_family(evf_metrics_t *m, const char *name) {
    for (evf_metric_t *f = m->first; f; f = f->next)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

/* Same definition as an existing family: same type, label names and bounds. */
static int same_definition(const evf_metric_t *f, metric_type_t type, size_t nlabels,
                           const char *const *label_names, const double *bounds, size_t nbounds) {
    if (f->type != type || f->nlabels != nlabels || f->nbounds != nbounds)
        return 0;
    for (size_t i = 0; i < nlabels; i++)
        if (strcmp(f->label_names[i], label_names[i]) != 0)
            return 0;
    for (size_t i = 0; i < nbounds; i++)
        if (f->bounds[i] != bounds[i])
            return 0;
    return 1;
}

static evf_series_t *series_get_locked(evf_metric_t *f, const char *const *label_values);

/* Validates, then returns the existing identical family or appends a new one. */
static evf_metric_t *family_register(evf_metrics_t *m, metric_type_t type, const char *name,
                                     const char *help, size_t nlabels,
                                     const char *const *label_names, const double *buckets,
                                     size_t nbuckets, evf_metrics_gauge_fn_t *fn, void *opaque) {
    const double *bounds = NULL;
    size_t nbounds = 0;
    evf_metric_t *f;
    char *fname;

    if (!m)
        return NULL;
    if (!valid_metric_name(name))
        misuse("invalid metric name \"%s\"", name ? name : "(null)");
    if (type == METRIC_COUNTER && !ends_with(name, "_total"))
        misuse("counter %s: the name must end in _total", name);
    if (nlabels > EVF_METRICS_MAX_LABELS)
        misuse("%s: %zu labels, at most %d", name, nlabels, EVF_METRICS_MAX_LABELS);
    for (size_t i = 0; i < nlabels; i++) {
        if (!valid_label_name(label_names[i]))
            misuse("%s: invalid label name \"%s\"", name,
                   label_names[i] ? label_names[i] : "(null)");
        if (type == METRIC_HISTOGRAM && strcmp(label_names[i], "le") == 0)
            misuse("%s: a histogram cannot have a label named le", name);
        for (size_t j = 0; j < i; j++)
            if (strcmp(label_names[i], label_names[j]) == 0)
                misuse("%s: label %s given twice", name, label_names[i]);
    }
    if (type == METRIC_HISTOGRAM) {
        bounds = buckets;
        nbounds = nbuckets;
        if (!bounds || nbounds == 0) {
            bounds = default_buckets;
            nbounds = sizeof(default_buckets) / sizeof(default_buckets[0]);
        }
        if (isinf(bounds[nbounds - 1]) && bounds[nbounds - 1] > 0)
            nbounds--;
        for (size_t i = 0; i < nbounds; i++) {
            if (!isfinite(bounds[i]))
                misuse("%s: bucket bound %zu is not finite", name, i);
            if (i > 0 && !(bounds[i] > bounds[i - 1]))
                misuse("%s: bucket bounds must be strictly increasing", name);
        }
    }

    pthread_mutex_lock(&m->lock);
    fname = full_name(m, name);
    f = find_family(m, fname);
    if (f) {
        if (type == METRIC_GAUGE_FN || f->type == METRIC_GAUGE_FN ||
            !same_definition(f, type, nlabels, label_names, bounds, nbounds)) {
            pthread_mutex_unlock(&m->lock);
            misuse("%s registered twice with different definitions", fname);
        }
        free(fname);
        pthread_mutex_unlock(&m->lock);
        return f;
    }

    f = xcalloc(1, sizeof(*f));
    f->registry = m;
    f->type = type;
    f->name = fname;
    f->help = xstrdup(help ? help : "");
    f->nlabels = nlabels;
    for (size_t i = 0; i < nlabels; i++)
        f->label_names[i] = xstrdup(label_names[i]);
    if (nbounds) {
        f->bounds = xmalloc(nbounds * sizeof(double));
        memcpy(f->bounds, bounds, nbounds * sizeof(double));
    }
    f->nbounds = nbounds;
    f->fn = fn;
    f->opaque = opaque;
    if (m->last)
        m->last->next = f;
    else
        m->first = f;
    m->last = f;
    /* A label-less family is one series: expose it (as 0) from the start. */
    if (nlabels == 0 && type != METRIC_GAUGE_FN)
        (void)series_get_locked(f, NULL);
    pthread_mutex_unlock(&m->lock);
    return f;
}

evf_metric_t *evf_metrics_counter(evf_metrics_t *m, const char *name, const char *help,
                                  size_t nlabels, const char *const *label_names) {
    return family_register(m, METRIC_COUNTER, name, help, nlabels, label_names, NULL, 0, NULL,
                           NULL);
}

evf_metric_t *evf_metrics_gauge(evf_metrics_t *m, const char *name, const char *help,
                                size_t nlabels, const char *const *label_names) {
    return family_register(m, METRIC_GAUGE, name, help, nlabels, label_names, NULL, 0, NULL,
                           NULL);
}

evf_metric_t *evf_metrics_histogram(evf_metrics_t *m, const char *name, const char *help,
                                    size_t nlabels, const char *const *label_names,
                                    const double *buckets, size_t nbuckets) {
    return family_register(m, METRIC_HISTOGRAM, name, help, nlabels, label_names, buckets,
                           nbuckets, NULL, NULL);
}

evf_metric_t *evf_metrics_gauge_fn(evf_metrics_t *m, const char *name, const char *help,
                                   evf_metrics_gauge_fn_t *fn, void *opaque) {
    if (m && !fn)
        misuse("%s: a callback gauge needs a function", name ? name : "(null)");
    return family_register(m, METRIC_GAUGE_FN, name, help, 0, NULL, NULL, 0, fn, opaque);
}

/* ------------------------------------------------------------------------------------------ */
/* Series lookup */

static uint64_t hash_values(size_t n, const char *const *values) {
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < n; i++) {
        for (const unsigned char *p = (const unsigned char *)values[i]; *p; p++)
            h = (h ^ *p) * UINT64_C(0x100000001b3);
        /* a separator no label byte equals (NUL), so ("ab","c") != ("a","bc") */
        h = (h ^ 0) * UINT64_C(0x100000001b3);
        h ^= h >> 29;
    }
    return h;
}

static void table_grow(evf_metric_t *f) {
    size_t size = f->table_size ? f->table_size * 2 : 16;
    evf_series_t **table = xcalloc(size, sizeof(*table));
    for (evf_series_t *s = f->first; s; s = s->next) {
        size_t idx = (size_t)(s->hash & (size - 1));
        s->hash_next = table[idx];
        table[idx] = s;
    }
    free(f->table);
    f->table = table;
    f->table_size = size;
}

static void series_reset(evf_series_t *s) {
    atomic_store(&s->value_bits, double_to_bits(0.0));
    if (s->family->type == METRIC_HISTOGRAM)
        for (size_t i = 0; i <= s->family->nbounds; i++)
            atomic_store(&s->counts[i], 0);
}

/* @locks_required registry lock */
static evf_series_t *series_get_locked(evf_metric_t *f, const char *const *label_values) {
    static const char *const no_values[1] = {NULL};
    uint64_t h;
    evf_series_t *s;

    if (f->nlabels == 0)
        label_values = no_values;
    for (size_t i = 0; i < f->nlabels; i++)
        if (!label_values[i])
            misuse("%s: label value for %s is NULL", f->name, f->label_names[i]);
    h = hash_values(f->nlabels, label_values);
    if (f->table_size) {
        for (s = f->table[h & (f->table_size - 1)]; s; s = s->hash_next) {
            size_t i;
            if (s->hash != h)
                continue;
            for (i = 0; i < f->nlabels; i++)
                if (strcmp(s->label_values[i], label_values[i]) != 0)
                    break;
            if (i == f->nlabels) {
                if (s->hidden) {
                    series_reset(s); /* whatever stale holders wrote while it was hidden */
                    s->hidden = 0;
                }
                return s;
            }
        }
    }

    size_t ncounts = f->type == METRIC_HISTOGRAM ? f->nbounds + 1 : 0;
    s = xcalloc(1, sizeof(*s) + ncounts * sizeof(s->counts[0]));
    s->family = f;
    s->hash = h;
    for (size_t i = 0; i < f->nlabels; i++)
        s->label_values[i] = xstrdup(label_values[i]);
    atomic_init(&s->value_bits, double_to_bits(0.0));
    for (size_t i = 0; i < ncounts; i++)
        atomic_init(&s->counts[i], 0);
    if (f->last)
        f->last->next = s;
    else
        f->first = s;
    f->last = s;
    f->nseries++;
    if (f->nseries > f->table_size * 3 / 4)
        table_grow(f); /* rehashes s too */
    else {
        size_t idx = (size_t)(h & (f->table_size - 1));
        s->hash_next = f->table[idx];
        f->table[idx] = s;
    }
    return s;
}

evf_series_t *evf_metric_series(evf_metric_t *f, const char *const *label_values) {
    evf_series_t *s;
    if (!f)
        return NULL;
    if (f->type == METRIC_GAUGE_FN)
        misuse("%s is a callback gauge: it has no series to update", f->name);
    if (f->nlabels > 0 && !label_values)
        misuse("%s: %zu label values needed", f->name, f->nlabels);
    pthread_mutex_lock(&f->registry->lock);
    s = series_get_locked(f, label_values);
    pthread_mutex_unlock(&f->registry->lock);
    return s;
}

evf_series_t *evf_metric_get(evf_metric_t *f, ...) {
    const char *values[EVF_METRICS_MAX_LABELS];
    va_list ap;
    if (!f)
        return NULL;
    va_start(ap, f);
    for (size_t i = 0; i < f->nlabels; i++)
        values[i] = va_arg(ap, const char *);
    va_end(ap);
    return evf_metric_series(f, values);
}

void evf_series_remove(evf_series_t *s) {
    if (!s)
        return;
    evf_metrics_t *m = s->family->registry;
    pthread_mutex_lock(&m->lock);
    s->hidden = 1;
    series_reset(s);
    pthread_mutex_unlock(&m->lock);
}

/* ------------------------------------------------------------------------------------------ */
/* Updates (any thread, lock-free) */

void evf_series_inc(evf_series_t *s) {
    evf_series_add(s, 1.0);
}

void evf_series_add(evf_series_t *s, double v) {
    if (!s)
        return;
    assert(s->family->type == METRIC_COUNTER || s->family->type == METRIC_GAUGE);
    if (s->family->type == METRIC_COUNTER && !(v >= 0))
        return; /* a counter never goes down; NaN would poison it for good */
    atomic_add_double(&s->value_bits, v);
}

void evf_series_set(evf_series_t *s, double v) {
    if (!s)
        return;
    assert(s->family->type == METRIC_GAUGE);
    atomic_store_explicit(&s->value_bits, double_to_bits(v), memory_order_relaxed);
}

void evf_series_observe(evf_series_t *s, double v) {
    if (!s)
        return;
    const evf_metric_t *f = s->family;
    assert(f->type == METRIC_HISTOGRAM);
    /* first bound >= v (le is inclusive); NaN compares false everywhere and lands in +Inf */
    size_t lo = 0, hi = f->nbounds;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->bounds[mid] >= v)
            hi = mid;
        else
            lo = mid + 1;
    }
    if (isnan(v))
        lo = f->nbounds;
    atomic_fetch_add_explicit(&s->counts[lo], 1, memory_order_relaxed);
    atomic_add_double(&s->value_bits, v);
}

double evf_series_value(const evf_series_t *s) {
    if (!s)
        return 0;
    if (s->family->type == METRIC_HISTOGRAM) {
        uint64_t n = 0;
        for (size_t i = 0; i <= s->family->nbounds; i++)
            n += atomic_load_explicit(&((evf_series_t *)s)->counts[i], memory_order_relaxed);
        return (double)n;
    }
    return bits_to_double(
        atomic_load_explicit(&((evf_series_t *)s)->value_bits, memory_order_relaxed));
}

/* ------------------------------------------------------------------------------------------ */
/* Rendering */

typedef struct {
    char *data;
    size_t len, cap;
} buf_t;

static void buf_reserve(buf_t *b, size_t more) {
    if (b->len + more + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *data = realloc(b->data, cap);
    if (!data) {
        fprintf(stderr, "evf_metrics: out of memory\n");
        abort();
    }
    b->data = data;
    b->cap = cap;
}

static void buf_put(buf_t *b, const char *s, size_t n) {
    buf_reserve(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void buf_puts(buf_t *b, const char *s) {
    buf_put(b, s, strlen(s));
}

/* Escapes backslash and newline, and double quote too in label values (exposition 0.0.4). */
static void buf_put_escaped(buf_t *b, const char *s, int quote) {
    for (const char *p = s; *p; p++) {
        if (*p == '\\')
            buf_put(b, "\\\\", 2);
        else if (*p == '\n')
            buf_put(b, "\\n", 2);
        else if (quote && *p == '"')
            buf_put(b, "\\\"", 2);
        else
            buf_put(b, p, 1);
    }
}

/* Shortest text that reads back as v: integers without exponent, NaN and ±Inf as Prometheus. */
static void format_double(char out[40], double v) {
    if (isnan(v)) {
        strcpy(out, "NaN");
        return;
    }
    if (isinf(v)) {
        strcpy(out, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == 0) {
        strcpy(out, "0"); /* -0 too */
        return;
    }
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(out, 40, "%.0f", v);
        return;
    }
    snprintf(out, 40, "%.15g", v);
    if (strtod(out, NULL) != v)
        snprintf(out, 40, "%.17g", v);
}

static void buf_put_double(buf_t *b, double v) {
    char tmp[40];
    format_double(tmp, v);
    buf_puts(b, tmp);
}

/* `{a="x",b="y"` plus le when given, then `}`; nothing at all without labels. */
static void put_labels(buf_t *b, const evf_metric_t *f, const evf_series_t *s, const char *le) {
    if (f->nlabels == 0 && !le)
        return;
    buf_put(b, "{", 1);
    for (size_t i = 0; i < f->nlabels; i++) {
        if (i)
            buf_put(b, ",", 1);
        buf_puts(b, f->label_names[i]);
        buf_put(b, "=\"", 2);
        buf_put_escaped(b, s->label_values[i], 1);
        buf_put(b, "\"", 1);
    }
    if (le) {
        if (f->nlabels)
            buf_put(b, ",", 1);
        buf_puts(b, "le=\"");
        buf_puts(b, le);
        buf_put(b, "\"", 1);
    }
    buf_put(b, "}", 1);
}

static void render_histogram(buf_t *b, const evf_metric_t *f, evf_series_t *s) {
    uint64_t cumulative = 0;
    char le[40];
    for (size_t i = 0; i <= f->nbounds; i++) {
        cumulative += atomic_load_explicit(&s->counts[i], memory_order_relaxed);
        if (i < f->nbounds)
            format_double(le, f->bounds[i]);
        else
            strcpy(le, "+Inf");
        buf_puts(b, f->name);
        buf_puts(b, "_bucket");
        put_labels(b, f, s, le);
        buf_put(b, " ", 1);
        buf_put_double(b, (double)cumulative);
        buf_put(b, "\n", 1);
    }
    buf_puts(b, f->name);
    buf_puts(b, "_sum");
    put_labels(b, f, s, NULL);
    buf_put(b, " ", 1);
    buf_put_double(b, bits_to_double(atomic_load_explicit(&s->value_bits, memory_order_relaxed)));
    buf_put(b, "\n", 1);
    buf_puts(b, f->name);
    buf_puts(b, "_count");
    put_labels(b, f, s, NULL);
    buf_put(b, " ", 1);
    buf_put_double(b, (double)cumulative);
    buf_put(b, "\n", 1);
}

char *evf_metrics_render(evf_metrics_t *m, size_t *len) {
    buf_t b = {0};
    buf_reserve(&b, 0);
    b.data[0] = '\0';
    if (!m)
        goto done;
    pthread_mutex_lock(&m->lock);
    for (const evf_metric_t *f = m->first; f; f = f->next) {
        buf_puts(&b, "# HELP ");
        buf_puts(&b, f->name);
        buf_put(&b, " ", 1);
        buf_put_escaped(&b, f->help, 0);
        buf_puts(&b, "\n# TYPE ");
        buf_puts(&b, f->name);
        buf_put(&b, " ", 1);
        buf_puts(&b, type_names[f->type]);
        buf_put(&b, "\n", 1);
        if (f->type == METRIC_GAUGE_FN) {
            buf_puts(&b, f->name);
            buf_put(&b, " ", 1);
            buf_put_double(&b, f->fn(f->opaque));
            buf_put(&b, "\n", 1);
            continue;
        }
        for (evf_series_t *s = f->first; s; s = s->next) {
            if (s->hidden)
                continue;
            if (f->type == METRIC_HISTOGRAM) {
                render_histogram(&b, f, s);
                continue;
            }
            buf_puts(&b, f->name);
            put_labels(&b, f, s, NULL);
            buf_put(&b, " ", 1);
            buf_put_double(&b, bits_to_double(atomic_load_explicit(&s->value_bits,
                                                                   memory_order_relaxed)));
            buf_put(&b, "\n", 1);
        }
    }
    pthread_mutex_unlock(&m->lock);
done:
    if (len)
        *len = b.len;
    return b.data;
}
