/* tests/unit/test_metrics.c — the metrics registry: its rendering, read back by a small parser of
 * the Prometheus text format 0.0.4, and its behaviour under concurrent updates. */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

/* ------------------------------------------------------------------------------------------ */
/* A strict-enough exposition parser: every line is `# HELP name text`, `# TYPE name type`, or a
 * sample `name{l="v",…} value`; each sample belongs to a family announced by HELP and TYPE before
 * it (a histogram's samples are name_bucket / _sum / _count). Fails the test on anything else. */

#define MAX_SAMPLES 4096
#define MAX_FAMILIES 64

typedef struct {
    char name[128];
    int nlabels;
    char label_names[6][32];
    char label_values[6][256]; /* unescaped */
    double value;
} sample_t;

typedef struct {
    char name[128];
    char help[256]; /* unescaped */
    char type[16];
} family_t;

typedef struct {
    sample_t samples[MAX_SAMPLES];
    int nsamples;
    family_t families[MAX_FAMILIES];
    int nfamilies;
} expo_t;

static int is_name_char(int c, int first, int colon) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':'))
        return 1;
    return !first && c >= '0' && c <= '9';
}

/* Reads a name at *p into out. @returns 0 or -1. */
static int parse_name(const char **p, char *out, size_t out_size, int colon) {
    size_t n = 0;
    while (is_name_char((unsigned char)**p, n == 0, colon)) {
        if (n + 1 >= out_size)
            return -1;
        out[n++] = *(*p)++;
    }
    out[n] = '\0';
    return n ? 0 : -1;
}

static int parse_value(const char *s, double *out) {
    char *end;
    if (strcmp(s, "+Inf") == 0) {
        *out = INFINITY;
        return 0;
    }
    if (strcmp(s, "-Inf") == 0) {
        *out = -INFINITY;
        return 0;
    }
    if (strcmp(s, "NaN") == 0) {
        *out = NAN;
        return 0;
    }
    if (!*s)
        return -1;
    *out = strtod(s, &end);
    return *end == '\0' ? 0 : -1;
}

static const family_t *family_of(const expo_t *e, const char *sample_name) {
    for (int i = 0; i < e->nfamilies; i++) {
        const family_t *f = &e->families[i];
        size_t n = strlen(f->name);
        if (strncmp(sample_name, f->name, n) != 0)
            continue;
        if (sample_name[n] == '\0')
            return f;
        if (strcmp(f->type, "histogram") == 0 &&
            (strcmp(sample_name + n, "_bucket") == 0 || strcmp(sample_name + n, "_sum") == 0 ||
             strcmp(sample_name + n, "_count") == 0))
            return f;
    }
    return NULL;
}

