/* tests/integration/test_worker_behaviour.c — one `evfleet-worker` against the real local Kafka +
 * Redis, one behaviour at a time (issue #4):
 *   - order per partition: `iot_rollup` emits an alert on every threshold crossing, reading the
 *     state the previous event of its device left; with values alternating above/below, every
 *     event crosses, so the alerts (to a one-partition topic, in processing order) show the order
 *     events ran in — per device and per source partition;
 *   - key mode: the same per key, and a slow key (chaos latency) does not hold the other keys of
 *     its partition;
 *   - a full lane pauses its partition and resumes it; nothing is lost;
 *   - a processor call over processing.timeout.ms has its effects discarded, is retried in place,
 *     then dead-lettered as `timeout` with the contract's headers;
 *   - undecodable and unroutable messages are dead-lettered (`decode`, `unroutable`) byte for
 *     byte with the contract's headers, and their partition goes on;
 *   - configuration errors exit 2 naming the key (and file:line); --check-config redacts;
 *   - SIGTERM still stops a worker whose topics were deleted under it.
 * (The crash accounting of processor calls is tested in test_idem_records and, end to end, by
 * test_failure_path's crash loop.) */
#include <check.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "event.h"
#include "fleet.h"
#include "kafka.h"
#include "publisher.h"
#include "testutil.h"

#define READY_MS 60000
#define STOP_MS 30000
#define T0_MS 1700000040000LL /* a multiple of 60 s: every test event falls in one window */

