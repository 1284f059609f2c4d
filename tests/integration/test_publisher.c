/* tests/integration/test_publisher.c — the publishing library against the real local broker:
 * events published and read back byte for byte with their key and CloudEvents headers, delivery
 * reports with the caller's opaque, counters, and bounded failure when the broker is down. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "event.h"
#include "kafka.h"
#include "publisher.h"
#include "testutil.h"

#define TMO 30000

/* One published message, the opaque handed to evf_pub_send_event. */
typedef struct {
    int index;
    int reports; /* delivery reports received for it */
    rd_kafka_resp_err_t err;
    int32_t partition;
    int64_t offset;
    int read_back;
    evf_event_t *ev;
    uint8_t *value;
    size_t value_len;
    char key[256];
    size_t key_len;
} sent_t;

typedef struct {
    int reports;
    int errors;
    int foreign; /* reports whose opaque was not one of ours */
    sent_t *sent;
    int n_sent;
} dr_state_t;

static void dr_cb(void *msg_opaque, rd_kafka_resp_err_t err, const char *topic, int32_t partition,
                  int64_t offset, void *cb_opaque) {
    dr_state_t *st = cb_opaque;
    sent_t *s = msg_opaque;
    (void)topic;
    st->reports++;
    if (err)
        st->errors++;
    if (!s || s < st->sent || s >= st->sent + st->n_sent) {
        st->foreign++;
        return;
    }
    s->reports++;
    s->err = err;
    s->partition = partition;
    s->offset = offset;
}

static void conf_set(evf_conf_t *conf, const char *key, const char *value) {
    char err[512];
    ck_assert_msg(evf_conf_set(conf, key, value, "test", err, sizeof(err)) == 0, "%s: %s", key,
                  err);
}

/* Event i of a mix: S3, stream and IoT in turn, with attributes on some. */
static evf_event_t *make_event(const char *run, int i) {
    evf_event_t *ev = evf_event_new();
    char buf[256];

    snprintf(buf, sizeof(buf), "%s-evt-%05d", run, i);
    evf_event_set_str(&ev->id, buf);
    ev->time_ms = 1767225600000LL + i * 1234LL;
    switch (i % 3) {
    case 0: {
        ev->source = EVFLEET__V1__SOURCE__S3;
        evf_event_set_str(&ev->type, i % 2 ? "s3:ObjectCreated:Put" : "s3:ObjectRemoved:Delete");
        Evfleet__V1__S3Object *s3 = evf_event_set_s3(ev);
        evf_event_set_str(&s3->bucket, "photos");
        snprintf(buf, sizeof(buf), "2026/01/obj-%d.jpg", i % 50);
        evf_event_set_str(&s3->key, buf);
        s3->size = 1000 + i;
        snprintf(buf, sizeof(buf), "etag%08x", (unsigned)i * 2654435761u);
        evf_event_set_str(&s3->etag, buf);
        snprintf(buf, sizeof(buf), "%016X", (unsigned)i);
        evf_event_set_str(&s3->sequencer, buf);
        evf_event_set_str(&s3->event_name, ev->type);
        evf_event_set_str(&s3->region, "eu-west-1");
        snprintf(buf, sizeof(buf), "photos/%s", s3->key);
        evf_event_set_str(&ev->subject, buf);
        break;
    }
    case 1: {
        ev->source = EVFLEET__V1__SOURCE__STREAM;
        Evfleet__V1__StreamRecord *st = evf_event_set_stream(ev);
        evf_event_set_str(&st->table, "orders");
        st->op = (Evfleet__V1__StreamOp)(1 + i % 3);
        evf_event_set_str(&ev->type, st->op == EVFLEET__V1__STREAM_OP__INSERT   ? "stream:INSERT"
                                     : st->op == EVFLEET__V1__STREAM_OP__MODIFY ? "stream:MODIFY"
                                                                                : "stream:REMOVE");
        snprintf(buf, sizeof(buf), "{\"order_id\": %d, \"region\": \"eu\"}", i % 40);
        evf_event_set_str(&st->keys, buf);
        snprintf(buf, sizeof(buf), "{\"order_id\":%d,\"total\":%d.5,\"note\":\"caf\xc3\xa9\"}",
                 i % 40, i);
        evf_event_set_str(&st->new_image, buf);
        snprintf(buf, sizeof(buf), "%020d", i);
        evf_event_set_str(&st->sequence_number, buf);
        st->approximate_creation_ms = ev->time_ms - 5;
        snprintf(buf, sizeof(buf), "orders/%d", i % 40);
        evf_event_set_str(&ev->subject, buf);
        break;
    }
    default: {
        ev->source = EVFLEET__V1__SOURCE__IOT;
        evf_event_set_str(&ev->type, "iot:telemetry");
        Evfleet__V1__IotTelemetry *iot = evf_event_set_iot(ev);
        snprintf(buf, sizeof(buf), "sensor-%02d", i % 7);
        evf_event_set_str(&iot->device_id, buf);
        evf_event_set_str(&ev->subject, buf);
        evf_event_set_str(&iot->metric, "temperature");
        iot->value = 20.0 + i * 0.25;
        evf_event_set_str(&iot->unit, "C");
        if (i % 2) {
            evf_event_iot_set_reading(iot, "humidity", 40.5 + i % 10);
            evf_event_iot_set_reading(iot, "pressure", 1013.25);
        }
        break;
    }
    }
    if (i % 4 == 0) {
        evf_event_set_attr(ev, "tenant", "acme");
        snprintf(buf, sizeof(buf), "trace-%d", i);
        evf_event_set_attr(ev, "trace", buf);
    }
    return ev;
}

