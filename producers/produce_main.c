/* producers/produce_main.c — `evfleet-produce`: publish S3, stream and IoT events to Kafka, one
 * from flags, many generated (`--count`), from JSON lines (`json`), or at a steady rate (`bench`).
 *
 * Everything runs on the main thread: the publisher's delivery reports are served by its poll
 * calls here, so the counters below need no lock. Exit codes (DESIGN.md "Programs"): 0 all
 * delivered, 1 runtime failure, 2 usage or configuration error, 3 some events not delivered or
 * some input lines rejected. */
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
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "aws_import.h"
#include "config.h"
#include "event.h"
#include "generate.h"
#include "kafka.h"
#include "log.h"
#include "publisher.h"
#include "topics.h"

#ifndef EVF_VERSION
#define EVF_VERSION "0.1.0"
#endif

#define PROG "evfleet-produce"
#define EXIT_RUNTIME 1
#define EXIT_USAGE 2
#define EXIT_UNDELIVERED 3

/* How long an interrupted run waits for what is in flight before giving up on it. */
#define INTERRUPT_FLUSH_MS 10000
/* How long one send waits for room in a full local queue before looking at signals again. */
#define SEND_QUEUE_WAIT_MS 100
#define PROGRESS_INTERVAL_MS 500
#define POLL_EVERY 256       /* serve delivery reports every this many sends */
#define MAX_KV_ARGS 64       /* --attr / --reading occurrences */
#define MAX_TOPICS_SHOWN 8   /* distinct topics listed in the summary */

static volatile sig_atomic_t stop_signals;

static void on_signal(int sig) {
    (void)sig;
    stop_signals++;
}

typedef enum { CMD_NONE = -1, CMD_S3 = 0, CMD_STREAM, CMD_IOT, CMD_JSON, CMD_BENCH } cmd_t;
static const char *const cmd_names[] = {"s3", "stream", "iot", "json", "bench"};

#define ON_S3 (1u << CMD_S3)
#define ON_STREAM (1u << CMD_STREAM)
#define ON_IOT (1u << CMD_IOT)
#define ON_JSON (1u << CMD_JSON)
#define ON_BENCH (1u << CMD_BENCH)
#define ON_ONE (ON_S3 | ON_STREAM | ON_IOT)

typedef struct {
    const char *name;
    const char *value;
} kv_arg_t;

/* Everything the command line said. */
typedef struct {
    const char *conf_file;
    const char *topic;
    int create_topics;
    int quiet;
    struct {
        char opt; /* 'X': arg is KEY=VALUE; 'b': arg is kafka.bootstrap.servers */
        const char *arg;
    } settings[256]; /* in command-line order: the later wins */
    size_t n_settings;

    cmd_t cmd;
    const char *input; /* json: FILE or "-" */
    uint64_t count;    /* 0 with count_set: until interrupted */
    int count_set;
    double rate; /* events/s, 0: as fast as possible */
    uint64_t seed;
    const char *mix;
    const char *id;
    int64_t time_ms;
    int time_set;
    kv_arg_t attrs[MAX_KV_ARGS];
    size_t n_attrs;

    /* s3 */
    const char *bucket, *key, *event_name, *etag, *version_id, *sequencer, *content_type,
        *region;
    int64_t size;
    int size_set;
    /* stream */
    const char *table, *sequence;
    Evfleet__V1__StreamOp op;
    int op_set;
    char *keys, *new_image, *old_image; /* canonical JSON text, malloc'd */
    /* iot */
    const char *device, *metric, *unit;
    double value, lat, lon, alt;
    int value_set, location_set;
    kv_arg_t readings[MAX_KV_ARGS];
    size_t n_readings;
} opts_t;

/* The run's counters, from delivery reports (main thread only). */
typedef struct {
    evf_pub_t *pub;
    uint64_t sent;      /* accepted by the publisher: a delivery report will come */
    uint64_t refused;   /* refused by the publisher: no report will come */
    uint64_t delivered; /* reports without error */
    uint64_t failed;    /* reports with an error */
    uint64_t rejected;  /* json input lines that could not be used */
    uint64_t unsent;    /* events of a fixed count never tried after a fatal error */
    uint64_t stop_line; /* json: the line being sent when a fatal error stopped the run */
    char last_reason[512];
    int fatal;       /* the publisher cannot go on (topic creation failed, fatal error) */
    int input_error; /* json input could not be read to the end */
    int progress;    /* show progress on stderr (a TTY, not -q) */
    int64_t start_ms, next_progress_ms;
    const char *topics_used[MAX_TOPICS_SHOWN];
    size_t n_topics_used;
    int more_topics;
} run_t;

static void usage_brief(FILE *out) {
    fprintf(out,
            "usage: " PROG " [-c FILE] [-b BROKERS] [-t TOPIC] [-X key=value]… [-q]\n"
            "                       s3|stream|iot|json|bench [options]\n"
            "try '" PROG " --help' for more.\n");
}