static int64_t wall_ms(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void stop_ok(evf_fleet_worker_t *w) {
    int64_t ms = 0;
    int rc = evf_fleet_stop(w, STOP_MS, &ms);
    char *tail = rc ? evf_fleet_log_tail(w, 3000) : NULL;
    ck_assert_msg(rc == 0, "worker exited %d after %" PRId64 " ms; log:\n%s", rc, ms,
                  tail ? tail : "");
    free(tail);
}

static const char *instance_of(evf_fleet_worker_t *w, char *buf, size_t size) {
    json_t *st = evf_fleet_status(w);
    ck_assert_ptr_nonnull(st);
    const char *id = json_string_value(json_object_get(st, "instance"));
    ck_assert_ptr_nonnull(id);
    snprintf(buf, size, "%s", id);
    json_decref(st);
    return buf;
}

/* An IoT reading of device with a given id (NULL: generated), time and value. */
static evf_event_t *iot_event(const char *id, const char *device, int64_t time_ms, double value) {
    evf_event_t *ev = evf_event_new();
    char gen[64];
    if (!id) {
        static int seq;
        evf_test_unique(gen, sizeof(gen), "ev");
        snprintf(gen + strlen(gen), sizeof(gen) - strlen(gen), "-%d", ++seq);
        id = gen;
    }
    evf_event_set_str(&ev->id, id);
    ev->source = EVFLEET__V1__SOURCE__IOT;
    evf_event_set_str(&ev->type, "iot:telemetry");
    evf_event_set_str(&ev->subject, device);
    ev->time_ms = time_ms;
    Evfleet__V1__IotTelemetry *iot = evf_event_set_iot(ev);
    evf_event_set_str(&iot->device_id, device);
    evf_event_set_str(&iot->metric, "temp");
    iot->value = value;
    evf_event_set_str(&iot->unit, "C");
    return ev;
}

static void send_event(evf_pub_t *pub, const char *topic, evf_event_t *ev) {
    char err[512];
    ck_assert_msg(evf_pub_send_event(pub, topic, ev, NULL, 10000, err, sizeof(err)) == EVF_OK,
                  "%s", err);
    evf_event_free(ev);
}

/* ------------------------------------------------------------------------------------------ */
/* Order, shown by iot_rollup's alerts                                                          */

typedef struct {
    int32_t partition;
    int64_t offset;
    int device;
    int seq; /* the event's position among its device's events */
} source_pos_t;

/* Map time_ms - T0_MS (unique per event) → where the event sits in the source topic. */
static source_pos_t *read_sources(const char *topic, size_t n_events, int n_devices,
                                  const char *device_prefix) {
    char err[256];
    evf_fleet_msgs_t msgs;
    evf_fleet_read_topic(topic, &msgs, 30000);
    source_pos_t *pos = calloc(n_events, sizeof(*pos));
    ck_assert_ptr_nonnull(pos);
    for (size_t i = 0; i < n_events; i++)
        pos[i].device = -1;
    for (size_t i = 0; i < msgs.count; i++) {
        evf_event_t *ev = evf_event_decode_message(msgs.msgs[i].value, msgs.msgs[i].value_len,
                                                   NULL, err, sizeof(err));
        ck_assert_msg(ev, "%s", err);
        if (ev->detail_case == EVFLEET__V1__EVENT__DETAIL_IOT) {
            int64_t k = ev->time_ms - T0_MS;
            ck_assert_msg(k >= 0 && (size_t)k < n_events, "unexpected time_ms %" PRId64,
                          ev->time_ms);
            pos[k].partition = msgs.msgs[i].partition;
            pos[k].offset = msgs.msgs[i].offset;
            ck_assert_int_eq(strncmp(ev->iot->device_id, device_prefix, strlen(device_prefix)), 0);
            pos[k].device = atoi(ev->iot->device_id + strlen(device_prefix));
            pos[k].seq = (int)(k / n_devices);
        }
        evf_event_free(ev);
    }
    evf_fleet_msgs_free(&msgs);
    for (size_t i = 0; i < n_events; i++)
        ck_assert_msg(pos[i].device >= 0, "event %zu not in %s", i, topic);
    return pos;
}

/*
 * Check the alerts (one partition: processing order) against the sources: exactly one alert per
 * event, the direction of its value, per device in sequence, and per source partition in offset
 * order (partition mode only: check_partitions).
 */
static void check_alerts(const char *alerts_topic, const source_pos_t *pos, size_t n_events,
                         int n_devices, int n_parts, int check_partitions) {
    char err[256], buf[64];
    evf_fleet_msgs_t alerts;
    evf_fleet_read_topic(alerts_topic, &alerts, 30000);
    ck_assert_msg(alerts.count == n_events, "%zu alerts for %zu events", alerts.count, n_events);
    int *next_seq = calloc((size_t)n_devices, sizeof(int));
    int64_t *last_offset = calloc((size_t)n_parts, sizeof(int64_t));
    ck_assert(next_seq && last_offset);
    for (int p = 0; p < n_parts; p++)
        last_offset[p] = -1;
    for (size_t i = 0; i < alerts.count; i++) {
        const evf_fleet_msg_t *m = &alerts.msgs[i];
        ck_assert_int_eq(m->partition, 0);
        evf_event_t *a = evf_event_decode_message(m->value, m->value_len, NULL, err, sizeof(err));
        ck_assert_msg(a, "alert %zu: %s", i, err);
        ck_assert_str_eq(a->type, "iot:alert");
        int64_t k = a->time_ms - T0_MS;
        ck_assert_msg(k >= 0 && (size_t)k < n_events, "alert %zu: time_ms %" PRId64, i,
                      a->time_ms);
        const source_pos_t *s = &pos[k];
        ck_assert_msg(s->seq == next_seq[s->device],
                      "alert %zu: device %d event #%d ran when #%d was due (out of order or "
                      "repeated)",
                      i, s->device, s->seq, next_seq[s->device]);
        next_seq[s->device]++;
        const char *dir = NULL;
        for (size_t j = 0; j < a->n_attributes; j++)
            if (!strcmp(a->attributes[j]->key, "direction"))
                dir = a->attributes[j]->value;
        snprintf(buf, sizeof(buf), "%s", s->seq % 2 == 0 ? "above" : "below");
        ck_assert_msg(dir && !strcmp(dir, buf), "alert %zu: direction %s, want %s", i,
                      dir ? dir : "-", buf);
        if (check_partitions) {
            ck_assert_msg(s->offset > last_offset[s->partition],
                          "source partition %d: offset %" PRId64 " ran after %" PRId64,
                          s->partition, s->offset, last_offset[s->partition]);
            last_offset[s->partition] = s->offset;
        }
        evf_event_free(a);
    }
    free(next_seq);
    free(last_offset);
    evf_fleet_msgs_free(&alerts);
}

/* Devices × per_device readings alternating above (+100) and below (-100) the thresholds,
 * interleaved across devices; time_ms = T0 + index, so an alert names its source event. */
static void publish_alternating(evf_pub_t *pub, const char *topic, const char *device_prefix,
                                int n_devices, int per_device) {
    char dev[96];
    for (int k = 0; k < n_devices * per_device; k++) {
        int d = k % n_devices, seq = k / n_devices;
        snprintf(dev, sizeof(dev), "%s%d", device_prefix, d);
        send_event(pub, topic, iot_event(NULL, dev, T0_MS + k, seq % 2 == 0 ? 100.0 : -100.0));
    }
}

START_TEST(order_per_partition) {
    enum { PARTS = 3, DEVICES = 12, PER_DEVICE = 40, EVENTS = DEVICES * PER_DEVICE };
    evf_fleet_names_t n;
    evf_fleet_worker_t w;
    char alerts[200], dev_prefix[96], route[64], topic_opt[300];
    evf_fleet_names(&n, "order", 1);
    snprintf(alerts, sizeof(alerts), "%s.alerts", n.topic);
    snprintf(dev_prefix, sizeof(dev_prefix), "%s-dev-", n.group);
    evf_fleet_create_topic(n.topic, PARTS);
    evf_fleet_create_topic(alerts, 1);

    evf_pub_t *pub = evf_fleet_publisher();
    publish_alternating(pub, n.topic, dev_prefix, DEVICES, PER_DEVICE);
    evf_fleet_publisher_done(pub);

    snprintf(route, sizeof(route), "route.iot:telemetry=iot_rollup");
    snprintf(topic_opt, sizeof(topic_opt), "processor.iot_rollup.alerts.topic=%s", alerts);
    const char *extra[] = {route,
                           topic_opt,
                           "processor.iot_rollup.threshold.temp.above=50",
                           "processor.iot_rollup.threshold.temp.below=-50",
                           "worker.threads=4",
                           NULL};
    evf_fleet_start(&w, &n, extra, NULL);
    evf_fleet_wait_ready(&w, READY_MS);

    source_pos_t *pos = read_sources(n.topic, EVENTS, DEVICES, dev_prefix);
    evf_fleet_msgs_t got;
    evf_fleet_read_topic_until(alerts, EVENTS, &got, 60000);
    ck_assert_msg(got.count >= EVENTS, "%zu of %d alerts after 60 s; log:\n%s", got.count,
                  EVENTS, evf_fleet_log_tail(&w, 3000));
    evf_fleet_msgs_free(&got);
    stop_ok(&w);
    check_alerts(alerts, pos, EVENTS, DEVICES, PARTS, 1);
    free(pos);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* Key mode: order per key, and a slow key does not hold the others                             */

static int64_t window_counts(evf_redis_t *r, const evf_fleet_names_t *n, const char *dev_prefix,
                             int n_devices) {
    char key[400], buf[32];
    int64_t sum = 0;
    for (int d = 0; d < n_devices; d++) {
        snprintf(key, sizeof(key), "%s:iot:%s%d:temp:%lld", n->prefix, dev_prefix, d,
                 (long long)T0_MS);
        if (evf_fleet_hget(r, key, "count", buf, sizeof(buf)))
            sum += atoll(buf);
    }
    return sum;
}

START_TEST(key_mode_slow_key_holds_only_itself) {
    enum { DEVICES = 10, PER_DEVICE = 30, EVENTS = DEVICES * PER_DEVICE, SLOW = 2 };
    /* The slow key's call runs past the batch budget: an idle thread takes back the other keys
     * taken in the same batch (work stealing), so they do not wait for it. */
    evf_fleet_names_t n;
    evf_fleet_worker_t w;
    char alerts[200], dev_prefix[96], topic_opt[300], slow_id[SLOW][96];
    evf_fleet_names(&n, "keys", 1);
    snprintf(alerts, sizeof(alerts), "%s.alerts", n.topic);
    snprintf(dev_prefix, sizeof(dev_prefix), "%s-dev-", n.group);
    /* One partition: every key shares it, so only key mode lets them pass the slow one. */
    evf_fleet_create_topic(n.topic, 1);
    evf_fleet_create_topic(alerts, 1);

    /* The other keys' events, then the slow key's, all in the partition before the worker
     * starts (a backlog): the slow key's lane becomes ready among theirs. */
    evf_pub_t *pub = evf_fleet_publisher();
    publish_alternating(pub, n.topic, dev_prefix, DEVICES, PER_DEVICE);
    for (int i = 0; i < SLOW; i++) {
        evf_event_t *ev = evf_event_new();
        snprintf(slow_id[i], sizeof(slow_id[i]), "%s-slow-%d", n.group, i);
        evf_event_set_str(&ev->id, slow_id[i]);
        ev->source = EVFLEET__V1__SOURCE__CUSTOM;
        evf_event_set_str(&ev->type, "custom:slow");
        evf_event_set_str(&ev->subject, "the-slow-key");
        evf_event_set_data(ev, "x", 1);
        ev->time_ms = wall_ms();
        send_event(pub, n.topic, ev);
    }
    evf_fleet_publisher_done(pub);

    snprintf(topic_opt, sizeof(topic_opt), "processor.iot_rollup.alerts.topic=%s", alerts);
    const char *extra[] = {"route.custom:slow=chaos",
                           "route.iot:telemetry=iot_rollup",
                           "processor.chaos.latency.ms=4000",
                           "processor.chaos.ledger=true",
                           "breaker.chaos.min.calls=0",
                           topic_opt,
                           "processor.iot_rollup.threshold.temp.above=50",
                           "processor.iot_rollup.threshold.temp.below=-50",
                           "worker.ordering=key",
                           "worker.threads=2",
                           NULL};
    evf_redis_t *r = evf_fleet_redis();
    evf_fleet_start(&w, &n, extra, NULL);
    evf_fleet_wait_ready(&w, READY_MS);

    /* Every other key finishes while the slow key's first event (4 s) is still running: with
     * two processing threads, one may be busy with the slow key, the other runs the rest. */
    int64_t deadline = evf_test_now_ms() + 60000, done = 0, slow_done = 0;
    for (;;) {
        done = window_counts(r, &n, dev_prefix, DEVICES);
        slow_done = evf_fleet_hlen(r, n.ledger);
        if (done >= EVENTS)
            break;
        ck_assert_msg(evf_test_now_ms() < deadline, "only %" PRId64 " of %d events done after 60 s",
                      done, EVENTS);
        usleep(20 * 1000);
    }
    ck_assert_msg(slow_done == 0,
                  "the other keys finished only after %" PRId64 " of the slow key's %d events "
                  "(4 s each): the slow key held them",
                  slow_done, SLOW);
    evf_fleet_wait_ledger(r, n.ledger, SLOW, 60000, 30000, NULL);
    stop_ok(&w);

    source_pos_t *pos = read_sources(n.topic, EVENTS, DEVICES, dev_prefix);
    check_alerts(alerts, pos, EVENTS, DEVICES, 1, 0);
    free(pos);
    char buf[16];
    for (int i = 0; i < SLOW; i++)
        ck_assert_str_eq(evf_fleet_hget(r, n.ledger, slow_id[i], buf, sizeof(buf)) ?: "-", "1");
    evf_redis_destroy(r);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* A full lane pauses its partition, which resumes                                              */

START_TEST(full_lane_pauses_and_resumes) {
    enum { EVENTS = 200 };
    evf_fleet_names_t n;
    evf_fleet_worker_t w;
    char *out = NULL;
    evf_fleet_names(&n, "pause", 0);
    evf_fleet_create_topic(n.topic, 1);
    const char *args[] = {"-b", evf_test_brokers(), "-t", n.topic, "-q", "iot", "--count", "200",
                          NULL};
    int rc = evf_fleet_produce(args, 60000, &out);
    ck_assert_msg(rc == 0, "evfleet-produce exit %d:\n%s", rc, out);
    free(out);
    evf_fleet_idmap_t *ids = evf_fleet_topic_ids(n.topic, 30000);
    ck_assert_uint_eq(evf_fleet_idmap_size(ids), EVENTS);

    const char *extra[] = {"route.*=chaos", "processor.chaos.latency.ms=20",
                           "processor.chaos.ledger=true", "worker.queue.max=5", NULL};
    evf_redis_t *r = evf_fleet_redis();
    evf_fleet_start(&w, &n, extra, NULL);
    evf_fleet_wait_ready(&w, READY_MS);

    /* Watch /status (live) and the gauge (updated every second) while the events run. */
    int seen_status = 0, seen_gauge = 0, max_queued = 0;
    int64_t deadline = evf_test_now_ms() + 90000;
    while (evf_fleet_hlen(r, n.ledger) < EVENTS) {
        ck_assert_msg(evf_test_now_ms() < deadline, "%" PRId64 " of %d events after 90 s",
                      evf_fleet_hlen(r, n.ledger), EVENTS);
        json_t *st = evf_fleet_status(&w);
        ck_assert_ptr_nonnull(st);
        json_t *paused = json_object_get(st, "paused_partitions");
        ck_assert(json_is_array(paused));
        size_t i;
        json_t *e;
        json_array_foreach(paused, i, e) {
            const char *t = json_string_value(json_object_get(e, "topic"));
            seen_status |= t && !strcmp(t, n.topic) &&
                           json_integer_value(json_object_get(e, "partition")) == 0;
        }
        json_array_foreach(json_object_get(st, "assignment"), i, e) {
            const char *t = json_string_value(json_object_get(e, "topic"));
            int q = (int)json_integer_value(json_object_get(e, "queued"));
            if (t && !strcmp(t, n.topic) && q > max_queued)
                max_queued = q;
        }
        json_decref(st);
        evf_prom_t *p = evf_fleet_metrics(&w);
        seen_gauge |= evf_prom_sum(p, "evfleet_paused_partitions", NULL, NULL) >= 1;
        evf_prom_free(p);
        usleep(20 * 1000);
    }
    ck_assert_msg(seen_status, "/status never listed the partition as paused (max queued %d)",
                  max_queued);
    ck_assert_msg(seen_gauge, "evfleet_paused_partitions never reached 1");

    /* Resumed and drained: nothing paused, nothing queued. */
    deadline = evf_test_now_ms() + 10000;
    for (;;) {
        evf_prom_t *p = evf_fleet_metrics(&w);
        double paused = evf_prom_sum(p, "evfleet_paused_partitions", NULL, NULL);
        double inflight = evf_prom_sum(p, "evfleet_inflight_events", NULL, NULL);
        evf_prom_free(p);
        json_t *st = evf_fleet_status(&w);
        size_t listed = json_array_size(json_object_get(st, "paused_partitions"));
        json_decref(st);
        if (paused == 0 && inflight == 0 && listed == 0)
            break;
        ck_assert_msg(evf_test_now_ms() < deadline,
                      "after the last event: paused gauge %.0f, /status lists %zu, inflight %.0f",
                      paused, listed, inflight);
        usleep(100 * 1000);
    }
    stop_ok(&w);

    size_t missing, wrong, extra_ids;
    char first[200];
    evf_fleet_idmap_t *ledger = evf_fleet_hash(r, n.ledger);
    ck_assert_msg(evf_fleet_ledger_exact(ledger, ids, &missing, &wrong, &extra_ids, first,
                                         sizeof(first)),
                  "ledger: %zu missing, %zu wrong, %zu unknown (%s)", missing, wrong, extra_ids,
                  first);
    int64_t committed, high;
    evf_fleet_committed(n.group, n.topic, 1, &committed);
    evf_fleet_high_watermarks(n.topic, 1, &high);
    ck_assert_int_eq(committed, high);
    evf_fleet_idmap_free(ledger);
    evf_fleet_idmap_free(ids);
    evf_redis_destroy(r);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* Dead letters                                                                                 */

typedef struct {
    const char *cls;       /* evfleet.error.class */
    const char *attempts;  /* evfleet.attempts */
    const char *processor; /* evfleet.processor ("" when none ran) */
    const char *instance;
    const char *group;
    const char *topic;     /* source */
    const char *idem_key;  /* evfleet.idempotency.key, NULL: not checked */
    int64_t after_ms, before_ms;
} dl_expect_t;

static void int_header(const evf_fleet_msg_t *m, const char *name, int64_t *out) {
    char buf[64], *end = NULL;
    const char *v = evf_fleet_header(m, name, buf, sizeof(buf));
    ck_assert_msg(v, "dead letter @%" PRId64 ": no %s header", m->offset, name);
    *out = strtoll(v, &end, 10);
    ck_assert_msg(*v && end && !*end, "%s = '%s' is not a decimal integer", name, v);
}

static void str_header(const evf_fleet_msg_t *m, const char *name, const char *want) {
    char buf[1200];
    const char *v = evf_fleet_header(m, name, buf, sizeof(buf));
    ck_assert_msg(v, "dead letter @%" PRId64 ": no %s header", m->offset, name);
    ck_assert_msg(!strcmp(v, want), "dead letter @%" PRId64 ": %s = '%s', want '%s'", m->offset,
                  name, v, want);
}

/* All headers of m as "name=value; …" (a static buffer), for failure messages. */
static const char *headers_text(const evf_fleet_msg_t *m) {
    static char buf[4096];
    size_t idx = 0, off = 0;
    const char *name;
    const void *val;
    size_t len;
    buf[0] = '\0';
    while (m->headers && !rd_kafka_header_get_all(m->headers, idx++, &name, &val, &len) &&
           off < sizeof(buf))
        off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s=%.*s; ", name, (int)len,
                                val ? (const char *)val : "");
    return buf;
}

/* A dead letter dl of source message src, per DESIGN.md "Headers on retry, dead-letter and
 * replay copies". */
static void check_dead_letter(const evf_fleet_msg_t *dl, const evf_fleet_msg_t *src,
                              const dl_expect_t *x) {
    char buf[1200], num[32];
    ck_assert_msg(dl->key_len == src->key_len &&
                      (!src->key_len || !memcmp(dl->key, src->key, src->key_len)),
                  "dead letter key differs from the source's");
    ck_assert_msg(dl->value_len == src->value_len &&
                      (!src->value_len || !memcmp(dl->value, src->value, src->value_len)),
                  "dead letter value (%zu bytes) differs from the source's (%zu bytes)",
                  dl->value_len, src->value_len);
    str_header(dl, "evfleet.error.class", x->cls);
    str_header(dl, "evfleet.attempts", x->attempts);
    str_header(dl, "evfleet.processor", x->processor);
    str_header(dl, "evfleet.worker", x->instance);
    str_header(dl, "evfleet.group", x->group);
    str_header(dl, "evfleet.original.topic", x->topic);
    snprintf(num, sizeof(num), "%d", src->partition);
    str_header(dl, "evfleet.original.partition", num);
    snprintf(num, sizeof(num), "%" PRId64, src->offset);
    str_header(dl, "evfleet.original.offset", num);
    snprintf(num, sizeof(num), "%" PRId64, src->timestamp);
    str_header(dl, "evfleet.original.timestamp", num);
    if (x->idem_key)
        str_header(dl, "evfleet.idempotency.key", x->idem_key);
    const char *msg = evf_fleet_header(dl, "evfleet.error.message", buf, sizeof(buf));
    ck_assert_msg(msg && *msg, "no evfleet.error.message");
    int64_t failed_at, first_failed;
    int_header(dl, "evfleet.failed.at", &failed_at);
    int_header(dl, "evfleet.first.failed.at", &first_failed);
    ck_assert_msg(failed_at >= x->after_ms && failed_at <= x->before_ms,
                  "evfleet.failed.at %" PRId64 " not within the run [%" PRId64 ", %" PRId64 "]",
                  failed_at, x->after_ms, x->before_ms);
    ck_assert_msg(first_failed >= x->after_ms && first_failed <= failed_at,
                  "evfleet.first.failed.at %" PRId64 " (failed.at %" PRId64 ")", first_failed,
                  failed_at);
    ck_assert_msg(!evf_fleet_header(dl, "evfleet.retry.not-before", buf, sizeof(buf)),
                  "a dead letter carries evfleet.retry.not-before");
    ck_assert_msg(!evf_fleet_header(dl, "evfleet.replay.count", buf, sizeof(buf)),
                  "a first dead letter carries evfleet.replay.count");
    /* Every evfleet.* header holds one value. */
    size_t idx = 0;
    const char *name;
    const void *val;
    size_t len;
    while (!rd_kafka_header_get_all(dl->headers, idx++, &name, &val, &len)) {
        if (strncmp(name, "evfleet.", 8))
            continue;
        const void *v2;
        size_t l2;
        ck_assert_msg(rd_kafka_header_get(dl->headers, 1, name, &v2, &l2),
                      "header %s appears more than once: %s", name, headers_text(dl));
    }
    /* The source's own headers are kept. */
    idx = 0;
    while (!rd_kafka_header_get_all(src->headers, idx++, &name, &val, &len)) {
        const void *v2;
        size_t l2;
        ck_assert_msg(!rd_kafka_header_get_last(dl->headers, name, &v2, &l2) && l2 == len &&
                          (!len || !memcmp(v2, val, len)),
                      "source header %s not kept as is", name);
    }
}

START_TEST(timeout_discards_effects_then_dead_letters) {
    enum { EVENTS = 4 };
    evf_fleet_names_t n;
    evf_fleet_worker_t w;
    char instance[80], idem[400], buf[64], ids[EVENTS][96];
    evf_fleet_names(&n, "tmo", 0);
    evf_fleet_create_topic(n.topic, 1);
    int64_t t_start = wall_ms();

    evf_pub_t *pub = evf_fleet_publisher();
    for (int i = 0; i < EVENTS; i++) {
        snprintf(ids[i], sizeof(ids[i]), "%s-slow-%d", n.group, i);
        send_event(pub, n.topic, iot_event(ids[i], "dev-tmo", wall_ms(), i));
    }
    evf_fleet_publisher_done(pub);

    const char *extra[] = {"route.*=chaos",
                           "processor.chaos.latency.ms=100",
                           "processor.chaos.ledger=true",
                           "processing.timeout.ms=50",
                           "retry.max.attempts=2",
                           "retry.backoff.initial.ms=50",
                           "breaker.chaos.min.calls=0",
                           NULL};
    evf_redis_t *r = evf_fleet_redis();
    evf_fleet_start(&w, &n, extra, NULL);
    evf_fleet_wait_ready(&w, READY_MS);
    instance_of(&w, instance, sizeof(instance));

    evf_fleet_msgs_t dlq, src;
    evf_fleet_read_topic_until(evf_fleet_derived(&n, "dlq"), EVENTS, &dlq, 60000);
    ck_assert_msg(dlq.count == EVENTS, "%zu of %d dead letters", dlq.count, EVENTS);
    /* Each run (2 per event) exceeded the timeout: its ledger effect was discarded. */
    ck_assert_int_eq(evf_fleet_hlen(r, n.ledger), 0);

    evf_prom_t *p = evf_fleet_metrics(&w);
    char match[300];
    snprintf(match, sizeof(match), "topic=%s,class=timeout", n.topic);
    ck_assert_int_eq((int)evf_prom_sum(p, "evfleet_dlq_events_total", match, NULL), EVENTS);
    ck_assert_int_eq(
        (int)evf_prom_sum(p, "evfleet_events_processed_total", "processor=chaos,outcome=dlq", NULL),
        EVENTS);
    ck_assert_int_eq(
        (int)evf_prom_sum(p, "evfleet_events_processed_total", "processor=chaos,outcome=ok", NULL),
        0);
    ck_assert_int_eq((int)evf_prom_sum(p, "evfleet_retries_total", "processor=chaos", NULL),
                     EVENTS);
    ck_assert_int_eq(
        (int)evf_prom_sum(p, "evfleet_processing_seconds_count", "processor=chaos", NULL),
        2 * EVENTS);
    evf_prom_free(p);
    stop_ok(&w);

    evf_fleet_read_topic(n.topic, &src, 30000);
    ck_assert_uint_eq(src.count, EVENTS);
    for (size_t i = 0; i < dlq.count; i++) {
        int64_t off = -1;
        int_header(&dlq.msgs[i], "evfleet.original.offset", &off);
        ck_assert_msg(off >= 0 && off < EVENTS, "original offset %" PRId64, off);
        snprintf(idem, sizeof(idem), "%s:%s:%s", n.prefix, n.group, ids[off]);
        dl_expect_t x = {.cls = "timeout",
                         .attempts = "2",
                         .processor = "chaos",
                         .instance = instance,
                         .group = n.group,
                         .topic = n.topic,
                         .idem_key = idem,
                         .after_ms = t_start,
                         .before_ms = wall_ms()};
        check_dead_letter(&dlq.msgs[i], &src.msgs[off], &x);
        /* Released, with no call left counted as unfinished (each timed-out call ended). */
        ck_assert_str_eq(evf_fleet_hget(r, idem, "state", buf, sizeof(buf)) ?: "-", "released");
        ck_assert_str_eq(evf_fleet_hget(r, idem, "unfinished", buf, sizeof(buf)) ?: "0", "0");
    }
    evf_fleet_msgs_free(&dlq);
    evf_fleet_msgs_free(&src);
    evf_redis_destroy(r);
}
END_TEST

/* Raw bytes with a key and a header of our own, at partition 0. */
static void send_raw(evf_pub_t *pub, const char *topic, const void *key, size_t key_len,
                     const void *value, size_t len, const char *content_type) {
    char err[512];
    rd_kafka_headers_t *h = rd_kafka_headers_new(2);
    rd_kafka_header_add(h, "x-test", -1, "kept\x01", 5);
    if (content_type)
        rd_kafka_header_add(h, "content-type", -1, content_type, -1);
    ck_assert_msg(evf_pub_send(pub, topic, 0, key, key_len, value, len, h, NULL, 10000, err,
                               sizeof(err)) == EVF_OK,
                  "%s", err);
}

START_TEST(undecodable_and_unroutable_dead_lettered) {
    evf_fleet_names_t n;
    evf_fleet_worker_t w;
    char instance[80], ok_ids[4][96], ce[600];
    evf_fleet_names(&n, "bad", 0);
    evf_fleet_create_topic(n.topic, 1);
    int64_t t_start = wall_ms();
    for (int i = 0; i < 4; i++)
        snprintf(ok_ids[i], sizeof(ok_ids[i]), "%s-ok-%d", n.group, i);

    /* offsets: 0 ok, 1 undecodable bytes, 2 s3 (no route), 3 ok, 4 CloudEvents JSON ok,
     * 5 broken CloudEvents JSON, 6 ok */
    static const unsigned char junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x07, 'j', 'u',
                                         'n',  'k',  0x00, 0xfe};
    static const char bad_key[] = {'k', 0x00, 'e', 'y', (char)0xff};
    static const char broken_json[] = "{\"specversion\":\"1.0\",\"id\":";
    snprintf(ce, sizeof(ce),
             "{\"specversion\":\"1.0\",\"id\":\"%s\",\"source\":\"evfleet/iot\","
             "\"type\":\"iot:telemetry\",\"time\":\"2024-01-02T03:04:05Z\","
             "\"subject\":\"dev-bad\",\"data\":{\"deviceId\":\"dev-bad\",\"metric\":\"temp\","
             "\"value\":1.5}}",
             ok_ids[2]);
    evf_pub_t *pub = evf_fleet_publisher();
    send_event(pub, n.topic, iot_event(ok_ids[0], "dev-bad", wall_ms(), 1));
    send_raw(pub, n.topic, bad_key, sizeof(bad_key), junk, sizeof(junk), NULL);
    evf_event_t *s3 = evf_event_new();
    evf_event_set_str(&s3->id, "s3-unroutable");
    s3->source = EVFLEET__V1__SOURCE__S3;
    evf_event_set_str(&s3->type, "s3:ObjectCreated:Put");
    evf_event_set_str(&s3->subject, "bucket/key");
    Evfleet__V1__S3Object *o = evf_event_set_s3(s3);
    evf_event_set_str(&o->bucket, "bucket");
    evf_event_set_str(&o->key, "key");
    size_t s3_len = 0;
    uint8_t *s3_bytes = evf_event_encode(s3, &s3_len);
    send_raw(pub, n.topic, "bucket/key", 10, s3_bytes, s3_len, EVF_CT_PROTOBUF);
    free(s3_bytes);
    evf_event_free(s3);
    send_event(pub, n.topic, iot_event(ok_ids[1], "dev-bad", wall_ms(), 2));
    send_raw(pub, n.topic, "dev-bad", 7, ce, strlen(ce), EVF_CT_CLOUDEVENTS_JSON);
    send_raw(pub, n.topic, "dev-bad", 7, broken_json, strlen(broken_json),
             EVF_CT_CLOUDEVENTS_JSON);
    send_event(pub, n.topic, iot_event(ok_ids[3], "dev-bad", wall_ms(), 3));
    evf_fleet_publisher_done(pub);

    const char *extra[] = {"route.iot:*=ledger", NULL};
    evf_redis_t *r = evf_fleet_redis();
    evf_fleet_start(&w, &n, extra, NULL);
    evf_fleet_wait_ready(&w, READY_MS);
    instance_of(&w, instance, sizeof(instance));

    /* The partition went on past them. */
    evf_fleet_wait_ledger(r, n.ledger, 4, 60000, 30000, n.topic);
    evf_fleet_msgs_t dlq, src;
    evf_fleet_read_topic_until(evf_fleet_derived(&n, "dlq"), 3, &dlq, 30000);
    ck_assert_msg(dlq.count == 3, "%zu dead letters, want 3", dlq.count);
    ck_assert_msg(evf_fleet_alive(&w), "the worker died");
    char buf[16];
    for (int i = 0; i < 4; i++)
        ck_assert_str_eq(evf_fleet_hget(r, n.ledger, ok_ids[i], buf, sizeof(buf)) ?: "-", "1");
    ck_assert_int_eq(evf_fleet_hlen(r, n.ledger), 4);

    evf_prom_t *p = evf_fleet_metrics(&w);
    char match[300];
    snprintf(match, sizeof(match), "topic=%s,class=decode", n.topic);
    ck_assert_int_eq((int)evf_prom_sum(p, "evfleet_dlq_events_total", match, NULL), 2);
    snprintf(match, sizeof(match), "topic=%s,class=unroutable", n.topic);
    ck_assert_int_eq((int)evf_prom_sum(p, "evfleet_dlq_events_total", match, NULL), 1);
    evf_prom_free(p);
    stop_ok(&w);

    evf_fleet_read_topic(n.topic, &src, 30000);
    ck_assert_uint_eq(src.count, 7);
    static const int want_offsets[] = {1, 2, 5};
    static const char *const want_class[] = {"decode", "unroutable", "decode"};
    int seen[3] = {0, 0, 0};
    for (size_t i = 0; i < dlq.count; i++) {
        int64_t off = -1;
        int_header(&dlq.msgs[i], "evfleet.original.offset", &off);
        int k = off == 1 ? 0 : off == 2 ? 1 : off == 5 ? 2 : -1;
        ck_assert_msg(k >= 0, "dead letter of offset %" PRId64 " (want 1, 2, 5)", off);
        ck_assert_int_eq(want_offsets[k], off);
        seen[k]++;
        dl_expect_t x = {.cls = want_class[k],
                         .attempts = "0",
                         .processor = "",
                         .instance = instance,
                         .group = n.group,
                         .topic = n.topic,
                         .after_ms = t_start,
                         .before_ms = wall_ms()};
        check_dead_letter(&dlq.msgs[i], &src.msgs[off], &x);
    }
    ck_assert(seen[0] == 1 && seen[1] == 1 && seen[2] == 1);
    evf_fleet_msgs_free(&dlq);
    evf_fleet_msgs_free(&src);
    evf_redis_destroy(r);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* Configuration errors                                                                         */

static int run_worker(const char *const *args, char **out) {
    const char *argv[64];
    int n = 0;
    char *bin = evf_test_bin("evfleet-worker");
    argv[n++] = bin;
    for (; *args; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    int rc = evf_fleet_run(argv, 30000, out);
    free(bin);
    return rc;
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void expect_config_error(const char *const *args, const char *must_name) {
    char *out = NULL;
    int rc = run_worker(args, &out);
    ck_assert_msg(rc == 2, "exit %d (want 2) for a configuration naming '%s'; output:\n%s", rc,
                  must_name, out);
    ck_assert_msg(strstr(out, must_name), "the error does not name '%s':\n%s", must_name, out);
    free(out);
}

START_TEST(configuration_errors_exit_2_naming_the_key) {
    char file[256], line[300], http[64];
    /* Every case would otherwise start: the error must come before anything runs. */
    snprintf(http, sizeof(http), "http.listen=127.0.0.1:%d", evf_fleet_free_port());
    expect_config_error(ARGS("-X", http, "-X", "worker.no.such.key=1"), "worker.no.such.key");
    expect_config_error(ARGS("-X", http, "-X", "worker.threads=0"), "worker.threads");
    expect_config_error(ARGS("-X", http, "-X", "worker.ordering=sideways"), "worker.ordering");
    expect_config_error(ARGS("-X", http, "-X", "processing.timeout.ms=soon"),
                        "processing.timeout.ms");
    expect_config_error(ARGS("-X", http, "-X", "route.iot:*=no_such_processor"),
                        "no_such_processor");
    expect_config_error(ARGS("-X", http, "-X", "route.*=chaos", "-X",
                             "processor.chaos.no_such_setting=1"),
                        "no_such_setting");
    expect_config_error(ARGS("-X", http, "-X", "redis.url=rediss://127.0.0.1:6379/0"),
                        "redis.url");
    expect_config_error(ARGS("-X", http, "-X", "kafka.no.such.property=1"),
                        "kafka.no.such.property");
    expect_config_error(ARGS("-X", http, "-X", "kafka.group.id=bad/group", "-X",
                             "kafka.bootstrap.servers=127.0.0.1:1"),
                        "bad/group");
    expect_config_error(ARGS("-X", http, "-X", "topics=bad topic name"), "topics");
    expect_config_error(ARGS("--no-such-option"), "--no-such-option");

    /* A file with a bad line: named with its line number. */
    snprintf(file, sizeof(file), "/tmp/evf-behaviour-%d.properties", (int)getpid());
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "# a comment\n\nworker.threads = 2\nworker.queue.max = many\n");
    fclose(f);
    snprintf(line, sizeof(line), "%s:4", file);
    expect_config_error(ARGS("-c", file, "-X", http), line);
    char *out = NULL;
    run_worker(ARGS("-c", file, "-X", http), &out);
    ck_assert_msg(strstr(out, "worker.queue.max"), "the error does not name the key:\n%s", out);
    free(out);
    f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "worker.threads = 2\nno.such.key = 1\n");
    fclose(f);
    snprintf(line, sizeof(line), "%s:2", file);
    expect_config_error(ARGS("-c", file, "-X", http), line);
    unlink(file);
    expect_config_error(ARGS("-c", "/nonexistent/evfleet.properties"),
                        "/nonexistent/evfleet.properties");
}
END_TEST

START_TEST(check_config_redacts_secrets) {
    char *out = NULL;
    int rc = run_worker(ARGS("--check-config", "-X", "redis.password=pw-Secret-1", "-X",
                             "kafka.sasl.password=pw-Secret-2", "-X",
                             "redis.url=redis://alice:pw-Secret-3@127.0.0.1:6379/0", "-X",
                             "worker.threads=7"),
                        &out);
    ck_assert_msg(rc == 0, "--check-config exit %d:\n%s", rc, out);
    ck_assert_msg(!strstr(out, "pw-Secret"), "a secret is printed:\n%s", out);
    ck_assert_msg(strstr(out, "redis.password") && strstr(out, "kafka.sasl.password"),
                  "the secret keys are not listed:\n%s", out);
    ck_assert_msg(strstr(out, "[redacted]"), "no [redacted] marker:\n%s", out);
    ck_assert_msg(strstr(out, "alice:***@127.0.0.1:6379"), "redis.url not shown redacted:\n%s",
                  out);
    ck_assert_msg(strstr(out, "worker.threads"), "worker.threads missing:\n%s", out);
    const char *t = strstr(out, "worker.threads");
    ck_assert_msg(t && strstr(t, "7"), "worker.threads = 7 not shown:\n%s", out);
    free(out);

    /* An unknown EVFLEET_ variable is a warning naming it, not an error. */
    char *bin = evf_test_bin("evfleet-worker");
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "EVFLEET_WORKER_NO_SUCH_KEY=1 EVFLEET_WORKER_THREADS=5 %s --check-config "
             ">/tmp/evf-behaviour-env-%d.txt 2>&1",
             bin, (int)getpid());
    rc = evf_test_sh(cmd);
    snprintf(cmd, sizeof(cmd), "/tmp/evf-behaviour-env-%d.txt", (int)getpid());
    out = evf_test_read_file(cmd, NULL);
    unlink(cmd);
    free(bin);
    ck_assert_msg(rc == 0, "exit %d:\n%s", rc, out ? out : "");
    ck_assert_msg(out && strstr(out, "EVFLEET_WORKER_NO_SUCH_KEY"),
                  "no warning naming the variable:\n%s", out ? out : "");
    t = out ? strstr(out, "worker.threads") : NULL;
    ck_assert_msg(t && strstr(t, "5"), "EVFLEET_WORKER_THREADS not applied:\n%s", out);
    free(out);
}
END_TEST


/* ------------------------------------------------------------------------------------------ */
/* Lifecycle: SIGTERM after the source topic went away                                          */

/* An operator deletes the topics a running worker consumes; SIGTERM must still stop it within
 * the grace period (5000 ms) plus slack. */
START_TEST(sigterm_after_topics_deleted) {
    evf_fleet_names_t n;
    evf_fleet_worker_t w;
    char err[512], *out = NULL;
    evf_fleet_names(&n, "gone", 0);
    evf_fleet_create_topic(n.topic, 2);
    const char *args[] = {"-b", evf_test_brokers(), "-t", n.topic, "-q", "iot", "--count", "20",
                          NULL};
    ck_assert_int_eq(evf_fleet_produce(args, 60000, &out), 0);
    free(out);
    evf_redis_t *r = evf_fleet_redis();
    evf_fleet_start(&w, &n, NULL, NULL);
    evf_fleet_wait_ready(&w, READY_MS);
    evf_fleet_wait_ledger(r, n.ledger, 20, 60000, 30000, n.topic);
    evf_redis_destroy(r);

    evf_conf_t *conf = evf_test_conf();
    rd_kafka_conf_t *kc = evf_kafka_conf_new(conf, EVF_KAFKA_ADMIN, err, sizeof(err));
    ck_assert_msg(kc, "%s", err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof(err));
    ck_assert_msg(rk, "%s", err);
    const char *topics[] = {n.topic, evf_fleet_derived(&n, "dlq"),
                            evf_fleet_derived(&n, "replay")};
    ck_assert_msg(evf_kafka_delete_topics(rk, topics, 3, 30000, err, sizeof(err)) == 0, "%s",
                  err);
    rd_kafka_destroy(rk);
    evf_conf_destroy(conf);
    usleep(3000 * 1000);

    int64_t ms = 0;
    int rc = evf_fleet_stop(&w, 20000, &ms);
    char *tail = rc || ms >= 15000 ? evf_fleet_log_tail(&w, 2000) : NULL;
    ck_assert_msg(rc == 0 && ms < 15000,
                  "after its topics were deleted, SIGTERM: exit %d after %" PRId64
                  " ms (-1: still running after 20 s, killed); log:\n%s",
                  rc, ms, tail ? tail : "");
    free(tail);
}
END_TEST

static Suite *worker_behaviour_suite(void) {
    Suite *s = suite_create("worker_behaviour");
    TCase *tc = tcase_create("behaviour");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, order_per_partition);
    tcase_add_test(tc, key_mode_slow_key_holds_only_itself);
    tcase_add_test(tc, full_lane_pauses_and_resumes);
    tcase_add_test(tc, timeout_discards_effects_then_dead_letters);
    tcase_add_test(tc, undecodable_and_unroutable_dead_lettered);
    suite_add_tcase(s, tc);
    TCase *cfg = tcase_create("configuration");
    tcase_set_timeout(cfg, 120);
    tcase_add_test(cfg, configuration_errors_exit_2_naming_the_key);
    tcase_add_test(cfg, check_config_redacts_secrets);
    suite_add_tcase(s, cfg);
    TCase *life = tcase_create("lifecycle");
    tcase_set_timeout(life, 120);
    tcase_add_test(life, sigterm_after_topics_deleted);
    suite_add_tcase(s, life);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(worker_behaviour_suite());
    evf_fleet_session_begin();
    srunner_run_all(sr, CK_NORMAL);
    evf_fleet_session_end();
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
