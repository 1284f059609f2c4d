/* dlq/dlq_main.c — `evfleet-dlq`: inspect, replay and purge the dead letters of a dead-letter
 * topic `<topic>.<group>.dlq` (DESIGN.md "The replay ledger (evfleet-dlq)", "Programs").
 *
 *   list   <dlq-topic> [filters] [--limit N] [--format table|json]
 *   show   <dlq-topic> <partition>:<offset> [--format text|json]
 *   stats  <dlq-topic> [filters] [--format text|json]
 *   replay <dlq-topic> [filters] [--to inbox|source|TOPIC] [--rate N/s] [--limit N] [--dry-run]
 *   purge  <dlq-topic> [filters] [--limit N] --yes
 *
 * Everything runs on the main thread (delivery reports are served by the replay's poll calls).
 * Exit codes: 0 success, 1 runtime failure (Kafka or Redis failed, no such topic or letter, an
 * interrupted replay), 2 usage or configuration error, 3 some replayed copies not delivered. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "deadletter.h"
#include "event.h"
#include "kafka.h"
#include "log.h"
#include "reader.h"
#include "redis.h"
#include "replay.h"
#include "topics.h"

#ifndef EVF_VERSION
#define EVF_VERSION "0.1.0"
#endif

#define PROG "evfleet-dlq"
#define EXIT_RUNTIME 1
#define EXIT_USAGE 2
#define EXIT_UNDELIVERED 3

#define PROGRESS_INTERVAL_MS 500
#define READ_WAIT_MS 500
#define ERROR_WIDTH_MIN 24   /* the error column on a narrow terminal */
#define ERROR_WIDTH_PLAIN 100 /* the error column when stdout is not a terminal */
#define STATS_TOP 25 /* rows per "by …" section of the text stats */

static volatile sig_atomic_t stop_signals;

static void on_signal(int sig) {
    (void)sig;
    stop_signals++;
}

typedef enum { CMD_NONE = -1, CMD_LIST = 0, CMD_SHOW, CMD_STATS, CMD_REPLAY, CMD_PURGE } cmd_t;
static const char *const cmd_names[] = {"list", "show", "stats", "replay", "purge"};

#define ON_LIST (1u << CMD_LIST)
#define ON_SHOW (1u << CMD_SHOW)
#define ON_STATS (1u << CMD_STATS)
#define ON_REPLAY (1u << CMD_REPLAY)
#define ON_PURGE (1u << CMD_PURGE)
#define ON_FILTERED (ON_LIST | ON_STATS | ON_REPLAY | ON_PURGE)

typedef struct {
    const char *conf_file;
    const char *group; /* -g */
    int quiet;
    int check_config;
    struct {
        char opt; /* 'X': KEY=VALUE; 'b': kafka.bootstrap.servers */
        const char *arg;
    } settings[256];
    size_t n_settings;

    cmd_t cmd;
    const char *topic;
    const char *position; /* show: P:O */
    int json;
    uint64_t limit;
    evf_dlq_filter_t filter;
    evf_dlq_to_t to;
    char to_topic[EVF_TOPIC_NAME_MAX + 1];
    double rate;
    int dry_run;
    int yes;
} opts_t;

static void usage_brief(FILE *out) {
    fprintf(out, "usage: " PROG " [-c FILE] [-b BROKERS] [-g GROUP] [-X key=value]… [-q]\n"
                 "                   list|show|stats|replay|purge DLQ-TOPIC [options]\n"
                 "try '" PROG " --help' for more.\n");
}

static void usage_full(FILE *out) {
    fprintf(
        out,
        "usage: " PROG " [global options] COMMAND DLQ-TOPIC [options]\n"
        "\n"
        "Inspect, replay and purge the dead letters of a dead-letter topic <topic>.<group>.dlq.\n"
        "\n"
        "Global options (anywhere on the line):\n"
        "  -c FILE              configuration file (key = value)\n"
        "  -b BROKERS           Kafka bootstrap servers (= -X kafka.bootstrap.servers=…)\n"
        "  -g GROUP             the consumer group that failed the events (default:\n"
        "                       kafka.group.id, else read from the topic name)\n"
        "  -X KEY=VALUE         set a configuration key (repeatable; after file and environment)\n"
        "  -q, --quiet          no progress, no summary unless something failed\n"
        "  --check-config       print the effective configuration (secrets redacted), exit\n"
        "  -h, --help           this help;  --version  the version\n"
        "\n"
        "Commands:\n"
        "  list   DLQ [filters] [--limit N] [--format table|json]\n"
        "         a row per dead letter (json: one object a line)\n"
        "  show   DLQ PARTITION:OFFSET [--format text|json]\n"
        "         every header and the event in its proto3 JSON form (base64 if it does not\n"
        "         decode), with its replay state and idempotency record\n"
        "  stats  DLQ [filters] [--format text|json]\n"
        "         counts by class, processor, original topic and event type; oldest and newest;\n"
        "         how many replayed, purged, parked, pending\n"
        "  replay DLQ [filters] [--to inbox|source|TOPIC] [--rate N/s] [--limit N] [--dry-run]\n"
        "         send each selected dead letter back (key, value, headers unchanged, plus\n"
        "         evfleet.replay.count and evfleet.replayed.at). inbox (default): the failing\n"
        "         group's <topic>.<group>.replay, seen only by that group; source: the original\n"
        "         topic, seen by every group; or a topic by name (not a dead-letter or retry\n"
        "         topic). Resumable: a second run continues where the last stopped. Letters\n"
        "         replayed dlq.replay.max times are parked; fingerprint-mismatch letters go only\n"
        "         to a named topic. --dry-run prints what would be sent and changes nothing.\n"
        "  purge  DLQ [filters] [--limit N] --yes\n"
        "         mark dead letters handled without replaying them (without --yes: only say)\n"
        "\n"
        "Filters (combinable; a filter given twice or with commas matches any of its values):\n"
        "  --class CLASS        transient, permanent, timeout, decode, unroutable, max-age,\n"
        "                       too-large, crash-loop, fingerprint-mismatch\n"
        "  --processor NAME     --original-topic TOPIC     --type GLOB (s3:*)     --id EVENT-ID\n"
        "  --since T --until T  failed at or after / before T: RFC 3339 (2026-05-01T10:00:00Z)\n"
        "                       or a time ago (30m, 2h, 1d)\n"
        "  --partition P        --offset-range FIRST-LAST (or FIRST-, or OFFSET)\n"
        "\n"
        "Exit: 0 success, 1 runtime failure (or an interrupted replay: run it again to go on),\n"
        "      2 usage or configuration error, 3 some replayed copies were not delivered.\n\n");
    evf_conf_print_help(out, EVF_CONF_PROG_DLQ);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, PROG ": ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    usage_brief(stderr);
    return -1;
}

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------------------------------ */
/* Command line                                                                                 */

enum {
    OPT_VERSION = 256,
    OPT_CHECK_CONFIG,
    OPT_FORMAT,
    OPT_LIMIT,
    OPT_TO,
    OPT_RATE,
    OPT_DRY_RUN,
    OPT_YES,
    OPT_CLASS,
    OPT_PROCESSOR,
    OPT_ORIGINAL_TOPIC,
    OPT_TYPE,
    OPT_SINCE,
    OPT_UNTIL,
    OPT_PARTITION,
    OPT_OFFSET_RANGE,
    OPT_ID,
    OPT__END
};