static void usage_full(FILE *out) {
    fprintf(
        out,
        "usage: " PROG " [global options] COMMAND [options]\n"
        "\n"
        "Publish events to Kafka as evfleet.v1.Event protobuf with CloudEvents headers.\n"
        "\n"
        "Global options (anywhere on the line):\n"
        "  -c FILE              configuration file (key = value)\n"
        "  -b BROKERS           Kafka bootstrap servers (= -X kafka.bootstrap.servers=…)\n"
        "  -t TOPIC             publish everything to TOPIC (default: the kind's topic from\n"
        "                       `topics`: the first naming s3/stream/iot, else events.<kind>)\n"
        "  -X KEY=VALUE         set a configuration key (repeatable; after file and environment)\n"
        "  --create-topics      create missing topics (topics.partitions; the default)\n"
        "  --no-create-topics   do not create topics\n"
        "  -q, --quiet          no progress, no summary unless something failed\n"
        "  -h, --help           this help;  --version  the version\n"
        "\n"
        "Commands:\n"
        "  s3     --bucket B --key K [--size N] [--event ObjectCreated:Put] [--etag E]\n"
        "         [--version-id V] [--sequencer S] [--content-type T] [--region R]\n"
        "  stream --table T --keys JSON [--op INSERT|MODIFY|REMOVE] [--new-image JSON]\n"
        "         [--old-image JSON] [--sequence N]\n"
        "  iot    --device D (--metric M --value V | --reading NAME=VALUE…) [--unit U]\n"
        "         [--lat X --lon Y [--alt Z]]\n"
        "         s3/stream/iot also take [--id ID] [--time-ms MS] [--attr NAME=VALUE]…, and\n"
        "         --count N [--seed S] [--rate R]: N varied events (the flags given override\n"
        "         the generated fields; then the required flags are not required)\n"
        "  json   [FILE|-]  one JSON document a line: an Event (proto3 JSON), a CloudEvent\n"
        "         (structured), an AWS S3 notification or a DynamoDB Streams batch; a line\n"
        "         that cannot be used is reported with its number and skipped (exit 3)\n"
        "  bench  [--rate R] [--count N] [--mix s3=1,stream=1,iot=8] [--seed S]\n"
        "         R events/s (0: as fast as possible, the default), N events (default\n"
        "         100000; 0: until interrupted)\n"
        "\n"
        "Events are stamped with time_ms = now at send time unless they carry a time.\n"
        "Exit: 0 all delivered, 1 runtime failure, 2 usage or configuration error,\n"
        "      3 some events not delivered or some input lines rejected.\n\n");
    evf_conf_print_help(out, EVF_CONF_PROG_PRODUCE);
}

/* ---- small parsers (usage errors name the option) ---- */

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

static int parse_u64(const char *opt, const char *text, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || end == text || *end || strchr(text, '-'))
        return usage_error("%s: '%s' is not a non-negative integer", opt, text);
    *out = v;
    return 0;
}

static int parse_i64(const char *opt, const char *text, int64_t min, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end || v < min)
        return usage_error("%s: '%s' is not an integer ≥ %" PRId64, opt, text, min);
    *out = v;
    return 0;
}

static int parse_double(const char *opt, const char *text, double *out) {
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !isfinite(v))
        return usage_error("%s: '%s' is not a number", opt, text);
    *out = v;
    return 0;
}

static int parse_kv(const char *opt, char *text, kv_arg_t *list, size_t *n) {
    char *eq = strchr(text, '=');
    if (!eq || eq == text)
        return usage_error("%s: expected NAME=VALUE, got '%s'", opt, text);
    if (*n >= MAX_KV_ARGS)
        return usage_error("%s: at most %d", opt, MAX_KV_ARGS);
    *eq = '\0';
    list[*n].name = text;
    list[(*n)++].value = eq + 1;
    return 0;
}

/* A JSON object given on the command line, re-serialised compactly with sorted keys. */
static int parse_json_object(const char *opt, const char *text, char **out) {
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    if (!doc)
        return usage_error("%s: invalid JSON at column %d: %s", opt, jerr.column, jerr.text);
    int is_object = json_is_object(doc);
    json_decref(doc);
    if (!is_object)
        return usage_error("%s: expected a JSON object", opt);
    free(*out);
    *out = evf_event_json_canonical(text);
    if (!*out)
        abort();
    return 0;
}

enum {
    OPT_CREATE_TOPICS = 256,
    OPT_NO_CREATE_TOPICS,
    OPT_VERSION,
    OPT_COUNT,
    OPT_RATE,
    OPT_SEED,
    OPT_MIX,
    OPT_ID,
    OPT_TIME_MS,
    OPT_ATTR,
    OPT_BUCKET,
    OPT_KEY,
    OPT_SIZE,
    OPT_EVENT,
    OPT_ETAG,
    OPT_VERSION_ID,
    OPT_SEQUENCER,
    OPT_CONTENT_TYPE,
    OPT_REGION,
    OPT_TABLE,
    OPT_OP,
    OPT_KEYS,
    OPT_NEW_IMAGE,
    OPT_OLD_IMAGE,
    OPT_SEQUENCE,
    OPT_DEVICE,
    OPT_METRIC,
    OPT_VALUE,
    OPT_UNIT,
    OPT_READING,
    OPT_LAT,
    OPT_LON,
    OPT_ALT,
    OPT__END
};

