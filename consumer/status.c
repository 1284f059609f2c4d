/* consumer/status.c — the worker's HTTP endpoints (DESIGN.md "HTTP"): /healthz (the poll loop
 * turns), /readyz (joined the group, Kafka and Redis answer), /metrics (Prometheus text) and
 * /status (JSON). Never a secret or a payload in any of them.
 *
 * Runs on: the HTTP server's thread. Reads worker state under state_lock or atomically. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker.h"

/* The poll loop turns at least every POLL_TIMEOUT_MS plus a batch; much longer means stuck. */
#define HEALTHZ_STALL_MS 15000

static void text(evf_http_response_t *resp, int status, const char *body) {
    resp->status = status;
    resp->content_type = "text/plain; charset=utf-8";
    resp->body = strdup(body);
    resp->body_len = strlen(body);
}

/* Why the worker is not ready, or "" when it is. */
static void not_ready_reason(evf_worker_t *w, char *out, size_t size) {
    out[0] = '\0';
    pthread_mutex_lock(&w->state_lock);
    if (w->kafka_error[0])
        snprintf(out, size, "kafka: %s", w->kafka_error);
    else if (!atomic_load(&w->redis_ok) || w->redis_error[0])
        snprintf(out, size, "redis: %s", w->redis_error[0] ? w->redis_error : "not connected");
    else if (w->hold_error[0])
        snprintf(out, size, "holding: %s", w->hold_error);
    pthread_mutex_unlock(&w->state_lock);
    if (!out[0] && !atomic_load(&w->joined))
        snprintf(out, size, "not joined the consumer group yet");
    if (!out[0] && !atomic_load(&w->running))
        snprintf(out, size, "not processing (starting or shutting down)");
}

static char *status_json(evf_worker_t *w) {
    json_t *root = json_object();
    char reason[600];
    evf_part_info_t *parts = calloc(1024, sizeof(*parts));
    size_t n = parts ? evf_lanes_parts(w->lanes, parts, 1024) : 0;

    not_ready_reason(w, reason, sizeof(reason));
    json_object_set_new(root, "instance", json_string(w->instance_id));
    json_object_set_new(root, "hostname", json_string(w->hostname));
    json_object_set_new(root, "group", json_string(w->group));
    json_object_set_new(root, "ready", json_boolean(!reason[0]));
    json_object_set_new(root, "not_ready_reason", json_string(reason));
    json_object_set_new(root, "uptime_ms", json_integer(evf_now_ms() - w->started_ms));
    json_object_set_new(root, "inflight", json_integer((json_int_t)evf_lanes_inflight(w->lanes)));
    json_object_set_new(root, "idempotency", json_boolean(w->idem != NULL));
    json_object_set_new(root, "ordering", json_string(w->key_ordering ? "key" : "partition"));

    json_t *assignment = json_array(), *paused = json_array(), *holds = json_array();
    int64_t total_lag = 0;
    for (size_t i = 0; i < n; i++) {
        evf_part_info_t *p = &parts[i];
        json_t *o = json_object();
        int64_t lo = 0, hi = -1, lag = -1;
        json_object_set_new(o, "topic", json_string(p->topic));
        json_object_set_new(o, "partition", json_integer(p->partition));
        json_object_set_new(o, "queued", json_integer((json_int_t)p->queued));
        json_object_set_new(o, "paused", json_boolean(p->paused));
        json_object_set_new(o, "committed", json_integer(p->committed_next));
        json_object_set_new(o, "first_pending", json_integer(p->first_pending));
        if (w->rk && rd_kafka_get_watermark_offsets(w->rk, p->topic, p->partition, &lo, &hi) ==
                         RD_KAFKA_RESP_ERR_NO_ERROR &&
            hi >= 0) {
            int64_t next = p->first_pending >= 0 ? p->first_pending
                           : p->high_polled >= 0  ? p->high_polled + 1
                                                  : p->committed_next;
            if (next >= 0) {
                lag = hi > next ? hi - next : 0;
                total_lag += lag;
            }
        }
        json_object_set_new(o, "lag", json_integer(lag));
        if (p->waiting_until) {
            json_object_set_new(o, "waiting_until", json_integer(p->waiting_until));
            json_object_set_new(o, "hold_reason", json_string(p->hold_reason));
            json_t *h = json_object();
            json_object_set_new(h, "topic", json_string(p->topic));
            json_object_set_new(h, "partition", json_integer(p->partition));
            json_object_set_new(h, "reason", json_string(p->hold_reason));
            json_array_append_new(holds, h);
        }
        if (p->paused) {
            json_t *q = json_object();
            json_object_set_new(q, "topic", json_string(p->topic));
            json_object_set_new(q, "partition", json_integer(p->partition));
            json_array_append_new(paused, q);
        }
        json_array_append_new(assignment, o);
    }
    json_object_set_new(root, "assignment", assignment);
    json_object_set_new(root, "lag", json_integer(total_lag));
    json_object_set_new(root, "paused_partitions", paused);
    json_object_set_new(root, "waiting", holds);
    json_t *breakers = json_object();
    int64_t now = evf_now_ms();
    for (size_t i = 0; i < w->nprocm; i++) {
        json_t *b = json_object();
        int64_t calls = 0, fails = 0;
        evf_breaker_counts(w->procm[i].breaker, now, &calls, &fails);
        json_object_set_new(
            b, "state",
            json_string(evf_breaker_state_name(evf_breaker_state(w->procm[i].breaker, now))));
        json_object_set_new(b, "calls", json_integer(calls));
        json_object_set_new(b, "failures", json_integer(fails));
        json_object_set_new(breakers, w->procm[i].name, b);
    }
    json_object_set_new(root, "breakers", breakers);
    free(parts);
    char *s = json_dumps(root, JSON_INDENT(2));
    json_decref(root);
    return s;
}

int evf_status_handle(void *opaque, const char *method, const char *path,
                      evf_http_response_t *resp) {
    evf_worker_t *w = opaque;
    (void)method;
    if (!strcmp(path, "/healthz")) {
        int64_t age = evf_now_ms() - atomic_load(&w->last_poll_ms);
        if (age > HEALTHZ_STALL_MS) {
            char buf[128];
            snprintf(buf, sizeof(buf), "poll loop stalled for %" PRId64 " ms\n", age);
            text(resp, 503, buf);
        } else {
            text(resp, 200, "ok\n");
        }
        return 0;
    }
    if (!strcmp(path, "/readyz")) {
        char reason[600], buf[640];
        not_ready_reason(w, reason, sizeof(reason));
        if (reason[0]) {
            snprintf(buf, sizeof(buf), "not ready: %s\n", reason);
            text(resp, 503, buf);
        } else {
            text(resp, 200, "ready\n");
        }
        return 0;
    }
    if (!strcmp(path, "/metrics")) {
        size_t len = 0;
        resp->status = 200;
        resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
        resp->body = evf_metrics_render(w->metrics, &len);
        resp->body_len = len;
        return 0;
    }
    if (!strcmp(path, "/status")) {
        resp->status = 200;
        resp->content_type = "application/json";
        resp->body = status_json(w);
        resp->body_len = resp->body ? strlen(resp->body) : 0;
        return 0;
    }
    text(resp, 404, "not found\n");
    return 0;
}