static const struct option long_options[] = {
    {"help", no_argument, NULL, 'h'},
    {"quiet", no_argument, NULL, 'q'},
    {"version", no_argument, NULL, OPT_VERSION},
    {"check-config", no_argument, NULL, OPT_CHECK_CONFIG},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"to", required_argument, NULL, OPT_TO},
    {"rate", required_argument, NULL, OPT_RATE},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"yes", no_argument, NULL, OPT_YES},
    {"class", required_argument, NULL, OPT_CLASS},
    {"processor", required_argument, NULL, OPT_PROCESSOR},
    {"original-topic", required_argument, NULL, OPT_ORIGINAL_TOPIC},
    {"type", required_argument, NULL, OPT_TYPE},
    {"since", required_argument, NULL, OPT_SINCE},
    {"until", required_argument, NULL, OPT_UNTIL},
    {"partition", required_argument, NULL, OPT_PARTITION},
    {"offset-range", required_argument, NULL, OPT_OFFSET_RANGE},
    {"id", required_argument, NULL, OPT_ID},
    {NULL, 0, NULL, 0},
};

static unsigned option_commands(int opt) {
    switch (opt) {
    case OPT_FORMAT:
        return ON_LIST | ON_SHOW | ON_STATS;
    case OPT_LIMIT:
        return ON_LIST | ON_REPLAY | ON_PURGE;
    case OPT_TO:
    case OPT_RATE:
    case OPT_DRY_RUN:
        return ON_REPLAY;
    case OPT_YES:
        return ON_PURGE;
    default:
        return ON_FILTERED;
    }
}

static const char *option_name(int opt) {
    for (const struct option *o = long_options; o->name; o++)
        if (o->val == opt)
            return o->name;
    return "?";
}

static int parse_rate(const char *text, double *out) {
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || !isfinite(v) || v <= 0)
        return -1;
    if (!*end || !strcmp(end, "/s"))
        *out = v;
    else if (!strcmp(end, "/m"))
        *out = v / 60.0;
    else if (!strcmp(end, "/h"))
        *out = v / 3600.0;
    else
        return -1;
    return 0;
}

/* Which --format values the command takes. */
static int set_format(opts_t *o, const char *arg) {
    if (!strcmp(arg, "json")) {
        o->json = 1;
        return 0;
    }
    if (!strcmp(arg, "table") || !strcmp(arg, "text")) {
        o->json = 0;
        return 0;
    }
    return usage_error("--format: '%s' is not table, text or json", arg);
}

/* @returns 0, 1 when --help/--version was handled (exit 0), or -1 on a usage error. */
static int parse_args(int argc, char **argv, opts_t *o) {
    int seen[OPT__END] = {0};
    const char *format = NULL;
    char err[512];
    int opt;
    int64_t now = wall_ms();

    o->cmd = CMD_NONE;
    o->to = EVF_DLQ_TO_INBOX;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":c:b:g:X:qh", long_options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            o->conf_file = optarg;
            break;
        case 'b':
        case 'X':
            if (o->n_settings >= sizeof(o->settings) / sizeof(o->settings[0]))
                return usage_error("too many -X/-b options");
            o->settings[o->n_settings].opt = (char)opt;
            o->settings[o->n_settings++].arg = optarg;
            break;
        case 'g':
            if (!*optarg)
                return usage_error("-g: empty group");
            o->group = optarg;
            break;
        case 'q':
            o->quiet = 1;
            break;
        case 'h':
            usage_full(stdout);
            return 1;
        case OPT_VERSION:
            printf(PROG " %s (librdkafka %s)\n", EVF_VERSION, rd_kafka_version_str());
            return 1;
        case OPT_CHECK_CONFIG:
            o->check_config = 1;
            break;
        case ':':
            return usage_error("option '%s' needs a value", argv[optind - 1]);
        case '?':
            return usage_error("unknown option '%s'", argv[optind - 1]);
        case OPT_FORMAT:
            seen[opt] = 1;
            format = optarg;
            break;
        case OPT_LIMIT: {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end || v == 0 || strchr(optarg, '-'))
                return usage_error("--limit: '%s' is not a positive integer", optarg);
            seen[opt] = 1;
            o->limit = v;
            break;
        }
        case OPT_TO:
            seen[opt] = 1;
            if (evf_dlq_to_parse(optarg, &o->to, o->to_topic, sizeof(o->to_topic), err,
                                 sizeof(err)))
                return usage_error("%s", err);
            break;
        case OPT_RATE:
            seen[opt] = 1;
            if (parse_rate(optarg, &o->rate))
                return usage_error("--rate: '%s' is not a positive rate (N, N/s, N/m or N/h)",
                                   optarg);
            break;
        case OPT_DRY_RUN:
            seen[opt] = 1;
            o->dry_run = 1;
            break;
        case OPT_YES:
            seen[opt] = 1;
            o->yes = 1;
            break;
        default:
            seen[opt] = 1;
            if (evf_dlq_filter_add(&o->filter, option_name(opt), optarg, now, err, sizeof(err)))
                return usage_error("%s", err);
            break;
        }
    }
    if (o->check_config)
        return 0;
    if (optind >= argc)
        return usage_error("no command (list, show, stats, replay or purge)");
    for (int i = 0; i <= CMD_PURGE; i++)
        if (!strcmp(argv[optind], cmd_names[i]))
            o->cmd = (cmd_t)i;
    if (o->cmd == CMD_NONE)
        return usage_error("unknown command '%s' (list, show, stats, replay or purge)",
                           argv[optind]);
    optind++;
    if (optind >= argc)
        return usage_error("%s: no dead-letter topic", cmd_names[o->cmd]);
    o->topic = argv[optind++];
    if (o->cmd == CMD_SHOW) {
        if (optind >= argc)
            return usage_error("show: no PARTITION:OFFSET");
        o->position = argv[optind++];
        int32_t p;
        int64_t off;
        if (evf_dlq_parse_position(o->position, &p, &off))
            return usage_error("show: '%s' is not PARTITION:OFFSET", o->position);
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    for (int i = OPT_FORMAT; i < OPT__END; i++)
        if (seen[i] && !(option_commands(i) & (1u << o->cmd)))
            return usage_error("option --%s does not apply to '%s'", option_name(i),
                               cmd_names[o->cmd]);
    if (format && set_format(o, format))
        return -1;
    if (evf_topic_kind_any(o->topic) != EVF_TOPIC_DLQ)
        return usage_error("'%s' is not a dead-letter topic (<topic>.<group>.dlq)", o->topic);
    return 0;
}

extern char **environ;

