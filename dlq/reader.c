/* dlq/reader.c — see reader.h. */
#include "reader.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kafka.h"
#include "log.h"

#define READER_GROUP_ID "evfleet-dlq"
#define METADATA_TIMEOUT_MS 15000
#define WATERMARK_TIMEOUT_MS 15000

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        abort();
    return p;
}

static char *xstrdup(const char *s) {
    char *d = strdup(s ? s : "");
    if (!d)
        abort();
    return d;
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------------------------------ */
/* Letters                                                                                      */

evf_dlq_letter_t *evf_dlq_letter_new(void) {
    evf_dlq_letter_t *l = xcalloc(1, sizeof(*l));
    l->partition = -1;
    l->offset = -1;
    l->timestamp = -1;
    l->attempts = -1;
    l->original_partition = -1;
    l->original_offset = -1;
    l->original_timestamp = -1;
    l->failed_at = -1;
    l->first_failed_at = -1;
    l->replay_count = 0;
    l->replayed_at = -1;
    l->id = xstrdup("");
    l->type = xstrdup("");
    return l;
}

void evf_dlq_letter_set(char **field, const char *value) {
    free(*field);
    *field = xstrdup(value);
}

void evf_dlq_letter_free(evf_dlq_letter_t *l) {
    if (!l)
        return;
    if (l->msg)
        rd_kafka_message_destroy(l->msg);
    evf_event_free(l->event);
    free(l->id);
    free(l->type);
    free(l);
}

const rd_kafka_headers_t *evf_dlq_letter_headers(const evf_dlq_letter_t *l) {
    rd_kafka_headers_t *h = NULL;
    if (!l->msg || rd_kafka_message_headers(l->msg, &h) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return NULL;
    return h;
}

static void header_int(const rd_kafka_headers_t *h, const char *name, int64_t *out) {
    if (evf_dlq_header_int(h, name, out) != 0)
        *out = -1;
}

evf_dlq_letter_t *evf_dlq_letter_from_msg(rd_kafka_message_t *msg) {
    evf_dlq_letter_t *l = evf_dlq_letter_new();
    char buf[512];
    l->msg = msg;
    l->partition = msg->partition;
    l->offset = msg->offset;
    l->timestamp = rd_kafka_message_timestamp(msg, NULL);

    const rd_kafka_headers_t *h = evf_dlq_letter_headers(l);
    evf_dlq_header_str(h, EVF_H_ERROR_CLASS, l->cls, sizeof(l->cls));
    evf_dlq_header_str(h, EVF_H_PROCESSOR, l->processor, sizeof(l->processor));
    header_int(h, EVF_H_ATTEMPTS, &l->attempts);
    evf_dlq_header_str(h, EVF_H_ORIGINAL_TOPIC, l->original_topic, sizeof(l->original_topic));
    header_int(h, EVF_H_ORIGINAL_PARTITION, &l->original_partition);
    header_int(h, EVF_H_ORIGINAL_OFFSET, &l->original_offset);
    header_int(h, EVF_H_ORIGINAL_TIMESTAMP, &l->original_timestamp);
    header_int(h, EVF_H_FAILED_AT, &l->failed_at);
    header_int(h, EVF_H_FIRST_FAILED_AT, &l->first_failed_at);
    if (evf_dlq_header_int(h, EVF_H_REPLAY_COUNT, &l->replay_count) != 0 || l->replay_count < 0)
        l->replay_count = 0;
    header_int(h, EVF_H_REPLAYED_AT, &l->replayed_at);
    evf_dlq_header_str(h, EVF_H_IDEMPOTENCY_KEY, l->idempotency_key,
                       sizeof(l->idempotency_key));
    evf_dlq_header_str(h, EVF_H_GROUP, l->group, sizeof(l->group));
    evf_dlq_header_str(h, EVF_H_WORKER, l->worker, sizeof(l->worker));
    evf_dlq_header_str(h, EVF_H_ERROR_MESSAGE, l->message, sizeof(l->message));

    char ct[128], err[256];
    int have_ct = evf_dlq_header_str(h, "content-type", ct, sizeof(ct)) == 0;
    if (msg->payload && msg->len) {
        l->event = evf_event_decode_message(msg->payload, msg->len, have_ct ? ct : NULL, err,
                                            sizeof(err));
        if (!l->event)
            snprintf(l->decode_error, sizeof(l->decode_error), "%s", err);
    } else {
        snprintf(l->decode_error, sizeof(l->decode_error), "empty value");
    }
    if (l->event) {
        evf_dlq_letter_set(&l->id, l->event->id);
        evf_dlq_letter_set(&l->type, l->event->type);
    } else {
        /* CloudEvents binary-mode headers still name an undecodable event. */
        if (evf_dlq_header_str(h, "ce_id", buf, sizeof(buf)) == 0)
            evf_dlq_letter_set(&l->id, buf);
        if (evf_dlq_header_str(h, "ce_type", buf, sizeof(buf)) == 0)
            evf_dlq_letter_set(&l->type, buf);
    }
    return l;
}

/* ------------------------------------------------------------------------------------------ */
/* Filters                                                                                      */

void evf_dlq_filter_init(evf_dlq_filter_t *f) {
    memset(f, 0, sizeof(*f));
    f->offset_max = INT64_MAX;
}

static void strlist_clear(evf_dlq_strlist_t *l) {
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

void evf_dlq_filter_clear(evf_dlq_filter_t *f) {
    strlist_clear(&f->classes);
    strlist_clear(&f->processors);
    strlist_clear(&f->original_topics);
    strlist_clear(&f->types);
    strlist_clear(&f->ids);
    free(f->partitions);
    evf_dlq_filter_init(f);
}

static void strlist_add(evf_dlq_strlist_t *l, const char *s, size_t len) {
    l->v = realloc(l->v, (l->n + 1) * sizeof(*l->v));
    if (!l->v)
        abort();
    l->v[l->n] = strndup(s, len);
    if (!l->v[l->n])
        abort();
    l->n++;
}

static int strlist_has(const evf_dlq_strlist_t *l, const char *s) {
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i], s))
            return 1;
    return 0;
}