/* Parses one line (without its newline). */
static void parse_line(expo_t *e, const char *line) {
    if (strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0) {
        const char *p = line + 7;
        char name[128];
        int help = line[2] == 'H';
        ck_assert_msg(parse_name(&p, name, sizeof(name), 1) == 0, "bad name: %s", line);
        ck_assert_msg(*p == ' ', "no space after the name: %s", line);
        p++;
        family_t *f = NULL;
        for (int i = 0; i < e->nfamilies; i++)
            if (strcmp(e->families[i].name, name) == 0)
                f = &e->families[i];
        if (help) {
            ck_assert_msg(!f, "second HELP for %s", name);
            ck_assert_int_lt(e->nfamilies, MAX_FAMILIES);
            f = &e->families[e->nfamilies++];
            memset(f, 0, sizeof(*f));
            snprintf(f->name, sizeof(f->name), "%s", name);
            size_t n = 0;
            for (; *p; p++) {
                char c = *p;
                if (c == '\\') {
                    p++;
                    ck_assert_msg(*p == '\\' || *p == 'n', "bad escape in HELP: %s", line);
                    c = *p == 'n' ? '\n' : '\\';
                }
                ck_assert(n + 1 < sizeof(f->help));
                f->help[n++] = c;
            }
            f->help[n] = '\0';
        } else {
            ck_assert_msg(f && !f->type[0], "TYPE without HELP or twice: %s", line);
            ck_assert_msg(strcmp(p, "counter") == 0 || strcmp(p, "gauge") == 0 ||
                              strcmp(p, "histogram") == 0,
                          "bad type: %s", line);
            snprintf(f->type, sizeof(f->type), "%s", p);
        }
        return;
    }
    ck_assert_msg(line[0] != '#', "unexpected comment: %s", line);

    ck_assert_int_lt(e->nsamples, MAX_SAMPLES);
    sample_t *s = &e->samples[e->nsamples++];
    memset(s, 0, sizeof(*s));
    const char *p = line;
    ck_assert_msg(parse_name(&p, s->name, sizeof(s->name), 1) == 0, "bad sample: %s", line);
    if (*p == '{') {
        p++;
        while (*p != '}') {
            ck_assert_msg(s->nlabels < 6, "too many labels: %s", line);
            char *ln = s->label_names[s->nlabels];
            char *lv = s->label_values[s->nlabels];
            ck_assert_msg(parse_name(&p, ln, 32, 0) == 0, "bad label name: %s", line);
            ck_assert_msg(p[0] == '=' && p[1] == '"', "bad label: %s", line);
            p += 2;
            size_t n = 0;
            while (*p != '"') {
                char c = *p;
                ck_assert_msg(c != '\0', "unterminated label value: %s", line);
                ck_assert_msg(c != '\n', "raw newline in label value: %s", line);
                if (c == '\\') {
                    p++;
                    ck_assert_msg(*p == '\\' || *p == 'n' || *p == '"', "bad escape: %s", line);
                    c = *p == 'n' ? '\n' : *p;
                }
                ck_assert(n + 1 < 256);
                lv[n++] = c;
                p++;
            }
            lv[n] = '\0';
            p++;
            s->nlabels++;
            if (*p == ',')
                p++;
            else
                ck_assert_msg(*p == '}', "bad label list: %s", line);
        }
        p++;
    }
    ck_assert_msg(*p == ' ', "no space before the value: %s", line);
    p++;
    ck_assert_msg(parse_value(p, &s->value) == 0, "bad value: %s", line);
    const family_t *f = family_of(e, s->name);
    ck_assert_msg(f && f->type[0], "sample before its HELP/TYPE: %s", line);
}

static void parse_exposition(expo_t *e, const char *text, size_t len) {
    memset(e, 0, sizeof(*e));
    ck_assert_uint_eq(strlen(text), len);
    ck_assert_msg(len == 0 || text[len - 1] == '\n', "output does not end in a newline");
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        ck_assert(nl);
        char line[2048];
        size_t n = (size_t)(nl - p);
        ck_assert(n < sizeof(line));
        memcpy(line, p, n);
        line[n] = '\0';
        ck_assert_msg(n > 0, "empty line");
        parse_line(e, line);
        p = nl + 1;
    }
}

static expo_t *render_parse(evf_metrics_t *m) {
    static expo_t e;
    size_t len = 0;
    char *text = evf_metrics_render(m, &len);
    parse_exposition(&e, text, len);
    free(text);
    return &e;
}

/* The sample with this name whose labels include all of the given `name=value` pairs. */
static const sample_t *find_sample(const expo_t *e, const char *name, int npairs,
                                   const char *const *pairs) {
    for (int i = 0; i < e->nsamples; i++) {
        const sample_t *s = &e->samples[i];
        if (strcmp(s->name, name) != 0)
            continue;
        int matched = 0;
        for (int k = 0; k < npairs; k++)
            for (int l = 0; l < s->nlabels; l++)
                if (strcmp(s->label_names[l], pairs[2 * k]) == 0 &&
                    strcmp(s->label_values[l], pairs[2 * k + 1]) == 0)
                    matched++;
        if (matched == npairs && s->nlabels == npairs)
            return s;
    }
    return NULL;
}

static int count_samples(const expo_t *e, const char *name) {
    int n = 0;
    for (int i = 0; i < e->nsamples; i++)
        n += strcmp(e->samples[i].name, name) == 0;
    return n;
}

/* Checks every histogram series in e: buckets cumulative, le increasing, ending in +Inf equal to
 * _count. @returns the number of series checked. */