static const struct option long_options[] = {
    {"help", no_argument, NULL, 'h'},
    {"quiet", no_argument, NULL, 'q'},
    {"version", no_argument, NULL, OPT_VERSION},
    {"create-topics", no_argument, NULL, OPT_CREATE_TOPICS},
    {"no-create-topics", no_argument, NULL, OPT_NO_CREATE_TOPICS},
    {"count", required_argument, NULL, OPT_COUNT},
    {"rate", required_argument, NULL, OPT_RATE},
    {"seed", required_argument, NULL, OPT_SEED},
    {"mix", required_argument, NULL, OPT_MIX},
    {"id", required_argument, NULL, OPT_ID},
    {"time-ms", required_argument, NULL, OPT_TIME_MS},
    {"attr", required_argument, NULL, OPT_ATTR},
    {"bucket", required_argument, NULL, OPT_BUCKET},
    {"key", required_argument, NULL, OPT_KEY},
    {"size", required_argument, NULL, OPT_SIZE},
    {"event", required_argument, NULL, OPT_EVENT},
    {"etag", required_argument, NULL, OPT_ETAG},
    {"version-id", required_argument, NULL, OPT_VERSION_ID},
    {"sequencer", required_argument, NULL, OPT_SEQUENCER},
    {"content-type", required_argument, NULL, OPT_CONTENT_TYPE},
    {"region", required_argument, NULL, OPT_REGION},
    {"table", required_argument, NULL, OPT_TABLE},
    {"op", required_argument, NULL, OPT_OP},
    {"keys", required_argument, NULL, OPT_KEYS},
    {"new-image", required_argument, NULL, OPT_NEW_IMAGE},
    {"old-image", required_argument, NULL, OPT_OLD_IMAGE},
    {"sequence", required_argument, NULL, OPT_SEQUENCE},
    {"device", required_argument, NULL, OPT_DEVICE},
    {"metric", required_argument, NULL, OPT_METRIC},
    {"value", required_argument, NULL, OPT_VALUE},
    {"unit", required_argument, NULL, OPT_UNIT},
    {"reading", required_argument, NULL, OPT_READING},
    {"lat", required_argument, NULL, OPT_LAT},
    {"lon", required_argument, NULL, OPT_LON},
    {"alt", required_argument, NULL, OPT_ALT},
    {NULL, 0, NULL, 0},
};

/* Which commands take each subcommand option. */
static unsigned option_commands(int opt) {
    switch (opt) {
    case OPT_COUNT:
    case OPT_RATE:
    case OPT_SEED:
        return ON_ONE | ON_BENCH | (opt == OPT_SEED ? ON_JSON : 0);
    case OPT_MIX:
        return ON_BENCH;
    case OPT_ID:
    case OPT_TIME_MS:
    case OPT_ATTR:
        return ON_ONE;
    case OPT_BUCKET:
    case OPT_KEY:
    case OPT_SIZE:
    case OPT_EVENT:
    case OPT_ETAG:
    case OPT_VERSION_ID:
    case OPT_SEQUENCER:
    case OPT_CONTENT_TYPE:
    case OPT_REGION:
        return ON_S3;
    case OPT_TABLE:
    case OPT_OP:
    case OPT_KEYS:
    case OPT_NEW_IMAGE:
    case OPT_OLD_IMAGE:
    case OPT_SEQUENCE:
        return ON_STREAM;
    default:
        return ON_IOT;
    }
}

static const char *option_name(int opt) {
    for (const struct option *o = long_options; o->name; o++)
        if (o->val == opt)
            return o->name;
    return "?";
}

