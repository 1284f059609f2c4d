/* common/config.c — the one configuration table and its loader; see config.h.
 *
 * props[] is the single source of truth: the loader validates against it, the getters read
 * defaults from it, and --help, --check-config and the README's reference are printed from it.
 * Values that were set live in a small array in first-set order (≈60 keys: linear search is
 * fine, and the order is what foreach_prefix and routes promise). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "redis_url.h"

#define ENV_PREFIX "EVFLEET_"
#define ENV_PREFIX_LEN 8

typedef enum {
    CT_STRING,
    CT_INT,
    CT_DOUBLE,
    CT_BOOL,
    CT_ENUM,
    CT_LIST,    /* comma-separated strings */
    CT_INTLIST, /* comma-separated integers in [imin, imax] */
} conf_type_t;

#define CF_SECRET 0x1   /* never printed */
#define CF_NONEMPTY 0x2 /* a string that must not be empty, a list that needs an element */

/* Extra validation of a string or of one list element: 0, or -1 with the reason. */
typedef int (*conf_check_fn)(const char *value, char *reason, size_t reason_size);

typedef struct {
    const char *section; /* heading in --help */
    const char *name;    /* fixed key, or a pattern with one `*` segment */
    conf_type_t type;
    const char *dflt;
    int64_t imin, imax; /* CT_INT, CT_INTLIST elements */
    double dmin, dmax;  /* CT_DOUBLE */
    const char *choices; /* CT_ENUM: "a|b|c" */
    int progs;           /* EVF_CONF_PROG_* */
    int flags;           /* CF_* */
    conf_check_fn check; /* CT_STRING value, CT_LIST element */
    const char *help;
} conf_prop_t;

static int check_redis_url(const char *value, char *reason, size_t reason_size);
static int check_listen(const char *value, char *reason, size_t reason_size);
static int check_key_prefix(const char *value, char *reason, size_t reason_size);
static int check_topic(const char *value, char *reason, size_t reason_size);
static int check_field(const char *value, char *reason, size_t reason_size);

#define NO_MIN INT64_MIN
#define NO_MAX INT64_MAX

#define P_STR(sec, n, d, pr, fl, chk, h)                                                           \
    { .section = sec, .name = n, .type = CT_STRING, .dflt = d, .progs = pr, .flags = fl,           \
      .check = chk, .help = h }
#define P_INT(sec, n, d, lo, hi, pr, h)                                                            \
    { .section = sec, .name = n, .type = CT_INT, .dflt = d, .imin = lo, .imax = hi, .progs = pr,   \
      .help = h }
#define P_DBL(sec, n, d, lo, hi, pr, h)                                                            \
    { .section = sec, .name = n, .type = CT_DOUBLE, .dflt = d, .dmin = lo, .dmax = hi,             \
      .progs = pr, .help = h }
#define P_BOOL(sec, n, d, pr, h)                                                                   \
    { .section = sec, .name = n, .type = CT_BOOL, .dflt = d, .progs = pr, .help = h }
#define P_ENUM(sec, n, d, ch, pr, h)                                                               \
    { .section = sec, .name = n, .type = CT_ENUM, .dflt = d, .choices = ch, .progs = pr,           \
      .help = h }
#define P_LIST(sec, n, d, pr, fl, chk, h)                                                          \
    { .section = sec, .name = n, .type = CT_LIST, .dflt = d, .progs = pr, .flags = fl,             \
      .check = chk, .help = h }
#define P_ILIST(sec, n, d, lo, hi, pr, h)                                                          \
    { .section = sec, .name = n, .type = CT_INTLIST, .dflt = d, .imin = lo, .imax = hi,            \
      .progs = pr, .help = h }

#define W EVF_CONF_PROG_WORKER
#define D EVF_CONF_PROG_DLQ
#define ALL EVF_CONF_PROG_ALL

#define S_TOPICS "Topics"
#define S_WORKER "Worker"
#define S_RETRY "Retries and failures"
#define S_BREAKER "Circuit breakers (per processor)"
#define S_DLQ "Dead letters"
#define S_IDEM "Idempotency"
#define S_REDIS "Redis"
#define S_OPS "HTTP and logging"