static void sent_init(sent_t *sent, int n, const char *run) {
    for (int i = 0; i < n; i++) {
        memset(&sent[i], 0, sizeof(sent[i]));
        sent[i].index = i;
        sent[i].partition = -1;
        sent[i].offset = -1;
        sent[i].ev = make_event(run, i);
        sent[i].value = evf_event_encode(sent[i].ev, &sent[i].value_len);
        sent[i].key_len = evf_event_kafka_key(sent[i].ev, sent[i].key, sizeof(sent[i].key));
        ck_assert_uint_lt(sent[i].key_len, sizeof(sent[i].key));
    }
}

static void sent_free(sent_t *sent, int n) {
    for (int i = 0; i < n; i++) {
        evf_event_free(sent[i].ev);
        free(sent[i].value);
    }
}

static rd_kafka_t *admin_new(const evf_conf_t *conf) {
    char err[512];
    rd_kafka_conf_t *kconf = evf_kafka_conf_new(conf, EVF_KAFKA_ADMIN, err, sizeof(err));
    ck_assert_msg(kconf != NULL, "%s", err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kconf, err, sizeof(err));
    ck_assert_msg(rk != NULL, "%s", err);
    return rk;
}

static void delete_topic(const evf_conf_t *conf, const char *topic) {
    char err[512];
    rd_kafka_t *rk = admin_new(conf);
    const char *del[] = {topic};
    ck_assert_msg(evf_kafka_delete_topics(rk, del, 1, TMO, err, sizeof(err)) == 0, "%s", err);
    rd_kafka_destroy(rk);
}

