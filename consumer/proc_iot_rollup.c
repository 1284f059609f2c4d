/* consumer/proc_iot_rollup.c — the `iot_rollup` built-in: per-window aggregates of IoT telemetry,
 * and one alert per threshold crossing.
 *
 * Every metric of a telemetry message — its (metric, value) pair, and each entry of its readings
 * map (a reading named like the message's metric is the same measurement and is counted once) —
 * goes into the window hash
 *   <p>:iot:<device>:<metric>:<window start ms>   count (HINCRBY 1), sum (HINCRBYFLOAT),
 *                                                 min (HMIN), max (HMAX); PEXPIRE ttl.ms
 * where <p> is idempotency.key.prefix, <device> the device_id (else the subject) and the window
 * start is time_ms rounded down to a multiple of window.ms (floor, so negative times work too).
 * These increments are not idempotent on their own: they rely on the worker's idempotency records
 * (exactly-once effects) to count a re-delivered event once.
 *
 * Thresholds: `threshold.<metric>.above = X` and/or `threshold.<metric>.below = Y` (the metric
 * name may contain dots). A value > X is "above", < Y is "below", else "normal". The last state is
 * the hash <p>:iot:<device>:<metric>:state, field state (absent = normal), read with hget — a
 * device's messages share a Kafka key and so run in order in one lane (needs the worker to commit
 * an event's effects before the next event of its lane runs). When the state changes, the new one
 * is queued as HSET guarded by EVF_GUARD_NE (stored != new), and when it changes to above or below
 * ONE alert event is emitted to alerts.topic: source IOT, type "iot:alert", subject and device_id
 * the device, metric, value, unit (readings carry none: ""), time_ms of the reading, attributes
 * threshold (the crossed limit), direction (above|below) and window (the window start ms). Staying
 * above emits nothing; going back to normal only records the state; a message re-delivered after
 * its state change committed reads the new state and emits nothing.
 *
 * Metrics are handled in a fixed order (the message's metric, then readings sorted by name) so the
 * emitted events' indexes, and so their deterministic ids, are the same on every run.
 *
 * Settings: window.ms (default 60000), ttl.ms (default 86400000; 0 = no expiry), alerts.topic
 * (default events.alerts), threshold.<metric>.above|below. A message that is not telemetry, has no
 * device, no metric, or a value that is not finite fails (permanent). */
#include <inttypes.h>

#include "builtins.h"
#include "event.h"

typedef struct {
    char *metric;
    int has_above, has_below;
    double above, below;
} iot_threshold_t;

typedef struct {
    int64_t window_ms;
    int64_t ttl_ms;
    char *alerts_topic;
    iot_threshold_t *thresholds; /* sorted by metric */
    size_t n_thresholds;
} iot_state_t;

static const char iot_known[] =
    "window.ms, ttl.ms, alerts.topic, threshold.<metric>.above, threshold.<metric>.below";

static int cmp_threshold(const void *a, const void *b) {
    return strcmp(((const iot_threshold_t *)a)->metric, ((const iot_threshold_t *)b)->metric);
}

static void iot_destroy(void *state) {
    iot_state_t *st = state;
    if (!st)
        return;
    for (size_t i = 0; i < st->n_thresholds; i++)
        free(st->thresholds[i].metric);
    free(st->thresholds);
    free(st->alerts_topic);
    free(st);
}

static iot_threshold_t *threshold_get(iot_state_t *st, const char *metric, size_t len) {
    for (size_t i = 0; i < st->n_thresholds; i++) {
        const char *have = st->thresholds[i].metric;
        if (strlen(have) == len && !strncmp(have, metric, len))
            return &st->thresholds[i];
    }
    st->thresholds = realloc(st->thresholds, (st->n_thresholds + 1) * sizeof(*st->thresholds));
    if (!st->thresholds)
        abort();
    iot_threshold_t *t = &st->thresholds[st->n_thresholds++];
    memset(t, 0, sizeof(*t));
    t->metric = strndup(metric, len);
    if (!t->metric)
        abort();
    return t;
}

