/* tests/integration/test_kafka_topics.c — Kafka client setup against the real local broker:
 * configuration per role and its errors, topic creation, configuration read-back, deletion. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "kafka.h"
#include "testutil.h"

#define TMO 30000

static rd_kafka_t *admin_new(evf_conf_t *conf) {
    char err[512];
    rd_kafka_conf_t *kconf = evf_kafka_conf_new(conf, EVF_KAFKA_ADMIN, err, sizeof(err));
    ck_assert_msg(kconf != NULL, "conf: %s", err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kconf, err, sizeof(err));
    ck_assert_msg(rk != NULL, "rd_kafka_new: %s", err);
    return rk;
}

static void conf_set(evf_conf_t *conf, const char *key, const char *value, const char *origin) {
    char err[512];
    ck_assert_msg(evf_conf_set(conf, key, value, origin, err, sizeof(err)) == 0, "%s: %s", key,
                  err);
}

static void get_prop(rd_kafka_conf_t *kconf, const char *name, char *out, size_t out_size) {
    size_t sz = out_size;
    ck_assert_msg(rd_kafka_conf_get(kconf, name, out, &sz) == RD_KAFKA_CONF_OK, "get %s", name);
}

static void topic_config(rd_kafka_t *rk, const char *topic, const char *name, char *out,
                         size_t out_size) {
    char err[512];
    ck_assert_msg(evf_kafka_topic_config(rk, topic, name, out, out_size, TMO, err,
                                         sizeof(err)) == 0,
                  "%s %s: %s", topic, name, err);
}

/* Deletion is asynchronous on the controller: wait until metadata no longer shows the topic. */
static void wait_gone(rd_kafka_t *rk, const char *topic) {
    char err[512];
    int64_t deadline = evf_test_now_ms() + TMO;
    int n;
    while ((n = evf_kafka_partition_count(rk, topic, TMO, err, sizeof(err))) != 0) {
        ck_assert_msg(n > 0, "partition_count: %s", err);
        ck_assert_msg(evf_test_now_ms() < deadline, "topic %s still there", topic);
        usleep(100 * 1000);
    }
}

START_TEST(test_role_defaults) {
    char err[512], v[256];
    evf_conf_t *conf = evf_conf_new();
    rd_kafka_conf_t *kc;

    kc = evf_kafka_conf_new(conf, EVF_KAFKA_CONSUMER, err, sizeof(err));
    ck_assert_msg(kc != NULL, "%s", err);
    get_prop(kc, "bootstrap.servers", v, sizeof(v));
    ck_assert_str_eq(v, "127.0.0.1:9092");
    get_prop(kc, "client.id", v, sizeof(v));
    ck_assert_str_eq(v, "evfleet");
    get_prop(kc, "enable.auto.offset.store", v, sizeof(v));
    ck_assert_str_eq(v, "false");
    get_prop(kc, "enable.auto.commit", v, sizeof(v));
    ck_assert_str_eq(v, "true");
    get_prop(kc, "partition.assignment.strategy", v, sizeof(v));
    ck_assert_str_eq(v, "cooperative-sticky");
    get_prop(kc, "session.timeout.ms", v, sizeof(v));
    ck_assert_str_eq(v, "10000");
    get_prop(kc, "queued.max.messages.kbytes", v, sizeof(v));
    ck_assert_str_eq(v, "1024");
    get_prop(kc, "fetch.message.max.bytes", v, sizeof(v));
    ck_assert_str_eq(v, "65536");
    get_prop(kc, "fetch.wait.max.ms", v, sizeof(v));
    ck_assert_str_eq(v, "100");
    get_prop(kc, "enable.partition.eof", v, sizeof(v));
    ck_assert_str_eq(v, "false");
    rd_kafka_conf_destroy(kc);

    kc = evf_kafka_conf_new(conf, EVF_KAFKA_PRODUCER, err, sizeof(err));
    ck_assert_msg(kc != NULL, "%s", err);
    get_prop(kc, "enable.idempotence", v, sizeof(v));
    ck_assert_str_eq(v, "true");
    get_prop(kc, "acks", v, sizeof(v));
    ck_assert_str_eq(v, "-1"); /* all */
    get_prop(kc, "compression.codec", v, sizeof(v));
    ck_assert_str_eq(v, "none");
    get_prop(kc, "message.timeout.ms", v, sizeof(v));
    ck_assert_str_eq(v, "30000");
    get_prop(kc, "linger.ms", v, sizeof(v));
    ck_assert_str_eq(v, "5");
    get_prop(kc, "queue.buffering.max.messages", v, sizeof(v));
    ck_assert_str_eq(v, "100000");
    rd_kafka_conf_destroy(kc);

    kc = evf_kafka_conf_new(conf, EVF_KAFKA_READER, err, sizeof(err));
    ck_assert_msg(kc != NULL, "%s", err);
    get_prop(kc, "enable.auto.commit", v, sizeof(v));
    ck_assert_str_eq(v, "false");
    get_prop(kc, "enable.partition.eof", v, sizeof(v));
    ck_assert_str_eq(v, "true");
    get_prop(kc, "auto.offset.reset", v, sizeof(v));
    ck_assert_str_eq(v, "smallest"); /* librdkafka's name for earliest */
    get_prop(kc, "group.id", v, sizeof(v));
    ck_assert_str_eq(v, "evfleet-reader");
    rd_kafka_conf_destroy(kc);

    /* NULL conf: defaults only. */
    kc = evf_kafka_conf_new(NULL, EVF_KAFKA_ADMIN, err, sizeof(err));
    ck_assert_msg(kc != NULL, "%s", err);
    rd_kafka_conf_destroy(kc);
    evf_conf_destroy(conf);
}
END_TEST