static int check_histograms(const expo_t *e) {
    int checked = 0;
    for (int i = 0; i < e->nsamples; i++) {
        const sample_t *s = &e->samples[i];
        size_t n = strlen(s->name);
        if (n < 6 || strcmp(s->name + n - 6, "_count") != 0)
            continue;
        const family_t *f = family_of(e, s->name);
        if (!f || strcmp(f->type, "histogram") != 0)
            continue;
        char bucket[140];
        snprintf(bucket, sizeof(bucket), "%.*s_bucket", (int)(n - 6), s->name);
        double prev_le = -INFINITY, prev_count = 0, inf_count = -1;
        for (int j = 0; j < e->nsamples; j++) {
            const sample_t *b = &e->samples[j];
            if (strcmp(b->name, bucket) != 0 || b->nlabels != s->nlabels + 1)
                continue;
            int same = 1;
            for (int l = 0; l < s->nlabels; l++)
                same &= strcmp(b->label_values[l], s->label_values[l]) == 0;
            if (!same)
                continue;
            ck_assert_str_eq(b->label_names[s->nlabels], "le");
            double le;
            ck_assert(parse_value(b->label_values[s->nlabels], &le) == 0);
            ck_assert_msg(le > prev_le, "le not increasing in %s", bucket);
            ck_assert_msg(b->value >= prev_count, "buckets not cumulative in %s", bucket);
            prev_le = le;
            prev_count = b->value;
            if (isinf(le))
                inf_count = b->value;
        }
        ck_assert_msg(isinf(prev_le), "%s has no +Inf bucket last", bucket);
        ck_assert_msg(inf_count == s->value, "+Inf bucket %g != _count %g", inf_count,
                      s->value);
        checked++;
    }
    return checked;
}

/* ------------------------------------------------------------------------------------------ */

START_TEST(test_render_exact) {
    evf_metrics_t *m = evf_metrics_new("evfleet_");
    const char *const topic[] = {"topic"};
    const char *const proc_outcome[] = {"processor", "outcome"};
    evf_metric_t *consumed =
        evf_metrics_counter(m, "events_consumed_total", "Events polled from Kafka.", 1, topic);
    evf_metric_t *processed = evf_metrics_counter(m, "evfleet_events_processed_total",
                                                  "Events processed by outcome.", 2, proc_outcome);
    evf_metric_t *dups = evf_metrics_counter(m, "duplicates_skipped_total", "Duplicates.", 0, NULL);
    evf_metric_t *paused = evf_metrics_gauge(m, "paused_partitions", "Paused partitions.", 0, NULL);

    evf_series_add(evf_metric_get(consumed, "events.s3"), 3);
    evf_series_inc(evf_metric_get(consumed, "events.iot"));
    evf_series_inc(evf_metric_get(processed, "s3_index", "ok"));
    evf_series_inc(evf_metric_get(processed, "s3_index", "ok"));
    evf_series_inc(evf_metric_get(processed, "s3_index", "retry"));
    evf_series_set(evf_metric_get(paused), 2.5);
    ck_assert(dups);

    size_t len = 0;
    char *text = evf_metrics_render(m, &len);
    const char *want = "# HELP evfleet_events_consumed_total Events polled from Kafka.\n"
                       "# TYPE evfleet_events_consumed_total counter\n"
                       "evfleet_events_consumed_total{topic=\"events.s3\"} 3\n"
                       "evfleet_events_consumed_total{topic=\"events.iot\"} 1\n"
                       "# HELP evfleet_events_processed_total Events processed by outcome.\n"
                       "# TYPE evfleet_events_processed_total counter\n"
                       "evfleet_events_processed_total{processor=\"s3_index\",outcome=\"ok\"} 2\n"
                       "evfleet_events_processed_total{processor=\"s3_index\",outcome=\"retry\"} 1\n"
                       "# HELP evfleet_duplicates_skipped_total Duplicates.\n"
                       "# TYPE evfleet_duplicates_skipped_total counter\n"
                       "evfleet_duplicates_skipped_total 0\n"
                       "# HELP evfleet_paused_partitions Paused partitions.\n"
                       "# TYPE evfleet_paused_partitions gauge\n"
                       "evfleet_paused_partitions 2.5\n";
    ck_assert_str_eq(text, want);
    ck_assert_uint_eq(len, strlen(want));
    free(text);

    expo_t *e = render_parse(m);
    ck_assert_int_eq(e->nfamilies, 4);
    ck_assert_int_eq(e->nsamples, 6);
    ck_assert_str_eq(e->families[1].help, "Events processed by outcome.");
    evf_metrics_destroy(m);
}
END_TEST