static evf_conf_t *load_conf(const opts_t *o) {
    evf_conf_t *conf = evf_conf_new();
    char err[1024];
    if (o->conf_file && evf_conf_load_file(conf, o->conf_file, err, sizeof(err)))
        goto fail;
    if (evf_conf_apply_env(conf, environ, err, sizeof(err)))
        goto fail;
    for (size_t i = 0; i < o->n_settings; i++) {
        int bad = o->settings[i].opt == 'b'
                      ? evf_conf_set(conf, "kafka.bootstrap.servers", o->settings[i].arg, "-b",
                                     err, sizeof(err))
                      : evf_conf_set_arg(conf, o->settings[i].arg, err, sizeof(err));
        if (bad)
            goto fail;
    }
    /* librdkafka judges the kafka.* values: a bad one is a configuration error too (exit 2). */
    rd_kafka_conf_t *kconf = evf_kafka_conf_new(conf, EVF_KAFKA_READER, err, sizeof(err));
    if (!kconf)
        goto fail;
    rd_kafka_conf_destroy(kconf);
    return conf;
fail:
    fprintf(stderr, PROG ": %s\n", err);
    evf_conf_destroy(conf);
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Output helpers                                                                               */

static void base64(const void *data, size_t len, char *out) {
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = data;
    size_t o = 0, i;
    for (i = 0; i + 2 < len; i += 3) {
        out[o++] = tbl[p[i] >> 2];
        out[o++] = tbl[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
        out[o++] = tbl[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
        out[o++] = tbl[p[i + 2] & 63];
    }
    if (i < len) {
        out[o++] = tbl[p[i] >> 2];
        if (i + 1 < len) {
            out[o++] = tbl[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
            out[o++] = tbl[(p[i + 1] & 15) << 2];
        } else {
            out[o++] = tbl[(p[i] & 3) << 4];
            out[o++] = '=';
        }
        out[o++] = '=';
    }
    out[o] = '\0';
}

/* @returns a malloc'd base64 text of data. */
static char *base64_dup(const void *data, size_t len) {
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    if (!out)
        abort();
    base64(data, len, out);
    return out;
}

/* 1 when data is valid UTF-8 without control characters other than tab. */
static int printable(const void *data, size_t len) {
    const unsigned char *p = data;
    if (!evf_utf8_valid(data, len))
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f)
            return 0;
    return 1;
}

/* A JSON value for bytes: the string when it is valid UTF-8 without NUL, else null (the caller
 * adds a base64 field). */
static json_t *json_bytes(const void *data, size_t len) {
    if (!data || !evf_utf8_valid(data, len) || memchr(data, '\0', len))
        return NULL;
    return json_stringn(data, len);
}

/* Display columns of a UTF-8 string (code points; close enough for a table). */
static size_t display_width(const char *s) {
    size_t w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xC0) != 0x80)
            w++;
    return w;
}

/* Copy s into out with control characters as spaces, cut to at most width columns (an ellipsis
 * marks a cut; width 0: no limit). */
static void cell(char *out, size_t out_size, const char *s, size_t width) {
    size_t o = 0, cols = 0, total = display_width(s);
    const unsigned char *p = (const unsigned char *)s;
    int cut = width && total > width;
    size_t keep = cut ? (width > 1 ? width - 1 : 0) : total;
    while (*p && o + 5 < out_size) {
        if ((*p & 0xC0) != 0x80) {
            if (cols == keep)
                break;
            cols++;
        }
        out[o++] = *p < 0x20 || *p == 0x7f ? ' ' : (char)*p;
        p++;
    }
    /* finish a started sequence */
    while (*p && (*p & 0xC0) == 0x80 && o + 4 < out_size)
        out[o++] = (char)*p++;
    if (cut && o + 4 < out_size) {
        memcpy(out + o, "\xe2\x80\xa6", 3);
        o += 3;
    }
    out[o] = '\0';
}

/* The terminal's width, else $COLUMNS, else 0 (not a terminal: no width to fit). */
static int terminal_width(void) {
    struct winsize ws;
    if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    const char *c = getenv("COLUMNS");
    if (c && atoi(c) > 20)
        return atoi(c);
    return 0;
}

static evf_redis_t *redis_open(const evf_conf_t *conf, int required) {
    char err[512];
    evf_redis_t *r = evf_redis_new(conf, "dlq", err, sizeof(err));
    if (!r) {
        fprintf(stderr, PROG ": %s\n", err);
        return NULL;
    }
    if (evf_redis_connect(r, err, sizeof(err)) != EVF_OK) {
        if (required)
            fprintf(stderr, PROG ": %s\n", err);
        else
            fprintf(stderr, PROG ": warning: %s: replay state unknown\n", err);
        evf_redis_destroy(r);
        return NULL;
    }
    return r;
}

/* ------------------------------------------------------------------------------------------ */
/* list                                                                                         */

enum {
    COL_PART,
    COL_OFFSET,
    COL_FAILED,
    COL_CLASS,
    COL_PROC,
    COL_ATT,
    COL_ORIG,
    COL_ID,
    COL_TYPE,
    COL_STATUS,
    COL_ERROR,
    NCOLS
};
static const char *const col_names[NCOLS] = {"PART", "OFFSET", "FAILED-AT", "CLASS",
                                              "PROCESSOR", "ATT", "ORIGINAL", "EVENT-ID",
                                              "TYPE", "REPLAYED", "ERROR"};
/* Widest a column gets (0: as wide as its content). */
static const size_t col_max[NCOLS] = {0, 0, 0, 0, 16, 0, 48, 36, 28, 32, 0};

typedef struct {
    char *c[NCOLS];
} row_t;

typedef struct {
    const opts_t *o;
    int64_t replay_max;
    uint64_t shown, matched;
    row_t *rows;
    size_t n_rows, cap_rows;
} list_t;

static const char *status_text(const evf_dlq_letter_t *l, const evf_ledger_entry_t *e,
                               int64_t replay_max, char *buf, size_t size) {
    char t[40];
    evf_dlq_status_t s = evf_dlq_status(l, e, replay_max);
    switch (s) {
    case EVF_DLQ_REPLAYED:
        snprintf(buf, size, "replayed %s", evf_dlq_format_time(e->at, 0, t, sizeof(t)));
        break;
    case EVF_DLQ_PURGED:
        snprintf(buf, size, "purged %s", evf_dlq_format_time(e->at, 0, t, sizeof(t)));
        break;
    case EVF_DLQ_SENDING:
        snprintf(buf, size, "unconfirmed %s", evf_dlq_format_time(e->at, 0, t, sizeof(t)));
        break;
    case EVF_DLQ_PARKED:
        snprintf(buf, size, "parked");
        break;
    case EVF_DLQ_UNKNOWN:
        snprintf(buf, size, "?");
        break;
    default:
        snprintf(buf, size, "-");
        break;
    }
    return buf;
}

/* The JSON object of one letter (list's line, show's summary fields). */
static json_t *letter_json(const char *topic, const evf_dlq_letter_t *l,
                           const evf_ledger_entry_t *e, int64_t replay_max) {
    char t[40];
    json_t *o = json_object();
    json_object_set_new(o, "topic", json_string(topic));
    json_object_set_new(o, "partition", json_integer(l->partition));
    json_object_set_new(o, "offset", json_integer(l->offset));
    json_object_set_new(o, "timestamp_ms", json_integer(l->timestamp));
    json_object_set_new(o, "failed_at",
                        l->failed_at >= 0
                            ? json_string(evf_dlq_format_time(l->failed_at, 1, t, sizeof(t)))
                            : json_null());
    json_object_set_new(o, "failed_at_ms", json_integer(l->failed_at));
    json_object_set_new(o, "first_failed_at_ms", json_integer(l->first_failed_at));
    json_object_set_new(o, "class", json_string(l->cls));
    json_object_set_new(o, "processor", json_string(l->processor));
    json_object_set_new(o, "attempts", json_integer(l->attempts));
    json_object_set_new(o, "original_topic", json_string(l->original_topic));
    json_object_set_new(o, "original_partition", json_integer(l->original_partition));
    json_object_set_new(o, "original_offset", json_integer(l->original_offset));
    json_object_set_new(o, "original_timestamp_ms", json_integer(l->original_timestamp));
    json_t *id = json_bytes(l->id, strlen(l->id));
    json_object_set_new(o, "id", id ? id : json_string(""));
    json_t *type = json_bytes(l->type, strlen(l->type));
    json_object_set_new(o, "type", type ? type : json_string(""));
    json_object_set_new(o, "decoded", json_boolean(l->event != NULL));
    if (!l->event)
        json_object_set_new(o, "decode_error", json_string(l->decode_error));
    json_t *msg = json_bytes(l->message, strlen(l->message));
    json_object_set_new(o, "error", msg ? msg : json_string(""));
    json_object_set_new(o, "group", json_string(l->group));
    json_object_set_new(o, "worker", json_string(l->worker));
    json_t *ik = json_bytes(l->idempotency_key, strlen(l->idempotency_key));
    json_object_set_new(o, "idempotency_key", ik ? ik : json_string(""));
    json_object_set_new(o, "replay_count", json_integer(l->replay_count));
    evf_dlq_status_t s = evf_dlq_status(l, e, replay_max);
    json_object_set_new(o, "status", json_string(evf_dlq_status_name(s)));
    int in_ledger = e && e->state != EVF_LEDGER_NONE && e->state != EVF_LEDGER_UNKNOWN;
    json_object_set_new(o, "replayed",
                        json_boolean(e && e->state == EVF_LEDGER_SENT));
    json_object_set_new(o, "ledger_at",
                        in_ledger && e->at >= 0
                            ? json_string(evf_dlq_format_time(e->at, 1, t, sizeof(t)))
                            : json_null());
    json_object_set_new(o, "ledger_to", in_ledger ? json_string(e->to) : json_null());
    return o;
}

static int list_cb(void *opaque, const evf_dlq_letter_t *l, const evf_ledger_entry_t *e) {
    list_t *ls = opaque;
    char buf[1200], t[40];
    ls->matched++;
    if (ls->o->limit && ls->shown >= ls->o->limit)
        return 1;
    ls->shown++;
    if (ls->o->json) {
        json_t *o = letter_json(ls->o->topic, l, e, ls->replay_max);
        char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        puts(text);
        free(text);
        json_decref(o);
        return 0;
    }
    if (ls->n_rows == ls->cap_rows) {
        ls->cap_rows = ls->cap_rows ? ls->cap_rows * 2 : 256;
        ls->rows = realloc(ls->rows, ls->cap_rows * sizeof(*ls->rows));
        if (!ls->rows)
            abort();
    }
    row_t *r = &ls->rows[ls->n_rows++];
    const char *vals[NCOLS];
    char part[16], off[24], att[16], orig[EVF_TOPIC_NAME_MAX + 48], status[64];
    snprintf(part, sizeof(part), "%d", l->partition);
    snprintf(off, sizeof(off), "%" PRId64, l->offset);
    if (l->attempts >= 0)
        snprintf(att, sizeof(att), "%" PRId64, l->attempts);
    else
        snprintf(att, sizeof(att), "-");
    if (l->original_topic[0])
        snprintf(orig, sizeof(orig), "%s[%" PRId64 "]@%" PRId64, l->original_topic,
                 l->original_partition, l->original_offset);
    else
        snprintf(orig, sizeof(orig), "-");
    vals[COL_PART] = part;
    vals[COL_OFFSET] = off;
    vals[COL_FAILED] = evf_dlq_format_time(l->failed_at, 0, t, sizeof(t));
    vals[COL_CLASS] = l->cls[0] ? l->cls : "-";
    vals[COL_PROC] = l->processor[0] ? l->processor : "-";
    vals[COL_ATT] = att;
    vals[COL_ORIG] = orig;
    vals[COL_ID] = l->id[0] ? l->id : "-";
    vals[COL_TYPE] = l->type[0] ? l->type : "-";
    vals[COL_STATUS] = status_text(l, e, ls->replay_max, status, sizeof(status));
    if (l->event)
        vals[COL_ERROR] = l->message;
    else {
        snprintf(buf, sizeof(buf), "%s%s(undecodable: %s)", l->message,
                 l->message[0] ? " " : "", l->decode_error);
        vals[COL_ERROR] = buf;
    }
    for (int c = 0; c < NCOLS; c++) {
        char tmp[1200];
        cell(tmp, sizeof(tmp), vals[c], col_max[c]);
        r->c[c] = strdup(tmp);
        if (!r->c[c])
            abort();
    }
    return 0;
}

static void list_print_table(list_t *ls) {
    size_t w[NCOLS];
    for (int c = 0; c < NCOLS; c++)
        w[c] = display_width(col_names[c]);
    for (size_t i = 0; i < ls->n_rows; i++)
        for (int c = 0; c < NCOLS - 1; c++)
            if (display_width(ls->rows[i].c[c]) > w[c])
                w[c] = display_width(ls->rows[i].c[c]);
    size_t used = 0;
    for (int c = 0; c < NCOLS - 1; c++)
        used += w[c] + 2;
    /* The error takes what the terminal has left (at least ERROR_WIDTH_MIN); written to a file
     * or pipe, ERROR_WIDTH_PLAIN. */
    size_t total = (size_t)terminal_width();
    size_t err_w = !total                           ? ERROR_WIDTH_PLAIN
                   : total > used + ERROR_WIDTH_MIN ? total - used
                                                    : ERROR_WIDTH_MIN;
    for (int c = 0; c < NCOLS; c++) {
        if (c == NCOLS - 1)
            printf("%s\n", col_names[c]);
        else
            printf("%-*s  ", (int)w[c], col_names[c]);
    }
    for (size_t i = 0; i < ls->n_rows; i++) {
        for (int c = 0; c < NCOLS; c++) {
            const char *v = ls->rows[i].c[c];
            if (c == NCOLS - 1) {
                char tmp[1200];
                cell(tmp, sizeof(tmp), v, err_w);
                printf("%s\n", tmp);
            } else {
                /* pad by display width: printf counts bytes */
                size_t dw = display_width(v);
                printf("%s%*s  ", v, (int)(w[c] - dw), "");
            }
        }
    }
}

static int cmd_list(const opts_t *o, const evf_conf_t *conf) {
    char err[1024];
    list_t ls = {.o = o, .replay_max = evf_conf_int(conf, "dlq.replay.max")};
    evf_dlq_reader_t *rd = evf_dlq_reader_new(conf, o->topic, &o->filter, err, sizeof(err));
    if (!rd) {
        fprintf(stderr, PROG ": %s\n", err);
        return EXIT_RUNTIME;
    }
    evf_redis_t *redis = redis_open(conf, 0);
    int ledger_failed = 0;
    evf_err_t rc = evf_dlq_scan(rd, redis, evf_conf_str(conf, "idempotency.key.prefix"),
                                o->topic, list_cb, &ls, &stop_signals, &ledger_failed, err,
                                sizeof(err));
    if (!o->json && rc == EVF_OK)
        list_print_table(&ls);
    for (size_t i = 0; i < ls.n_rows; i++)
        for (int c = 0; c < NCOLS; c++)
            free(ls.rows[i].c[c]);
    free(ls.rows);
    fflush(stdout);
    uint64_t read, total;
    evf_dlq_reader_progress(rd, &read, &total);
    evf_redis_destroy(redis);
    evf_dlq_reader_destroy(rd);
    if (rc == EVF_ERR_STATE) {
        fprintf(stderr, PROG ": interrupted\n");
        return EXIT_RUNTIME;
    }
    if (rc != EVF_OK) {
        fprintf(stderr, PROG ": %s\n", err);
        return EXIT_RUNTIME;
    }
    if (!o->quiet) {
        if (o->limit && ls.matched > ls.shown)
            fprintf(stderr, PROG ": %" PRIu64 " dead letter(s) shown (--limit %" PRIu64 ")\n",
                    ls.shown, o->limit);
        else
            fprintf(stderr, PROG ": %" PRIu64 " dead letter(s)%s (%" PRIu64 " read)\n",
                    ls.shown, evf_dlq_filter_active(&o->filter) ? " matched" : "", read);
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* show                                                                                         */

static const char *const time_headers[] = {EVF_H_ORIGINAL_TIMESTAMP, EVF_H_FIRST_FAILED_AT,
                                           EVF_H_FAILED_AT, EVF_H_REPLAYED_AT,
                                           EVF_H_RETRY_NOT_BEFORE};

static int is_time_header(const char *name) {
    for (size_t i = 0; i < sizeof(time_headers) / sizeof(time_headers[0]); i++)
        if (!strcmp(name, time_headers[i]))
            return 1;
    return 0;
}

/* HGETALL of the idempotency record as a JSON object; NULL when absent or unreadable
 * (*unreadable set). */
static json_t *record_json(evf_redis_t *redis, const char *key, int *unreadable) {
    *unreadable = 0;
    if (!redis || !key[0]) {
        *unreadable = !redis;
        return NULL;
    }
    redisReply *rep = evf_redis_cmd(redis, "HGETALL %s", key);
    if (!rep || rep->type != REDIS_REPLY_ARRAY) {
        *unreadable = 1;
        if (rep)
            freeReplyObject(rep);
        return NULL;
    }
    json_t *o = NULL;
    if (rep->elements) {
        o = json_object();
        for (size_t i = 0; i + 1 < rep->elements; i += 2) {
            const redisReply *k = rep->element[i], *v = rep->element[i + 1];
            if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
                continue;
            json_t *jv = json_bytes(v->str, v->len);
            json_object_set_new(o, k->str, jv ? jv : json_string("?"));
        }
        redisReply *ttl = evf_redis_cmd(redis, "PTTL %s", key);
        if (ttl && ttl->type == REDIS_REPLY_INTEGER)
            json_object_set_new(o, "ttl_ms", json_integer(ttl->integer));
        if (ttl)
            freeReplyObject(ttl);
    }
    freeReplyObject(rep);
    return o;
}

static int cmd_show(const opts_t *o, const evf_conf_t *conf) {
    char err[1024], t[40];
    int32_t partition;
    int64_t offset;
    evf_dlq_filter_t f;
    evf_dlq_parse_position(o->position, &partition, &offset);
    char pbuf[16];
    evf_dlq_filter_init(&f);
    snprintf(pbuf, sizeof(pbuf), "%d", partition);
    evf_dlq_filter_add(&f, "partition", pbuf, 0, err, sizeof(err));
    f.offset_min = f.offset_max = offset;

    evf_dlq_reader_t *rd = evf_dlq_reader_new(conf, o->topic, &f, err, sizeof(err));
    if (!rd) {
        fprintf(stderr, PROG ": %s\n", err);
        evf_dlq_filter_clear(&f);
        return EXIT_RUNTIME;
    }
    int exit_code = EXIT_RUNTIME;
    evf_redis_t *redis = NULL;
    evf_dlq_letter_t *l = NULL;
    if (partition >= evf_dlq_reader_partition_count(rd)) {
        fprintf(stderr, PROG ": %s has %d partition(s): no partition %d\n", o->topic,
                evf_dlq_reader_partition_count(rd), partition);
        goto out;
    }
    for (;;) {
        evf_err_t e = evf_dlq_reader_next(rd, &l, READ_WAIT_MS, err, sizeof(err));
        if (e == EVF_OK)
            break;
        if (e == EVF_ERR_NOT_FOUND) {
            fprintf(stderr, PROG ": no dead letter at %d:%" PRId64 " in %s\n", partition, offset,
                    o->topic);
            goto out;
        }
        if (e == EVF_ERR_TIMEOUT && !stop_signals)
            continue;
        fprintf(stderr, PROG ": %s\n", e == EVF_ERR_TIMEOUT ? "interrupted" : err);
        goto out;
    }

    int64_t replay_max = evf_conf_int(conf, "dlq.replay.max");
    const char *prefix = evf_conf_str(conf, "idempotency.key.prefix");
    redis = redis_open(conf, 0);
    evf_ledger_entry_t entry;
    if (!redis || evf_dlq_ledger_read(redis, prefix, o->topic, &l, 1, &entry) != EVF_OK)
        memset(&entry, 0, sizeof(entry)), entry.state = EVF_LEDGER_UNKNOWN;
    int rec_unreadable = 0;
    json_t *record = record_json(redis, l->idempotency_key, &rec_unreadable);

    const rd_kafka_headers_t *hdrs = evf_dlq_letter_headers(l);
    rd_kafka_message_t *m = l->msg;
    json_t *event = NULL;
    if (l->event) {
        char *ej = evf_event_to_json(l->event);
        event = json_loads(ej, 0, NULL);
        free(ej);
    }

    if (o->json) {
        json_t *root = letter_json(o->topic, l, &entry, replay_max);
        json_t *key = m->key ? json_bytes(m->key, m->key_len) : NULL;
        json_object_set_new(root, "key", key ? key : json_null());
        if (m->key && !key) {
            char *b = base64_dup(m->key, m->key_len);
            json_object_set_new(root, "key_base64", json_string(b));
            free(b);
        }
        json_t *ha = json_array();
        const char *name;
        const void *val;
        size_t size;
        for (size_t i = 0; hdrs && rd_kafka_header_get_all(hdrs, i, &name, &val, &size) ==
                                       RD_KAFKA_RESP_ERR_NO_ERROR;
             i++) {
            json_t *h = json_object();
            json_object_set_new(h, "name", json_string(name));
            json_t *v = val ? json_bytes(val, size) : json_null();
            if (v) {
                json_object_set_new(h, "value", v);
            } else {
                char *b = base64_dup(val, size);
                json_object_set_new(h, "value_base64", json_string(b));
                free(b);
            }
            json_array_append_new(ha, h);
        }
        json_object_set_new(root, "headers", ha);
        if (entry.state != EVF_LEDGER_UNKNOWN && entry.state != EVF_LEDGER_NONE) {
            json_t *le = json_object();
            json_object_set_new(le, "state", json_string(evf_ledger_state_name(entry.state)));
            json_object_set_new(le, "at", json_integer(entry.at));
            json_object_set_new(le, "to", json_string(entry.to));
            json_object_set_new(le, "count", json_integer(entry.count));
            json_object_set_new(root, "ledger", le);
        } else {
            json_object_set_new(root, "ledger", json_null());
        }
        json_object_set_new(root, "record", record ? json_incref(record) : json_null());
        json_object_set_new(root, "value_bytes", json_integer((json_int_t)m->len));
        if (event) {
            json_object_set_new(root, "event", json_incref(event));
        } else {
            json_object_set_new(root, "event", json_null());
            char *b = base64_dup(m->payload ? m->payload : "", m->len);
            json_object_set_new(root, "value_base64", json_string(b));
            free(b);
        }
        char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        puts(text);
        free(text);
        json_decref(root);
    } else {
        char status[64];
        printf("dead letter     %s  partition %d  offset %" PRId64 "\n", o->topic, l->partition,
               l->offset);
        printf("timestamp       %s\n", evf_dlq_format_time(l->timestamp, 1, t, sizeof(t)));
        if (!m->key)
            printf("key             (none)\n");
        else if (printable(m->key, m->key_len))
            printf("key             %.*s\n", (int)m->key_len, (const char *)m->key);
        else {
            char *b = base64_dup(m->key, m->key_len);
            printf("key             base64:%s\n", b);
            free(b);
        }
        status_text(l, &entry, replay_max, status, sizeof(status));
        printf("status          %s", !strcmp(status, "-") ? "pending (not replayed)" : status);
        if (entry.state == EVF_LEDGER_SENT || entry.state == EVF_LEDGER_SENDING)
            printf(" to %s (replay count %" PRId64 ")", entry.to, entry.count);
        putchar('\n');
        if (l->idempotency_key[0]) {
            printf("record          %s", l->idempotency_key);
            if (record) {
                const char *k;
                json_t *v;
                json_object_foreach(record, k, v) {
                    if (!strcmp(k, "state") || !strcmp(k, "unfinished") || !strcmp(k, "owner"))
                        printf("  %s=%s", k, json_string_value(v));
                }
                printf("\n");
            } else {
                printf("  (%s)\n", rec_unreadable ? "unknown: redis unreachable" : "absent");
            }
        }
        size_t nh = hdrs ? rd_kafka_header_cnt(hdrs) : 0;
        printf("headers (%zu)\n", nh);
        const char *name;
        const void *val;
        size_t size;
        for (size_t i = 0; hdrs && rd_kafka_header_get_all(hdrs, i, &name, &val, &size) ==
                                       RD_KAFKA_RESP_ERR_NO_ERROR;
             i++) {
            if (!val) {
                printf("  %s (null)\n", name);
            } else if (printable(val, size)) {
                printf("  %s = %.*s", name, (int)size, (const char *)val);
                int64_t ms;
                char tmp[32];
                if (is_time_header(name) && size < sizeof(tmp)) {
                    memcpy(tmp, val, size);
                    tmp[size] = '\0';
                    char *end;
                    ms = strtoll(tmp, &end, 10);
                    if (!*end)
                        printf("  (%s)", evf_dlq_format_time(ms, 1, t, sizeof(t)));
                }
                putchar('\n');
            } else {
                char *b = base64_dup(val, size);
                printf("  %s = base64:%s\n", name, b);
                free(b);
            }
        }
        if (event) {
            char *text = json_dumps(event, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            printf("event (proto3 JSON)\n%s\n", text);
            free(text);
        } else {
            char *b = base64_dup(m->payload ? m->payload : "", m->len);
            printf("value (%zu bytes) does not decode: %s\nbase64:%s\n", m->len, l->decode_error,
                   b);
            free(b);
        }
    }
    json_decref(event);
    json_decref(record);
    exit_code = 0;
out:
    evf_dlq_letter_free(l);
    evf_redis_destroy(redis);
    evf_dlq_reader_destroy(rd);
    evf_dlq_filter_clear(&f);
    return exit_code;
}

/* ------------------------------------------------------------------------------------------ */
/* stats                                                                                        */

typedef struct {
    char *name;
    uint64_t count;
} tally_entry_t;

typedef struct {
    tally_entry_t *v;
    size_t n, cap;
} tally_t;

static void tally_add(tally_t *t, const char *name) {
    for (size_t i = 0; i < t->n; i++) {
        if (!strcmp(t->v[i].name, name)) {
            t->v[i].count++;
            return;
        }
    }
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->v = realloc(t->v, t->cap * sizeof(*t->v));
        if (!t->v)
            abort();
    }
    t->v[t->n].name = strdup(name);
    if (!t->v[t->n].name)
        abort();
    t->v[t->n++].count = 1;
}

static int tally_cmp(const void *a, const void *b) {
    const tally_entry_t *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->name, y->name);
}

static void tally_free(tally_t *t) {
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i].name);
    free(t->v);
}