/* Apply one subcommand option. @returns 0 or -1 (usage error printed). */
static int set_option(opts_t *o, int opt, char *arg) {
    char name[40];
    snprintf(name, sizeof(name), "--%s", option_name(opt));
    switch (opt) {
    case OPT_COUNT:
        o->count_set = 1;
        return parse_u64(name, arg, &o->count);
    case OPT_RATE:
        if (parse_double(name, arg, &o->rate))
            return -1;
        return o->rate < 0 ? usage_error("--rate must be ≥ 0") : 0;
    case OPT_SEED:
        if (parse_u64(name, arg, &o->seed))
            return -1;
        return o->seed == 0 ? usage_error("--seed must be > 0 (0 is a random seed)") : 0;
    case OPT_MIX:
        o->mix = arg;
        return 0;
    case OPT_ID:
        o->id = arg;
        return *arg ? 0 : usage_error("--id must not be empty");
    case OPT_TIME_MS:
        o->time_set = 1;
        return parse_i64(name, arg, 0, &o->time_ms);
    case OPT_ATTR:
        return parse_kv(name, arg, o->attrs, &o->n_attrs);
    case OPT_BUCKET:
        o->bucket = arg;
        return 0;
    case OPT_KEY:
        o->key = arg;
        return 0;
    case OPT_SIZE:
        o->size_set = 1;
        return parse_i64(name, arg, 0, &o->size);
    case OPT_EVENT:
        o->event_name = strncmp(arg, "s3:", 3) ? arg : arg + 3;
        return *o->event_name ? 0 : usage_error("--event must not be empty");
    case OPT_ETAG:
        o->etag = arg;
        return 0;
    case OPT_VERSION_ID:
        o->version_id = arg;
        return 0;
    case OPT_SEQUENCER:
        o->sequencer = arg;
        return 0;
    case OPT_CONTENT_TYPE:
        o->content_type = arg;
        return 0;
    case OPT_REGION:
        o->region = arg;
        return 0;
    case OPT_TABLE:
        o->table = arg;
        return 0;
    case OPT_OP:
        if (!strcasecmp(arg, "INSERT"))
            o->op = EVFLEET__V1__STREAM_OP__INSERT;
        else if (!strcasecmp(arg, "MODIFY"))
            o->op = EVFLEET__V1__STREAM_OP__MODIFY;
        else if (!strcasecmp(arg, "REMOVE"))
            o->op = EVFLEET__V1__STREAM_OP__REMOVE;
        else
            return usage_error("--op: '%s' is not INSERT, MODIFY or REMOVE", arg);
        o->op_set = 1;
        return 0;
    case OPT_KEYS:
        return parse_json_object(name, arg, &o->keys);
    case OPT_NEW_IMAGE:
        return parse_json_object(name, arg, &o->new_image);
    case OPT_OLD_IMAGE:
        return parse_json_object(name, arg, &o->old_image);
    case OPT_SEQUENCE:
        o->sequence = arg;
        return 0;
    case OPT_DEVICE:
        o->device = arg;
        return 0;
    case OPT_METRIC:
        o->metric = arg;
        return 0;
    case OPT_VALUE:
        o->value_set = 1;
        return parse_double(name, arg, &o->value);
    case OPT_UNIT:
        o->unit = arg;
        return 0;
    case OPT_READING:
        if (parse_kv(name, arg, o->readings, &o->n_readings))
            return -1;
        double v;
        return parse_double(name, o->readings[o->n_readings - 1].value, &v);
    case OPT_LAT:
        o->location_set = 1;
        return parse_double(name, arg, &o->lat);
    case OPT_LON:
        o->location_set = 1;
        return parse_double(name, arg, &o->lon);
    default:
        o->location_set = 1;
        return parse_double(name, arg, &o->alt);
    }
}

/* @returns 0, 1 when --help/--version was handled (exit 0), or -1 on a usage error. */
static int parse_args(int argc, char **argv, opts_t *o) {
    int seen[OPT__END] = {0};
    int opt;

    o->create_topics = 1;
    o->cmd = CMD_NONE;
    o->op = EVFLEET__V1__STREAM_OP__INSERT;
    opterr = 0;
    /* GNU getopt permutes: global and command options may come in any order. */
    while ((opt = getopt_long(argc, argv, ":c:b:t:X:qh", long_options, NULL)) != -1) {
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
        case 't':
            if (!*optarg)
                return usage_error("-t: empty topic name");
            o->topic = optarg;
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
        case OPT_CREATE_TOPICS:
            o->create_topics = 1;
            break;
        case OPT_NO_CREATE_TOPICS:
            o->create_topics = 0;
            break;
        case ':':
            return usage_error("option '%s' needs a value", argv[optind - 1]);
        case '?':
            return usage_error("unknown option '%s'", argv[optind - 1]);
        default:
            seen[opt] = 1;
            if (set_option(o, opt, optarg))
                return -1;
            break;
        }
    }
    if (optind >= argc)
        return usage_error("no command (s3, stream, iot, json or bench)");
    for (int i = 0; i <= CMD_BENCH; i++)
        if (!strcmp(argv[optind], cmd_names[i]))
            o->cmd = (cmd_t)i;
    if (o->cmd == CMD_NONE)
        return usage_error("unknown command '%s' (s3, stream, iot, json or bench)", argv[optind]);
    optind++;
    if (o->cmd == CMD_JSON && optind < argc)
        o->input = argv[optind++];
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    for (int i = OPT_COUNT; i < OPT__END; i++) {
        if (seen[i] && !(option_commands(i) & (1u << o->cmd)))
            return usage_error("option --%s does not apply to '%s'", option_name(i),
                               cmd_names[o->cmd]);
    }

    /* One event from flags: the fields that make it an event must be given. */
    if ((1u << o->cmd) & ON_ONE) {
        if (o->id && o->count_set && o->count != 1)
            return usage_error("--id with --count %" PRIu64 " would repeat one id", o->count);
        if (!o->count_set) {
            if (o->cmd == CMD_S3 && (!o->bucket || !o->key))
                return usage_error("s3 needs --bucket and --key (or --count N)");
            if (o->cmd == CMD_STREAM && (!o->table || !o->keys))
                return usage_error("stream needs --table and --keys (or --count N)");
            if (o->cmd == CMD_IOT &&
                (!o->device || (!o->n_readings && (!o->metric || !o->value_set))))
                return usage_error(
                    "iot needs --device and --metric with --value, or --reading (or --count N)");
        }
    }
    if (o->cmd == CMD_BENCH && !o->count_set)
        o->count = 100000;
    return 0;
}