/* Split value at commas, trimming blanks; each element goes through check (may be NULL), then
 * into list. Empty elements are an error (a stray comma is likely a typo). */
static int add_list(evf_dlq_strlist_t *list, const char *opt, const char *value,
                    int (*check)(const char *elem, char *why, size_t why_size), char *errstr,
                    size_t errstr_size) {
    const char *p = value;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *s = p;
        while (len && isspace((unsigned char)*s))
            s++, len--;
        while (len && isspace((unsigned char)s[len - 1]))
            len--;
        if (!len) {
            snprintf(errstr, errstr_size, "--%s: empty value in '%s'", opt, value);
            return -1;
        }
        char *elem = strndup(s, len);
        if (!elem)
            abort();
        char why[256] = "";
        if (check && check(elem, why, sizeof(why))) {
            snprintf(errstr, errstr_size, "--%s: %s", opt, why);
            free(elem);
            return -1;
        }
        strlist_add(list, elem, len);
        free(elem);
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

static int check_class(const char *name, char *why, size_t why_size) {
    evf_class_t cls;
    if (evf_class_parse(name, &cls) == 0)
        return 0;
    int n = snprintf(why, why_size, "'%s' is not an error class (", name);
    for (int i = 0; i < EVF_CLASS__CNT && n > 0 && (size_t)n < why_size; i++)
        n += snprintf(why + n, why_size - (size_t)n, "%s%s", i ? ", " : "",
                      evf_class_name((evf_class_t)i));
    if (n > 0 && (size_t)n < why_size)
        snprintf(why + n, why_size - (size_t)n, ")");
    return -1;
}

static int parse_nonneg(const char *s, size_t len, int64_t *out) {
    if (!len || len > 19)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        int d = s[i] - '0';
        if (v > (INT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int evf_dlq_parse_offset_range(const char *text, int64_t *lo, int64_t *hi, char *errstr,
                               size_t errstr_size) {
    const char *dash = strchr(text, '-');
    int64_t a, b;
    if (!dash) {
        if (parse_nonneg(text, strlen(text), &a))
            goto bad;
        *lo = *hi = a;
        return 0;
    }
    if (parse_nonneg(text, (size_t)(dash - text), &a))
        goto bad;
    if (!dash[1]) {
        *lo = a;
        *hi = INT64_MAX;
        return 0;
    }
    if (parse_nonneg(dash + 1, strlen(dash + 1), &b))
        goto bad;
    if (b < a) {
        snprintf(errstr, errstr_size, "'%s': the range ends before it starts", text);
        return -1;
    }
    *lo = a;
    *hi = b;
    return 0;
bad:
    snprintf(errstr, errstr_size, "'%s' is not FIRST-LAST, FIRST- or OFFSET", text);
    return -1;
}

int evf_dlq_parse_position(const char *text, int32_t *partition, int64_t *offset) {
    const char *colon = strchr(text, ':');
    int64_t p, o;
    if (!colon || parse_nonneg(text, (size_t)(colon - text), &p) || p > INT32_MAX ||
        parse_nonneg(colon + 1, strlen(colon + 1), &o))
        return -1;
    *partition = (int32_t)p;
    *offset = o;
    return 0;
}

int evf_dlq_parse_duration(const char *text, int64_t *out_ms) {
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"ms", 1},           {"s", 1000},           {"m", 60000},
                 {"h", 3600000},      {"d", 86400000},       {"w", 7 * 86400000LL}};
    const char *p = text;
    int64_t total = 0;
    if (!*p)
        return -1;
    while (*p) {
        const char *d = p;
        while (isdigit((unsigned char)*p))
            p++;
        int64_t n;
        if (parse_nonneg(d, (size_t)(p - d), &n))
            return -1;
        const char *u = p;
        while (isalpha((unsigned char)*p))
            p++;
        size_t ulen = (size_t)(p - u);
        int64_t mult = 0;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
            if (strlen(units[i].unit) == ulen && !strncmp(u, units[i].unit, ulen))
                mult = units[i].ms;
        if (!mult || n > (INT64_MAX - total) / mult)
            return -1;
        total += n * mult;
    }
    *out_ms = total;
    return 0;
}

/* Reads exactly n digits. */
static int digits(const char **p, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int parse_rfc3339(const char *text, int64_t *out_ms) {
    const char *p = text;
    int y, mo, d, h = 0, mi = 0, s = 0, ms = 0;
    int64_t offset_s = 0;
    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
        digits(&p, 2, &d))
        return -1;
    if (*p) {
        if (*p != 'T' && *p != 't' && *p != ' ')
            return -1;
        p++;
        if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' ||
            digits(&p, 2, &s))
            return -1;
        if (*p == '.') {
            p++;
            int nd = 0;
            while (isdigit((unsigned char)*p)) {
                if (nd < 3)
                    ms = ms * 10 + (*p - '0');
                nd++, p++;
            }
            if (!nd)
                return -1;
            for (; nd < 3; nd++)
                ms *= 10;
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1, oh, om;
            if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59)
                return -1;
            offset_s = sign * (oh * 3600 + om * 60);
        } else {
            return -1;
        }
        if (*p)
            return -1;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
        return -1;
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    time_t t = timegm(&tm);
    /* timegm normalises 31 February into March: refuse days the month does not have. */
    struct tm back;
    gmtime_r(&t, &back);
    if (back.tm_mday != d && s != 60)
        return -1;
    *out_ms = ((int64_t)t - offset_s) * 1000 + ms;
    return 0;
}

int evf_dlq_parse_time(const char *text, int64_t now, int64_t *out_ms, char *errstr,
                       size_t errstr_size) {
    int64_t v;
    if (parse_rfc3339(text, &v) == 0) {
        *out_ms = v;
        return 0;
    }
    if (evf_dlq_parse_duration(text, &v) == 0) {
        *out_ms = now - v;
        return 0;
    }
    snprintf(errstr, errstr_size,
             "'%s' is neither an RFC 3339 time (2026-05-01T10:00:00Z) nor a duration before "
             "now (30m, 2h, 1d)",
             text);
    return -1;
}

char *evf_dlq_format_time(int64_t ms, int with_ms, char *out, size_t out_size) {
    if (ms < 0) {
        snprintf(out, out_size, "-");
        return out;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    if (with_ms)
        snprintf(out, out_size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    else
        snprintf(out, out_size, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return out;
}

int evf_dlq_filter_add(evf_dlq_filter_t *f, const char *name, const char *value, int64_t now,
                       char *errstr, size_t errstr_size) {
    char why[256];
    if (!strcmp(name, "class"))
        return add_list(&f->classes, name, value, check_class, errstr, errstr_size);
    if (!strcmp(name, "processor"))
        return add_list(&f->processors, name, value, NULL, errstr, errstr_size);
    if (!strcmp(name, "original-topic"))
        return add_list(&f->original_topics, name, value, NULL, errstr, errstr_size);
    if (!strcmp(name, "type"))
        return add_list(&f->types, name, value, NULL, errstr, errstr_size);
    if (!strcmp(name, "id"))
        return add_list(&f->ids, name, value, NULL, errstr, errstr_size);
    if (!strcmp(name, "partition")) {
        evf_dlq_strlist_t tmp = {0};
        if (add_list(&tmp, name, value, NULL, errstr, errstr_size))
            return -1;
        int64_t p;
        for (size_t i = 0; i < tmp.n; i++) { /* all or nothing */
            if (parse_nonneg(tmp.v[i], strlen(tmp.v[i]), &p) || p > INT32_MAX) {
                snprintf(errstr, errstr_size, "--partition: '%s' is not a partition number",
                         tmp.v[i]);
                strlist_clear(&tmp);
                return -1;
            }
        }
        f->partitions = realloc(f->partitions, (f->n_partitions + tmp.n) * sizeof(int32_t));
        if (!f->partitions)
            abort();
        for (size_t i = 0; i < tmp.n; i++) {
            parse_nonneg(tmp.v[i], strlen(tmp.v[i]), &p);
            f->partitions[f->n_partitions++] = (int32_t)p;
        }
        strlist_clear(&tmp);
        return 0;
    }
    if (!strcmp(name, "offset-range")) {
        if (evf_dlq_parse_offset_range(value, &f->offset_min, &f->offset_max, why,
                                       sizeof(why))) {
            snprintf(errstr, errstr_size, "--offset-range: %s", why);
            return -1;
        }
        return 0;
    }
    if (!strcmp(name, "since") || !strcmp(name, "until")) {
        int64_t t;
        if (evf_dlq_parse_time(value, now, &t, why, sizeof(why))) {
            snprintf(errstr, errstr_size, "--%s: %s", name, why);
            return -1;
        }
        if (!strcmp(name, "since"))
            f->since_ms = t > 0 ? t : 1;
        else
            f->until_ms = t > 0 ? t : 1;
        return 0;
    }
    snprintf(errstr, errstr_size, "--%s: not a filter", name);
    return -1;
}

int evf_dlq_filter_active(const evf_dlq_filter_t *f) {
    return f->classes.n || f->processors.n || f->original_topics.n || f->types.n || f->ids.n ||
           f->n_partitions || f->offset_min > 0 || f->offset_max != INT64_MAX || f->since_ms ||
           f->until_ms;
}

int evf_dlq_filter_partition(const evf_dlq_filter_t *f, int32_t p) {
    if (!f || !f->n_partitions)
        return 1;
    for (size_t i = 0; i < f->n_partitions; i++)
        if (f->partitions[i] == p)
            return 1;
    return 0;
}

int evf_dlq_glob_match(const char *glob, const char *s) {
    /* Iterative wildcard match with one backtrack point (the last `*`). */
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*glob == '*') {
            star = glob++;
            resume = s;
        } else if (*glob == *s) {
            glob++, s++;
        } else if (star) {
            glob = star + 1;
            s = ++resume;
        } else {
            return 0;
        }
    }
    while (*glob == '*')
        glob++;
    return *glob == '\0';
}

int evf_dlq_filter_match(const evf_dlq_filter_t *f, const evf_dlq_letter_t *l) {
    if (!f)
        return 1;
    if (!evf_dlq_filter_partition(f, l->partition))
        return 0;
    if (l->offset < f->offset_min || l->offset > f->offset_max)
        return 0;
    if (f->classes.n && !strlist_has(&f->classes, l->cls))
        return 0;
    if (f->processors.n && !strlist_has(&f->processors, l->processor))
        return 0;
    if (f->original_topics.n && !strlist_has(&f->original_topics, l->original_topic))
        return 0;
    if (f->ids.n && (!l->id[0] || !strlist_has(&f->ids, l->id)))
        return 0;
    if (f->types.n) {
        int any = 0;
        for (size_t i = 0; i < f->types.n && !any && l->type[0]; i++)
            any = evf_dlq_glob_match(f->types.v[i], l->type);
        if (!any)
            return 0;
    }
    if (f->since_ms || f->until_ms) {
        int64_t t = l->failed_at >= 0 ? l->failed_at : l->timestamp;
        if (t < 0)
            return 0;
        if (f->since_ms && t < f->since_ms)
            return 0;
        if (f->until_ms && t >= f->until_ms)
            return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------------------------------ */
/* The reader                                                                                   */

typedef struct {
    int32_t partition;
    int64_t start, end; /* [start, end) */
    int done;
} part_t;

struct evf_dlq_reader_s {
    rd_kafka_t *rk;
    char *topic;
    const evf_dlq_filter_t *filter;
    int nparts;
    part_t *parts;
    size_t n;
    size_t remaining;
    uint64_t read, total;
    int64_t last_progress_ms;
};

static part_t *find_part(evf_dlq_reader_t *r, int32_t p) {
    for (size_t i = 0; i < r->n; i++)
        if (r->parts[i].partition == p)
            return &r->parts[i];
    return NULL;
}

static void part_done(evf_dlq_reader_t *r, part_t *pt) {
    if (pt->done)
        return;
    pt->done = 1;
    r->remaining--;
    /* Stop fetching what lies past the end taken at start. */
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, r->topic, pt->partition);
    rd_kafka_pause_partitions(r->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
}

evf_dlq_reader_t *evf_dlq_reader_new(const evf_conf_t *conf, const char *topic,
                                     const evf_dlq_filter_t *filter, char *errstr,
                                     size_t errstr_size) {
    evf_dlq_reader_t *r = xcalloc(1, sizeof(*r));
    rd_kafka_topic_partition_list_t *assign = NULL;
    char err[512];
    r->topic = xstrdup(topic);
    r->filter = filter;

    rd_kafka_conf_t *kconf = evf_kafka_conf_new(conf, EVF_KAFKA_READER, errstr, errstr_size);
    if (!kconf)
        goto fail;
    /* Our own group id whatever kafka.group.id says (that one names the workers' group): the
     * reader only assigns and never commits, so it never touches the workers' offsets. */
    if (evf_kafka_conf_set(kconf, "group.id", READER_GROUP_ID, errstr, errstr_size)) {
        rd_kafka_conf_destroy(kconf);
        goto fail;
    }
    r->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kconf, err, sizeof(err));
    if (!r->rk) {
        rd_kafka_conf_destroy(kconf);
        snprintf(errstr, errstr_size, "cannot create the Kafka consumer: %s", err);
        goto fail;
    }
    rd_kafka_poll_set_consumer(r->rk);

    r->nparts = evf_kafka_partition_count(r->rk, topic, METADATA_TIMEOUT_MS, err, sizeof(err));
    if (r->nparts < 0) {
        snprintf(errstr, errstr_size, "%s", err);
        goto fail;
    }
    if (r->nparts == 0) {
        snprintf(errstr, errstr_size, "topic '%s' does not exist", topic);
        goto fail;
    }
    r->parts = xcalloc((size_t)r->nparts, sizeof(*r->parts));
    assign = rd_kafka_topic_partition_list_new(r->nparts);
    for (int32_t p = 0; p < r->nparts; p++) {
        if (!evf_dlq_filter_partition(filter, p))
            continue;
        int64_t lo = 0, hi = 0;
        rd_kafka_resp_err_t e =
            rd_kafka_query_watermark_offsets(r->rk, topic, p, &lo, &hi, WATERMARK_TIMEOUT_MS);
        if (e) {
            snprintf(errstr, errstr_size, "topic '%s' partition %d: watermarks: %s", topic, p,
                     rd_kafka_err2str(e));
            goto fail;
        }
        part_t *pt = &r->parts[r->n++];
        pt->partition = p;
        pt->start = lo;
        pt->end = hi;
        if (filter && filter->offset_min > pt->start)
            pt->start = filter->offset_min;
        if (filter && filter->offset_max != INT64_MAX && filter->offset_max + 1 < pt->end)
            pt->end = filter->offset_max + 1;
        if (pt->start >= pt->end) {
            pt->done = 1;
            continue;
        }
        r->remaining++;
        r->total += (uint64_t)(pt->end - pt->start);
        rd_kafka_topic_partition_list_add(assign, topic, p)->offset = pt->start;
    }
    if (assign->cnt) {
        rd_kafka_resp_err_t e = rd_kafka_assign(r->rk, assign);
        if (e) {
            snprintf(errstr, errstr_size, "topic '%s': assign: %s", topic, rd_kafka_err2str(e));
            goto fail;
        }
    }
    rd_kafka_topic_partition_list_destroy(assign);
    r->last_progress_ms = now_ms();
    return r;
fail:
    if (assign)
        rd_kafka_topic_partition_list_destroy(assign);
    evf_dlq_reader_destroy(r);
    return NULL;
}

void evf_dlq_reader_destroy(evf_dlq_reader_t *r) {
    if (!r)
        return;
    if (r->rk) {
        rd_kafka_consumer_close(r->rk);
        rd_kafka_destroy(r->rk);
    }
    free(r->parts);
    free(r->topic);
    free(r);
}

/* A consumer error that ends the read (others are transient and librdkafka retries them). */
static int error_is_final(rd_kafka_t *rk, rd_kafka_resp_err_t e) {
    char buf[8];
    if (rd_kafka_fatal_error(rk, buf, sizeof(buf)))
        return 1;
    switch (e) {
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR__FATAL:
        return 1;
    default:
        return 0;
    }
}

evf_err_t evf_dlq_reader_next(evf_dlq_reader_t *r, evf_dlq_letter_t **out, int timeout_ms,
                              char *errstr, size_t errstr_size) {
    int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    *out = NULL;
    while (r->remaining > 0) {
        int64_t now = now_ms();
        if (now - r->last_progress_ms > EVF_DLQ_READER_STALL_MS) {
            for (size_t i = 0; i < r->n; i++) {
                if (!r->parts[i].done) {
                    snprintf(errstr, errstr_size,
                             "no progress reading '%s' for %d s (partition %d not read to "
                             "offset %" PRId64 ")",
                             r->topic, EVF_DLQ_READER_STALL_MS / 1000, r->parts[i].partition,
                             r->parts[i].end);
                    break;
                }
            }
            return EVF_ERR_TRANSPORT;
        }
        int wait = (int)(deadline - now);
        if (wait < 0)
            wait = 0;
        if (wait > 100)
            wait = 100;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r->rk, wait);
        if (!m) {
            if (now_ms() >= deadline)
                return EVF_ERR_TIMEOUT;
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            part_t *pt = find_part(r, m->partition);
            if (pt && m->offset >= pt->end)
                part_done(r, pt);
            r->last_progress_ms = now_ms();
            rd_kafka_message_destroy(m);
            continue;
        }
        if (m->err) {
            rd_kafka_resp_err_t e = m->err;
            if (error_is_final(r->rk, e)) {
                snprintf(errstr, errstr_size, "reading '%s': %s", r->topic,
                         rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
                return EVF_ERR_TRANSPORT;
            }
            EVF_DBG("dlq", "reading %s: %s (retrying)", r->topic, rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        part_t *pt = find_part(r, m->partition);
        if (!pt || pt->done || m->offset >= pt->end || m->offset < pt->start) {
            if (pt && m->offset >= pt->end)
                part_done(r, pt);
            rd_kafka_message_destroy(m);
            continue;
        }
        r->read++;
        r->last_progress_ms = now_ms();
        if (m->offset + 1 >= pt->end)
            part_done(r, pt);
        evf_dlq_letter_t *l = evf_dlq_letter_from_msg(m);
        if (evf_dlq_filter_match(r->filter, l)) {
            *out = l;
            return EVF_OK;
        }
        evf_dlq_letter_free(l);
    }
    return EVF_ERR_NOT_FOUND;
}

void evf_dlq_reader_progress(const evf_dlq_reader_t *r, uint64_t *read, uint64_t *total) {
    *read = r->read;
    *total = r->total;
}

int evf_dlq_reader_partition_count(const evf_dlq_reader_t *r) {
    return r->nparts;
}

rd_kafka_t *evf_dlq_reader_handle(evf_dlq_reader_t *r) {
    return r->rk;
}