typedef struct {
    const opts_t *o;
    int64_t replay_max;
    uint64_t total, undecodable;
    uint64_t status[EVF_DLQ_UNKNOWN + 1];
    int64_t oldest, newest;
    int32_t oldest_p, newest_p;
    int64_t oldest_o, newest_o;
    tally_t by_class, by_processor, by_topic, by_type, by_group;
    int progress;
    int64_t next_progress_ms;
    evf_dlq_reader_t *rd;
} stats_t;

static int stats_cb(void *opaque, const evf_dlq_letter_t *l, const evf_ledger_entry_t *e) {
    stats_t *s = opaque;
    s->total++;
    if (!l->event)
        s->undecodable++;
    s->status[evf_dlq_status(l, e, s->replay_max)]++;
    int64_t t = l->failed_at >= 0 ? l->failed_at : l->timestamp;
    if (t >= 0 && (s->oldest < 0 || t < s->oldest))
        s->oldest = t, s->oldest_p = l->partition, s->oldest_o = l->offset;
    if (t >= 0 && t > s->newest)
        s->newest = t, s->newest_p = l->partition, s->newest_o = l->offset;
    tally_add(&s->by_class, l->cls[0] ? l->cls : "(none)");
    tally_add(&s->by_processor, l->processor[0] ? l->processor : "(none)");
    tally_add(&s->by_topic, l->original_topic[0] ? l->original_topic : "(none)");
    tally_add(&s->by_type, l->type[0] ? l->type : "(undecodable)");
    tally_add(&s->by_group, l->group[0] ? l->group : "(none)");
    int64_t now = mono_ms();
    if (s->progress && now >= s->next_progress_ms) {
        uint64_t read, total;
        s->next_progress_ms = now + PROGRESS_INTERVAL_MS;
        evf_dlq_reader_progress(s->rd, &read, &total);
        fprintf(stderr, "\r%" PRIu64 "/%" PRIu64 " read\033[K", read, total);
    }
    return 0;
}