/* ---- configuration ---- */

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
    /* librdkafka judges the kafka.* values: a bad one is a configuration error too (exit 2),
     * not a failure to start the producer. */
    rd_kafka_conf_t *kconf = evf_kafka_conf_new(conf, EVF_KAFKA_PRODUCER, err, sizeof(err));
    if (!kconf)
        goto fail;
    rd_kafka_conf_destroy(kconf);
    return conf;
fail:
    fprintf(stderr, PROG ": %s\n", err);
    evf_conf_destroy(conf);
    return NULL;
}

/* The topic of each kind: -t, else the first `topics` entry naming the kind, else events.<kind>. */
static void resolve_topics(const evf_conf_t *conf, const char *override,
                           char topics[EVF_GEN__CNT][EVF_TOPIC_NAME_MAX + 1]) {
    char buf[4096];
    const char *list[64];
    size_t n = evf_conf_list(conf, "topics", buf, sizeof(buf), list, 64);
    for (int k = 0; k < EVF_GEN__CNT; k++) {
        const char *kind = evf_gen_kind_name((evf_gen_kind_t)k);
        const char *found = override;
        for (size_t i = 0; !found && i < n; i++)
            if (strstr(list[i], kind))
                found = list[i];
        if (found)
            snprintf(topics[k], EVF_TOPIC_NAME_MAX + 1, "%s", found);
        else
            snprintf(topics[k], EVF_TOPIC_NAME_MAX + 1, "events.%s", kind);
    }
}

/* ---- the run ---- */

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Delivery reports: on the main thread, inside evf_pub_poll/flush/send/destroy. */
static void on_delivery(void *msg_opaque, rd_kafka_resp_err_t err, const char *topic,
                        int32_t partition, int64_t offset, void *opaque) {
    run_t *run = opaque;
    (void)msg_opaque, (void)partition, (void)offset;
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        run->delivered++;
        return;
    }
    run->failed++;
    snprintf(run->last_reason, sizeof(run->last_reason), "%s: %s", topic, rd_kafka_err2str(err));
}

static uint64_t in_flight(const run_t *run) {
    uint64_t done = run->delivered + run->failed;
    return run->sent > done ? run->sent - done : 0;
}

static void show_progress(run_t *run, int64_t now) {
    if (!run->progress || now < run->next_progress_ms)
        return;
    run->next_progress_ms = now + PROGRESS_INTERVAL_MS;
    double secs = (double)(now - run->start_ms) / 1000.0;
    fprintf(stderr, "\r%" PRIu64 " sent, %" PRIu64 " delivered, %" PRIu64 " failed, %.0f/s\033[K",
            run->sent, run->delivered, run->failed + run->refused,
            secs > 0 ? (double)run->delivered / secs : 0.0);
}

static void note_topic(run_t *run, const char *topic) {
    for (size_t i = 0; i < run->n_topics_used; i++)
        if (run->topics_used[i] == topic || !strcmp(run->topics_used[i], topic))
            return;
    if (run->n_topics_used < MAX_TOPICS_SHOWN)
        run->topics_used[run->n_topics_used++] = topic;
    else
        run->more_topics = 1;
}

/* Queue one event. A full local queue is waited out (delivery reports are served meanwhile) until
 * a signal arrives. @returns 0 to go on, -1 to stop producing. */
static int send_event(run_t *run, const char *topic, const evf_event_t *ev) {
    char err[512];
    for (;;) {
        evf_err_t rc = evf_pub_send_event(run->pub, topic, ev, NULL, SEND_QUEUE_WAIT_MS, err,
                                          sizeof(err));
        if (rc == EVF_OK) {
            run->sent++;
            if (run->sent % POLL_EVERY == 0)
                evf_pub_poll(run->pub, 0);
            note_topic(run, topic);
            return 0;
        }
        if (rc == EVF_ERR_FULL) {
            if (stop_signals)
                return -1; /* never sent: an interrupted run just stops here */
            show_progress(run, mono_ms());
            continue;
        }
        run->refused++;
        snprintf(run->last_reason, sizeof(run->last_reason), "%s", err);
        if (rc == EVF_ERR_TRANSPORT) {
            /* Topic creation failed or the producer hit a fatal error: every later send would
             * fail the same way (each after a long wait), so stop here. */
            run->fatal = 1;
            return -1;
        }
        return 0; /* this event is unusable (too large, say); the others may be fine */
    }
}