START_TEST(test_user_keys_win) {
    char err[512], v[256];
    evf_conf_t *conf = evf_conf_new();
    conf_set(conf, "kafka.session.timeout.ms", "6000", "-X");
    conf_set(conf, "kafka.client.id", "mine", "-X");
    conf_set(conf, "kafka.compression.type", "zstd", "-X");
    conf_set(conf, "kafka.group.id", "users-group", "-X");

    rd_kafka_conf_t *kc = evf_kafka_conf_new(conf, EVF_KAFKA_CONSUMER, err, sizeof(err));
    ck_assert_msg(kc != NULL, "%s", err);
    get_prop(kc, "session.timeout.ms", v, sizeof(v));
    ck_assert_str_eq(v, "6000");
    get_prop(kc, "client.id", v, sizeof(v));
    ck_assert_str_eq(v, "mine");

    /* set_default leaves a user's key alone and sets one the user did not give. */
    ck_assert_int_eq(evf_kafka_conf_set_default(conf, kc, "group.id", "tool-group", err,
                                                sizeof(err)),
                     0);
    get_prop(kc, "group.id", v, sizeof(v));
    ck_assert_str_eq(v, "users-group");
    ck_assert_int_eq(evf_kafka_conf_set_default(conf, kc, "heartbeat.interval.ms", "1500", err,
                                                sizeof(err)),
                     0);
    get_prop(kc, "heartbeat.interval.ms", v, sizeof(v));
    ck_assert_str_eq(v, "1500");
    /* evf_kafka_conf_set always wins, and names the property on error. */
    ck_assert_int_eq(evf_kafka_conf_set(kc, "session.timeout.ms", "7000", err, sizeof(err)), 0);
    get_prop(kc, "session.timeout.ms", v, sizeof(v));
    ck_assert_str_eq(v, "7000");
    ck_assert_int_eq(evf_kafka_conf_set(kc, "no.such.thing", "1", err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "no.such.thing"));
    rd_kafka_conf_destroy(kc);

    kc = evf_kafka_conf_new(conf, EVF_KAFKA_PRODUCER, err, sizeof(err));
    ck_assert_msg(kc != NULL, "%s", err);
    get_prop(kc, "compression.codec", v, sizeof(v));
    ck_assert_str_eq(v, "zstd");
    rd_kafka_conf_destroy(kc);
    evf_conf_destroy(conf);
}
END_TEST