static json_t *tally_json(tally_t *t) {
    json_t *o = json_object();
    qsort(t->v, t->n, sizeof(*t->v), tally_cmp);
    for (size_t i = 0; i < t->n; i++)
        json_object_set_new(o, t->v[i].name, json_integer((json_int_t)t->v[i].count));
    return o;
}

static void tally_print(const char *title, tally_t *t) {
    qsort(t->v, t->n, sizeof(*t->v), tally_cmp);
    size_t w = 0;
    for (size_t i = 0; i < t->n && i < STATS_TOP; i++)
        if (display_width(t->v[i].name) > w)
            w = display_width(t->v[i].name);
    printf("by %s\n", title);
    for (size_t i = 0; i < t->n && i < STATS_TOP; i++)
        printf("  %s%*s  %8" PRIu64 "\n", t->v[i].name,
               (int)(w - display_width(t->v[i].name)), "", t->v[i].count);
    if (t->n > STATS_TOP) {
        uint64_t rest = 0;
        for (size_t i = STATS_TOP; i < t->n; i++)
            rest += t->v[i].count;
        printf("  (%zu more)%*s  %8" PRIu64 "\n", t->n - STATS_TOP,
               (int)(w > 10 ? w - 10 : 0), "", rest);
    }
}

static int cmd_stats(const opts_t *o, const evf_conf_t *conf) {
    char err[1024], t1[40], t2[40];
    stats_t s = {.o = o, .replay_max = evf_conf_int(conf, "dlq.replay.max"), .oldest = -1,
                 .newest = -1};
    evf_dlq_reader_t *rd = evf_dlq_reader_new(conf, o->topic, &o->filter, err, sizeof(err));
    if (!rd) {
        fprintf(stderr, PROG ": %s\n", err);
        return EXIT_RUNTIME;
    }
    s.rd = rd;
    s.progress = !o->quiet && isatty(STDERR_FILENO);
    s.next_progress_ms = mono_ms() + PROGRESS_INTERVAL_MS;
    evf_redis_t *redis = redis_open(conf, 0);
    int ledger_failed = 0;
    evf_err_t rc = evf_dlq_scan(rd, redis, evf_conf_str(conf, "idempotency.key.prefix"),
                                o->topic, stats_cb, &s, &stop_signals, &ledger_failed, err,
                                sizeof(err));
    if (s.progress)
        fputs("\r\033[K", stderr);
    int exit_code = 0;
    if (rc == EVF_ERR_STATE) {
        fprintf(stderr, PROG ": interrupted\n");
        exit_code = EXIT_RUNTIME;
    } else if (rc != EVF_OK) {
        fprintf(stderr, PROG ": %s\n", err);
        exit_code = EXIT_RUNTIME;
    } else if (o->json) {
        json_t *root = json_object();
        json_object_set_new(root, "topic", json_string(o->topic));
        json_object_set_new(root, "partitions",
                            json_integer(evf_dlq_reader_partition_count(rd)));
        json_object_set_new(root, "filtered", json_boolean(evf_dlq_filter_active(&o->filter)));
        json_object_set_new(root, "total", json_integer((json_int_t)s.total));
        json_object_set_new(root, "undecodable", json_integer((json_int_t)s.undecodable));
        json_object_set_new(root, "oldest_failed_at",
                            s.oldest >= 0 ? json_string(evf_dlq_format_time(s.oldest, 1, t1,
                                                                            sizeof(t1)))
                                          : json_null());
        json_object_set_new(root, "newest_failed_at",
                            s.newest >= 0 ? json_string(evf_dlq_format_time(s.newest, 1, t2,
                                                                            sizeof(t2)))
                                          : json_null());
        json_object_set_new(root, "oldest_failed_at_ms", json_integer(s.oldest));
        json_object_set_new(root, "newest_failed_at_ms", json_integer(s.newest));
        json_t *st = json_object();
        for (int i = 0; i <= EVF_DLQ_UNKNOWN; i++)
            if (i != EVF_DLQ_UNKNOWN || s.status[i])
                json_object_set_new(st, evf_dlq_status_name((evf_dlq_status_t)i),
                                    json_integer((json_int_t)s.status[i]));
        json_object_set_new(root, "status", st);
        json_object_set_new(root, "by_class", tally_json(&s.by_class));
        json_object_set_new(root, "by_processor", tally_json(&s.by_processor));
        json_object_set_new(root, "by_original_topic", tally_json(&s.by_topic));
        json_object_set_new(root, "by_type", tally_json(&s.by_type));
        json_object_set_new(root, "by_group", tally_json(&s.by_group));
        char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        puts(text);
        free(text);
        json_decref(root);
    } else {
        printf("dead-letter topic  %s (%d partitions)%s\n", o->topic,
               evf_dlq_reader_partition_count(rd),
               evf_dlq_filter_active(&o->filter) ? ", filtered" : "");
        printf("dead letters       %" PRIu64, s.total);
        if (s.undecodable)
            printf(" (%" PRIu64 " undecodable)", s.undecodable);
        putchar('\n');
        if (s.total) {
            printf("oldest failure     %s  (%d:%" PRId64 ")\n",
                   evf_dlq_format_time(s.oldest, 0, t1, sizeof(t1)), s.oldest_p, s.oldest_o);
            printf("newest failure     %s  (%d:%" PRId64 ")\n",
                   evf_dlq_format_time(s.newest, 0, t2, sizeof(t2)), s.newest_p, s.newest_o);
        }
        printf("status             pending %" PRIu64 ", replayed %" PRIu64 ", purged %" PRIu64
               ", parked %" PRIu64,
               s.status[EVF_DLQ_PENDING] + s.status[EVF_DLQ_SENDING],
               s.status[EVF_DLQ_REPLAYED], s.status[EVF_DLQ_PURGED], s.status[EVF_DLQ_PARKED]);
        if (s.status[EVF_DLQ_SENDING])
            printf(" (%" PRIu64 " of the pending with an unconfirmed send)",
                   s.status[EVF_DLQ_SENDING]);
        if (s.status[EVF_DLQ_UNKNOWN])
            printf(", unknown %" PRIu64 " (redis unreachable)", s.status[EVF_DLQ_UNKNOWN]);
        putchar('\n');
        if (s.total) {
            tally_print("class", &s.by_class);
            tally_print("processor", &s.by_processor);
            tally_print("original topic", &s.by_topic);
            tally_print("event type", &s.by_type);
            if (s.by_group.n > 1)
                tally_print("group", &s.by_group);
        }
    }
    tally_free(&s.by_class);
    tally_free(&s.by_processor);
    tally_free(&s.by_topic);
    tally_free(&s.by_type);
    tally_free(&s.by_group);
    evf_redis_destroy(redis);
    evf_dlq_reader_destroy(rd);
    return exit_code;
}