static const char *header_value(rd_kafka_headers_t *hdrs, const char *name, char *out,
                                size_t out_size) {
    const void *val = NULL;
    size_t size = 0;
    if (!hdrs || rd_kafka_header_get_last(hdrs, name, &val, &size) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return NULL;
    if (size >= out_size)
        size = out_size - 1;
    memcpy(out, val, size);
    out[size] = '\0';
    return out;
}

/* Reads every message of topic from the beginning with a plain READER consumer and checks each
 * against what was sent: value byte for byte, key, CloudEvents headers, partition and offset. */
static void read_back(const evf_conf_t *conf, const char *topic, int partitions, sent_t *sent,
                      int n, const char *run) {
    char err[512], group[128], hv[256], prefix[128];
    rd_kafka_conf_t *kconf = evf_kafka_conf_new(conf, EVF_KAFKA_READER, err, sizeof(err));
    ck_assert_msg(kconf != NULL, "%s", err);
    evf_test_unique(group, sizeof(group), "evf_test_pub_reader");
    ck_assert_int_eq(evf_kafka_conf_set(kconf, "group.id", group, err, sizeof(err)), 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kconf, err, sizeof(err));
    ck_assert_msg(rk != NULL, "%s", err);
    rd_kafka_poll_set_consumer(rk);

    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    ck_assert_int_eq(rd_kafka_assign(rk, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);

    snprintf(prefix, sizeof(prefix), "%s-evt-", run);
    /* Until every event is back and every partition has reached its end (so nothing extra). */
    int got = 0, at_end[16] = {0}, ends = 0;
    ck_assert_int_le(partitions, 16);
    int64_t deadline = evf_test_now_ms() + 60000;
    while ((got < n || ends < partitions) && evf_test_now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (!at_end[m->partition]++)
                ends++;
            rd_kafka_message_destroy(m);
            continue;
        }
        ck_assert_msg(m->err == 0, "consume: %s", rd_kafka_message_errstr(m));
        ck_assert_msg(!at_end[m->partition], "message after the end of partition %d",
                      (int)m->partition);

        rd_kafka_headers_t *hdrs = NULL;
        ck_assert_int_eq(rd_kafka_message_headers(m, &hdrs), RD_KAFKA_RESP_ERR_NO_ERROR);
        ck_assert_ptr_nonnull(header_value(hdrs, "ce_id", hv, sizeof(hv)));
        ck_assert_msg(!strncmp(hv, prefix, strlen(prefix)), "foreign message %s", hv);
        int i = atoi(hv + strlen(prefix));
        ck_assert_int_ge(i, 0);
        ck_assert_int_lt(i, n);
        sent_t *s = &sent[i];
        ck_assert_msg(s->read_back == 0, "event %d read twice", i);
        s->read_back = 1;
        got++;

        /* Value: exactly evf_event_encode's bytes. */
        ck_assert_uint_eq(m->len, s->value_len);
        ck_assert_msg(memcmp(m->payload, s->value, s->value_len) == 0, "value %d differs", i);
        /* Key: evf_event_kafka_key. */
        ck_assert_uint_eq(m->key_len, s->key_len);
        ck_assert_msg(memcmp(m->key, s->key, s->key_len) == 0, "key %d differs", i);
        /* Where the delivery report said it went. */
        ck_assert_int_eq(m->partition, s->partition);
        ck_assert_int_eq(m->offset, s->offset);

        /* Headers: the contract's fixed values, and exactly evf_event_ce_headers' list. */
        ck_assert_str_eq(header_value(hdrs, "ce_specversion", hv, sizeof(hv)), "1.0");
        ck_assert_str_eq(header_value(hdrs, "ce_id", hv, sizeof(hv)), s->ev->id);
        ck_assert_str_eq(header_value(hdrs, "ce_type", hv, sizeof(hv)), s->ev->type);
        ck_assert_str_eq(header_value(hdrs, "ce_source", hv, sizeof(hv)),
                         evf_event_ce_source(s->ev));
        ck_assert_ptr_nonnull(header_value(hdrs, "ce_time", hv, sizeof(hv)));
        ck_assert_str_eq(header_value(hdrs, "content-type", hv, sizeof(hv)),
                         "application/protobuf");
        evf_header_kv_t kv[16];
        char scratch[128];
        size_t nh = evf_event_ce_headers(s->ev, kv, 16, scratch, sizeof(scratch));
        ck_assert_uint_eq(rd_kafka_header_cnt(hdrs), nh);
        for (size_t h = 0; h < nh; h++) {
            const char *got_v = header_value(hdrs, kv[h].name, hv, sizeof(hv));
            ck_assert_msg(got_v != NULL, "header %s missing", kv[h].name);
            ck_assert_str_eq(got_v, kv[h].value);
        }
        /* And it decodes to the same event. */
        evf_event_t *back = evf_event_decode(m->payload, m->len, err, sizeof(err));
        ck_assert_msg(back != NULL, "%s", err);
        ck_assert_str_eq(back->id, s->ev->id);
        evf_event_free(back);
        rd_kafka_message_destroy(m);
    }
    ck_assert_int_eq(got, n);
    ck_assert_int_eq(ends, partitions);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

/* Publishes n events to a fresh topic (created by the publisher: create_topics), checks the
 * delivery reports and counters, reads everything back. */
static void publish_and_verify(int n, int poll_thread, const char *compression) {
    char err[512], topic[128], run[64];
    evf_conf_t *conf = evf_test_conf();
    conf_set(conf, "topics.partitions", "3");
    conf_set(conf, "topics.replication.factor", "1");
    if (compression)
        conf_set(conf, "kafka.compression.type", compression);
    evf_test_unique(topic, sizeof(topic), "evf_test_pub");
    evf_test_unique(run, sizeof(run), "run");

    sent_t *sent = calloc((size_t)n, sizeof(*sent));
    sent_init(sent, n, run);
    dr_state_t st = {.sent = sent, .n_sent = n};
    evf_pub_opts_t opts = {.client_id = "evf-test-publisher",
                           .dr_cb = dr_cb,
                           .dr_opaque = &st,
                           .poll_thread = poll_thread,
                           .create_topics = 1};
    evf_pub_t *pub = evf_pub_new(conf, &opts, err, sizeof(err));
    ck_assert_msg(pub != NULL, "%s", err);

    for (int i = 0; i < n; i++) {
        evf_err_t rc = evf_pub_send_event(pub, topic, sent[i].ev, &sent[i], 10000, err,
                                          sizeof(err));
        ck_assert_msg(rc == EVF_OK, "send %d: %s: %s", i, evf_err_name(rc), err);
        if (!poll_thread && i % 100 == 99)
            evf_pub_poll(pub, 0);
    }
    ck_assert_int_eq(evf_pub_flush(pub, TMO), 0);

    /* The publisher created the topic with topics.partitions. */
    ck_assert_int_eq(evf_kafka_partition_count(evf_pub_handle(pub), topic, TMO, err, sizeof(err)),
                     3);

    ck_assert_int_eq(st.reports, n);
    ck_assert_int_eq(st.errors, 0);
    ck_assert_int_eq(st.foreign, 0);
    int used[3] = {0, 0, 0};
    for (int i = 0; i < n; i++) {
        ck_assert_msg(sent[i].reports == 1, "event %d: %d reports", i, sent[i].reports);
        ck_assert_int_eq(sent[i].err, RD_KAFKA_RESP_ERR_NO_ERROR);
        ck_assert_int_ge(sent[i].partition, 0);
        ck_assert_int_lt(sent[i].partition, 3);
        ck_assert_int_ge(sent[i].offset, 0);
        used[sent[i].partition]++;
    }
    /* Keys spread over the partitions (and one key always lands on one partition). */
    if (n >= 300)
        ck_assert(used[0] > 0 && used[1] > 0 && used[2] > 0);
    for (int i = 0; i < n; i++) {
        for (int j = i + 1; j < n && j < i + 60; j++) {
            if (sent[i].key_len == sent[j].key_len && !memcmp(sent[i].key, sent[j].key,
                                                              sent[i].key_len))
                ck_assert_int_eq(sent[i].partition, sent[j].partition);
        }
    }

    evf_pub_stats_t stats;
    evf_pub_stats(pub, &stats);
    ck_assert_uint_eq(stats.queued, (uint64_t)n);
    ck_assert_uint_eq(stats.delivered, (uint64_t)n);
    ck_assert_uint_eq(stats.failed, 0);
    ck_assert_int_eq(stats.last_err, RD_KAFKA_RESP_ERR_NO_ERROR);

    ck_assert_int_eq(evf_pub_destroy(pub, TMO), 0);
    ck_assert_int_eq(st.reports, n); /* nothing more after destroy */

    read_back(conf, topic, 3, sent, n, run);
    delete_topic(conf, topic);
    sent_free(sent, n);
    free(sent);
    evf_conf_destroy(conf);
}

START_TEST(test_publish_1000_read_back) {
    publish_and_verify(1000, 0, NULL);
}
END_TEST

START_TEST(test_publish_poll_thread_zstd) {
    publish_and_verify(300, 1, "zstd");
}
END_TEST

START_TEST(test_send_raw_and_options) {
    char err[512], topic[128], v[64];
    evf_conf_t *conf = evf_test_conf();
    evf_test_unique(topic, sizeof(topic), "evf_test_pub_raw");

    /* A topic that takes messages of up to 3 MB, and a publisher raised to match. */
    rd_kafka_t *admin = admin_new(conf);
    evf_topic_spec_t spec = {.name = topic,
                             .partitions = 1,
                             .replication_factor = 1,
                             .max_message_bytes = 3000000};
    ck_assert_msg(evf_kafka_ensure_topics(admin, &spec, 1, TMO, err, sizeof(err)) == 0, "%s",
                  err);
    rd_kafka_destroy(admin);

    dr_state_t st = {0};
    evf_pub_opts_t big = {.dr_cb = dr_cb, .dr_opaque = &st, .message_max_bytes = 3000000};
    evf_pub_t *pub = evf_pub_new(conf, &big, err, sizeof(err));
    ck_assert_msg(pub != NULL, "%s", err);
    size_t sz = sizeof(v);
    ck_assert_int_eq(rd_kafka_conf_get(rd_kafka_conf(evf_pub_handle(pub)), "message.max.bytes", v,
                                       &sz),
                     RD_KAFKA_CONF_OK);
    ck_assert_str_eq(v, "3000000");
    sz = sizeof(v);
    ck_assert_int_eq(rd_kafka_conf_get(rd_kafka_conf(evf_pub_handle(pub)), "client.id", v, &sz),
                     RD_KAFKA_CONF_OK);
    ck_assert_str_eq(v, "evfleet-produce");

    size_t big_len = 1500000;
    char *payload = malloc(big_len);
    memset(payload, 'p', big_len);
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(2);
    rd_kafka_header_add(hdrs, "x-test", -1, "yes", -1);
    ck_assert_int_eq(evf_pub_send(pub, topic, 0, "k1", 2, payload, big_len, hdrs, NULL, 1000,
                                  err, sizeof(err)),
                     EVF_OK);
    ck_assert_int_eq(evf_pub_send(pub, topic, RD_KAFKA_PARTITION_UA, NULL, 0, "small", 5, NULL,
                                  NULL, 1000, err, sizeof(err)),
                     EVF_OK);
    ck_assert_int_eq(evf_pub_flush(pub, TMO), 0);
    ck_assert_int_eq(st.reports, 2);
    ck_assert_int_eq(st.errors, 0);
    ck_assert_int_eq(evf_pub_destroy(pub, TMO), 0);

    /* The default publisher refuses the same message at once: no report will come. */
    dr_state_t st2 = {0};
    evf_pub_opts_t dflt = {.dr_cb = dr_cb, .dr_opaque = &st2};
    pub = evf_pub_new(conf, &dflt, err, sizeof(err));
    ck_assert_msg(pub != NULL, "%s", err);
    hdrs = rd_kafka_headers_new(1);
    rd_kafka_header_add(hdrs, "x-test", -1, "yes", -1);
    err[0] = '\0';
    ck_assert_int_eq(evf_pub_send(pub, topic, 0, "k1", 2, payload, big_len, hdrs, NULL, 1000,
                                  err, sizeof(err)),
                     EVF_ERR_INVALID);
    ck_assert_msg(strstr(err, topic) != NULL, "%s", err);
    /* Invalid topic names are refused before librdkafka. */
    ck_assert_int_eq(evf_pub_send(pub, "", 0, NULL, 0, "x", 1, NULL, NULL, 0, err, sizeof(err)),
                     EVF_ERR_INVALID);
    evf_pub_stats_t stats;
    evf_pub_stats(pub, &stats);
    ck_assert_uint_eq(stats.queued, 0);
    ck_assert_uint_eq(stats.failed, 2);
    ck_assert(stats.last_reason[0] != '\0');
    ck_assert_int_eq(evf_pub_destroy(pub, TMO), 0);
    ck_assert_int_eq(st2.reports, 0);
    free(payload);

    delete_topic(conf, topic);
    evf_conf_destroy(conf);
}
END_TEST

/* Broker unreachable: deliveries fail after message.timeout.ms, counted, no hang. */
START_TEST(test_unreachable_fails_bounded) {
    char err[512], run[64];
    const int n = 50;
    evf_conf_t *conf = evf_conf_new();
    conf_set(conf, "kafka.bootstrap.servers", "127.0.0.1:1");
    conf_set(conf, "kafka.message.timeout.ms", "2000");
    evf_test_unique(run, sizeof(run), "down");

    sent_t *sent = calloc(n, sizeof(*sent));
    sent_init(sent, n, run);
    dr_state_t st = {.sent = sent, .n_sent = n};
    evf_pub_opts_t opts = {.dr_cb = dr_cb, .dr_opaque = &st};
    evf_pub_t *pub = evf_pub_new(conf, &opts, err, sizeof(err));
    ck_assert_msg(pub != NULL, "%s", err);

    int64_t t0 = evf_test_now_ms();
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(evf_pub_send_event(pub, "evf_test_pub_down", sent[i].ev, &sent[i], 1000,
                                            err, sizeof(err)),
                         EVF_OK);
    ck_assert_int_eq(evf_pub_flush(pub, TMO), 0);
    int64_t elapsed = evf_test_now_ms() - t0;
    ck_assert_msg(elapsed < 30000, "took %" PRId64 " ms", elapsed);

    ck_assert_int_eq(st.reports, n);
    ck_assert_int_eq(st.errors, n);
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(sent[i].reports, 1);
        ck_assert_int_ne(sent[i].err, RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    evf_pub_stats_t stats;
    evf_pub_stats(pub, &stats);
    ck_assert_uint_eq(stats.queued, (uint64_t)n);
    ck_assert_uint_eq(stats.delivered, 0);
    ck_assert_uint_eq(stats.failed, (uint64_t)n);
    ck_assert_int_ne(stats.last_err, RD_KAFKA_RESP_ERR_NO_ERROR);
    ck_assert_msg(stats.last_reason[0] != '\0', "empty last_reason");
    ck_assert_int_eq(evf_pub_destroy(pub, 5000), 0);

    sent_free(sent, n);
    free(sent);
    evf_conf_destroy(conf);
}
END_TEST

/* Destroy before the messages time out: what is left is purged, reported and counted. */
START_TEST(test_destroy_purges_undelivered) {
    char err[512], run[64];
    const int n = 20;
    evf_conf_t *conf = evf_conf_new();
    conf_set(conf, "kafka.bootstrap.servers", "127.0.0.1:1");
    evf_test_unique(run, sizeof(run), "purge");

    for (int poll_thread = 0; poll_thread <= 1; poll_thread++) {
        sent_t *sent = calloc(n, sizeof(*sent));
        sent_init(sent, n, run);
        dr_state_t st = {.sent = sent, .n_sent = n};
        evf_pub_opts_t opts = {.dr_cb = dr_cb, .dr_opaque = &st, .poll_thread = poll_thread};
        evf_pub_t *pub = evf_pub_new(conf, &opts, err, sizeof(err));
        ck_assert_msg(pub != NULL, "%s", err);
        for (int i = 0; i < n; i++)
            ck_assert_int_eq(evf_pub_send_event(pub, "evf_test_pub_down", sent[i].ev, &sent[i],
                                                1000, err, sizeof(err)),
                             EVF_OK);
        ck_assert_int_eq(evf_pub_flush(pub, 200), n);
        int64_t t0 = evf_test_now_ms();
        ck_assert_int_eq(evf_pub_destroy(pub, 300), n);
        ck_assert_int_lt(evf_test_now_ms() - t0, 10000);
        /* Every opaque came back, as a failure. */
        ck_assert_int_eq(st.reports, n);
        ck_assert_int_eq(st.errors, n);
        for (int i = 0; i < n; i++) {
            ck_assert_int_eq(sent[i].reports, 1);
            ck_assert_int_eq(sent[i].err, RD_KAFKA_RESP_ERR__PURGE_QUEUE);
        }
        sent_free(sent, n);
        free(sent);
    }
    evf_conf_destroy(conf);
}
END_TEST

/* A full local queue: send waits queue_wait_ms, then EVF_ERR_FULL, counted, headers freed. */
START_TEST(test_queue_full) {
    char err[512];
    evf_conf_t *conf = evf_conf_new();
    conf_set(conf, "kafka.bootstrap.servers", "127.0.0.1:1");
    conf_set(conf, "kafka.queue.buffering.max.messages", "5");

    dr_state_t st = {0};
    evf_pub_opts_t opts = {.dr_cb = dr_cb, .dr_opaque = &st};
    evf_pub_t *pub = evf_pub_new(conf, &opts, err, sizeof(err));
    ck_assert_msg(pub != NULL, "%s", err);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(evf_pub_send(pub, "evf_test_full", 0, "k", 1, "v", 1, NULL, NULL, 0, err,
                                      sizeof(err)),
                         EVF_OK);
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(1);
    rd_kafka_header_add(hdrs, "h", -1, "v", -1);
    int64_t t0 = evf_test_now_ms();
    ck_assert_int_eq(evf_pub_send(pub, "evf_test_full", 0, "k", 1, "v", 1, hdrs, NULL, 300, err,
                                  sizeof(err)),
                     EVF_ERR_FULL);
    int64_t waited = evf_test_now_ms() - t0;
    ck_assert_int_ge(waited, 250);
    ck_assert_int_lt(waited, 5000);
    ck_assert_msg(strstr(err, "full") != NULL, "%s", err);

    evf_pub_stats_t stats;
    evf_pub_stats(pub, &stats);
    ck_assert_uint_eq(stats.queued, 5);
    ck_assert_uint_eq(stats.failed, 1);
    ck_assert_int_eq(stats.last_err, RD_KAFKA_RESP_ERR__QUEUE_FULL);
    ck_assert_int_eq(evf_pub_destroy(pub, 0), 5);
    ck_assert_int_eq(st.reports, 5);
    evf_conf_destroy(conf);
}
END_TEST

START_TEST(test_bad_conf_no_secret) {
    char err[512];
    evf_conf_t *conf = evf_conf_new();
    conf_set(conf, "kafka.sasl.password", "Pa55-Never-Shown");
    conf_set(conf, "kafka.acks", "1"); /* idempotence needs acks=all: refused by rd_kafka_new */
    err[0] = '\0';
    ck_assert_ptr_null(evf_pub_new(conf, NULL, err, sizeof(err)));
    ck_assert_msg(err[0] != '\0', "reason expected");
    ck_assert_msg(strstr(err, "Pa55") == NULL, "secret leaked: %s", err);
    evf_conf_destroy(conf);
    ck_assert_int_eq(evf_pub_destroy(NULL, 0), 0);
}
END_TEST

static Suite *publisher_suite(void) {
    Suite *s = suite_create("publisher");
    TCase *tc = tcase_create("broker");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_publish_1000_read_back);
    tcase_add_test(tc, test_publish_poll_thread_zstd);
    tcase_add_test(tc, test_send_raw_and_options);
    suite_add_tcase(s, tc);

    TCase *down = tcase_create("down");
    tcase_set_timeout(down, 120);
    tcase_add_test(down, test_unreachable_fails_bounded);
    tcase_add_test(down, test_destroy_purges_undelivered);
    tcase_add_test(down, test_queue_full);
    tcase_add_test(down, test_bad_conf_no_secret);
    suite_add_tcase(s, down);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(publisher_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