START_TEST(test_bad_key_names_key_and_origin) {
    char err[512];
    evf_conf_t *conf = evf_conf_new();
    conf_set(conf, "kafka.no.such.property", "x", "worker.conf:12");
    ck_assert_ptr_null(evf_kafka_conf_new(conf, EVF_KAFKA_CONSUMER, err, sizeof(err)));
    ck_assert_msg(strstr(err, "worker.conf:12: key 'kafka.no.such.property'") != NULL, "%s", err);
    evf_conf_destroy(conf);

    conf = evf_conf_new();
    conf_set(conf, "kafka.security.protocol", "carrier-pigeon", "-X");
    ck_assert_ptr_null(evf_kafka_conf_new(conf, EVF_KAFKA_PRODUCER, err, sizeof(err)));
    ck_assert_msg(strstr(err, "-X: key 'kafka.security.protocol'") != NULL, "%s", err);
    ck_assert_msg(strstr(err, "carrier-pigeon") != NULL, "a non-secret value may be shown: %s",
                  err);
    evf_conf_destroy(conf);

    conf = evf_conf_new();
    conf_set(conf, "kafka.compression.type", "gzip", "env EVFLEET_KAFKA_COMPRESSION_TYPE");
    ck_assert_ptr_null(evf_kafka_conf_new(conf, EVF_KAFKA_PRODUCER, err, sizeof(err)));
    ck_assert_msg(strstr(err, "env EVFLEET_KAFKA_COMPRESSION_TYPE: key 'kafka.compression.type'"),
                  "%s", err);
    ck_assert_msg(strstr(err, "zstd") != NULL, "%s", err);
    evf_conf_destroy(conf);
}
END_TEST

START_TEST(test_secret_never_in_errors) {
    static const char *secret = "Hunter2-VerySecret-Pa55";
    char err[1024];
    evf_conf_t *conf = evf_conf_new();

    ck_assert(evf_conf_is_secret("kafka.sasl.password"));
    conf_set(conf, "kafka.security.protocol", "SASL_PLAINTEXT", "-X");
    conf_set(conf, "kafka.sasl.mechanisms", "SCRAM-SHA-512", "-X");
    conf_set(conf, "kafka.sasl.username", "alice", "-X");
    conf_set(conf, "kafka.sasl.password", secret, "-X");
    conf_set(conf, "kafka.sasl.bogus.option", secret, "-X");
    err[0] = '\0';
    ck_assert_ptr_null(evf_kafka_conf_new(conf, EVF_KAFKA_PRODUCER, err, sizeof(err)));
    ck_assert_msg(strstr(err, "kafka.sasl.bogus.option") != NULL, "%s", err);
    ck_assert_msg(strstr(err, secret) == NULL, "secret leaked: %s", err);
    ck_assert_msg(strstr(err, "Hunter2") == NULL, "secret leaked: %s", err);
    evf_conf_destroy(conf);

    /* A secret-named key with a value librdkafka rejects: the reason is shown, the value not. */
    conf = evf_conf_new();
    conf_set(conf, "kafka.ssl_key", secret, "-X");
    err[0] = '\0';
    ck_assert_ptr_null(evf_kafka_conf_new(conf, EVF_KAFKA_PRODUCER, err, sizeof(err)));
    ck_assert_msg(strstr(err, "-X: key 'kafka.ssl_key'") != NULL, "%s", err);
    ck_assert_msg(strstr(err, "Hunter2") == NULL, "secret leaked: %s", err);
    evf_conf_destroy(conf);

    /* A good configuration with a secret creates a client without printing it anywhere we
     * control; librdkafka redacts sensitive properties itself. */
    conf = evf_conf_new();
    conf_set(conf, "kafka.sasl.password", secret, "-X");
    rd_kafka_conf_t *kc = evf_kafka_conf_new(conf, EVF_KAFKA_ADMIN, err, sizeof(err));
    ck_assert_msg(kc != NULL, "%s", err);
    rd_kafka_conf_destroy(kc);
    evf_conf_destroy(conf);
}
END_TEST