/* ------------------------------------------------------------------------------------------ */
/* replay and purge                                                                             */

typedef struct {
    const opts_t *o;
    int progress;
    int64_t next_progress_ms;
    int64_t start_ms;
} replay_ui_t;

static void clear_progress(replay_ui_t *ui) {
    if (ui->progress)
        fputs("\r\033[K", stderr);
}

static void on_note(void *opaque, const evf_dlq_letter_t *l, evf_dlq_action_t act,
                    const char *topic, const char *why) {
    replay_ui_t *ui = opaque;
    const opts_t *o = ui->o;
    const char *id = l->id[0] ? l->id : "-";
    const char *type = l->type[0] ? l->type : "-";
    switch (act) {
    case EVF_DLQ_ACT_SEND:
    case EVF_DLQ_ACT_RESEND:
        if (!o->dry_run)
            return;
        printf("would %s  %d:%" PRId64 "  %s  %s  %s  -> %s%s%s%s\n",
               act == EVF_DLQ_ACT_RESEND ? "resend" : "replay", l->partition, l->offset, id, type,
               l->cls[0] ? l->cls : "-", topic, why[0] ? "  (" : "", why, why[0] ? ")" : "");
        return;
    case EVF_DLQ_ACT_PURGE:
        if (o->yes)
            return;
        printf("would purge  %d:%" PRId64 "  %s  %s  %s\n", l->partition, l->offset, id, type,
               l->cls[0] ? l->cls : "-");
        return;
    case EVF_DLQ_ACT_PARKED:
        if (o->quiet)
            return;
        clear_progress(ui);
        fprintf(stderr, PROG ": %d:%" PRId64 " %s: parked, not replayed: %s\n", l->partition,
                l->offset, id, why);
        return;
    case EVF_DLQ_ACT_REFUSED:
        if (o->quiet)
            return;
        clear_progress(ui);
        fprintf(stderr, PROG ": %d:%" PRId64 " %s: refused: %s\n", l->partition, l->offset, id,
                why);
        return;
    case EVF_DLQ_ACT_FAILED:
        clear_progress(ui);
        fprintf(stderr, PROG ": %d:%" PRId64 " %s: not delivered to %s: %s\n", l->partition,
                l->offset, id, topic, why);
        return;
    default:
        return;
    }
}

