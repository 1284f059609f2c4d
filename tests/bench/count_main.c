/* tests/bench/count_main.c — the benchmark's Kafka helper (built into $(BUILD)/bench/count).
 *
 *   count [-b BROKERS] [-X prop=value]... [--expect N] [--timeout-ms MS] TOPIC...
 *       The throughput ceiling (issue #10, measurement 1): a minimal librdkafka consumer that
 *       reads every partition of the TOPICs from the beginning and only counts the messages.
 *       It uses the worker's consumer settings (common/kafka.c, role CONSUMER: the same fetch
 *       and prefetch limits) with assign() instead of a group subscription, and the worker's
 *       way of reading (rd_kafka_consume_batch_queue, 1000 at a time), so the ratio of the
 *       worker to this is the cost of the worker itself. It stops after N messages (--expect)
 *       or, without --expect, when every partition reached its end. Prints one JSON object:
 *       {"messages","bytes","seconds","rate","start_to_first_ms","cpu_user_s","cpu_sys_s"};
 *       seconds runs from the first message to the last one counted (connecting, metadata and
 *       the first fetch are start_to_first_ms, not part of the rate).
 *   count [-b BROKERS] --delete-prefix PREFIX
 *       Delete every topic whose name starts with PREFIX (which must start with "bench.", so
 *       this can never remove anything but the benchmark's own topics).
 *   count [-b BROKERS] --delete-groups GROUP...
 *       Delete consumer groups (unknown or non-empty groups are reported, not fatal).
 *
 * Exit: 0 ok, 1 runtime failure (timeout, broker error), 2 usage. */
#include <getopt.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "config.h"
#include "kafka.h"
#include "log.h"

#define PROG "count"
#define BATCH 1000
#define ADMIN_TIMEOUT_MS 30000
#define MAX_SETTINGS 64

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int usage(void) {
    fprintf(stderr,
            "usage: " PROG " [-b BROKERS] [-X prop=value]... [--expect N] [--timeout-ms MS] "
            "TOPIC...\n"
            "       " PROG " [-b BROKERS] --delete-prefix bench.PREFIX\n"
            "       " PROG " [-b BROKERS] --delete-groups GROUP...\n");
    return 2;
}

/* A librdkafka configuration for role with our defaults, -b and the -X properties on top. */
static rd_kafka_conf_t *make_conf(evf_kafka_role_t role, const char *brokers, char **settings,
                                  size_t nsettings) {
    char err[512];
    rd_kafka_conf_t *kc = evf_kafka_conf_new(NULL, role, err, sizeof(err));
    if (!kc)
        goto fail;
    if (brokers && evf_kafka_conf_set(kc, "bootstrap.servers", brokers, err, sizeof(err)))
        goto fail;
    evf_kafka_conf_set(kc, "client.id", "evfleet-bench", err, sizeof(err));
    for (size_t i = 0; i < nsettings; i++) {
        char *eq = strchr(settings[i], '=');
        if (!eq) {
            snprintf(err, sizeof(err), "-X %s: expected prop=value", settings[i]);
            goto fail;
        }
        *eq = '\0';
        int bad = evf_kafka_conf_set(kc, settings[i], eq + 1, err, sizeof(err));
        *eq = '=';
        if (bad)
            goto fail;
    }
    return kc;
fail:
    fprintf(stderr, PROG ": %s\n", err);
    if (kc)
        rd_kafka_conf_destroy(kc);
    return NULL;
}

/* Every partition of the topics, at the beginning; base[i] is the index of topics[i]'s partition 0
 * in the list (partitions are numbered 0..count-1). @returns NULL with a message on failure. */
static rd_kafka_topic_partition_list_t *all_partitions(rd_kafka_t *rk, char **topics, int ntopics,
                                                       int *base) {
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(64);
    for (int i = 0; i < ntopics; i++) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topics[i], NULL);
        rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
        rd_kafka_topic_destroy(rkt);
        if (err || md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt == 0) {
            fprintf(stderr, PROG ": topic %s: %s\n", topics[i],
                    err                       ? rd_kafka_err2str(err)
                    : md->topic_cnt != 1      ? "not in metadata"
                    : md->topics[0].err       ? rd_kafka_err2str(md->topics[0].err)
                                              : "no partitions");
            if (md)
                rd_kafka_metadata_destroy(md);
            rd_kafka_topic_partition_list_destroy(parts);
            return NULL;
        }
        base[i] = parts->cnt;
        for (int p = 0; p < md->topics[0].partition_cnt; p++)
            rd_kafka_topic_partition_list_add(parts, topics[i], p)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_metadata_destroy(md);
    }
    return parts;
}