START_TEST(test_same_series_and_family) {
    evf_metrics_t *m = evf_metrics_new("evfleet_");
    const char *const labels[] = {"topic", "class"};
    evf_metric_t *a = evf_metrics_counter(m, "dlq_events_total", "h", 2, labels);
    evf_metric_t *b = evf_metrics_counter(m, "evfleet_dlq_events_total", "h", 2, labels);
    ck_assert_ptr_eq(a, b);
    evf_series_t *s1 = evf_metric_get(a, "t", "decode");
    const char *const vals[] = {"t", "decode"};
    ck_assert_ptr_eq(s1, evf_metric_series(a, vals));
    /* label boundaries matter: ("ab","c") is not ("a","bc") */
    evf_series_t *x = evf_metric_get(a, "ab", "c");
    evf_series_t *y = evf_metric_get(a, "a", "bc");
    ck_assert_ptr_ne(x, y);
    /* many series: the table grows and every one is found again */
    char t[32];
    evf_series_t *all[500];
    for (int i = 0; i < 500; i++) {
        snprintf(t, sizeof(t), "topic-%d", i);
        all[i] = evf_metric_get(a, t, "transient");
        evf_series_add(all[i], i);
    }
    for (int i = 0; i < 500; i++) {
        snprintf(t, sizeof(t), "topic-%d", i);
        ck_assert_ptr_eq(all[i], evf_metric_get(a, t, "transient"));
        ck_assert(evf_series_value(all[i]) == i);
    }
    expo_t *e = render_parse(m);
    ck_assert_int_eq(count_samples(e, "evfleet_dlq_events_total"), 503);
    /* creation order */
    ck_assert_str_eq(e->samples[0].label_values[0], "t");
    ck_assert_str_eq(e->samples[3].label_values[0], "topic-0");
    ck_assert_str_eq(e->samples[502].label_values[0], "topic-499");
    evf_metrics_destroy(m);
}
END_TEST

START_TEST(test_escaping) {
    evf_metrics_t *m = evf_metrics_new("evfleet_");
    const char *const labels[] = {"topic", "partition"};
    evf_metric_t *lag =
        evf_metrics_gauge(m, "consumer_lag", "Lag \\ of \"each\"\npartition.", 2, labels);
    const char *nasty = "a\"b\\c\nd}e,f=g";
    evf_series_set(evf_metric_get(lag, nasty, "0"), -7);
    evf_series_set(evf_metric_get(lag, "", "1"), 1e20);
    evf_series_set(evf_metric_get(lag, "utf8-é", "2"), 0.1);

    size_t len;
    char *text = evf_metrics_render(m, &len);
    ck_assert(strstr(text, "# HELP evfleet_consumer_lag Lag \\\\ of \"each\"\\npartition.\n"));
    ck_assert(strstr(text, "{topic=\"a\\\"b\\\\c\\nd}e,f=g\",partition=\"0\"} -7\n"));
    free(text);

    expo_t *e = render_parse(m);
    ck_assert_str_eq(e->families[0].help, "Lag \\ of \"each\"\npartition.");
    const char *const p0[] = {"topic", nasty, "partition", "0"};
    const sample_t *s = find_sample(e, "evfleet_consumer_lag", 2, p0);
    ck_assert(s);
    ck_assert(s->value == -7);
    const char *const p1[] = {"topic", "", "partition", "1"};
    s = find_sample(e, "evfleet_consumer_lag", 2, p1);
    ck_assert(s && s->value == 1e20);
    const char *const p2[] = {"topic", "utf8-é", "partition", "2"};
    s = find_sample(e, "evfleet_consumer_lag", 2, p2);
    ck_assert(s && s->value == 0.1);
    evf_metrics_destroy(m);
}
END_TEST