/* Replace the detail fields given on the command line, then derive type and subject. */
static void apply_flags(const opts_t *o, evf_event_t *ev) {
    char *text = NULL;
    for (size_t i = 0; i < o->n_attrs; i++)
        evf_event_set_attr(ev, o->attrs[i].name, o->attrs[i].value);
    if (o->id)
        evf_event_set_str(&ev->id, o->id);
    switch (o->cmd) {
    case CMD_S3: {
        Evfleet__V1__S3Object *s3 =
            ev->detail_case == EVFLEET__V1__EVENT__DETAIL_S3 ? ev->s3 : evf_event_set_s3(ev);
        ev->source = EVFLEET__V1__SOURCE__S3;
        if (o->bucket)
            evf_event_set_str(&s3->bucket, o->bucket);
        if (o->key)
            evf_event_set_str(&s3->key, o->key);
        if (o->event_name || !*s3->event_name)
            evf_event_set_str(&s3->event_name, o->event_name ? o->event_name : "ObjectCreated:Put");
        if (o->size_set)
            s3->size = o->size;
        if (o->etag)
            evf_event_set_str(&s3->etag, o->etag);
        if (o->version_id)
            evf_event_set_str(&s3->version_id, o->version_id);
        if (o->sequencer)
            evf_event_set_str(&s3->sequencer, o->sequencer);
        if (o->content_type)
            evf_event_set_str(&s3->content_type, o->content_type);
        if (o->region)
            evf_event_set_str(&s3->region, o->region);
        if (asprintf(&text, "s3:%s", s3->event_name) < 0)
            abort();
        evf_event_set_str(&ev->type, text);
        free(text);
        if (asprintf(&text, "%s/%s", s3->bucket, s3->key) < 0)
            abort();
        evf_event_set_str(&ev->subject, text);
        break;
    }
    case CMD_STREAM: {
        Evfleet__V1__StreamRecord *st = ev->detail_case == EVFLEET__V1__EVENT__DETAIL_STREAM
                                            ? ev->stream
                                            : evf_event_set_stream(ev);
        ev->source = EVFLEET__V1__SOURCE__STREAM;
        if (o->table)
            evf_event_set_str(&st->table, o->table);
        if (o->op_set || !st->op)
            st->op = o->op;
        if (o->keys)
            evf_event_set_str(&st->keys, o->keys);
        if (o->new_image)
            evf_event_set_str(&st->new_image, o->new_image);
        if (o->old_image)
            evf_event_set_str(&st->old_image, o->old_image);
        if (o->sequence)
            evf_event_set_str(&st->sequence_number, o->sequence);
        const char *op = st->op == EVFLEET__V1__STREAM_OP__MODIFY   ? "MODIFY"
                         : st->op == EVFLEET__V1__STREAM_OP__REMOVE ? "REMOVE"
                                                                    : "INSERT";
        if (asprintf(&text, "stream:%s", op) < 0)
            abort();
        evf_event_set_str(&ev->type, text);
        free(text);
        if (asprintf(&text, "%s/%s", st->table, st->keys) < 0)
            abort();
        evf_event_set_str(&ev->subject, text);
        break;
    }
    default: {
        Evfleet__V1__IotTelemetry *iot =
            ev->detail_case == EVFLEET__V1__EVENT__DETAIL_IOT ? ev->iot : evf_event_set_iot(ev);
        ev->source = EVFLEET__V1__SOURCE__IOT;
        if (o->device)
            evf_event_set_str(&iot->device_id, o->device);
        if (o->metric)
            evf_event_set_str(&iot->metric, o->metric);
        if (o->value_set)
            iot->value = o->value;
        if (o->unit)
            evf_event_set_str(&iot->unit, o->unit);
        for (size_t i = 0; i < o->n_readings; i++)
            evf_event_iot_set_reading(iot, o->readings[i].name,
                                      strtod(o->readings[i].value, NULL));
        if (o->location_set) {
            if (!iot->location) {
                iot->location = calloc(1, sizeof(*iot->location));
                if (!iot->location)
                    abort();
                evfleet__v1__location__init(iot->location);
            }
            iot->location->lat = o->lat;
            iot->location->lon = o->lon;
            iot->location->alt = o->alt;
        }
        evf_event_set_str(&ev->type, "iot:telemetry");
        evf_event_set_str(&ev->subject, iot->device_id);
        break;
    }
    }
    free(text);
}