START_TEST(test_ensure_creates_and_is_idempotent) {
    char err[512], topic[128], v[64];
    evf_conf_t *conf = evf_test_conf();
    rd_kafka_t *rk = admin_new(conf);

    evf_test_unique(topic, sizeof(topic), "evf_test_kt");
    ck_assert_int_eq(evf_kafka_partition_count(rk, topic, TMO, err, sizeof(err)), 0);

    evf_topic_spec_t spec = {.name = topic,
                             .partitions = 3,
                             .replication_factor = 1,
                             .max_message_bytes = 2097152,
                             .retention_ms = -1};
    int64_t t0 = evf_test_now_ms();
    ck_assert_msg(evf_kafka_ensure_topics(rk, &spec, 1, TMO, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_lt(evf_test_now_ms() - t0, TMO);
    ck_assert_int_eq(evf_kafka_partition_count(rk, topic, TMO, err, sizeof(err)), 3);
    topic_config(rk, topic, "max.message.bytes", v, sizeof(v));
    ck_assert_str_eq(v, "2097152");
    topic_config(rk, topic, "retention.ms", v, sizeof(v));
    ck_assert_str_eq(v, "-1");

    /* Leaders are ready: a metadata lookup right after shows every partition led. */
    const struct rd_kafka_metadata *md = NULL;
    ck_assert_int_eq(rd_kafka_metadata(rk, 1, NULL, &md, TMO), 0);
    int seen = 0;
    for (int i = 0; i < md->topic_cnt; i++) {
        if (strcmp(md->topics[i].topic, topic))
            continue;
        seen = 1;
        for (int p = 0; p < md->topics[i].partition_cnt; p++)
            ck_assert_int_ge(md->topics[i].partitions[p].leader, 0);
    }
    rd_kafka_metadata_destroy(md);
    ck_assert(seen);

    /* Again, with other settings: fine, and the existing topic is left as it was. */
    evf_topic_spec_t again = {.name = topic,
                              .partitions = 6,
                              .replication_factor = 1,
                              .max_message_bytes = 1048576,
                              .retention_ms = 3600000};
    ck_assert_msg(evf_kafka_ensure_topics(rk, &again, 1, TMO, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(evf_kafka_partition_count(rk, topic, TMO, err, sizeof(err)), 3);
    topic_config(rk, topic, "max.message.bytes", v, sizeof(v));
    ck_assert_str_eq(v, "2097152");
    topic_config(rk, topic, "retention.ms", v, sizeof(v));
    ck_assert_str_eq(v, "-1");

    const char *del[] = {topic};
    ck_assert_msg(evf_kafka_delete_topics(rk, del, 1, TMO, err, sizeof(err)) == 0, "%s", err);
    wait_gone(rk, topic);
    /* Deleting what is gone is fine. */
    ck_assert_msg(evf_kafka_delete_topics(rk, del, 1, TMO, err, sizeof(err)) == 0, "%s", err);

    rd_kafka_destroy(rk);
    evf_conf_destroy(conf);
}
END_TEST

START_TEST(test_ensure_many_and_defaults) {
    char err[512], a[128], b[128], c[128], v[64];
    evf_conf_t *conf = evf_test_conf();
    rd_kafka_t *rk = admin_new(conf);

    evf_test_unique(a, sizeof(a), "evf_test_kt_a");
    evf_test_unique(b, sizeof(b), "evf_test_kt_b");
    evf_test_unique(c, sizeof(c), "evf_test_kt_c");
    /* a exists beforehand; b is listed twice; c takes the broker's defaults. */
    evf_topic_spec_t first = {.name = a, .partitions = 2, .replication_factor = 1};
    ck_assert_msg(evf_kafka_ensure_topics(rk, &first, 1, TMO, err, sizeof(err)) == 0, "%s", err);

    evf_topic_spec_t specs[] = {
        {.name = a, .partitions = 4, .replication_factor = 1},
        {.name = b, .partitions = 1, .replication_factor = 1, .retention_ms = 86400000},
        {.name = b, .partitions = 1, .replication_factor = 1, .retention_ms = 86400000},
        {.name = c, .partitions = -1, .replication_factor = -1},
    };
    ck_assert_msg(evf_kafka_ensure_topics(rk, specs, 4, TMO, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(evf_kafka_partition_count(rk, a, TMO, err, sizeof(err)), 2);
    ck_assert_int_eq(evf_kafka_partition_count(rk, b, TMO, err, sizeof(err)), 1);
    ck_assert_int_ge(evf_kafka_partition_count(rk, c, TMO, err, sizeof(err)), 1);
    topic_config(rk, b, "retention.ms", v, sizeof(v));
    ck_assert_str_eq(v, "86400000");

    /* An unknown configuration name and an unknown topic are errors naming them. */
    ck_assert_int_eq(
        evf_kafka_topic_config(rk, b, "no.such.config", v, sizeof(v), TMO, err, sizeof(err)),
        -1);
    ck_assert_msg(strstr(err, "no.such.config") != NULL, "%s", err);
    char missing[128];
    evf_test_unique(missing, sizeof(missing), "evf_test_kt_missing");
    ck_assert_int_eq(evf_kafka_topic_config(rk, missing, "retention.ms", v, sizeof(v), TMO, err,
                                            sizeof(err)),
                     -1);
    ck_assert_msg(strstr(err, missing) != NULL, "%s", err);
    ck_assert_int_eq(evf_kafka_partition_count(rk, missing, TMO, err, sizeof(err)), 0);

    const char *del[] = {a, b, c};
    ck_assert_msg(evf_kafka_delete_topics(rk, del, 3, TMO, err, sizeof(err)) == 0, "%s", err);
    wait_gone(rk, a);
    wait_gone(rk, b);
    wait_gone(rk, c);
    rd_kafka_destroy(rk);
    evf_conf_destroy(conf);
}
END_TEST

START_TEST(test_ensure_broker_refusal_names_topic) {
    char err[512], topic[128];
    evf_conf_t *conf = evf_test_conf();
    rd_kafka_t *rk = admin_new(conf);

    /* One broker cannot hold three replicas. */
    evf_test_unique(topic, sizeof(topic), "evf_test_kt_rf");
    evf_topic_spec_t spec = {.name = topic, .partitions = 1, .replication_factor = 3};
    err[0] = '\0';
    ck_assert_int_eq(evf_kafka_ensure_topics(rk, &spec, 1, TMO, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, topic) != NULL, "%s", err);
    ck_assert_msg(strstr(err, "eplication") != NULL, "broker's reason expected: %s", err);
    ck_assert_int_eq(evf_kafka_partition_count(rk, topic, TMO, err, sizeof(err)), 0);

    /* Any negative retention means forever (-1); the same name now creates fine. */
    evf_topic_spec_t ok = {.name = topic,
                           .partitions = 1,
                           .replication_factor = 1,
                           .retention_ms = -7};
    ck_assert_msg(evf_kafka_ensure_topics(rk, &ok, 1, TMO, err, sizeof(err)) == 0, "%s", err);
    char v[64];
    topic_config(rk, topic, "retention.ms", v, sizeof(v));
    ck_assert_str_eq(v, "-1");
    const char *del[] = {topic};
    ck_assert_msg(evf_kafka_delete_topics(rk, del, 1, TMO, err, sizeof(err)) == 0, "%s", err);
    wait_gone(rk, topic);
    rd_kafka_destroy(rk);
    evf_conf_destroy(conf);
}
END_TEST

START_TEST(test_unreachable_broker_bounded) {
    char err[512];
    evf_conf_t *conf = evf_conf_new();
    conf_set(conf, "kafka.bootstrap.servers", "127.0.0.1:1", "test");
    rd_kafka_t *rk = admin_new(conf);
    evf_topic_spec_t spec = {.name = "evf_test_unreachable", .partitions = 1,
                             .replication_factor = 1};

    int64_t t0 = evf_test_now_ms();
    err[0] = '\0';
    ck_assert_int_eq(evf_kafka_ensure_topics(rk, &spec, 1, 2000, err, sizeof(err)), -1);
    ck_assert_int_lt(evf_test_now_ms() - t0, 10000);
    ck_assert_msg(err[0] != '\0', "reason expected");
    ck_assert_int_eq(evf_kafka_partition_count(rk, "evf_test_unreachable", 1000, err,
                                               sizeof(err)),
                     -1);
    ck_assert_msg(err[0] != '\0', "reason expected");
    rd_kafka_destroy(rk);
    evf_conf_destroy(conf);
}
END_TEST

static Suite *kafka_topics_suite(void) {
    Suite *s = suite_create("kafka_topics");
    TCase *conf = tcase_create("conf");
    tcase_add_test(conf, test_role_defaults);
    tcase_add_test(conf, test_user_keys_win);
    tcase_add_test(conf, test_bad_key_names_key_and_origin);
    tcase_add_test(conf, test_secret_never_in_errors);
    suite_add_tcase(s, conf);

    TCase *admin = tcase_create("admin");
    tcase_set_timeout(admin, 120);
    tcase_add_test(admin, test_ensure_creates_and_is_idempotent);
    tcase_add_test(admin, test_ensure_many_and_defaults);
    tcase_add_test(admin, test_ensure_broker_refusal_names_topic);
    tcase_add_test(admin, test_unreachable_broker_bounded);
    suite_add_tcase(s, admin);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(kafka_topics_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