static int iot_init(void **state, const evf_proc_setting_t *settings, size_t n_settings,
                    char *errstr, size_t errstr_size) {
    iot_state_t *st = calloc(1, sizeof(*st));
    if (!st)
        abort();
    st->window_ms = 60000;
    st->ttl_ms = 86400000;
    st->alerts_topic = evf_builtin_strdup("events.alerts");
    for (size_t i = 0; i < n_settings; i++) {
        const char *name = settings[i].name, *value = settings[i].value;
        size_t len = strlen(name);
        if (!strcmp(name, "window.ms")) {
            if (evf_builtin_parse_i64(value, &st->window_ms) || st->window_ms <= 0) {
                snprintf(errstr, errstr_size, "setting 'window.ms': '%s' is not an integer > 0",
                         value);
                goto fail;
            }
        } else if (!strcmp(name, "ttl.ms")) {
            if (evf_builtin_parse_i64(value, &st->ttl_ms) || st->ttl_ms < 0) {
                snprintf(errstr, errstr_size, "setting 'ttl.ms': '%s' is not an integer >= 0",
                         value);
                goto fail;
            }
        } else if (!strcmp(name, "alerts.topic")) {
            if (!*value) {
                snprintf(errstr, errstr_size, "setting 'alerts.topic': must not be empty");
                goto fail;
            }
            free(st->alerts_topic);
            st->alerts_topic = evf_builtin_strdup(value);
        } else if (!strncmp(name, "threshold.", 10) && len > 10 + 6 &&
                   (!strcmp(name + len - 6, ".above") || !strcmp(name + len - 6, ".below"))) {
            int above = !strcmp(name + len - 6, ".above");
            double limit;
            if (evf_builtin_parse_double(value, &limit)) {
                snprintf(errstr, errstr_size, "setting '%s': '%s' is not a number", name, value);
                goto fail;
            }
            iot_threshold_t *t = threshold_get(st, name + 10, len - 10 - 6);
            if (above) {
                t->has_above = 1;
                t->above = limit;
            } else {
                t->has_below = 1;
                t->below = limit;
            }
            if (t->has_above && t->has_below && t->below > t->above) {
                snprintf(errstr, errstr_size,
                         "setting '%s': threshold.%s.below (%g) is above threshold.%s.above (%g)",
                         name, t->metric, t->below, t->metric, t->above);
                goto fail;
            }
        } else {
            evf_builtin_unknown_setting(name, iot_known, errstr, errstr_size);
            goto fail;
        }
    }
    if (st->n_thresholds > 1)
        qsort(st->thresholds, st->n_thresholds, sizeof(*st->thresholds), cmp_threshold);
    *state = st;
    return 0;
fail:
    iot_destroy(st);
    return -1;
}

typedef struct {
    const char *name;
    double value;
    const char *unit;
    size_t order; /* position in the message, so the last of equal names wins */
} iot_metric_t;