/* s3/stream/iot (one event, or --count N) and bench: generate, stamp, pace, send. */
static void run_generated(run_t *run, const opts_t *o, evf_gen_t *gen, const evf_gen_mix_t *mix,
                          char topics[EVF_GEN__CNT][EVF_TOPIC_NAME_MAX + 1]) {
    int varied = o->cmd == CMD_BENCH || o->count_set;
    uint64_t count = varied ? o->count : 1;
    /* Token bucket: at most rate/20 events (50 ms) of burst after a stall, starting empty. */
    double burst = o->rate > 0 ? fmax(1.0, o->rate / 20.0) : 0, tokens = 1.0;
    int64_t last_us = mono_us();

    uint64_t i;
    for (i = 0; (count == 0 || i < count) && !stop_signals && !run->fatal; i++) {
        if (o->rate > 0) {
            for (;;) {
                int64_t now_us = mono_us();
                tokens = fmin(burst, tokens + (double)(now_us - last_us) * o->rate / 1e6);
                last_us = now_us;
                if (tokens >= 1.0 || stop_signals)
                    break;
                double wait_us = (1.0 - tokens) * 1e6 / o->rate;
                evf_pub_poll(run->pub, 0);
                show_progress(run, now_us / 1000);
                struct timespec ts = {0, (long)(fmin(wait_us, 100000.0) * 1000.0)};
                nanosleep(&ts, NULL);
            }
            if (stop_signals)
                break;
            tokens -= 1.0;
        }
        evf_gen_kind_t kind = o->cmd == CMD_BENCH ? evf_gen_pick(gen, mix) : (evf_gen_kind_t)o->cmd;
        int64_t now = wall_ms();
        evf_event_t *ev;
        if (varied)
            ev = evf_gen_event(gen, kind, now);
        else {
            char id[EVF_GEN_UUID_LEN + 1];
            ev = evf_event_new();
            evf_gen_uuid(gen, id);
            evf_event_set_str(&ev->id, id);
        }
        if (o->cmd != CMD_BENCH)
            apply_flags(o, ev);
        ev->time_ms = o->time_set ? o->time_ms : now;
        int rc = send_event(run, topics[kind], ev);
        evf_event_free(ev);
        if (rc)
            break;
        show_progress(run, mono_ms());
    }
    if (run->fatal && count > i)
        run->unsent = count - i - 1;
}

/* json: one document a line. A line that cannot be used is reported and skipped. */
static void run_json(run_t *run, const opts_t *o, FILE *in, evf_gen_t *gen,
                     char topics[EVF_GEN__CNT][EVF_TOPIC_NAME_MAX + 1]) {
    const char *name = in == stdin ? "<stdin>" : o->input;
    char *line = NULL, err[1024];
    size_t cap = 0;
    uint64_t lineno = 0;
    ssize_t len;

    while (!stop_signals && !run->fatal) {
        errno = 0;
        len = getline(&line, &cap, in);
        if (len < 0) {
            if (ferror(in) && errno != EINTR) {
                fprintf(stderr, PROG ": reading %s after line %" PRIu64 ": %s\n", name, lineno,
                        strerror(errno));
                run->input_error = 1;
            }
            break;
        }
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (strspn(line, " \t") == (size_t)len)
            continue;

        evf_event_t **events = NULL;
        size_t n = 0;
        const char *bad = NULL;
        if (evf_aws_import(line, (size_t)len, gen, &events, &n, err, sizeof(err)))
            bad = err;
        for (size_t i = 0; !bad && i < n; i++) {
            if (!o->topic && evf_gen_kind_of(events[i]) < 0) {
                snprintf(err, sizeof(err), "a %s event has no default topic: use -t TOPIC",
                         evf_event_source_name(events[i]->source));
                bad = err;
            }
        }
        if (bad) {
            run->rejected++;
            if (run->progress)
                fputs("\r\033[K", stderr);
            fprintf(stderr, PROG ": %s line %" PRIu64 ": %s (skipped)\n", name, lineno, bad);
            evf_aws_import_free(events, n);
            continue;
        }
        int64_t now = wall_ms();
        for (size_t i = 0; i < n; i++) {
            if (events[i]->time_ms == 0)
                events[i]->time_ms = now;
            int kind = evf_gen_kind_of(events[i]);
            if (send_event(run, kind >= 0 ? topics[kind] : o->topic, events[i])) {
                if (run->fatal)
                    run->stop_line = lineno;
                break;
            }
        }
        evf_aws_import_free(events, n);
        show_progress(run, mono_ms());
    }
    free(line);
}

/* Wait for the delivery reports of what is in flight: until all came, or — once interrupted —
 * for at most INTERRUPT_FLUSH_MS, or not at all after a second signal. */
static void drain(run_t *run) {
    int64_t deadline = 0;
    while (in_flight(run) > 0) {
        int64_t now = mono_ms();
        if (stop_signals && !deadline) {
            deadline = now + INTERRUPT_FLUSH_MS;
            if (run->progress)
                fputs("\r\033[K", stderr);
            fprintf(stderr, PROG ": interrupted: waiting up to %d s for %" PRIu64
                            " event(s) in flight (again to stop waiting)\n",
                    INTERRUPT_FLUSH_MS / 1000, in_flight(run));
        }
        if (stop_signals > 1 || (deadline && now >= deadline))
            break;
        evf_pub_flush(run->pub, 100);
        show_progress(run, mono_ms());
    }
}