static int run_count(const char *brokers, char **settings, size_t nsettings, int64_t expect,
                     int64_t timeout_ms, char **topics, int ntopics) {
    char err[512];
    double t_start = mono_s();
    rd_kafka_conf_t *kc = make_conf(EVF_KAFKA_CONSUMER, brokers, settings, nsettings);
    if (!kc)
        return 2;
    /* A group id is required by the consumer API; nothing is stored, so nothing is committed. */
    evf_kafka_conf_set(kc, "group.id", "evfleet-bench-count", err, sizeof(err));
    evf_kafka_conf_set(kc, "enable.auto.commit", "false", err, sizeof(err));
    if (expect <= 0)
        evf_kafka_conf_set(kc, "enable.partition.eof", "true", err, sizeof(err));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, PROG ": %s\n", err);
        return 1;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rk);
    int *base = calloc((size_t)ntopics, sizeof(*base));
    if (!base)
        abort();
    rd_kafka_topic_partition_list_t *parts = all_partitions(rk, topics, ntopics, base);
    if (!parts) {
        free(base);
        rd_kafka_queue_destroy(q);
        rd_kafka_destroy(rk);
        return 1;
    }
    int nparts = parts->cnt;
    rd_kafka_resp_err_t aerr = rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    if (aerr) {
        fprintf(stderr, PROG ": assign: %s\n", rd_kafka_err2str(aerr));
        rd_kafka_queue_destroy(q);
        rd_kafka_destroy(rk);
        return 1;
    }

    rd_kafka_message_t **msgs = malloc(BATCH * sizeof(*msgs));
    /* Which partitions reached their end (EOF mode), indexed like the assignment. */
    unsigned char *at_eof = calloc((size_t)nparts, 1);
    if (!msgs || !at_eof)
        abort();
    int eofs = 0, rc = 0;
    int64_t count = 0, bytes = 0, first_batch = 0;
    double t_first = 0, t_last = 0, deadline = t_start + (double)timeout_ms / 1000.0;
    while (!stop) {
        if (mono_s() > deadline) {
            fprintf(stderr, PROG ": timeout after %" PRId64 " ms with %" PRId64 " message(s)\n",
                    timeout_ms, count);
            rc = 1;
            break;
        }
        ssize_t n = rd_kafka_consume_batch_queue(q, 100, msgs, BATCH);
        if (n < 0) {
            fprintf(stderr, PROG ": consume: %s\n", rd_kafka_err2str(rd_kafka_last_error()));
            rc = 1;
            break;
        }
        int64_t before = count;
        for (ssize_t i = 0; i < n; i++) {
            rd_kafka_message_t *m = msgs[i];
            if (!m->err) {
                count++;
                bytes += (int64_t)m->len;
            } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                for (int k = 0; k < ntopics; k++) {
                    int idx = base[k] + m->partition;
                    if (!strcmp(topics[k], rd_kafka_topic_name(m->rkt)) && idx < nparts &&
                        !at_eof[idx]) {
                        at_eof[idx] = 1;
                        eofs++;
                    }
                }
            } else {
                fprintf(stderr, PROG ": %s\n", rd_kafka_message_errstr(m));
            }
            rd_kafka_message_destroy(m);
        }
        if (count > before) {
            t_last = mono_s();
            if (t_first == 0) {
                t_first = t_last;
                first_batch = count;
            }
        }
        if ((expect > 0 && count >= expect) || (expect <= 0 && eofs >= nparts))
            break;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double secs = t_last > t_first ? t_last - t_first : 0;
    /* The first batch arrived before t_first was taken: the rate counts only what came after. */
    printf("{\"messages\":%" PRId64 ",\"bytes\":%" PRId64 ",\"seconds\":%.6f,\"rate\":%.1f,"
           "\"start_to_first_ms\":%.1f,\"partitions\":%d,\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f}\n",
           count, bytes, secs, secs > 0 ? (double)(count - first_batch) / secs : 0.0,
           t_first > 0 ? (t_first - t_start) * 1000.0 : -1.0, nparts,
           (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
    fflush(stdout);
    free(msgs);
    free(at_eof);
    free(base);
    rd_kafka_queue_destroy(q);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    if (stop)
        rc = 1;
    return rc;
}

static rd_kafka_t *admin_new(const char *brokers) {
    char err[512];
    rd_kafka_conf_t *kc = make_conf(EVF_KAFKA_ADMIN, brokers, NULL, 0);
    if (!kc)
        return NULL;
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof(err));
    if (!rk)
        fprintf(stderr, PROG ": %s\n", err);
    return rk;
}

