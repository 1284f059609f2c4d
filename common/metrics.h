/* common/metrics.h — a Prometheus metrics registry: the one table of a program's metrics, rendered
 * in the text exposition format 0.0.4.
 *
 * A registry holds families (counter, gauge, histogram, or a gauge computed at scrape time), each
 * with fixed label names (0..EVF_METRICS_MAX_LABELS). A family's series are looked up by label
 * values, created on first use under the registry's mutex; callers cache the returned series
 * pointer, so the hot path (evf_series_inc/add/set/observe) is lock-free atomics. A series pointer
 * stays valid until the registry is destroyed, even after evf_series_remove().
 *
 * Thread-safe: any thread may register, look up, update and render concurrently.
 *
 * A NULL registry is a registry that is switched off: registering on it returns NULL, looking up a
 * series of a NULL family returns NULL, and updating a NULL series does nothing — so code shared
 * with a program that exports no metrics needs no checks. */
#ifndef EVF_METRICS_H
#define EVF_METRICS_H

#include <stddef.h>

#define EVF_METRICS_MAX_LABELS 4

typedef struct evf_metrics_s evf_metrics_t; /* the registry */
typedef struct evf_metric_s evf_metric_t;   /* one family: a name, a type, label names */
typedef struct evf_series_s evf_series_t;   /* one set of label values of a family */

/* Scrape-time value of a callback gauge. Runs on the rendering thread with the registry's mutex
 * held: it must not call into the registry. */
typedef double(evf_metrics_gauge_fn_t)(void *opaque);

/**
 * @brief Create an empty registry. Every family name gets `prefix` ("evfleet_") in front unless
 * it already starts with it (so `"events_consumed_total"` and `"evfleet_events_consumed_total"`
 * name the same family). prefix may be NULL or "" (copied); an invalid prefix aborts.
 * @returns the registry; never NULL (aborts on out-of-memory).
 */
evf_metrics_t *evf_metrics_new(const char *prefix);

/** @brief Free the registry, its families and series (NULL-safe). No other thread may use it. */
void evf_metrics_destroy(evf_metrics_t *m);

/**
 * @brief Register a counter family. name must end in `_total` (it is the exposed name); label
 * names match `[a-zA-Z_][a-zA-Z0-9_]*`, do not start with `__` and are distinct. help may be NULL.
 * Strings are copied. Registering the same name again with the same type and label names returns
 * the existing family; a conflicting or invalid registration is a programming error: it prints the
 * reason to stderr and aborts.
 * A family without labels has its one series from the start, so it is exposed as 0 at once.
 * @returns the family (NULL only when m is NULL).
 */
evf_metric_t *evf_metrics_counter(evf_metrics_t *m, const char *name, const char *help,
                                  size_t nlabels, const char *const *label_names);

/** @brief Register a gauge family; as evf_metrics_counter() without the `_total` rule. */
evf_metric_t *evf_metrics_gauge(evf_metrics_t *m, const char *name, const char *help,
                                size_t nlabels, const char *const *label_names);

/**
 * @brief Register a histogram family; as evf_metrics_gauge(), and `le` is not a valid label name.
 * buckets are the upper bounds, strictly increasing and finite (a last +Inf is dropped: the +Inf
 * bucket is always exposed); buckets NULL or nbuckets 0 take Prometheus's defaults
 * (.005 .01 .025 .05 .1 .25 .5 1 2.5 5 10). Re-registration must repeat the same bounds.
 * Exposes `<name>_bucket{…,le="…"}` (cumulative), `<name>_sum` and `<name>_count`.
 */
evf_metric_t *evf_metrics_histogram(evf_metrics_t *m, const char *name, const char *help,
                                    size_t nlabels, const char *const *label_names,
                                    const double *buckets, size_t nbuckets);

/**
 * @brief Register a label-less gauge whose value is fn(opaque), called at each render (see
 * evf_metrics_gauge_fn_t for the rules fn must follow). opaque must outlive the registry or be
 * owned by it (not freed). Re-registering the same name aborts.
 * @returns the family (NULL only when m is NULL).
 */
evf_metric_t *evf_metrics_gauge_fn(evf_metrics_t *m, const char *name, const char *help,
                                   evf_metrics_gauge_fn_t *fn, void *opaque);

/**
 * @brief The series of f with these label values (one per label name, in the family's order;
 * any bytes, escaped at render; copied), created on first use. label_values may be NULL for a
 * family without labels. A series hidden by evf_series_remove() comes back (from 0).
 * Takes the registry's mutex: cache the result rather than calling this per event.
 * @returns the series; NULL when f is NULL. Aborts when f is a callback gauge.
 */
evf_series_t *evf_metric_series(evf_metric_t *f, const char *const *label_values);

/**
 * @brief evf_metric_series() with the label values as arguments: exactly as many `const char *`
 * as the family has label names, e.g. `evf_metric_get(processed, "s3_index", "ok")`.
 */
evf_series_t *evf_metric_get(evf_metric_t *f, ...);

/** @brief Counter: add 1. Lock-free; s may be NULL (no-op). */
void evf_series_inc(evf_series_t *s);

/** @brief Counter or gauge: add v. A counter ignores negative and NaN v. s may be NULL. */
void evf_series_add(evf_series_t *s, double v);

/** @brief Gauge: set to v. Lock-free; s may be NULL. Aborts (assert) on other types. */
void evf_series_set(evf_series_t *s, double v);

/** @brief Histogram: count v in its bucket and add it to the sum. Lock-free; s may be NULL. */
void evf_series_observe(evf_series_t *s, double v);

/**
 * @returns the current value of a counter or gauge series, the number of observations of a
 * histogram series; 0 when s is NULL.
 */
double evf_series_value(const evf_series_t *s);

/**
 * @brief Hide the series from the exposition and reset it to 0 (a gauge of a revoked partition,
 * e.g. evfleet_consumer_lag{topic,partition}). The pointer stays valid: later updates through it
 * change a hidden series, and evf_metric_series() with the same label values shows it again.
 * s may be NULL.
 */
void evf_series_remove(evf_series_t *s);

/**
 * @brief Render the registry in the Prometheus text format 0.0.4 (content type
 * `text/plain; version=0.0.4; charset=utf-8`): per family `# HELP` and `# TYPE`, then its visible
 * series; families in registration order, series in creation order.
 * @returns a NUL-terminated malloc'd string the caller frees, its length (without the NUL) in
 * *len when len is not NULL; never NULL (aborts on out-of-memory). m NULL renders "".
 */
char *evf_metrics_render(evf_metrics_t *m, size_t *len);

/* The content type to serve evf_metrics_render()'s output with. */
#define EVF_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