static void print_summary(const run_t *run, const opts_t *o, double secs) {
    uint64_t failed = run->failed + run->refused + run->unsent;
    int ok = failed == 0 && run->rejected == 0 && !run->input_error;
    char topics[1024] = "";
    size_t pos = 0;

    if (run->progress)
        fputs("\r\033[K", stderr);
    if (o->quiet && ok)
        return;
    for (size_t i = 0; i < run->n_topics_used && pos < sizeof(topics); i++)
        pos += (size_t)snprintf(topics + pos, sizeof(topics) - pos, "%s%s", i ? ", " : " to ",
                                run->topics_used[i]);
    if (run->more_topics && pos < sizeof(topics))
        snprintf(topics + pos, sizeof(topics) - pos, ", …");
    fprintf(stderr,
            PROG ": %s%" PRIu64 " delivered, %" PRIu64 " failed in %.2f s (%.0f/s)%s",
            stop_signals ? "interrupted: " : "", run->delivered, failed, secs,
            secs > 0 ? (double)run->delivered / secs : 0.0, topics);
    if (run->rejected)
        fprintf(stderr, ", %" PRIu64 " input line(s) rejected", run->rejected);
    fputc('\n', stderr);
    if (failed && run->unsent)
        fprintf(stderr,
                PROG ": %" PRIu64 " event(s) not delivered (%" PRIu64
                " never sent: the run stopped at this error): %s\n",
                failed, run->unsent, run->last_reason);
    else if (failed)
        fprintf(stderr, PROG ": %" PRIu64 " event(s) not delivered; last error: %s\n", failed,
                run->last_reason[0] ? run->last_reason : "unknown");
    if (run->stop_line)
        fprintf(stderr, PROG ": stopped at input line %" PRIu64 " after that error\n",
                run->stop_line);
}

int main(int argc, char **argv) {
    opts_t o = {0};
    run_t run = {0};
    evf_conf_t *conf = NULL;
    evf_gen_t *gen = NULL;
    FILE *input = NULL;
    evf_gen_mix_t mix = {0};
    char topics[EVF_GEN__CNT][EVF_TOPIC_NAME_MAX + 1];
    char err[1024];
    int rc, exit_code = EXIT_USAGE;

    evf_log_init(PROG, NULL, EVF_LOG_INFO, EVF_LOG_FORMAT_AUTO);
    rc = parse_args(argc, argv, &o);
    if (rc) {
        exit_code = rc > 0 ? 0 : EXIT_USAGE;
        goto out;
    }
    if (o.cmd == CMD_BENCH &&
        evf_gen_mix_parse(o.mix ? o.mix : "s3=1,stream=1,iot=8", &mix, err, sizeof(err))) {
        usage_error("--mix: %s", err);
        goto out;
    }
    conf = load_conf(&o);
    if (!conf)
        goto out;

    evf_log_level_t level;
    evf_log_format_t format;
    if (evf_log_level_parse(evf_conf_str(conf, "log.level"), &level))
        level = EVF_LOG_INFO;
    if (evf_log_format_parse(evf_conf_str(conf, "log.format"), &format))
        format = EVF_LOG_FORMAT_AUTO;
    if (o.quiet && level < EVF_LOG_WARN)
        level = EVF_LOG_WARN;
    evf_log_init(PROG, NULL, level, format);
    resolve_topics(conf, o.topic, topics);
    if (o.cmd == CMD_JSON) {
        /* Before connecting: a wrong path is the caller's mistake, not a failed run. */
        input = o.input && strcmp(o.input, "-") ? fopen(o.input, "r") : stdin;
        if (!input) {
            fprintf(stderr, PROG ": cannot open %s: %s\n", o.input, strerror(errno));
            goto out;
        }
    }

    evf_pub_opts_t popts = {.client_id = PROG,
                            .dr_cb = on_delivery,
                            .dr_opaque = &run,
                            .create_topics = o.create_topics};
    run.pub = evf_pub_new(conf, &popts, err, sizeof(err));
    if (!run.pub) {
        fprintf(stderr, PROG ": %s\n", err);
        exit_code = EXIT_RUNTIME;
        goto out;
    }

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: a blocked read of stdin returns */
    sigaction(SIGTERM, &sa, NULL);

    gen = evf_gen_new(o.seed);
    run.progress = !o.quiet && isatty(STDERR_FILENO);
    run.start_ms = mono_ms();
    run.next_progress_ms = run.start_ms + PROGRESS_INTERVAL_MS;
    if (o.cmd == CMD_JSON)
        run_json(&run, &o, input, gen, topics);
    else
        run_generated(&run, &o, gen, &mix, topics);
    drain(&run);
    double secs = (double)(mono_ms() - run.start_ms) / 1000.0;

    /* Whatever is still in flight is purged; its delivery reports count it as failed. */
    evf_pub_destroy(run.pub, 0);
    run.pub = NULL;
    uint64_t lost = in_flight(&run);
    if (lost) {
        run.failed += lost;
        snprintf(run.last_reason, sizeof(run.last_reason),
                 "%" PRIu64 " event(s) still in flight at exit", lost);
    }
    print_summary(&run, &o, secs);
    if (run.input_error)
        exit_code = EXIT_RUNTIME;
    else if (run.failed || run.refused || run.unsent || run.rejected)
        exit_code = EXIT_UNDELIVERED;
    else
        exit_code = 0;

out:
    if (input && input != stdin)
        fclose(input);
    evf_gen_destroy(gen);
    evf_conf_destroy(conf);
    free(o.keys);
    free(o.new_image);
    free(o.old_image);
    return exit_code;
}