static void on_progress(void *opaque, const evf_dlq_run_stats_t *st) {
    replay_ui_t *ui = opaque;
    int64_t now = mono_ms();
    if (!ui->progress || now < ui->next_progress_ms)
        return;
    ui->next_progress_ms = now + PROGRESS_INTERVAL_MS;
    if (ui->o->cmd == CMD_PURGE)
        fprintf(stderr, "\r%" PRIu64 "/%" PRIu64 " read, %" PRIu64 " purged\033[K", st->read,
                st->total, st->purged);
    else
        fprintf(stderr,
                "\r%" PRIu64 "/%" PRIu64 " read, %" PRIu64 " sent, %" PRIu64 " delivered, %" PRIu64
                " failed, %" PRIu64 " skipped\033[K",
                st->read, st->total, st->sent, st->delivered, st->failed,
                st->already + st->purged_before + st->parked + st->refused);
}

static const char *to_text(const opts_t *o, const evf_dlq_run_stats_t *st, char *buf,
                           size_t size) {
    if (st->many_targets)
        snprintf(buf, size, "%s", o->to == EVF_DLQ_TO_INBOX    ? "the groups' inboxes"
                                  : o->to == EVF_DLQ_TO_SOURCE ? "their source topics"
                                                               : "several topics");
    else if (st->first_target[0])
        snprintf(buf, size, "%s", st->first_target);
    else
        snprintf(buf, size, "%s", o->to == EVF_DLQ_TO_INBOX    ? "the inbox"
                                  : o->to == EVF_DLQ_TO_SOURCE ? "the source topic"
                                                               : o->to_topic);
    return buf;
}