START_TEST(test_values_format) {
    evf_metrics_t *m = evf_metrics_new(NULL);
    const char *const k[] = {"k"};
    evf_metric_t *g = evf_metrics_gauge(m, "g", NULL, 1, k);
    const double vals[] = {0, -0.0, 1, -1, 123456789012345.0, 1e15, 0.1, 1.0 / 3, 2.5e-300,
                           INFINITY, -INFINITY, 9007199254740993.0};
    char name[8];
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        snprintf(name, sizeof(name), "%zu", i);
        evf_series_set(evf_metric_get(g, name), vals[i]);
    }
    evf_series_set(evf_metric_get(g, "nan"), NAN);
    char *text = evf_metrics_render(m, NULL);
    ck_assert(strstr(text, "# HELP g \n")); /* NULL help renders empty */
    ck_assert(strstr(text, "g{k=\"1\"} 0\n"));
    ck_assert(strstr(text, "g{k=\"4\"} 123456789012345\n"));
    ck_assert(strstr(text, "g{k=\"6\"} 0.1\n"));
    ck_assert(strstr(text, "g{k=\"9\"} +Inf\n"));
    ck_assert(strstr(text, "g{k=\"10\"} -Inf\n"));
    ck_assert(strstr(text, "g{k=\"nan\"} NaN\n"));
    free(text);
    expo_t *e = render_parse(m);
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        snprintf(name, sizeof(name), "%zu", i);
        const char *const pair[] = {"k", name};
        const sample_t *s = find_sample(e, "g", 1, pair);
        ck_assert(s);
        ck_assert_msg(s->value == vals[i], "value %zu: %.17g != %.17g", i, s->value, vals[i]);
    }
    const char *const pair[] = {"k", "nan"};
    ck_assert(isnan(find_sample(e, "g", 1, pair)->value));
    evf_metrics_destroy(m);
}
END_TEST

START_TEST(test_histogram) {
    evf_metrics_t *m = evf_metrics_new("evfleet_");
    const char *const proc[] = {"processor"};
    const double buckets[] = {0.1, 0.5, 1, INFINITY};
    evf_metric_t *h = evf_metrics_histogram(m, "processing_seconds", "Time in process().", 1,
                                            proc, buckets, 4);
    evf_series_t *s = evf_metric_get(h, "iot_rollup");
    const double obs[] = {0.05, 0.1, 0.2, 0.5, 0.7, 1, 3, 100};
    double sum = 0;
    for (size_t i = 0; i < sizeof(obs) / sizeof(obs[0]); i++) {
        evf_series_observe(s, obs[i]);
        sum += obs[i];
    }
    ck_assert(evf_series_value(s) == 8);
    evf_metric_get(h, "noop"); /* a series without observations */

    char *text = evf_metrics_render(m, NULL);
    ck_assert(strstr(text, "# TYPE evfleet_processing_seconds histogram\n"
                           "evfleet_processing_seconds_bucket{processor=\"iot_rollup\",le=\"0.1\"} 2\n"
                           "evfleet_processing_seconds_bucket{processor=\"iot_rollup\",le=\"0.5\"} 4\n"
                           "evfleet_processing_seconds_bucket{processor=\"iot_rollup\",le=\"1\"} 6\n"
                           "evfleet_processing_seconds_bucket{processor=\"iot_rollup\",le=\"+Inf\"} 8\n"
                           "evfleet_processing_seconds_sum{processor=\"iot_rollup\"} 105.55\n"
                           "evfleet_processing_seconds_count{processor=\"iot_rollup\"} 8\n"));
    free(text);

    expo_t *e = render_parse(m);
    ck_assert_int_eq(check_histograms(e), 2);
    const char *const pair[] = {"processor", "iot_rollup"};
    const sample_t *ss = find_sample(e, "evfleet_processing_seconds_sum", 1, pair);
    ck_assert(ss && fabs(ss->value - sum) < 1e-9);
    const char *const noop[] = {"processor", "noop"};
    ck_assert(find_sample(e, "evfleet_processing_seconds_count", 1, noop)->value == 0);
    ck_assert_int_eq(count_samples(e, "evfleet_processing_seconds_bucket"), 8);
    evf_metrics_destroy(m);
}
END_TEST