static const conf_prop_t props[] = {
    P_LIST(S_TOPICS, "topics", "events.s3,events.stream,events.iot", ALL, CF_NONEMPTY,
           check_topic,
           "Source topics (comma-separated): what the worker consumes and where producers publish "
           "by default."),
    P_INT(S_TOPICS, "topics.partitions", "12", 1, 100000, ALL,
          "Number of partitions of a topic a tool creates because it is missing."),
    P_INT(S_TOPICS, "topics.replication.factor", "-1", -1, 32, ALL,
          "Replication factor of a topic a tool creates; -1 uses the broker's default."),

    P_STR(S_WORKER, "worker.id", "", W, 0, NULL,
          "Instance id written to idempotency records and headers; empty picks a random id (the "
          "hostname is kept for display)."),
    P_INT(S_WORKER, "worker.threads", "2", 1, 256, W, "Number of processing threads."),
    P_ENUM(S_WORKER, "worker.ordering", "partition", "partition|key", W,
           "Unit of ordering: events of one partition, or of one message key, run one at a time "
           "and in order."),
    P_INT(S_WORKER, "worker.queue.max", "1000", 1, 1000000, W,
          "Events buffered per lane before its partition is paused."),
    P_INT(S_WORKER, "event.max.bytes", "1048576", 1, 1073741824, ALL,
          "Largest event accepted, in bytes; a bigger one is dead-lettered as too-large."),
    P_INT(S_WORKER, "processing.timeout.ms", "30000", 1, 86400000, W,
          "Time one processor call may take, in milliseconds, before it fails as timeout."),
    P_INT(S_WORKER, "shutdown.grace.ms", "10000", 0, 3600000, ALL,
          "Time given to in-flight work on shutdown, in milliseconds, before the rest is left "
          "uncommitted for the next owner."),

    P_INT(S_RETRY, "retry.max.attempts", "3", 1, 1000, W,
          "Runs of the processor per delivery, the first included, before the event moves to the "
          "next retry topic or the dead-letter topic."),
    P_INT(S_RETRY, "retry.backoff.initial.ms", "200", 0, 86400000, W,
          "Delay before the first in-place retry, in milliseconds."),
    P_INT(S_RETRY, "retry.backoff.max.ms", "10000", 0, 86400000, W,
          "Upper bound of the in-place retry delay, in milliseconds."),
    P_DBL(S_RETRY, "retry.backoff.multiplier", "2.0", 1.0, 100.0, W,
          "Factor by which the in-place retry delay grows after each attempt."),
    P_ENUM(S_RETRY, "retry.jitter", "full", "full|equal|none", W,
           "Randomisation of retry delays: full (0 to the delay), equal (half to all of it) or "
           "none."),
    P_ILIST(S_RETRY, "retry.topics.delays.ms", "10000,60000", 0, 604800000, W | D,
            "Delay of each retry topic level in milliseconds (comma-separated); empty sends "
            "exhausted events straight to the dead-letter topic."),
    P_INT(S_RETRY, "max.record.age.ms", "0", 0, NO_MAX, W,
          "Age in milliseconds (from the original timestamp) past which an event is "
          "dead-lettered as max-age instead of run; 0 turns the check off."),
    P_INT(S_RETRY, "crash.max.attempts", "3", 1, 1000, W,
          "Processor calls that ended without an outcome (crashes) after which an event is "
          "dead-lettered as crash-loop."),

    P_INT(S_BREAKER, "breaker.*.window.ms", "30000", 1, 86400000, W,
          "Length of the window over which the processor's circuit breaker counts calls, in "
          "milliseconds."),
    P_INT(S_BREAKER, "breaker.*.min.calls", "20", 0, 1000000, W,
          "Calls in the window before the breaker may open; 0 disables the breaker."),
    P_DBL(S_BREAKER, "breaker.*.failure.ratio", "0.5", 0.0, 1.0, W,
          "Fraction (0 to 1) of failed calls in the window that opens the breaker."),
    P_INT(S_BREAKER, "breaker.*.cooldown.ms", "10000", 0, 86400000, W,
          "Time an open breaker waits before letting a trial call through, in milliseconds."),

    P_INT(S_DLQ, "dlq.retention.ms", "-1", -1, NO_MAX, W | D,
          "retention.ms of dead-letter topics created by the tools, in milliseconds; -1 keeps "
          "dead letters forever."),
    P_INT(S_DLQ, "dlq.replay.max", "3", 1, 1000000, D,
          "Replays of one dead letter after which evfleet-dlq parks it instead of replaying it."),

    P_BOOL(S_IDEM, "idempotency.enabled", "true", W,
           "Keep one Redis record per event, to skip duplicates and stop crash loops."),
    P_INT(S_IDEM, "idempotency.ttl.ms", "604800000", 1000, NO_MAX, W,
          "Lifetime of an idempotency record in Redis, in milliseconds, refreshed on every "
          "write."),
    P_INT(S_IDEM, "idempotency.lease.ms", "60000", 1000, 86400000, W,
          "How long a worker holds an event it runs before another worker may take it over, in "
          "milliseconds."),
    P_STR(S_IDEM, "idempotency.key.prefix", "evf", W | D, CF_NONEMPTY, check_key_prefix,
          "Prefix of the Redis keys of idempotency records and of the replay ledger."),
    P_LIST(S_IDEM, "idempotency.key.source", "id", W, CF_NONEMPTY, check_field,
           "Event fields that make up the idempotency key (comma-separated, e.g. "
           "s3.bucket,s3.key,s3.sequencer); id is the event id."),
    P_BOOL(S_IDEM, "idempotency.allow.eviction", "false", W,
           "Start even when Redis's maxmemory-policy could evict idempotency records."),

    P_STR(S_REDIS, "redis.url", "redis://127.0.0.1:6379/0", W | D, CF_NONEMPTY, check_redis_url,
          "Redis server as redis://[user[:password]@]host[:port][/db]; rediss:// (TLS) is not "
          "supported by hiredis 0.14."),
    P_STR(S_REDIS, "redis.password", "", W | D, CF_SECRET, NULL,
          "Redis password; overrides the one in redis.url, so it can come from a secret through "
          "the environment."),
    P_INT(S_REDIS, "redis.connect.timeout.ms", "2000", 1, 600000, W | D,
          "Timeout of connecting to Redis, in milliseconds."),
    P_INT(S_REDIS, "redis.command.timeout.ms", "2000", 1, 600000, W | D,
          "Timeout of one Redis command or pipeline, in milliseconds."),

    P_STR(S_OPS, "http.listen", "127.0.0.1:9464", W, CF_NONEMPTY, check_listen,
          "host:port ([addr]:port for IPv6) of the health, readiness, metrics and status "
          "endpoints; port 0 picks a free port."),
    P_ENUM(S_OPS, "log.level", "info", "debug|info|warn|error", ALL,
           "Lowest level of the log lines written."),
    P_ENUM(S_OPS, "log.format", "auto", "auto|text|json", ALL,
           "Log line format: auto (text on a terminal, JSON lines otherwise), text or json."),
};

#define NPROPS (sizeof(props) / sizeof(props[0]))

/* The open prefixes, for --help and the Markdown reference. */
static const struct {
    const char *key;   /* as shown */
    const char *prefix;
    int progs;
    const char *help;
} open_prefixes[] = {
    {"kafka.<property>", "kafka.", ALL,
     "Any librdkafka property, passed verbatim without the kafka. prefix (e.g. "
     "kafka.bootstrap.servers, kafka.group.id, kafka.security.protocol, kafka.sasl.*)."},
    {"processor.<name>.<setting>", "processor.", W,
     "A setting given to processor <name>'s init (processor.<name>.library loads it from a "
     "shared object)."},
    {"route.<type-glob>", "route.", W,
     "Run the named processor on events whose type matches the glob (* matches any run of "
     "characters); only from the file or -X, kept in that order."},
};

