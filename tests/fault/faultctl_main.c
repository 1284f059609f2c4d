/* tests/fault/faultctl_main.c — the fault suite's Kafka helper (built into $(BUILD)/fault/faultctl).
 *
 *   faultctl [-b BROKERS] lag GROUP TOPIC...
 *       The group's lag on every partition of the TOPICs: high watermark minus the committed
 *       offset (a partition without a committed offset counts from its low watermark). Prints
 *       one JSON object: {"lag": total, "partitions": n, "behind": [[topic, partition,
 *       committed, low, high], ...]} (behind lists the partitions with lag > 0).
 *   faultctl [-b BROKERS] delete PREFIX GROUP...
 *       Delete every topic whose name starts with PREFIX (which must start with "fault.", so
 *       this never removes anything but the suite's own topics), then the consumer groups.
 *
 * Exit: 0 ok, 1 runtime failure (broker error, timeout), 2 usage. */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROG "faultctl"
#define CALL_MS 10000
#define ADMIN_MS 30000

static int usage(void) {
    fprintf(stderr, "usage: " PROG " [-b BROKERS] lag GROUP TOPIC...\n"
                    "       " PROG " [-b BROKERS] delete fault.PREFIX [GROUP...]\n");
    return 2;
}

static rd_kafka_t *client(rd_kafka_type_t type, const char *brokers, const char *group) {
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof(err)) ||
        rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err)) ||
        (group && rd_kafka_conf_set(conf, "group.id", group, err, sizeof(err))) ||
        (group && rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err)))) {
        fprintf(stderr, PROG ": %s\n", err);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof(err));
    if (!rk)
        fprintf(stderr, PROG ": %s\n", err);
    return rk;
}

static int partition_count(rd_kafka_t *rk, const char *topic) {
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, CALL_MS);
    rd_kafka_topic_destroy(rkt);
    if (err) {
        fprintf(stderr, PROG ": metadata of %s: %s\n", topic, rd_kafka_err2str(err));
        return -1;
    }
    int n = -1;
    if (md->topic_cnt == 1) {
        if (md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
            n = 0;
        else if (!md->topics[0].err)
            n = md->topics[0].partition_cnt;
        else
            fprintf(stderr, PROG ": metadata of %s: %s\n", topic,
                    rd_kafka_err2str(md->topics[0].err));
    }
    rd_kafka_metadata_destroy(md);
    return n;
}

static int run_lag(const char *brokers, const char *group, char **topics, int ntopics) {
    rd_kafka_t *rk = client(RD_KAFKA_CONSUMER, brokers, group);
    if (!rk)
        return 1;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(64);
    int rc = 0;
    for (int t = 0; t < ntopics && !rc; t++) {
        int n = partition_count(rk, topics[t]);
        if (n < 0)
            rc = 1;
        for (int p = 0; p < n; p++)
            rd_kafka_topic_partition_list_add(parts, topics[t], p);
    }
    rd_kafka_resp_err_t err = rc ? 0 : rd_kafka_committed(rk, parts, CALL_MS);
    if (err) {
        fprintf(stderr, PROG ": committed offsets of %s: %s\n", group, rd_kafka_err2str(err));
        rc = 1;
    }
    int64_t total = 0;
    if (!rc) {
        printf("{\"behind\": [");
        int first = 1;
        for (int i = 0; i < parts->cnt && !rc; i++) {
            rd_kafka_topic_partition_t *tp = &parts->elems[i];
            int64_t lo = 0, hi = 0;
            err = rd_kafka_query_watermark_offsets(rk, tp->topic, tp->partition, &lo, &hi,
                                                   CALL_MS);
            if (err) {
                fprintf(stderr, PROG ": watermarks of %s [%" PRId32 "]: %s\n", tp->topic,
                        tp->partition, rd_kafka_err2str(err));
                rc = 1;
                break;
            }
            int64_t from = tp->offset >= 0 ? tp->offset : lo;
            int64_t lag = hi > from ? hi - from : 0;
            total += lag;
            if (lag > 0) {
                printf("%s[\"%s\", %" PRId32 ", %" PRId64 ", %" PRId64 ", %" PRId64 "]",
                       first ? "" : ", ", tp->topic, tp->partition, tp->offset, lo, hi);
                first = 0;
            }
        }
        printf("], \"lag\": %" PRId64 ", \"partitions\": %d}\n", total, parts->cnt);
    }
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_destroy(rk);
    return rc;
}

