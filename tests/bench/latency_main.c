/* tests/bench/latency_main.c — Kafka's share of the end-to-end latency (built into
 * $(BUILD)/bench/latency).
 *
 *   latency [-b BROKERS] [-X prop=value]... --expect N [--warmup-ms MS] [--timeout-ms MS] TOPIC
 *
 * Runs beside the worker during a latency measurement (issue #10, measurement 6): reads every
 * partition of TOPIC from the beginning with the worker's consumer settings (common/kafka.c, role
 * CONSUMER, assign() instead of a group), one message at a time (rd_kafka_consumer_poll, so no
 * batch fill wait), and takes for each event now − its time_ms (the producer's send time; the
 * Kafka timestamp when the value does not decode). That is what the same events cost to go
 * producer → broker → a consumer that does nothing, to set against the worker's
 * evfleet_event_latency_seconds (time_ms → effects applied). Events sent in the first
 * --warmup-ms after the first one are left out, as the worker's warm-up is. Stops after N
 * messages. Prints one JSON object: {"messages","observed","p50_ms","p99_ms","p999_ms",
 * "max_ms","mean_ms"} — exact quantiles, millisecond resolution as time_ms.
 *
 * Exit: 0 ok, 1 runtime failure or timeout, 2 usage. */
#include <getopt.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "event.h"
#include "kafka.h"
#include "log.h"

#define PROG "latency"
#define MAX_SETTINGS 64

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

static int64_t wall_ms(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The q-quantile of sorted values (nearest rank). */
static int64_t quantile(const int64_t *v, size_t n, double q) {
    size_t rank = (size_t)(q * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return v[rank - 1];
}

static int usage(void) {
    fprintf(stderr, "usage: " PROG " [-b BROKERS] [-X prop=value]... --expect N [--warmup-ms MS] "
                    "[--timeout-ms MS] TOPIC\n");
    return 2;
}

static const char *header(rd_kafka_message_t *m, const char *name, char *buf, size_t size) {
    rd_kafka_headers_t *hdrs = NULL;
    const void *val = NULL;
    size_t len = 0;
    if (rd_kafka_message_headers(m, &hdrs) || rd_kafka_header_get_last(hdrs, name, &val, &len))
        return NULL;
    if (len >= size)
        len = size - 1;
    memcpy(buf, val, len);
    buf[len] = '\0';
    return buf;
}

int main(int argc, char **argv) {
    enum { OPT_EXPECT = 1000, OPT_WARMUP, OPT_TIMEOUT };
    static const struct option longopts[] = {
        {"expect", required_argument, NULL, OPT_EXPECT},
        {"warmup-ms", required_argument, NULL, OPT_WARMUP},
        {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *brokers = NULL;
    char *settings[MAX_SETTINGS];
    size_t nsettings = 0;
    int64_t expect = 0, warmup_ms = 0, timeout_ms = 300000;
    char err[512];
    int c;

    evf_log_init(PROG, NULL, EVF_LOG_WARN, EVF_LOG_FORMAT_AUTO);
    while ((c = getopt_long(argc, argv, "b:X:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'b':
            brokers = optarg;
            break;
        case 'X':
            if (nsettings == MAX_SETTINGS)
                return usage();
            settings[nsettings++] = optarg;
            break;
        case OPT_EXPECT:
            expect = strtoll(optarg, NULL, 10);
            break;
        case OPT_WARMUP:
            warmup_ms = strtoll(optarg, NULL, 10);
            break;
        case OPT_TIMEOUT:
            timeout_ms = strtoll(optarg, NULL, 10);
            break;
        case 'h':
            usage();
            return 0;
        default:
            return usage();
        }
    }
    if (optind + 1 != argc || expect <= 0)
        return usage();
    const char *topic = argv[optind];
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    rd_kafka_conf_t *kc = evf_kafka_conf_new(NULL, EVF_KAFKA_CONSUMER, err, sizeof(err));
    if (!kc || (brokers && evf_kafka_conf_set(kc, "bootstrap.servers", brokers, err, sizeof(err))))
        goto conf_fail;
    evf_kafka_conf_set(kc, "client.id", "evfleet-bench-latency", err, sizeof(err));
    evf_kafka_conf_set(kc, "group.id", "evfleet-bench-latency", err, sizeof(err));
    evf_kafka_conf_set(kc, "enable.auto.commit", "false", err, sizeof(err));
    for (size_t i = 0; i < nsettings; i++) {
        char *eq = strchr(settings[i], '=');
        if (!eq) {
            snprintf(err, sizeof(err), "-X %s: expected prop=value", settings[i]);
            goto conf_fail;
        }
        *eq = '\0';
        int bad = evf_kafka_conf_set(kc, settings[i], eq + 1, err, sizeof(err));
        *eq = '=';
        if (bad)
            goto conf_fail;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, PROG ": %s\n", err);
        return 1;
    }
    rd_kafka_poll_set_consumer(rk);

    int partitions = evf_kafka_partition_count(rk, topic, 10000, err, sizeof(err));
    if (partitions <= 0) {
        fprintf(stderr, PROG ": topic %s: %s\n", topic,
                partitions == 0 ? "does not exist" : err);
        rd_kafka_destroy(rk);
        return 1;
    }
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);

    int64_t *lat = malloc((size_t)expect * sizeof(*lat));
    if (!lat)
        abort();
    int64_t count = 0, observed = 0, first_time = 0, sum = 0, deadline = wall_ms() + timeout_ms;
    int rc = 0;
    while (count < expect && !stop) {
        if (wall_ms() > deadline) {
            fprintf(stderr, PROG ": timeout with %" PRId64 " of %" PRId64 " message(s)\n", count,
                    expect);
            rc = 1;
            break;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                fprintf(stderr, PROG ": %s\n", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        int64_t now = wall_ms(), sent = 0;
        char ct[128];
        evf_event_t *ev = evf_event_decode_message(
            m->payload, m->len, header(m, "content-type", ct, sizeof(ct)), err, sizeof(err));
        if (ev && ev->time_ms > 0)
            sent = ev->time_ms;
        else
            sent = rd_kafka_message_timestamp(m, NULL);
        evf_event_free(ev);
        rd_kafka_message_destroy(m);
        count++;
        if (!first_time)
            first_time = sent;
        if (sent < first_time + warmup_ms)
            continue;
        lat[observed] = now - sent > 0 ? now - sent : 0;
        sum += lat[observed];
        observed++;
    }
    if (observed > 0) {
        qsort(lat, (size_t)observed, sizeof(*lat), cmp_i64);
        printf("{\"messages\":%" PRId64 ",\"observed\":%" PRId64 ",\"p50_ms\":%" PRId64
               ",\"p99_ms\":%" PRId64 ",\"p999_ms\":%" PRId64 ",\"max_ms\":%" PRId64
               ",\"mean_ms\":%.3f}\n",
               count, observed, quantile(lat, (size_t)observed, 0.5),
               quantile(lat, (size_t)observed, 0.99), quantile(lat, (size_t)observed, 0.999),
               lat[observed - 1], (double)sum / (double)observed);
    } else {
        printf("{\"messages\":%" PRId64 ",\"observed\":0}\n", count);
        rc = 1;
    }
    fflush(stdout);
    free(lat);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return stop ? 1 : rc;

conf_fail:
    fprintf(stderr, PROG ": %s\n", err);
    if (kc)
        rd_kafka_conf_destroy(kc);
    return 2;
}