static int run_delete_prefix(const char *brokers, const char *prefix) {
    char err[512];
    if (strncmp(prefix, "bench.", 6) != 0 || strlen(prefix) < 8) {
        fprintf(stderr, PROG ": --delete-prefix: '%s' does not start with \"bench.\"\n", prefix);
        return 2;
    }
    rd_kafka_t *rk = admin_new(brokers);
    if (!rk)
        return 1;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t merr = rd_kafka_metadata(rk, 1, NULL, &md, 10000);
    if (merr) {
        fprintf(stderr, PROG ": metadata: %s\n", rd_kafka_err2str(merr));
        rd_kafka_destroy(rk);
        return 1;
    }
    const char **names = calloc((size_t)md->topic_cnt + 1, sizeof(*names));
    if (!names)
        abort();
    size_t n = 0;
    for (int i = 0; i < md->topic_cnt; i++)
        if (!strncmp(md->topics[i].topic, prefix, strlen(prefix)))
            names[n++] = md->topics[i].topic;
    int rc = 0;
    if (n > 0 && evf_kafka_delete_topics(rk, names, n, ADMIN_TIMEOUT_MS, err, sizeof(err)) != 0) {
        fprintf(stderr, PROG ": delete topics: %s\n", err);
        rc = 1;
    }
    printf("{\"deleted_topics\":%zu}\n", rc ? 0 : n);
    free(names);
    rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);
    return rc;
}

static int run_delete_groups(const char *brokers, char **groups, int ngroups) {
    rd_kafka_t *rk = admin_new(brokers);
    if (!rk)
        return 1;
    rd_kafka_DeleteGroup_t **dg = calloc((size_t)ngroups, sizeof(*dg));
    if (!dg)
        abort();
    for (int i = 0; i < ngroups; i++)
        dg[i] = rd_kafka_DeleteGroup_new(groups[i]);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DELETEGROUPS);
    char err[512];
    rd_kafka_AdminOptions_set_request_timeout(opts, ADMIN_TIMEOUT_MS, err, sizeof(err));
    rd_kafka_DeleteGroups(rk, dg, (size_t)ngroups, opts, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, ADMIN_TIMEOUT_MS + 5000);
    int rc = 0, deleted = 0;
    if (!ev) {
        fprintf(stderr, PROG ": DeleteGroups: no result\n");
        rc = 1;
    } else if (rd_kafka_event_error(ev)) {
        fprintf(stderr, PROG ": DeleteGroups: %s\n", rd_kafka_event_error_string(ev));
        rc = 1;
    } else {
        size_t n = 0;
        const rd_kafka_group_result_t **res =
            rd_kafka_DeleteGroups_result_groups(rd_kafka_event_DeleteGroups_result(ev), &n);
        for (size_t i = 0; i < n; i++) {
            const rd_kafka_error_t *e = rd_kafka_group_result_error(res[i]);
            if (e)
                fprintf(stderr, PROG ": group %s: %s\n", rd_kafka_group_result_name(res[i]),
                        rd_kafka_error_string(e));
            else
                deleted++;
        }
    }
    printf("{\"deleted_groups\":%d}\n", deleted);
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(q);
    rd_kafka_DeleteGroup_destroy_array(dg, (size_t)ngroups);
    free(dg);
    rd_kafka_destroy(rk);
    return rc;
}

int main(int argc, char **argv) {
    enum { OPT_EXPECT = 1000, OPT_TIMEOUT, OPT_DELETE_PREFIX, OPT_DELETE_GROUPS };
    static const struct option longopts[] = {
        {"expect", required_argument, NULL, OPT_EXPECT},
        {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
        {"delete-prefix", required_argument, NULL, OPT_DELETE_PREFIX},
        {"delete-groups", no_argument, NULL, OPT_DELETE_GROUPS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *brokers = NULL, *delete_prefix = NULL;
    char *settings[MAX_SETTINGS];
    size_t nsettings = 0;
    int64_t expect = 0, timeout_ms = 300000;
    int delete_groups = 0, c;

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
        case OPT_TIMEOUT:
            timeout_ms = strtoll(optarg, NULL, 10);
            break;
        case OPT_DELETE_PREFIX:
            delete_prefix = optarg;
            break;
        case OPT_DELETE_GROUPS:
            delete_groups = 1;
            break;
        case 'h':
            usage();
            return 0;
        default:
            return usage();
        }
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    if (delete_prefix)
        return optind == argc ? run_delete_prefix(brokers, delete_prefix) : usage();
    if (optind == argc)
        return usage();
    if (delete_groups)
        return run_delete_groups(brokers, argv + optind, argc - optind);
    return run_count(brokers, settings, nsettings, expect, timeout_ms > 0 ? timeout_ms : 300000,
                     argv + optind, argc - optind);
}