typedef struct {
    char *key, *value, *origin;
} conf_entry_t;

struct evf_conf_s {
    conf_entry_t *entries; /* in first-set order */
    size_t count, cap;
    evf_conf_route_t *routes; /* rebuilt when a route.* key is set */
    size_t route_count;
};

typedef enum { K_PROP, K_KAFKA, K_PROCESSOR, K_ROUTE } key_kind_t;

/* ------------------------------------------------------------------------------------------ */
/* Small helpers                                                                              */

static void *xrealloc(void *p, size_t size) {
    p = realloc(p, size);
    if (!p && size) {
        fprintf(stderr, "evfleet: out of memory\n");
        abort();
    }
    return p;
}

static char *xstrndup(const char *s, size_t n) {
    char *d = xrealloc(NULL, n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static char *xstrdup(const char *s) {
    return xstrndup(s, strlen(s));
}

/* Trims s[0..*len) in place of the pointer: returns the new start, *len the new length. */
static const char *trim(const char *s, size_t *len) {
    size_t n = *len;
    while (n && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    *len = n;
    return s;
}

static int is_name_char(int c) {
    return isalnum(c) || c == '_' || c == '-';
}

/* One `*` segment: [A-Za-z0-9_-]+. @returns 1 if name matches pattern segment by segment. */
static int pattern_match(const char *pattern, const char *name) {
    while (*pattern && *name) {
        if (*pattern == '*') {
            const char *start = name;
            while (*name && is_name_char((unsigned char)*name))
                name++;
            if (name == start)
                return 0;
            pattern++;
        } else if (*pattern++ != *name++) {
            return 0;
        }
    }
    return !*pattern && !*name;
}

static const conf_prop_t *prop_find(const char *key) {
    for (size_t i = 0; i < NPROPS; i++) {
        if (strchr(props[i].name, '*') ? pattern_match(props[i].name, key)
                                       : !strcmp(props[i].name, key))
            return &props[i];
    }
    return NULL;
}

static conf_entry_t *entry_find(const evf_conf_t *conf, const char *key) {
    for (size_t i = 0; i < conf->count; i++)
        if (!strcmp(conf->entries[i].key, key))
            return &conf->entries[i];
    return NULL;
}

/* Parses a whole decimal integer with an optional '-'. @returns 0, -1 not a number, -2 overflow. */
static int parse_int(const char *s, int64_t *out) {
    const char *p = s;
    char *end;
    long long v;
    if (*p == '-')
        p++;
    if (!*p)
        return -1;
    for (; *p; p++)
        if (!isdigit((unsigned char)*p))
            return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno == ERANGE)
        return -2;
    *out = (int64_t)v;
    return 0;
}

static int parse_double(const char *s, double *out) {
    char *end;
    double v;
    if (!*s || isspace((unsigned char)*s))
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (*end || errno == ERANGE || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

static int parse_bool(const char *s, int *out) {
    static const char *yes[] = {"true", "1", "yes", "on"};
    static const char *no[] = {"false", "0", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (!strcasecmp(s, yes[i])) {
            *out = 1;
            return 0;
        }
        if (!strcasecmp(s, no[i])) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

/* @returns the canonical choice of an enum ("a|b|c") matching s case-insensitively, or NULL.
 * The result points into choices and runs to the next '|' or the end; *len gets its length. */
static const char *enum_match(const char *choices, const char *s, size_t *len) {
    const char *p = choices;
    size_t slen = strlen(s);
    while (*p) {
        size_t n = strcspn(p, "|");
        if (n == slen && !strncasecmp(p, s, n)) {
            *len = n;
            return p;
        }
        p += n;
        if (*p == '|')
            p++;
    }
    return NULL;
}

static void range_reason(char *reason, size_t size, int64_t lo, int64_t hi, const char *got) {
    if (lo != NO_MIN && hi != NO_MAX)
        snprintf(reason, size, "must be between %lld and %lld, got '%.64s'", (long long)lo,
                 (long long)hi, got);
    else if (lo != NO_MIN)
        snprintf(reason, size, "must be at least %lld, got '%.64s'", (long long)lo, got);
    else if (hi != NO_MAX)
        snprintf(reason, size, "must be at most %lld, got '%.64s'", (long long)hi, got);
    else
        snprintf(reason, size, "out of range, got '%.64s'", got);
}

/* Calls fn on every element of a list value (split on ',', trimmed, empties dropped).
 * Elements are copied so fn gets a NUL-terminated string. Stops at the first non-zero. */
static int list_each(const char *value, int (*fn)(void *opaque, const char *elem), void *opaque) {
    const char *p = value;
    for (;;) {
        size_t n = strcspn(p, ",");
        size_t tn = n;
        const char *t = trim(p, &tn);
        if (tn) {
            char *elem = xstrndup(t, tn);
            int r = fn(opaque, elem);
            free(elem);
            if (r)
                return r;
        }
        if (!p[n])
            return 0;
        p += n + 1;
    }
}

typedef struct {
    const conf_prop_t *prop;
    char *reason;
    size_t reason_size;
    size_t count;
} list_check_t;

static int list_check_elem(void *opaque, const char *elem) {
    list_check_t *lc = opaque;
    char sub[256];
    lc->count++;
    if (lc->prop->type == CT_INTLIST) {
        int64_t v;
        int r = parse_int(elem, &v);
        if (r == -1) {
            snprintf(lc->reason, lc->reason_size, "element '%.64s' is not an integer", elem);
            return -1;
        }
        if (r == -2 || v < lc->prop->imin || v > lc->prop->imax) {
            range_reason(sub, sizeof(sub), lc->prop->imin, lc->prop->imax, elem);
            snprintf(lc->reason, lc->reason_size, "every element %s", sub);
            return -1;
        }
        return 0;
    }
    if (lc->prop->check && lc->prop->check(elem, sub, sizeof(sub))) {
        snprintf(lc->reason, lc->reason_size, "element '%.64s': %s", elem, sub);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Value checks of particular keys                                                            */

static int check_redis_url(const char *value, char *reason, size_t reason_size) {
    evf_redis_url_t url;
    char err[256];
    if (evf_redis_url_parse(value, &url, err, sizeof(err))) {
        /* The parser never quotes the URL, so the reason is safe to show. */
        snprintf(reason, reason_size, "%s", err);
        return -1;
    }
    memset(&url, 0, sizeof(url));
    return 0;
}

static int check_listen(const char *value, char *reason, size_t reason_size) {
    const char *port;
    int64_t v;
    if (value[0] == '[') {
        const char *close = strchr(value, ']');
        if (!close || close == value + 1 || close[1] != ':') {
            snprintf(reason, reason_size, "expected host:port or [IPv6]:port, got '%.64s'",
                     value);
            return -1;
        }
        for (const char *p = value + 1; p < close; p++) {
            if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.') {
                snprintf(reason, reason_size, "'%.64s' is not an IPv6 address in brackets",
                         value);
                return -1;
            }
        }
        port = close + 2;
    } else {
        const char *colon = strchr(value, ':');
        if (!colon || colon == value || strchr(colon + 1, ':')) {
            snprintf(reason, reason_size,
                     "expected host:port (IPv6 as [addr]:port), got '%.64s'", value);
            return -1;
        }
        for (const char *p = value; p < colon; p++) {
            if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != '_') {
                snprintf(reason, reason_size, "invalid host in '%.64s'", value);
                return -1;
            }
        }
        port = colon + 1;
    }
    if (parse_int(port, &v) || port[0] == '-' || v > 65535) {
        snprintf(reason, reason_size, "port must be between 0 and 65535, got '%.16s'", port);
        return -1;
    }
    return 0;
}

static int check_key_prefix(const char *value, char *reason, size_t reason_size) {
    for (const char *p = value; *p; p++) {
        if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p)) {
            snprintf(reason, reason_size, "must not contain spaces or control characters");
            return -1;
        }
    }
    return 0;
}

static int check_topic(const char *value, char *reason, size_t reason_size) {
    if (strlen(value) > 249) {
        snprintf(reason, reason_size, "a topic name has at most 249 characters");
        return -1;
    }
    if (!strcmp(value, ".") || !strcmp(value, "..")) {
        snprintf(reason, reason_size, "not a valid topic name");
        return -1;
    }
    for (const char *p = value; *p; p++) {
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-') {
            snprintf(reason, reason_size, "a topic name has only [A-Za-z0-9._-]");
            return -1;
        }
    }
    return 0;
}

static int check_field(const char *value, char *reason, size_t reason_size) {
    for (const char *p = value; *p; p++) {
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-') {
            snprintf(reason, reason_size, "a field name has only [A-Za-z0-9._-]");
            return -1;
        }
    }
    return 0;
}

static int check_processor_name(const char *value) {
    if (!*value)
        return -1;
    for (const char *p = value; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-')
            return -1;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Key and value validation                                                                   */

/* Classifies key. @returns 0 with *kind (and *prop for table keys), or -1 with the reason. */
static int resolve_key(const char *key, key_kind_t *kind, const conf_prop_t **prop, char *reason,
                       size_t reason_size) {
    const conf_prop_t *p = prop_find(key);
    *prop = p;
    if (p) {
        *kind = K_PROP;
        return 0;
    }
    if (!strncmp(key, "kafka.", 6)) {
        if (!key[6]) {
            snprintf(reason, reason_size, "expected kafka.<librdkafka property>");
            return -1;
        }
        *kind = K_KAFKA;
        return 0;
    }
    if (!strncmp(key, "processor.", 10)) {
        const char *name = key + 10;
        const char *dot = strchr(name, '.');
        if (!dot || dot == name || !dot[1]) {
            snprintf(reason, reason_size, "expected processor.<name>.<setting>");
            return -1;
        }
        for (const char *c = name; c < dot; c++) {
            if (!is_name_char((unsigned char)*c)) {
                snprintf(reason, reason_size, "a processor name has only [A-Za-z0-9_-]");
                return -1;
            }
        }
        *kind = K_PROCESSOR;
        return 0;
    }
    if (!strncmp(key, "route.", 6)) {
        if (!key[6]) {
            snprintf(reason, reason_size, "expected route.<event-type-glob>");
            return -1;
        }
        *kind = K_ROUTE;
        return 0;
    }
    snprintf(reason, reason_size, "unknown key");
    return -1;
}

/* Validates value for prop. @returns 0 with the value to store in *canon (malloc'd), or -1. */
static int validate_prop(const conf_prop_t *prop, const char *value, char **canon, char *reason,
                         size_t reason_size) {
    int64_t iv;
    double dv;
    int bv, r;
    size_t len;
    const char *choice;
    list_check_t lc;

    switch (prop->type) {
    case CT_STRING:
        if ((prop->flags & CF_NONEMPTY) && !*value) {
            snprintf(reason, reason_size, "must not be empty");
            return -1;
        }
        if (prop->check && prop->check(value, reason, reason_size))
            return -1;
        break;
    case CT_INT:
        r = parse_int(value, &iv);
        if (r == -1) {
            snprintf(reason, reason_size, "expected an integer, got '%.64s'", value);
            return -1;
        }
        if (r == -2 || iv < prop->imin || iv > prop->imax) {
            range_reason(reason, reason_size, prop->imin, prop->imax, value);
            return -1;
        }
        break;
    case CT_DOUBLE:
        if (parse_double(value, &dv)) {
            snprintf(reason, reason_size, "expected a number, got '%.64s'", value);
            return -1;
        }
        if (dv < prop->dmin || dv > prop->dmax) {
            snprintf(reason, reason_size, "must be between %g and %g, got '%.64s'", prop->dmin,
                     prop->dmax, value);
            return -1;
        }
        break;
    case CT_BOOL:
        if (parse_bool(value, &bv)) {
            snprintf(reason, reason_size,
                     "expected true/false (or 1/0, yes/no, on/off), got '%.64s'", value);
            return -1;
        }
        /* Stored canonically so --check-config shows true/false whatever was written. */
        *canon = xstrdup(bv ? "true" : "false");
        return 0;
    case CT_ENUM:
        choice = enum_match(prop->choices, value, &len);
        if (!choice) {
            snprintf(reason, reason_size, "must be one of %s, got '%.64s'", prop->choices, value);
            return -1;
        }
        *canon = xstrndup(choice, len);
        return 0;
    case CT_LIST:
    case CT_INTLIST:
        lc.prop = prop;
        lc.reason = reason;
        lc.reason_size = reason_size;
        lc.count = 0;
        if (list_each(value, list_check_elem, &lc))
            return -1;
        if ((prop->flags & CF_NONEMPTY) && lc.count == 0) {
            snprintf(reason, reason_size, "needs at least one element");
            return -1;
        }
        break;
    }
    *canon = xstrdup(value);
    return 0;
}

static void routes_rebuild(evf_conf_t *conf) {
    size_t n = 0;
    conf->routes = xrealloc(conf->routes, (conf->count ? conf->count : 1) * sizeof(*conf->routes));
    for (size_t i = 0; i < conf->count; i++) {
        conf_entry_t *e = &conf->entries[i];
        if (strncmp(e->key, "route.", 6))
            continue;
        conf->routes[n].glob = e->key + 6;
        conf->routes[n].processor = e->value;
        conf->routes[n].origin = e->origin;
        n++;
    }
    conf->route_count = n;
}

/* Stores key = value (takes ownership of value), keeping a replaced key's position. */
static void store(evf_conf_t *conf, const char *key, char *value, const char *origin) {
    conf_entry_t *e = entry_find(conf, key);
    if (e) {
        free(e->value);
        free(e->origin);
    } else {
        if (conf->count == conf->cap) {
            conf->cap = conf->cap ? conf->cap * 2 : 32;
            conf->entries = xrealloc(conf->entries, conf->cap * sizeof(*conf->entries));
        }
        e = &conf->entries[conf->count++];
        e->key = xstrdup(key);
    }
    e->value = value;
    e->origin = xstrdup(origin);
    if (!strncmp(key, "route.", 6))
        routes_rebuild(conf);
}

/* ------------------------------------------------------------------------------------------ */
/* Public: lifecycle and loading                                                              */

evf_conf_t *evf_conf_new(void) {
    evf_conf_t *conf = xrealloc(NULL, sizeof(*conf));
    memset(conf, 0, sizeof(*conf));
    return conf;
}

void evf_conf_destroy(evf_conf_t *conf) {
    if (!conf)
        return;
    for (size_t i = 0; i < conf->count; i++) {
        free(conf->entries[i].key);
        /* Secrets do not linger in freed heap memory. */
        if (conf->entries[i].value) {
            memset(conf->entries[i].value, 0, strlen(conf->entries[i].value));
            free(conf->entries[i].value);
        }
        free(conf->entries[i].origin);
    }
    free(conf->entries);
    free(conf->routes);
    free(conf);
}

int evf_conf_set(evf_conf_t *conf, const char *key, const char *value, const char *origin,
                 char *errstr, size_t errstr_size) {
    char reason[512];
    size_t klen = strlen(key), vlen = strlen(value);
    const char *k = trim(key, &klen), *v = trim(value, &vlen);
    char *kcopy = xstrndup(k, klen), *vcopy = xstrndup(v, vlen), *canon = NULL;
    const conf_prop_t *prop;
    key_kind_t kind;
    int ret = -1;

    if (!origin)
        origin = "api";
    if (!*kcopy) {
        snprintf(errstr, errstr_size, "%s: missing key before '='", origin);
        goto done;
    }
    if (resolve_key(kcopy, &kind, &prop, reason, sizeof(reason)))
        goto bad;
    switch (kind) {
    case K_PROP:
        if (validate_prop(prop, vcopy, &canon, reason, sizeof(reason)))
            goto bad;
        break;
    case K_ROUTE:
        if (check_processor_name(vcopy)) {
            snprintf(reason, sizeof(reason),
                     "the value must be a processor name ([A-Za-z0-9_.-]+), got '%.64s'", vcopy);
            goto bad;
        }
        canon = xstrdup(vcopy);
        break;
    case K_KAFKA:
    case K_PROCESSOR:
        canon = xstrdup(vcopy);
        break;
    }
    store(conf, kcopy, canon, origin);
    ret = 0;
    goto done;

bad:
    snprintf(errstr, errstr_size, "%s: key '%.128s': %s", origin, kcopy, reason);
done:
    memset(vcopy, 0, vlen);
    free(kcopy);
    free(vcopy);
    return ret;
}

int evf_conf_set_arg(evf_conf_t *conf, const char *key_eq_value, char *errstr,
                     size_t errstr_size) {
    const char *eq = strchr(key_eq_value, '=');
    char *key;
    int r;
    if (!eq) {
        /* The argument is not quoted: it may be a mistyped secret. */
        snprintf(errstr, errstr_size, "-X: expected key=value (no '=' in the argument)");
        return -1;
    }
    key = xstrndup(key_eq_value, (size_t)(eq - key_eq_value));
    r = evf_conf_set(conf, key, eq + 1, "-X", errstr, errstr_size);
    free(key);
    return r;
}

int evf_conf_load_file(evf_conf_t *conf, const char *path, char *errstr, size_t errstr_size) {
    FILE *f = fopen(path, "r");
    char *line = NULL, *origin = NULL;
    size_t cap = 0;
    ssize_t n;
    int lineno = 0, ret = 0;

    if (!f) {
        snprintf(errstr, errstr_size, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    while ((n = getline(&line, &cap, f)) >= 0) {
        size_t len = (size_t)n;
        const char *s = line, *eq, *k, *v;
        size_t klen, vlen;
        char *key, *value;

        lineno++;
        if (lineno == 1 && len >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3)) {
            s += 3;
            len -= 3;
        }
        s = trim(s, &len);
        if (len == 0 || s[0] == '#')
            continue;
        eq = memchr(s, '=', len);
        if (!eq) {
            /* The line is not quoted: it may be a secret written without its key. */
            snprintf(errstr, errstr_size, "%s:%d: expected 'key = value' (no '=' in the line)",
                     path, lineno);
            ret = -1;
            break;
        }
        klen = (size_t)(eq - s);
        vlen = len - klen - 1;
        k = trim(s, &klen);
        v = trim(eq + 1, &vlen);
        key = xstrndup(k, klen);
        value = xstrndup(v, vlen);
        free(origin);
        if (asprintf(&origin, "%s:%d", path, lineno) < 0)
            abort();
        ret = evf_conf_set(conf, key, value, origin, errstr, errstr_size);
        memset(value, 0, vlen);
        free(key);
        free(value);
        if (ret)
            break;
    }
    if (!ret && ferror(f)) {
        snprintf(errstr, errstr_size, "%s: read error: %s", path, strerror(errno));
        ret = -1;
    }
    if (line) {
        memset(line, 0, cap);
        free(line);
    }
    free(origin);
    fclose(f);
    return ret;
}

void evf_conf_env_name(const char *key, char *out, size_t out_size) {
    size_t n = 0;
    if (out_size == 0)
        return;
    for (const char *p = ENV_PREFIX; *p && n + 1 < out_size; p++)
        out[n++] = *p;
    for (const char *p = key; *p && n + 1 < out_size; p++) {
        if (*p == '.') {
            out[n++] = '_';
        } else if (*p == '_') {
            if (n + 2 >= out_size)
                break;
            out[n++] = '_';
            out[n++] = '_';
        } else {
            out[n++] = (char)toupper((unsigned char)*p);
        }
    }
    out[n] = '\0';
}

int evf_conf_env_key(const char *env_name, char *out, size_t out_size) {
    size_t n = 0;
    const char *p;
    if (strncmp(env_name, ENV_PREFIX, ENV_PREFIX_LEN) || !env_name[ENV_PREFIX_LEN])
        return -1;
    for (p = env_name + ENV_PREFIX_LEN; *p; p++) {
        char c;
        if (p[0] == '_' && p[1] == '_') {
            c = '_';
            p++;
        } else if (*p == '_') {
            c = '.';
        } else {
            c = (char)tolower((unsigned char)*p);
        }
        if (n + 1 >= out_size)
            return -1;
        out[n++] = c;
    }
    out[n] = '\0';
    return 0;
}

int evf_conf_apply_env(evf_conf_t *conf, char *const *envp, char *errstr, size_t errstr_size) {
    char reason[256];
    for (size_t i = 0; envp && envp[i]; i++) {
        const char *var = envp[i], *eq;
        char name[256], key[256], origin[300];
        const conf_prop_t *prop;
        key_kind_t kind;
        size_t nlen;

        if (strncmp(var, ENV_PREFIX, ENV_PREFIX_LEN) || !(eq = strchr(var, '=')))
            continue;
        nlen = (size_t)(eq - var);
        if (nlen >= sizeof(name)) {
            EVF_WARN("config", "environment variable %.64s… ignored: name too long", var);
            continue;
        }
        memcpy(name, var, nlen);
        name[nlen] = '\0';
        if (evf_conf_env_key(name, key, sizeof(key)) ||
            resolve_key(key, &kind, &prop, reason, sizeof(reason))) {
            EVF_WARN("config", "environment variable %s ignored: it names no configuration key",
                     name);
            continue;
        }
        if (kind == K_ROUTE) {
            EVF_WARN("config",
                     "environment variable %s ignored: routes (route.*) must come from the "
                     "configuration file or -X",
                     name);
            continue;
        }
        snprintf(origin, sizeof(origin), "env %s", name);
        if (evf_conf_set(conf, key, eq + 1, origin, errstr, errstr_size))
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Public: getters                                                                            */

static const char *type_name(conf_type_t t) {
    switch (t) {
    case CT_STRING:
        return "string";
    case CT_INT:
        return "int";
    case CT_DOUBLE:
        return "double";
    case CT_BOOL:
        return "bool";
    case CT_ENUM:
        return "enum";
    case CT_LIST:
        return "list";
    case CT_INTLIST:
        return "int list";
    }
    return "?";
}

/* The effective value of a table key whose type is in `types` (bit per conf_type_t); a getter
 * called with anything else is a programming error. */
static const char *effective(const evf_conf_t *conf, const char *key, unsigned types,
                             const char *getter) {
    const conf_prop_t *prop = prop_find(key);
    const conf_entry_t *e;
    if (!prop) {
        fprintf(stderr, "evfleet: %s('%s'): not a key of the configuration table\n", getter, key);
        abort();
    }
    if (!(types & (1u << prop->type))) {
        fprintf(stderr, "evfleet: %s('%s'): the key's type is %s\n", getter, key,
                type_name(prop->type));
        abort();
    }
    e = entry_find(conf, key);
    return e ? e->value : prop->dflt;
}

const char *evf_conf_str(const evf_conf_t *conf, const char *key) {
    return effective(conf, key,
                     1u << CT_STRING | 1u << CT_ENUM | 1u << CT_LIST | 1u << CT_INTLIST,
                     "evf_conf_str");
}

int64_t evf_conf_int(const evf_conf_t *conf, const char *key) {
    int64_t v = 0;
    parse_int(effective(conf, key, 1u << CT_INT, "evf_conf_int"), &v);
    return v;
}

double evf_conf_double(const evf_conf_t *conf, const char *key) {
    double v = 0;
    parse_double(effective(conf, key, 1u << CT_DOUBLE | 1u << CT_INT, "evf_conf_double"), &v);
    return v;
}

int evf_conf_bool(const evf_conf_t *conf, const char *key) {
    int v = 0;
    parse_bool(effective(conf, key, 1u << CT_BOOL, "evf_conf_bool"), &v);
    return v;
}

static void vformat_key(char *out, size_t size, const char *fmt, va_list ap) {
    int n = vsnprintf(out, size, fmt, ap);
    if (n < 0 || (size_t)n >= size) {
        fprintf(stderr, "evfleet: configuration key too long: %s\n", fmt);
        abort();
    }
}

int64_t evf_conf_intf(const evf_conf_t *conf, const char *fmt, ...) {
    char key[512];
    va_list ap;
    va_start(ap, fmt);
    vformat_key(key, sizeof(key), fmt, ap);
    va_end(ap);
    return evf_conf_int(conf, key);
}

double evf_conf_doublef(const evf_conf_t *conf, const char *fmt, ...) {
    char key[512];
    va_list ap;
    va_start(ap, fmt);
    vformat_key(key, sizeof(key), fmt, ap);
    va_end(ap);
    return evf_conf_double(conf, key);
}

const char *evf_conf_get_set(const evf_conf_t *conf, const char *key) {
    const conf_entry_t *e = entry_find(conf, key);
    return e ? e->value : NULL;
}

const char *evf_conf_origin(const evf_conf_t *conf, const char *key) {
    const conf_entry_t *e = entry_find(conf, key);
    return e ? e->origin : "default";
}

size_t evf_conf_list(const evf_conf_t *conf, const char *key, char *buf, size_t buf_size,
                     const char **out, size_t max) {
    const conf_prop_t *prop = prop_find(key);
    const char *value = prop ? evf_conf_str(conf, key) : evf_conf_get_set(conf, key);
    size_t count = 0;
    char *p;

    if (buf_size == 0)
        return 0;
    snprintf(buf, buf_size, "%s", value ? value : "");
    p = buf;
    while (count < max) {
        size_t n = strcspn(p, ",");
        size_t tn = n;
        char *t = (char *)trim(p, &tn);
        int last = !p[n];
        if (tn) {
            t[tn] = '\0';
            out[count++] = t;
        }
        if (last)
            break;
        p += n + 1;
    }
    return count;
}

const evf_conf_route_t *evf_conf_routes(const evf_conf_t *conf, size_t *count) {
    *count = conf->route_count;
    return conf->routes;
}

int evf_conf_foreach_prefix(const evf_conf_t *conf, const char *prefix,
                            int (*fn)(void *opaque, const char *subkey, const char *value,
                                      const char *origin),
                            void *opaque) {
    size_t plen = strlen(prefix);
    for (size_t i = 0; i < conf->count; i++) {
        const conf_entry_t *e = &conf->entries[i];
        int r;
        if (strncmp(e->key, prefix, plen))
            continue;
        if ((r = fn(opaque, e->key + plen, e->value, e->origin)))
            return r;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Public: secrets and printing                                                               */

int evf_conf_is_secret(const char *key) {
    /* Generous on purpose: printing a harmless value as [redacted] costs little. The stems
     * ("pass", "pasw", "pwd", "secr") also catch misspelt keys (kafka.sasl.pasword): their
     * value is most likely the secret the right key was meant to hold. */
    static const char *words[] = {
        "pass", "pasw", "pwd", "secr", "token", "credential", "apikey",
        "api_key", "api.key", "private", "jaas", "sasl.oauthbearer.config",
        "oauthbearer.extensions", "key.pem", "ssl_key", "keystore.key", "client.key",
    };
    /* librdkafka's sasl.* properties that hold no secret; any other kafka.sasl.* key (a
     * misspelt sasl.password included) is treated as one. */
    static const char *sasl_plain[] = {
        "sasl.mechanisms", "sasl.mechanism", "sasl.username", "sasl.kerberos.service.name",
        "sasl.kerberos.principal", "sasl.kerberos.kinit.cmd", "sasl.kerberos.keytab",
        "sasl.kerberos.min.time.before.relogin", "sasl.oauthbearer.method",
        "sasl.oauthbearer.client.id", "sasl.oauthbearer.scope",
    };
    const conf_prop_t *prop = prop_find(key);
    const char *sub;
    size_t i;

    if (prop)
        return (prop->flags & CF_SECRET) != 0;
    if (!strncmp(key, "kafka.", 6)) {
        sub = key + 6;
        if (!strncasecmp(sub, "sasl.", 5)) {
            for (i = 0; i < sizeof(sasl_plain) / sizeof(sasl_plain[0]); i++)
                if (!strcasecmp(sub, sasl_plain[i]))
                    return 0;
            return 1;
        }
    } else if (!strncmp(key, "processor.", 10)) {
        /* Only the setting counts: a processor named "token_counter" has ordinary settings. */
        sub = strchr(key + 10, '.');
        if (!sub)
            return 0;
        sub++;
    } else {
        return 0;
    }
    /* The whole key, however long: a copy into a fixed buffer could cut a secret word off. */
    for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strcasestr(sub, words[i]))
            return 1;
    return 0;
}

static void dump_line(FILE *out, const char *key, const char *value, const char *origin) {
    char redacted[1024];
    const char *shown = value;
    int n;
    if (*value && evf_conf_is_secret(key)) {
        shown = "[redacted]";
    } else if (!strcmp(key, "redis.url")) {
        evf_redis_url_redact(value, redacted, sizeof(redacted));
        shown = redacted;
    }
    n = fprintf(out, "%s = %s", key, shown);
    fprintf(out, "%*s# %s\n", n < 46 ? 48 - n : 2, "", origin);
}

void evf_conf_dump(const evf_conf_t *conf, FILE *out, int prog_mask) {
    static const char *prefixes[] = {"kafka.", "processor.", "route."};
    for (size_t i = 0; i < NPROPS; i++) {
        const conf_prop_t *prop = &props[i];
        if (!(prop->progs & prog_mask))
            continue;
        if (strchr(prop->name, '*')) {
            for (size_t j = 0; j < conf->count; j++) {
                const conf_entry_t *e = &conf->entries[j];
                if (pattern_match(prop->name, e->key))
                    dump_line(out, e->key, e->value, e->origin);
            }
        } else {
            const conf_entry_t *e = entry_find(conf, prop->name);
            dump_line(out, prop->name, e ? e->value : prop->dflt, e ? e->origin : "default");
        }
    }
    for (size_t p = 0; p < sizeof(prefixes) / sizeof(prefixes[0]); p++) {
        size_t plen = strlen(prefixes[p]);
        for (size_t j = 0; j < conf->count; j++) {
            const conf_entry_t *e = &conf->entries[j];
            if (!strncmp(e->key, prefixes[p], plen))
                dump_line(out, e->key, e->value, e->origin);
        }
    }
}

/* "int 1..256", "enum partition|key", "list", … */
static void type_desc(const conf_prop_t *prop, char *out, size_t size) {
    switch (prop->type) {
    case CT_INT:
    case CT_INTLIST:
        if (prop->imin != NO_MIN && prop->imax != NO_MAX)
            snprintf(out, size, "%s %lld..%lld", type_name(prop->type), (long long)prop->imin,
                     (long long)prop->imax);
        else if (prop->imin != NO_MIN)
            snprintf(out, size, "%s >= %lld", type_name(prop->type), (long long)prop->imin);
        else
            snprintf(out, size, "%s", type_name(prop->type));
        break;
    case CT_DOUBLE:
        snprintf(out, size, "double %g..%g", prop->dmin, prop->dmax);
        break;
    case CT_ENUM:
        snprintf(out, size, "enum %s", prop->choices);
        break;
    default:
        snprintf(out, size, "%s", type_name(prop->type));
        break;
    }
}

/* The key as documented: the pattern segment shown as <processor>. */
static void doc_name(const char *name, char *out, size_t size) {
    const char *star = strchr(name, '*');
    if (star)
        snprintf(out, size, "%.*s<processor>%s", (int)(star - name), name, star + 1);
    else
        snprintf(out, size, "%s", name);
}

void evf_conf_print_help(FILE *out, int prog_mask) {
    const char *section = NULL;
    char name[128], type[64];
    fprintf(out, "Configuration keys (a file's `key = value` lines, then EVFLEET_<KEY> variables, "
                 "then -X key=value; later wins):\n");
    for (size_t i = 0; i < NPROPS; i++) {
        const conf_prop_t *prop = &props[i];
        if (!(prop->progs & prog_mask))
            continue;
        if (!section || strcmp(section, prop->section)) {
            section = prop->section;
            fprintf(out, "\n%s:\n", section);
        }
        doc_name(prop->name, name, sizeof(name));
        type_desc(prop, type, sizeof(type));
        fprintf(out, "  %-34s %-27s %s (default: %s)\n", name, type, prop->help,
                *prop->dflt ? prop->dflt : "empty");
    }
    fprintf(out, "\nOpen prefixes:\n");
    for (size_t i = 0; i < sizeof(open_prefixes) / sizeof(open_prefixes[0]); i++) {
        if (open_prefixes[i].progs & prog_mask)
            fprintf(out, "  %-34s %-27s %s\n", open_prefixes[i].key, "string",
                    open_prefixes[i].help);
    }
}

/* Writes s as a Markdown table cell: '|' escaped. */
static void md_cell(FILE *out, const char *s) {
    for (; *s; s++) {
        if (*s == '|')
            fputc('\\', out);
        fputc(*s, out);
    }
}

static void md_programs(FILE *out, int progs) {
    static const struct {
        int bit;
        const char *name;
    } names[] = {{EVF_CONF_PROG_WORKER, "worker"},
                 {EVF_CONF_PROG_PRODUCE, "produce"},
                 {EVF_CONF_PROG_DLQ, "dlq"}};
    const char *sep = "";
    if ((progs & EVF_CONF_PROG_ALL) == EVF_CONF_PROG_ALL) {
        fputs("all", out);
        return;
    }
    for (size_t i = 0; i < 3; i++) {
        if (progs & names[i].bit) {
            fprintf(out, "%s%s", sep, names[i].name);
            sep = ", ";
        }
    }
}

void evf_conf_print_markdown(FILE *out) {
    char name[128], type[64];
    fputs("| key | type | default | programs | description |\n", out);
    fputs("| --- | --- | --- | --- | --- |\n", out);
    for (size_t i = 0; i < NPROPS; i++) {
        const conf_prop_t *prop = &props[i];
        doc_name(prop->name, name, sizeof(name));
        type_desc(prop, type, sizeof(type));
        fprintf(out, "| `%s` | ", name);
        md_cell(out, type);
        fputs(" | ", out);
        if (*prop->dflt) {
            fputc('`', out);
            md_cell(out, prop->dflt);
            fputc('`', out);
        } else {
            fputs("(empty)", out);
        }
        fputs(" | ", out);
        md_programs(out, prop->progs);
        fputs(" | ", out);
        md_cell(out, prop->help);
        fputs(" |\n", out);
    }
    fputs("\n"
          "`kafka.<property>` — any librdkafka property, passed verbatim without the `kafka.` "
          "prefix (`kafka.bootstrap.servers`, `kafka.group.id`, `kafka.security.protocol`, "
          "`kafka.sasl.*`, …); librdkafka validates them when a client is created. Keys naming a "
          "password, secret, token, credential or private key are shown as `[redacted]` by "
          "`--check-config`.\n"
          "\n"
          "`processor.<name>.<setting>` — settings handed to processor `<name>`'s `init`, which "
          "validates them; `processor.<name>.library` loads the processor from a shared object. "
          "Both a name and a setting are required.\n"
          "\n"
          "`route.<type-glob> = <processor>` — runs the processor on events whose type matches "
          "the glob (`*` matches any run of characters). Routes come only from the file or `-X` "
          "(never the environment) and are kept in that order; setting a glob again replaces its "
          "processor in place.\n"
          "\n"
          "Every key can also be set through the environment as `EVFLEET_` + the key upper-cased, "
          "`.` written `_` and `_` written `__` (`processor.iot_rollup.window.ms` is "
          "`EVFLEET_PROCESSOR_IOT__ROLLUP_WINDOW_MS`).\n",
          out);
}