static int cmp_metric(const void *a, const void *b) {
    const iot_metric_t *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* floor(t / w) * w, also for negative t. */
static int64_t window_start(int64_t t, int64_t w) {
    int64_t q = t / w;
    if (t % w != 0 && t < 0)
        q--;
    return q * w;
}

/* Emit one alert. Returns 0 or -1 (reason set). */
static int emit_alert(const iot_state_t *st, evf_proc_ctx_t *ctx, const evf_proc_event_t *ev,
                      const char *device, const iot_metric_t *m, const char *direction,
                      double limit, int64_t start) {
    char num[40];
    evf_event_t *alert = evf_event_new();
    alert->source = EVFLEET__V1__SOURCE__IOT;
    evf_event_set_str(&alert->type, "iot:alert");
    evf_event_set_str(&alert->subject, device);
    alert->time_ms = ev->time_ms;
    Evfleet__V1__IotTelemetry *iot = evf_event_set_iot(alert);
    evf_event_set_str(&iot->device_id, device);
    evf_event_set_str(&iot->metric, m->name);
    iot->value = m->value;
    evf_event_set_str(&iot->unit, m->unit);
    evf_builtin_fmt_double(num, sizeof(num), limit);
    evf_event_set_attr(alert, "threshold", num);
    evf_event_set_attr(alert, "direction", direction);
    snprintf(num, sizeof(num), "%" PRId64, start);
    evf_event_set_attr(alert, "window", num);
    if (evf_ctx_emit(ctx, st->alerts_topic, alert) < 0) { /* ownership passed either way */
        evf_ctx_reason(ctx, "iot_rollup: could not emit an alert to %s", st->alerts_topic);
        return -1;
    }
    return 0;
}

static evf_proc_result_t iot_process(void *state, const evf_proc_event_t *ev,
                                     evf_proc_ctx_t *ctx) {
    const iot_state_t *st = state;
    if (ev->detail_case != EVFLEET__V1__EVENT__DETAIL_IOT || !ev->iot) {
        evf_ctx_reason(ctx, "iot_rollup: event %s (type %s) has no telemetry detail", ev->id,
                       ev->type);
        return EVF_PROC_FAIL;
    }
    const Evfleet__V1__IotTelemetry *tel = ev->iot;
    const char *device = *tel->device_id ? tel->device_id : ev->subject;
    if (!device || !*device) {
        evf_ctx_reason(ctx, "iot_rollup: event %s has no device id", ev->id);
        return EVF_PROC_FAIL;
    }

    size_t n = 0;
    iot_metric_t *metrics = calloc(tel->n_readings + 1, sizeof(*metrics));
    if (!metrics)
        abort();
    for (size_t i = 0; i < tel->n_readings; i++) {
        const Evfleet__V1__IotTelemetry__ReadingsEntry *r = tel->readings[i];
        if (!r || !r->key || !*r->key || !strcmp(r->key, tel->metric))
            continue;
        metrics[n++] = (iot_metric_t){.name = r->key, .value = r->value, .unit = "", .order = i};
    }
    if (n > 1)
        qsort(metrics, n, sizeof(*metrics), cmp_metric);
    size_t kept = 0; /* of equal names (a repeated map entry), the last one counts */
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n && !strcmp(metrics[i].name, metrics[i + 1].name))
            continue;
        metrics[kept++] = metrics[i];
    }
    n = kept;
    if (*tel->metric) {
        memmove(metrics + 1, metrics, n * sizeof(*metrics));
        metrics[0] = (iot_metric_t){.name = tel->metric, .value = tel->value, .unit = tel->unit};
        n++;
    }

    evf_proc_result_t res = EVF_PROC_OK;
    char *key = NULL;
    if (n == 0) {
        evf_ctx_reason(ctx, "iot_rollup: event %s has no metric", ev->id);
        res = EVF_PROC_FAIL;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(metrics[i].value)) {
            evf_ctx_reason(ctx, "iot_rollup: event %s: %s is not a finite number", ev->id,
                           metrics[i].name);
            res = EVF_PROC_FAIL;
            goto out;
        }
    }

    const char *prefix = evf_builtin_prefix(ctx);
    int64_t start = window_start(ev->time_ms, st->window_ms);
    char num[40], ttl[32];
    snprintf(ttl, sizeof(ttl), "%" PRId64, st->ttl_ms);
    for (size_t i = 0; i < n; i++) {
        const iot_metric_t *m = &metrics[i];
        free(key);
        key = evf_builtin_fmt("%s:iot:%s:%s:%" PRId64, prefix, device, m->name, start);
        evf_builtin_fmt_double(num, sizeof(num), m->value);
        if (evf_ctx_effect(ctx, 0, EVF_FX_HINCRBY, key, "count", "1") < 0 ||
            evf_ctx_effect(ctx, 0, EVF_FX_HINCRBYFLOAT, key, "sum", num) < 0 ||
            evf_ctx_effect(ctx, 0, EVF_FX_HMIN, key, "min", num) < 0 ||
            evf_ctx_effect(ctx, 0, EVF_FX_HMAX, key, "max", num) < 0 ||
            (st->ttl_ms > 0 && evf_ctx_effect(ctx, 0, EVF_FX_PEXPIRE, key, NULL, ttl) < 0))
            goto full;

        iot_threshold_t probe = {.metric = (char *)m->name};
        const iot_threshold_t *t =
            st->n_thresholds ? bsearch(&probe, st->thresholds, st->n_thresholds,
                                       sizeof(*st->thresholds), cmp_threshold)
                             : NULL;
        if (!t)
            continue;
        const char *now = "normal";
        double limit = 0;
        if (t->has_above && m->value > t->above) {
            now = "above";
            limit = t->above;
        } else if (t->has_below && m->value < t->below) {
            now = "below";
            limit = t->below;
        }
        free(key);
        key = evf_builtin_fmt("%s:iot:%s:%s:state", prefix, device, m->name);
        char before[16];
        int rc = evf_ctx_hget(ctx, key, "state", before, sizeof(before));
        if (rc < 0) {
            evf_ctx_reason(ctx, "iot_rollup: lookup of %s failed", key);
            res = EVF_PROC_RETRY;
            goto out;
        }
        if (rc == 1)
            snprintf(before, sizeof(before), "normal");
        if (!strcmp(before, now))
            continue;
        int guard = evf_ctx_guard(ctx, EVF_GUARD_NE, key, "state", now);
        if (guard < 0 || evf_ctx_effect(ctx, guard, EVF_FX_HSET, key, "state", now) < 0)
            goto full;
        if (strcmp(now, "normal") != 0) {
            evf_ctx_log(ctx, EVF_PROC_LOG_INFO, "iot_rollup: %s %s = %s went %s (event %s)",
                        device, m->name, num, now, ev->id);
            if (emit_alert(st, ctx, ev, device, m, now, limit, start)) {
                res = EVF_PROC_FAIL; /* refused again on every retry */
                goto out;
            }
        }
    }
    goto out;

full: /* refused again on every retry, so permanent */
    evf_ctx_reason(ctx, "iot_rollup: effect refused (queue full: %zu metrics)", n);
    res = EVF_PROC_FAIL;
out:
    free(key);
    free(metrics);
    return res;
}

const evf_processor_t evf_proc_iot_rollup = {
    .abi_version = EVF_PROCESSOR_ABI_VERSION,
    .name = "iot_rollup",
    .concurrent = 1,
    .init = iot_init,
    .process = iot_process,
    .destroy = iot_destroy,
};