START_TEST(test_histogram_default_buckets_no_labels) {
    evf_metrics_t *m = evf_metrics_new("evfleet_");
    evf_metric_t *h = evf_metrics_histogram(m, "latency_seconds", "x", 0, NULL, NULL, 0);
    evf_series_observe(evf_metric_get(h), 0.003);
    evf_series_observe(evf_metric_get(h), 42);
    evf_series_observe(evf_metric_get(h), NAN); /* lands in +Inf */
    expo_t *e = render_parse(m);
    ck_assert_int_eq(count_samples(e, "evfleet_latency_seconds_bucket"), 12);
    ck_assert_int_eq(check_histograms(e), 1);
    const char *const le[] = {"le", "0.005"};
    ck_assert(find_sample(e, "evfleet_latency_seconds_bucket", 1, le)->value == 1);
    const char *const le10[] = {"le", "10"};
    ck_assert(find_sample(e, "evfleet_latency_seconds_bucket", 1, le10)->value == 1);
    ck_assert(find_sample(e, "evfleet_latency_seconds_count", 0, NULL)->value == 3);
    evf_metrics_destroy(m);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */

#define THREADS 4
#define INCREMENTS 100000

typedef struct {
    evf_metric_t *counter, *hist, *gauge;
    evf_metrics_t *m;
    int id;
    atomic_int *stop;
} worker_arg_t;

static void *inc_worker(void *p) {
    worker_arg_t *a = p;
    evf_series_t *shared = evf_metric_get(a->counter, "shared");
    char name[16];
    snprintf(name, sizeof(name), "t%d", a->id);
    evf_series_t *own = evf_metric_get(a->counter, name);
    evf_series_t *h = evf_metric_get(a->hist, "shared");
    for (int i = 0; i < INCREMENTS; i++) {
        evf_series_inc(shared);
        evf_series_add(own, 0.5);
        evf_series_observe(h, (double)(i % 7));
        evf_series_add(evf_metric_get(a->gauge), i % 2 ? 1 : -1);
        if (i % 1000 == 0) { /* new series while others update and render */
            snprintf(name, sizeof(name), "t%d-%d", a->id, i);
            evf_series_inc(evf_metric_get(a->counter, name));
        }
    }
    return NULL;
}

static void *render_worker(void *p) {
    worker_arg_t *a = p;
    int renders = 0;
    while (!atomic_load(a->stop) || renders == 0) {
        size_t len;
        char *text = evf_metrics_render(a->m, &len);
        ck_assert_uint_eq(strlen(text), len);
        if (renders % 8 == 0) { /* parse some of them: invariants hold mid-update */
            expo_t *e = malloc(sizeof(*e));
            parse_exposition(e, text, len);
            ck_assert_int_eq(check_histograms(e), 1);
            free(e);
        }
        free(text);
        renders++;
    }
    return NULL;
}

START_TEST(test_concurrency) {
    evf_metrics_t *m = evf_metrics_new("evfleet_");
    const char *const who[] = {"who"};
    worker_arg_t args[THREADS + 1];
    pthread_t th[THREADS + 1];
    atomic_int stop = 0;
    evf_metric_t *counter = evf_metrics_counter(m, "incs_total", "x", 1, who);
    const double b[] = {1, 3, 5};
    evf_metric_t *hist = evf_metrics_histogram(m, "obs", "x", 1, who, b, 3);
    evf_metric_t *gauge = evf_metrics_gauge(m, "updown", "x", 0, NULL);
    /* The series exists before the render thread's first look, so every parse sees it. */
    ck_assert_ptr_nonnull(evf_metric_get(hist, "shared"));

    for (int i = 0; i <= THREADS; i++) {
        args[i] = (worker_arg_t){counter, hist, gauge, m, i, &stop};
        ck_assert_int_eq(pthread_create(&th[i], NULL, i < THREADS ? inc_worker : render_worker,
                                        &args[i]),
                         0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    atomic_store(&stop, 1);
    pthread_join(th[THREADS], NULL);

    ck_assert(evf_series_value(evf_metric_get(counter, "shared")) == THREADS * INCREMENTS);
    ck_assert(evf_series_value(evf_metric_get(gauge)) == 0);
    expo_t *e = render_parse(m);
    const char *const shared[] = {"who", "shared"};
    ck_assert(find_sample(e, "evfleet_incs_total", 1, shared)->value == THREADS * INCREMENTS);
    for (int i = 0; i < THREADS; i++) {
        char name[16];
        snprintf(name, sizeof(name), "t%d", i);
        const char *const own[] = {"who", name};
        ck_assert(find_sample(e, "evfleet_incs_total", 1, own)->value == INCREMENTS / 2.0);
    }
    ck_assert_int_eq(count_samples(e, "evfleet_incs_total"),
                     1 + THREADS + THREADS * (INCREMENTS / 1000));
    ck_assert(find_sample(e, "evfleet_obs_count", 1, shared)->value == THREADS * INCREMENTS);
    ck_assert_int_eq(check_histograms(e), 1);
    /* sum of i % 7 over 0..99999, per thread */
    double want = 0;
    for (int i = 0; i < INCREMENTS; i++)
        want += i % 7;
    ck_assert(find_sample(e, "evfleet_obs_sum", 1, shared)->value == THREADS * want);
    evf_metrics_destroy(m);
}
END_TEST

START_TEST(test_series_remove) {
    evf_metrics_t *m = evf_metrics_new("evfleet_");
    const char *const labels[] = {"topic", "partition"};
    evf_metric_t *lag = evf_metrics_gauge(m, "consumer_lag", "Lag.", 2, labels);
    evf_series_t *p0 = evf_metric_get(lag, "events.s3", "0");
    evf_series_t *p1 = evf_metric_get(lag, "events.s3", "1");
    evf_series_t *p2 = evf_metric_get(lag, "events.s3", "2");
    evf_series_set(p0, 10);
    evf_series_set(p1, 11);
    evf_series_set(p2, 12);

    evf_series_remove(p1); /* partition 1 revoked */
    expo_t *e = render_parse(m);
    ck_assert_int_eq(count_samples(e, "evfleet_consumer_lag"), 2);
    const char *const q1[] = {"topic", "events.s3", "partition", "1"};
    ck_assert(!find_sample(e, "evfleet_consumer_lag", 2, q1));

    evf_series_set(p1, 99); /* a late update through a cached pointer: stays hidden */
    e = render_parse(m);
    ck_assert(!find_sample(e, "evfleet_consumer_lag", 2, q1));

    /* partition 1 assigned again: same series, from 0 */
    ck_assert_ptr_eq(evf_metric_get(lag, "events.s3", "1"), p1);
    e = render_parse(m);
    ck_assert(find_sample(e, "evfleet_consumer_lag", 2, q1)->value == 0);
    ck_assert_str_eq(e->samples[1].label_values[1], "1"); /* keeps its place */

    evf_series_remove(p0);
    evf_series_remove(p1);
    evf_series_remove(p2);
    evf_series_remove(NULL);
    e = render_parse(m);
    ck_assert_int_eq(e->nsamples, 0);
    ck_assert_int_eq(e->nfamilies, 1); /* HELP and TYPE stay */

    /* histograms too */
    evf_metric_t *h = evf_metrics_histogram(m, "h", "x", 0, NULL, NULL, 0);
    evf_series_t *hs = evf_metric_get(h);
    evf_series_observe(hs, 1);
    evf_series_remove(hs);
    ck_assert(evf_series_value(hs) == 0);
    e = render_parse(m);
    ck_assert_int_eq(count_samples(e, "evfleet_h_count"), 0);
    evf_metric_get(h);
    e = render_parse(m);
    ck_assert(find_sample(e, "evfleet_h_count", 0, NULL)->value == 0);
    evf_metrics_destroy(m);
}
END_TEST

static double inflight_fn(void *opaque) {
    return (double)*(int *)opaque;
}

START_TEST(test_gauge_fn) {
    evf_metrics_t *m = evf_metrics_new("evfleet_");
    int inflight = 17;
    evf_metric_t *f = evf_metrics_gauge_fn(m, "inflight_events", "Events in flight.",
                                           inflight_fn, &inflight);
    ck_assert(f);
    expo_t *e = render_parse(m);
    ck_assert_str_eq(e->families[0].type, "gauge");
    ck_assert(find_sample(e, "evfleet_inflight_events", 0, NULL)->value == 17);
    inflight = 3;
    e = render_parse(m);
    ck_assert(find_sample(e, "evfleet_inflight_events", 0, NULL)->value == 3);
    evf_metrics_destroy(m);
}
END_TEST

START_TEST(test_null_registry) {
    const char *const l[] = {"a"};
    ck_assert(!evf_metrics_counter(NULL, "x_total", "h", 1, l));
    ck_assert(!evf_metrics_gauge(NULL, "x", "h", 0, NULL));
    ck_assert(!evf_metrics_histogram(NULL, "x", "h", 0, NULL, NULL, 0));
    ck_assert(!evf_metrics_gauge_fn(NULL, "x", "h", inflight_fn, NULL));
    ck_assert(!evf_metric_get(NULL, "v"));
    ck_assert(!evf_metric_series(NULL, NULL));
    evf_series_inc(NULL);
    evf_series_add(NULL, 1);
    evf_series_set(NULL, 1);
    evf_series_observe(NULL, 1);
    ck_assert(evf_series_value(NULL) == 0);
    size_t len = 99;
    char *text = evf_metrics_render(NULL, &len);
    ck_assert_str_eq(text, "");
    ck_assert_uint_eq(len, 0);
    free(text);
    evf_metrics_destroy(NULL);
}
END_TEST

START_TEST(test_counter_ignores_decrease) {
    evf_metrics_t *m = evf_metrics_new("evfleet_");
    evf_series_t *s = evf_metric_get(evf_metrics_counter(m, "c_total", "h", 0, NULL));
    evf_series_add(s, 5);
    evf_series_add(s, -2);
    evf_series_add(s, NAN);
    evf_series_add(s, 0.25);
    ck_assert(evf_series_value(s) == 5.25);
    evf_metrics_destroy(m);
}
END_TEST

/* Programming errors abort (run in a forked child by check). */
START_TEST(test_abort_counter_without_total) {
    evf_metrics_t *m = evf_metrics_new("evfleet_");
    evf_metrics_counter(m, "events_consumed", "h", 0, NULL);
}
END_TEST

START_TEST(test_abort_conflicting_registration) {
    evf_metrics_t *m = evf_metrics_new("evfleet_");
    const char *const a[] = {"topic"};
    const char *const b[] = {"group"};
    evf_metrics_gauge(m, "g", "h", 1, a);
    evf_metrics_gauge(m, "g", "h", 1, b);
}
END_TEST

START_TEST(test_abort_bad_label) {
    evf_metrics_t *m = evf_metrics_new("evfleet_");
    const char *const le[] = {"le"};
    evf_metrics_histogram(m, "h", "h", 1, le, NULL, 0);
}
END_TEST

START_TEST(test_abort_unsorted_buckets) {
    evf_metrics_t *m = evf_metrics_new("evfleet_");
    const double b[] = {1, 0.5};
    evf_metrics_histogram(m, "h", "h", 0, NULL, b, 2);
}
END_TEST

START_TEST(test_abort_bad_name) {
    evf_metrics_t *m = evf_metrics_new("evfleet_");
    evf_metrics_gauge(m, "9lives", "h", 0, NULL);
}
END_TEST

START_TEST(test_abort_bad_prefix) {
    evf_metrics_new("evfleet-");
}
END_TEST

static Suite *metrics_suite(void) {
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("render");
    tcase_add_test(tc, test_render_exact);
    tcase_add_test(tc, test_same_series_and_family);
    tcase_add_test(tc, test_escaping);
    tcase_add_test(tc, test_values_format);
    tcase_add_test(tc, test_histogram);
    tcase_add_test(tc, test_histogram_default_buckets_no_labels);
    tcase_add_test(tc, test_series_remove);
    tcase_add_test(tc, test_gauge_fn);
    tcase_add_test(tc, test_null_registry);
    tcase_add_test(tc, test_counter_ignores_decrease);
    suite_add_tcase(s, tc);

    tc = tcase_create("concurrency");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_concurrency);
    suite_add_tcase(s, tc);

    tc = tcase_create("misuse");
    tcase_add_test_raise_signal(tc, test_abort_counter_without_total, SIGABRT);
    tcase_add_test_raise_signal(tc, test_abort_conflicting_registration, SIGABRT);
    tcase_add_test_raise_signal(tc, test_abort_bad_label, SIGABRT);
    tcase_add_test_raise_signal(tc, test_abort_unsorted_buckets, SIGABRT);
    tcase_add_test_raise_signal(tc, test_abort_bad_name, SIGABRT);
    tcase_add_test_raise_signal(tc, test_abort_bad_prefix, SIGABRT);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(metrics_suite());
    /* the misuse cases abort on purpose: they need check's fork mode */
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