static rd_kafka_event_t *admin_wait(rd_kafka_queue_t *q, const char *what) {
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, ADMIN_MS + 5000);
    if (!ev) {
        fprintf(stderr, PROG ": %s: no result\n", what);
        return NULL;
    }
    if (rd_kafka_event_error(ev)) {
        fprintf(stderr, PROG ": %s: %s\n", what, rd_kafka_event_error_string(ev));
        rd_kafka_event_destroy(ev);
        return NULL;
    }
    return ev;
}

static int run_delete(const char *brokers, const char *prefix, char **groups, int ngroups) {
    if (strncmp(prefix, "fault.", 6) != 0 || strlen(prefix) < 8) {
        fprintf(stderr, PROG ": delete: '%s' does not start with \"fault.\"\n", prefix);
        return 2;
    }
    rd_kafka_t *rk = client(RD_KAFKA_PRODUCER, brokers, NULL);
    if (!rk)
        return 1;
    int rc = 0;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, CALL_MS);
    if (err) {
        fprintf(stderr, PROG ": metadata: %s\n", rd_kafka_err2str(err));
        rd_kafka_destroy(rk);
        return 1;
    }
    rd_kafka_DeleteTopic_t **dt = calloc((size_t)md->topic_cnt + 1, sizeof(*dt));
    size_t ndt = 0;
    for (int i = 0; i < md->topic_cnt; i++) {
        if (!strncmp(md->topics[i].topic, prefix, strlen(prefix)))
            dt[ndt++] = rd_kafka_DeleteTopic_new(md->topics[i].topic);
    }
    rd_kafka_metadata_destroy(md);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    if (ndt) {
        rd_kafka_DeleteTopics(rk, dt, ndt, NULL, q);
        rd_kafka_event_t *ev = admin_wait(q, "DeleteTopics");
        if (!ev)
            rc = 1;
        else
            rd_kafka_event_destroy(ev);
        rd_kafka_DeleteTopic_destroy_array(dt, ndt);
    }
    free(dt);
    if (ngroups > 0) {
        rd_kafka_DeleteGroup_t **dg = calloc((size_t)ngroups, sizeof(*dg));
        for (int i = 0; i < ngroups; i++)
            dg[i] = rd_kafka_DeleteGroup_new(groups[i]);
        rd_kafka_DeleteGroups(rk, dg, (size_t)ngroups, NULL, q);
        rd_kafka_event_t *ev = admin_wait(q, "DeleteGroups");
        if (!ev)
            rc = 1;
        else
            rd_kafka_event_destroy(ev); /* an unknown or non-empty group is not fatal */
        rd_kafka_DeleteGroup_destroy_array(dg, (size_t)ngroups);
        free(dg);
    }
    printf("deleted %zu topic(s) starting with %s\n", ndt, prefix);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}

int main(int argc, char **argv) {
    const char *brokers = "127.0.0.1:9092";
    int i = 1;
    if (i + 1 < argc && !strcmp(argv[i], "-b")) {
        brokers = argv[i + 1];
        i += 2;
    }
    if (i >= argc)
        return usage();
    if (!strcmp(argv[i], "lag") && argc - i >= 3)
        return run_lag(brokers, argv[i + 1], argv + i + 2, argc - i - 2);
    if (!strcmp(argv[i], "delete") && argc - i >= 2)
        return run_delete(brokers, argv[i + 1], argv + i + 2, argc - i - 2);
    return usage();
}