static int cmd_replay(const opts_t *o, const evf_conf_t *conf) {
    char err[1024], to[EVF_TOPIC_NAME_MAX + 32];
    const char *group = o->group ? o->group : evf_conf_get_set(conf, "kafka.group.id");
    int purge = o->cmd == CMD_PURGE;
    if (group && *group && !purge && o->to == EVF_DLQ_TO_INBOX &&
        evf_dlq_check_group(o->topic, group, err, sizeof(err))) {
        fprintf(stderr, PROG ": %s%s\n", err,
                o->group ? "" : " (the group comes from kafka.group.id)");
        return EXIT_USAGE;
    }
    if (group && !*group)
        group = NULL;

    evf_dlq_reader_t *rd = evf_dlq_reader_new(conf, o->topic, &o->filter, err, sizeof(err));
    if (!rd) {
        fprintf(stderr, PROG ": %s\n", err);
        return EXIT_RUNTIME;
    }
    evf_redis_t *redis = redis_open(conf, 1);
    if (!redis) {
        evf_dlq_reader_destroy(rd);
        return EXIT_RUNTIME;
    }
    if (!purge && o->to == EVF_DLQ_TO_SOURCE && !o->quiet)
        fprintf(stderr,
                PROG ": note: --to source sends each copy to its original topic, where EVERY "
                     "consumer group reading it sees the event again, not only %s%s (the "
                     "default, inbox, reaches only the group that failed it)\n",
                group ? "group " : "the group that failed it", group ? group : "");

    replay_ui_t ui = {.o = o, .progress = !o->quiet && isatty(STDERR_FILENO)};
    ui.start_ms = mono_ms();
    ui.next_progress_ms = ui.start_ms + PROGRESS_INTERVAL_MS;
    evf_dlq_run_conf_t rc = {
        .dlq_topic = o->topic,
        .prefix = evf_conf_str(conf, "idempotency.key.prefix"),
        .group = group,
        .to = o->to,
        .to_topic = o->to_topic,
        .replay_max = evf_conf_int(conf, "dlq.replay.max"),
        .rate = o->rate,
        .limit = o->limit,
        .dry_run = purge ? !o->yes : o->dry_run,
        .purge = purge,
        .note = on_note,
        .progress = on_progress,
        .opaque = &ui,
        .stop = &stop_signals,
    };
    evf_dlq_run_stats_t st;
    evf_err_t e = evf_dlq_run(conf, rd, redis, &rc, &st, err, sizeof(err));
    double secs = (double)(mono_ms() - ui.start_ms) / 1000.0;
    fflush(stdout);
    clear_progress(&ui);

    int exit_code = 0;
    if (e == EVF_ERR_TRANSPORT)
        exit_code = EXIT_RUNTIME;
    else if (e == EVF_ERR_STATE)
        exit_code = EXIT_RUNTIME;
    else if (st.failed)
        exit_code = EXIT_UNDELIVERED;
    uint64_t skipped = st.already + st.purged_before + st.parked + st.refused;
    if (!o->quiet || exit_code) {
        const char *pre = e == EVF_ERR_STATE ? "interrupted: " : "";
        if (purge && !o->yes) {
            fprintf(stderr,
                    PROG ": %swould purge %" PRIu64 " of %" PRIu64
                         " selected dead letter(s) (%" PRIu64 " already replayed, %" PRIu64
                         " purged before); nothing was changed: add --yes to purge them\n",
                    pre, st.purged, st.selected, st.already, st.purged_before);
        } else if (purge) {
            fprintf(stderr,
                    PROG ": %spurged %" PRIu64 " of %" PRIu64
                         " selected dead letter(s): marked handled, not replayed (%" PRIu64
                         " already replayed, %" PRIu64 " purged before); %" PRIu64
                         " read in %.2f s\n",
                    pre, st.purged, st.selected, st.already, st.purged_before, st.read, secs);
        } else {
            char detail[256] = "";
            if (!o->dry_run)
                snprintf(detail, sizeof(detail), " (%" PRIu64 " delivered, %" PRIu64
                                                 " not delivered%s",
                         st.delivered, st.failed, st.resent ? ", " : ")");
            else if (st.resent)
                snprintf(detail, sizeof(detail), " (");
            if (st.resent)
                snprintf(detail + strlen(detail), sizeof(detail) - strlen(detail),
                         "%" PRIu64 " sent again after an unconfirmed send)", st.resent);
            fprintf(stderr,
                    PROG ": %s%s %" PRIu64 " of %" PRIu64 " selected dead letter(s) to %s%s; "
                         "skipped %" PRIu64 ": %" PRIu64 " already replayed, %" PRIu64
                         " purged, %" PRIu64 " parked, %" PRIu64 " refused; %" PRIu64
                         " read in %.2f s%s\n",
                    pre, o->dry_run ? "dry run: would replay" : "replayed", st.sent, st.selected,
                    to_text(o, &st, to, sizeof(to)), detail, skipped, st.already,
                    st.purged_before, st.parked, st.refused, st.read, secs,
                    o->dry_run ? "; nothing was changed" : "");
        }
        if (st.limit_reached)
            fprintf(stderr, PROG ": stopped at --limit %" PRIu64 "; run again to go on\n",
                    o->limit);
        if (e == EVF_ERR_STATE && !(purge && !o->yes) && !o->dry_run)
            fprintf(stderr, PROG ": run the same command again to continue where this stopped\n");
        if (e == EVF_ERR_TRANSPORT)
            fprintf(stderr, PROG ": %s (the ledger is consistent: run again to continue)\n",
                    err);
        if (st.failed)
            fprintf(stderr, PROG ": %" PRIu64 " cop%s not delivered; last error: %s\n",
                    st.failed, st.failed == 1 ? "y" : "ies", st.last_error);
    }
    evf_redis_destroy(redis);
    evf_dlq_reader_destroy(rd);
    return exit_code;
}

/* ------------------------------------------------------------------------------------------ */

int main(int argc, char **argv) {
    opts_t o;
    evf_conf_t *conf = NULL;
    int rc, exit_code = EXIT_USAGE;

    memset(&o, 0, sizeof(o));
    evf_dlq_filter_init(&o.filter);
    evf_log_init(PROG, NULL, EVF_LOG_WARN, EVF_LOG_FORMAT_AUTO);
    rc = parse_args(argc, argv, &o);
    if (rc) {
        exit_code = rc > 0 ? 0 : EXIT_USAGE;
        goto out;
    }
    conf = load_conf(&o);
    if (!conf)
        goto out;
    if (o.check_config) {
        evf_conf_dump(conf, stdout, EVF_CONF_PROG_DLQ);
        exit_code = 0;
        goto out;
    }

    /* A tool's stderr is for the operator: warnings and worse unless asked (log.level=info). */
    evf_log_level_t level = EVF_LOG_WARN;
    evf_log_format_t format = EVF_LOG_FORMAT_AUTO;
    if (evf_conf_get_set(conf, "log.level"))
        evf_log_level_parse(evf_conf_str(conf, "log.level"), &level);
    evf_log_format_parse(evf_conf_str(conf, "log.format"), &format);
    evf_log_init(PROG, NULL, level, format);

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    switch (o.cmd) {
    case CMD_LIST:
        exit_code = cmd_list(&o, conf);
        break;
    case CMD_SHOW:
        exit_code = cmd_show(&o, conf);
        break;
    case CMD_STATS:
        exit_code = cmd_stats(&o, conf);
        break;
    default:
        exit_code = cmd_replay(&o, conf);
        break;
    }
out:
    evf_conf_destroy(conf);
    evf_dlq_filter_clear(&o.filter);
    return exit_code;
}
