/* consumer/pipeline.c — a processing thread: takes a batch of ready items from the lanes and
 * moves each along the contract's path (DESIGN.md "The worker's path for one event"):
 *
 *   decode → route → idempotency acquire (one round trip for the batch) → run the processor
 *   (queuing effects and emits) → ok: emits confirmed, then effects + completion in one script
 *   (batched) | retry: backoff in the lane, then the next retry topic | fail / exhausted: the
 *   dead-letter topic → the offset is done (lanes.c stores the contiguous done prefix).
 *
 * Runs on: each processing thread (one Redis connection each). Deliveries of emits and copies are
 * confirmed through the publisher's poll thread, which wakes us through `dr_cb`. */
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "deadletter.h"
#include "effects.h"
#include "log.h"
#include "redis.h"
#include "sha256.h"
#include "topics.h"
#include "worker.h"

#define BATCH_MAX 256
#define PER_LANE_MAX 64
#define FX_MAX_OPS 256
#define EMITS_MAX 64
#define TRANSPORT_WAIT_MS 1000
#define HOLD_WAIT_MS 2000
#define BATCH_BUDGET_MS 100 /* past this, a batch stops starting calls and gives the rest back */

typedef enum {
    SLOT_IDLE = 0,  /* not handled in this batch (left for a later one) */
    SLOT_RUNNABLE,  /* decoded and routed; acquire and run */
    SLOT_COMMIT,    /* processor returned ok: emits then effects + completion */
    SLOT_COPY,      /* goes to a retry topic or the dead-letter topic */
    SLOT_DONE,      /* nothing more to do (duplicate) */
    SLOT_WAIT,      /* back to its lane until not_before */
} slot_state_t;

typedef struct thread_s thread_t;

typedef struct {
    char topic[EVF_TOPIC_NAME_MAX + 1];
    evf_event_t *ev;
} emit_t;

typedef struct {
    evf_proc_ctx_t pub; /* first: the processor sees only this */
    thread_t *th;
    struct slot_s *slot;
    evf_fx_t *fx;
    emit_t *emits; /* EMITS_MAX entries, allocated once per slot: kept out of the per-event reset */
    size_t nemits;
    char reason[512];
    char fx_error[160];
} item_ctx_t;

typedef struct slot_s {
    thread_t *th;
    evf_item_t *item;
    slot_state_t state;
    const evf_proc_instance_t *inst;
    evf_proc_metrics_t *pm;
    item_ctx_t ctx;
    evf_idem_req_t req;
    int acquired;
    int key_held; /* its record key is claimed in w->held */
    char record_key[1024];
    char fp[33];
    /* failure */
    evf_class_t cls;
    char message[512];
    int retry_level; /* next retry topic level for a COPY to a retry topic, 0 = dead letter */
    char copy_topic[EVF_TOPIC_NAME_MAX + 1];
    /* deliveries */
    int dr_pending;
    int dr_failed;
    char dr_error[160];
    int copy_held; /* a copy sent again after a failed delivery, or an item of its lane behind it */
} slot_t;

/* A copy whose delivery failed, kept on its item (evf_item_t.state) until a later batch delivers
 * it: that batch sends the same copy again without running the processor again (a permanent
 * failure is not retried; an exhausted event has had its runs), and the items behind it in its
 * lane wait, so the partition holds at that event. */
typedef struct {
    evf_class_t cls;
    int retry_level;
    evf_proc_metrics_t *pm;
    char message[512];
    char copy_topic[EVF_TOPIC_NAME_MAX + 1];
    char record_key[1024];
} held_copy_t;

struct thread_s {
    evf_worker_t *w;
    evf_redis_t *redis;
    uint64_t rng;
    evf_item_t *items[BATCH_MAX];
    slot_t *slots; /* BATCH_MAX */
    size_t n;
    size_t lo, hi; /* the lane run being run (guarded by steal_lock while a call runs) */
    pthread_mutex_t dlock;
    pthread_cond_t dcond;
    int dpending;
    int idx;                    /* this worker's thread number: its running-hash field */
    int lookups_flush;          /* a lookup needs committed state: flush pending commits first */
    int64_t delays[16];
    size_t ndelays;
    /* Helping (steal_from_peers): while a call runs longer than BATCH_BUDGET_MS, an idle thread
     * may finish the batch's lane runs before it (up to lo) and give back those after it (from
     * steal_from on). Guarded by steal_lock. */
    pthread_mutex_t steal_lock;
    size_t fin_lo;           /* slots before this are finished (given back to the lanes) */
    size_t steal_from;       /* slots from here on were given back (th->n: none) */
    int64_t call_started_ms; /* 0: no call running */
};

int64_t evf_now_ms(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* ---- deliveries ---- */

typedef struct {
    slot_t *slot;
} dr_opaque_t;

/* Runs on: the publisher's poll thread. */
static void pipeline_dr(slot_t *slot, rd_kafka_resp_err_t err) {
    thread_t *th = slot->th;
    pthread_mutex_lock(&th->dlock);
    if (err) {
        slot->dr_failed = 1;
        snprintf(slot->dr_error, sizeof(slot->dr_error), "%s", rd_kafka_err2str(err));
    }
    slot->dr_pending--;
    th->dpending--;
    if (th->dpending == 0)
        pthread_cond_broadcast(&th->dcond);
    pthread_mutex_unlock(&th->dlock);
}

/** @brief The worker's publisher delivery callback (worker.c installs it). */
void evf_pipeline_on_delivery(void *msg_opaque, rd_kafka_resp_err_t err, const char *topic,
                              int32_t partition, int64_t offset, void *cb_opaque) {
    (void)topic;
    (void)partition;
    (void)offset;
    (void)cb_opaque;
    if (msg_opaque)
        pipeline_dr((slot_t *)msg_opaque, err);
}

static void deliveries_wait(thread_t *th) {
    pthread_mutex_lock(&th->dlock);
    while (th->dpending > 0)
        pthread_cond_wait(&th->dcond, &th->dlock);
    pthread_mutex_unlock(&th->dlock);
}

static void delivery_expect(thread_t *th, slot_t *slot) {
    pthread_mutex_lock(&th->dlock);
    th->dpending++;
    slot->dr_pending++;
    pthread_mutex_unlock(&th->dlock);
}

static void delivery_cancel(thread_t *th, slot_t *slot, const char *why) {
    pthread_mutex_lock(&th->dlock);
    th->dpending--;
    slot->dr_pending--;
    slot->dr_failed = 1;
    snprintf(slot->dr_error, sizeof(slot->dr_error), "%s", why);
    pthread_mutex_unlock(&th->dlock);
}

/* ---- the processor context ---- */

static item_ctx_t *ictx(evf_proc_ctx_t *c) {
    return (item_ctx_t *)c;
}

static void ctx_log(evf_proc_ctx_t *c, int level, const char *fmt, va_list ap) {
    item_ctx_t *ic = ictx(c);
    char buf[1024];
    if (level < evf_log_min_level)
        return;
    vsnprintf(buf, sizeof(buf), fmt, ap);
    evf_log_write((evf_log_level_t)level, ic->slot->pm ? ic->slot->pm->name : "processor",
                  "%s (event %s)", buf, ic->slot->item->ev ? ic->slot->item->ev->id : "?");
}

static void flush_commits(thread_t *th, evf_redis_t *r, size_t lo, size_t hi);

static int ctx_lookup(evf_proc_ctx_t *c, const char *cmd, const char *key, const char *field,
                      char *out, size_t out_size) {
    item_ctx_t *ic = ictx(c);
    thread_t *th = ic->th;
    redisReply *r;
    /* Reads see committed state: earlier events of this batch that touch the key must be
     * applied first (under steal_lock: an idle thread may be finishing this batch's earlier lane
     * runs). Only when one does: a flush is a round trip per lookup. */
    pthread_mutex_lock(&th->steal_lock);
    int touched = 0;
    for (size_t i = th->fin_lo; i < th->hi && !touched; i++)
        touched = th->slots[i].state == SLOT_COMMIT && evf_fx_touches(th->slots[i].ctx.fx, key);
    if (touched)
        flush_commits(th, th->redis, th->fin_lo, th->hi);
    pthread_mutex_unlock(&th->steal_lock);
    evf_idem_drain(th->redis);
    r = field ? evf_redis_cmd(th->redis, "%s %s %s", cmd, key, field)
              : evf_redis_cmd(th->redis, "%s %s", cmd, key);
    if (!r)
        return -1;
    int rc;
    if (r->type == REDIS_REPLY_STRING) {
        size_t n = r->len < out_size - 1 ? r->len : out_size - 1;
        memcpy(out, r->str, n);
        out[n] = '\0';
        rc = 0;
    } else if (r->type == REDIS_REPLY_NIL) {
        out[0] = '\0';
        rc = 1;
    } else {
        rc = -1;
    }
    freeReplyObject(r);
    return rc;
}

static int ctx_hget(evf_proc_ctx_t *c, const char *key, const char *field, char *out,
                    size_t out_size) {
    return ctx_lookup(c, "HGET", key, field, out, out_size);
}

static int ctx_get(evf_proc_ctx_t *c, const char *key, char *out, size_t out_size) {
    return ctx_lookup(c, "GET", key, NULL, out, out_size);
}

static int ctx_guard(evf_proc_ctx_t *c, evf_guard_op_t op, const char *key, const char *field,
                     const char *value) {
    item_ctx_t *ic = ictx(c);
    const char *why = NULL;
    int id = evf_fx_guard(ic->fx, op, key, field, value, &why);
    if (id < 0 && !ic->fx_error[0])
        snprintf(ic->fx_error, sizeof(ic->fx_error), "guard refused: %s", why);
    return id;
}

static int ctx_effect(evf_proc_ctx_t *c, int guard_id, evf_fx_op_t op, const char *key,
                      const char *field, const char *value) {
    item_ctx_t *ic = ictx(c);
    const char *why = NULL;
    if (evf_fx_add(ic->fx, guard_id, op, key, field, value, &why) != 0) {
        if (!ic->fx_error[0])
            snprintf(ic->fx_error, sizeof(ic->fx_error), "effect refused: %s", why);
        return -1;
    }
    return 0;
}

static int ctx_emit(evf_proc_ctx_t *c, const char *topic, evf_proc_event_t *ev) {
    item_ctx_t *ic = ictx(c);
    if (!ev)
        return -1;
    if (ic->nemits == EMITS_MAX || !topic || !*topic ||
        strlen(topic) > EVF_TOPIC_NAME_MAX) {
        evf_event_free(ev);
        if (!ic->fx_error[0])
            snprintf(ic->fx_error, sizeof(ic->fx_error), "emit refused: %s",
                     ic->nemits == EMITS_MAX ? "too many emits" : "bad topic");
        return -1;
    }
    emit_t *e = &ic->emits[ic->nemits++];
    snprintf(e->topic, sizeof(e->topic), "%s", topic);
    e->ev = ev;
    return 0;
}

static void ctx_reason(evf_proc_ctx_t *c, const char *fmt, va_list ap) {
    vsnprintf(ictx(c)->reason, sizeof(ictx(c)->reason), fmt, ap);
}

static const evf_proc_ops_t ctx_ops = {
    .log = ctx_log,
    .hget = ctx_hget,
    .get = ctx_get,
    .guard = ctx_guard,
    .effect = ctx_effect,
    .emit = ctx_emit,
    .reason = ctx_reason,
};

static void ctx_discard(item_ctx_t *ic) {
    for (size_t i = 0; i < ic->nemits; i++)
        evf_event_free(ic->emits[i].ev);
    ic->nemits = 0;
    evf_fx_reset(ic->fx);
    ic->fx_error[0] = '\0';
}

/* Deterministic id of the index-th event emitted by processor for source event id: a UUID
 * built from SHA-256 (version nibble 5-like, variant RFC 4122). */
static void emit_id(const char *src_id, const char *processor, size_t index, char out[37]) {
    uint8_t d[EVF_SHA256_DIGEST_LEN];
    evf_sha256_t h;
    char idx[24];
    snprintf(idx, sizeof(idx), "%zu", index);
    evf_sha256_init(&h);
    evf_sha256_update(&h, src_id, strlen(src_id));
    evf_sha256_update(&h, "\n", 1);
    evf_sha256_update(&h, processor, strlen(processor));
    evf_sha256_update(&h, "\n", 1);
    evf_sha256_update(&h, idx, strlen(idx));
    evf_sha256_final(&h, d);
    d[6] = (uint8_t)((d[6] & 0x0f) | 0x50);
    d[8] = (uint8_t)((d[8] & 0x3f) | 0x80);
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", d[0], d[1],
             d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12], d[13], d[14],
             d[15]);
}

/* ---- failures ---- */

/* The item fails with cls: it goes to the next retry topic when the class is retryable and one
 * is left, else to the dead-letter topic. */
static void slot_fail(thread_t *th, slot_t *s, evf_class_t cls, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void slot_fail(thread_t *th, slot_t *s, evf_class_t cls, const char *fmt, ...) {
    evf_worker_t *w = th->w;
    char source[EVF_TOPIC_NAME_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->message, sizeof(s->message), fmt, ap);
    va_end(ap);
    s->cls = cls;
    s->state = SLOT_COPY;
    s->retry_level = 0;
    if (!s->item->first_failed_ms)
        s->item->first_failed_ms = evf_now_ms();

    const char *topic = rd_kafka_topic_name(s->item->msg->rkt);
    int level = 0;
    evf_topic_kind_t kind = evf_topic_classify(topic, w->group, source, sizeof(source), &level);
    if (kind == EVF_TOPIC_SOURCE)
        snprintf(source, sizeof(source), "%s", topic);
    if ((cls == EVF_CLASS_TRANSIENT || cls == EVF_CLASS_TIMEOUT) && th->ndelays > 0) {
        int next = kind == EVF_TOPIC_RETRY ? level + 1 : 1;
        if (next <= (int)th->ndelays) {
            s->retry_level = next;
            evf_topic_retry(s->copy_topic, sizeof(s->copy_topic), source, w->group, next);
            return;
        }
    }
    evf_topic_dlq(s->copy_topic, sizeof(s->copy_topic), source, w->group);
}

static void slot_wait(thread_t *th, slot_t *s, int64_t not_before, const char *why) {
    s->state = SLOT_WAIT;
    s->item->disp = EVF_DISP_WAIT;
    s->item->not_before_ms = not_before;
    if (why)
        evf_lanes_hold_reason(th->w->lanes, s->item, why);
}

/* ---- phases ---- */

static const char *msg_header(const rd_kafka_message_t *msg, const char *name, char *buf,
                              size_t size) {
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers((rd_kafka_message_t *)msg, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return NULL;
    return evf_dlq_header_str(hdrs, name, buf, size) == 0 ? buf : NULL;
}

/* An integer header: the whole value a decimal integer, else -1 (as if absent). */
static int msg_header_int(const rd_kafka_message_t *msg, const char *name, int64_t *out) {
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers((rd_kafka_message_t *)msg, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    return evf_dlq_header_int(hdrs, name, out);
}

/* evfleet.attempts of msg (a whole non-negative integer, else 0) plus runs, saturating at
 * INT_MAX: the header may come from any producer. */
static int attempts_so_far(const rd_kafka_message_t *msg, int runs) {
    int64_t prior = 0;
    if (msg_header_int(msg, EVF_H_ATTEMPTS, &prior) != 0 || prior < 0)
        prior = 0;
    return prior > (int64_t)INT_MAX - runs ? INT_MAX : (int)prior + runs;
}

/* Decode, size and age checks, routing. Leaves RUNNABLE, COPY or WAIT. */
static void prepare(thread_t *th, slot_t *s) {
    evf_worker_t *w = th->w;
    evf_item_t *it = s->item;
    rd_kafka_message_t *msg = it->msg;
    char buf[128], err[256];
    int64_t now = evf_now_ms();

    const held_copy_t *h = it->state;
    if (h) {
        s->copy_held = 1;
        s->cls = h->cls;
        s->retry_level = h->retry_level;
        s->pm = h->pm;
        memcpy(s->message, h->message, sizeof(s->message));
        memcpy(s->copy_topic, h->copy_topic, sizeof(s->copy_topic));
        memcpy(s->record_key, h->record_key, sizeof(s->record_key));
        s->state = SLOT_COPY;
        return;
    }
    if (s != th->slots && s[-1].copy_held && s[-1].item->lane == it->lane) {
        s->copy_held = 1; /* behind a held copy: not run until it is delivered */
        s->state = SLOT_IDLE;
        return;
    }

    /* A retry copy runs no earlier than its not-before time; only its lane waits. */
    int64_t nb = 0;
    if (msg_header_int(msg, EVF_H_RETRY_NOT_BEFORE, &nb) == 0 && nb > now) {
        char topic_kind[EVF_TOPIC_NAME_MAX + 1];
        int lvl;
        if (evf_topic_classify(rd_kafka_topic_name(msg->rkt), w->group, topic_kind,
                               sizeof(topic_kind), &lvl) == EVF_TOPIC_RETRY) {
            slot_wait(th, s, nb, "retry copy waits for its not-before time");
            return;
        }
    }
    if (!it->ev) {
        if (msg->len > (size_t)w->event_max_bytes) {
            slot_fail(th, s, EVF_CLASS_TOO_LARGE, "event is %zu bytes; event.max.bytes is %" PRId64,
                      msg->len, w->event_max_bytes);
            return;
        }
        const char *ct = msg_header(msg, "content-type", buf, sizeof(buf));
        it->ev = evf_event_decode_message(msg->payload, msg->len, ct, err, sizeof(err));
        if (!it->ev) {
            slot_fail(th, s, EVF_CLASS_DECODE, "cannot decode: %s", err);
            return;
        }
    }
    s->inst = evf_router_route(w->router, it->ev->type);
    if (!s->inst) {
        /* Quote at most 200 bytes of the type, cut on a character boundary: the message goes
         * into the dead letter's evfleet.error.message and a log line, both kept valid UTF-8. */
        size_t tl = strnlen(it->ev->type, 200);
        while (tl > 0 && ((unsigned char)it->ev->type[tl] & 0xC0) == 0x80)
            tl--;
        slot_fail(th, s, EVF_CLASS_UNROUTABLE, "no route for event type '%.*s'", (int)tl,
                  it->ev->type);
        return;
    }
    s->pm = evf_worker_procm(w, s->inst);
    if (w->max_age_ms > 0 && !msg_header(msg, EVF_H_REPLAY_COUNT, buf, sizeof(buf))) {
        int64_t ts = 0;
        if (msg_header_int(msg, EVF_H_ORIGINAL_TIMESTAMP, &ts) != 0)
            ts = rd_kafka_message_timestamp(msg, NULL);
        if (ts > 0 && now - ts > w->max_age_ms) {
            slot_fail(th, s, EVF_CLASS_MAX_AGE, "event is %" PRId64 " ms old; max.record.age.ms is %" PRId64,
                      now - ts, w->max_age_ms);
            return;
        }
    }
    s->state = SLOT_RUNNABLE;
}

static void acquire(thread_t *th) {
    evf_worker_t *w = th->w;
    evf_idem_req_t reqs[BATCH_MAX];
    slot_t *who[BATCH_MAX];
    size_t n = 0;
    for (size_t i = 0; i < th->n; i++) {
        slot_t *s = &th->slots[i];
        if (s->state != SLOT_RUNNABLE)
            continue;
        evf_idem_record_key(w->idem, s->item->ev, s->record_key, sizeof(s->record_key));
        evf_event_fingerprint(s->item->ev, s->fp);
        reqs[n] = (evf_idem_req_t){.record_key = s->record_key, .fp = s->fp};
        who[n++] = s;
    }
    if (n == 0)
        return;
    /* Another thread of this worker holding the same key (a duplicate message in another lane)
     * would have its lease taken over by this acquire: wait for it instead. */
    const char *keys[BATCH_MAX];
    int ok[BATCH_MAX];
    for (size_t i = 0; i < n; i++)
        keys[i] = who[i]->record_key;
    evf_held_claim(w->held, th, keys, n, ok);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!ok[i]) {
            slot_wait(th, who[i], evf_now_ms() + 50, "another thread of this worker runs this event");
            continue;
        }
        who[i]->key_held = 1;
        reqs[m] = reqs[i];
        who[m++] = who[i];
    }
    n = m;
    if (n == 0)
        return;
    evf_idem_drain(th->redis);
    if (evf_idem_acquire_batch(w->idem, th->redis, th->idx, reqs, n) != EVF_OK) {
        atomic_store(&w->redis_ok, 0);
        evf_series_inc(w->s_redis_errors);
        evf_worker_set_error(w, "redis", "%s", evf_redis_last_error(th->redis));
        for (size_t i = 0; i < n; i++)
            slot_wait(th, who[i], evf_now_ms() + TRANSPORT_WAIT_MS, "redis unavailable");
        return;
    }
    atomic_store(&w->redis_ok, 1);
    int64_t now = evf_now_ms();
    for (size_t i = 0; i < n; i++) {
        slot_t *s = who[i];
        s->req = reqs[i];
        s->req.record_key = s->record_key;
        s->req.fp = s->fp;
        switch (reqs[i].status) {
        case EVF_IDEM_ACQUIRED:
            s->acquired = 1;
            break;
        case EVF_IDEM_DUPLICATE:
            s->state = SLOT_DONE;
            evf_series_inc(w->s_duplicates);
            if (s->pm)
                evf_series_inc(s->pm->duplicate);
            break;
        case EVF_IDEM_BUSY: {
            int64_t until = reqs[i].lease_until;
            if (until > now + 1000 || until <= now)
                until = now + 1000; /* check again soon: the owner may finish early */
            slot_wait(th, s, until, "another worker holds this event's lease");
            break;
        }
        case EVF_IDEM_CRASH_LOOP:
            /* The crashed calls were runs of the processor: the letter's evfleet.attempts
             * counts them (on top of what the message already carried). */
            if (reqs[i].unfinished > s->item->runs)
                s->item->runs = reqs[i].unfinished;
            slot_fail(th, s, EVF_CLASS_CRASH_LOOP,
                      "%d processor calls started on this event never finished (crash.max.attempts)",
                      reqs[i].unfinished);
            break;
        case EVF_IDEM_MISMATCH:
            slot_fail(th, s, EVF_CLASS_FINGERPRINT_MISMATCH,
                      "a different event with the same idempotency key was already processed");
            break;
        }
    }
}

/* Send s's emits (ids made deterministic first). */
static void send_emits(thread_t *th, slot_t *s) {
    item_ctx_t *ic = &s->ctx;
    char id[37], err[256];
    for (size_t k = 0; k < ic->nemits; k++) {
        evf_event_t *e = ic->emits[k].ev;
        emit_id(s->item->ev->id, s->pm ? s->pm->name : "", k, id);
        evf_event_set_str(&e->id, id);
        delivery_expect(th, s);
        if (evf_pub_send_event(th->w->pub, ic->emits[k].topic, e, s, 5000, err, sizeof(err)) !=
            EVF_OK)
            delivery_cancel(th, s, err);
        evf_event_free(e);
        ic->emits[k].ev = NULL;
    }
    ic->nemits = 0;
}

static void run_one(thread_t *th, slot_t *s) {
    evf_worker_t *w = th->w;
    evf_item_t *it = s->item;
    item_ctx_t *ic = &s->ctx;

    if (s->pm && s->pm->breaker) {
        int64_t retry_at = 0;
        if (!evf_breaker_allow(s->pm->breaker, evf_now_ms(), &retry_at)) {
            char why[200];
            snprintf(why, sizeof(why), "circuit breaker open for processor %s", s->pm->name);
            slot_wait(th, s, retry_at, why);
            return;
        }
    }
    if (w->idem) {
        /* The lease must cover the whole call: renewed first when less than the processing
         * timeout (+1 s) is left of it (a long batch of slow calls). Then the call pointer. */
        evf_err_t err = EVF_OK;
        if (s->req.lease_until - evf_now_ms() < w->timeout_ms + 1000) {
            evf_idem_req_t *rq = &s->req;
            evf_idem_drain(th->redis);
            err = evf_idem_renew_batch(w->idem, th->redis, &rq, 1);
            if (err == EVF_OK && s->req.lease_until == 0) {
                /* Taken over while it waited in this batch: the new owner runs it. */
                s->acquired = 0;
                slot_wait(th, s, evf_now_ms() + 100, "lease taken over by another worker");
                return;
            }
        }
        if (err == EVF_OK)
            err = evf_idem_mark_call(w->idem, th->redis, th->idx, &s->req);
        if (err != EVF_OK) {
            evf_series_inc(w->s_redis_errors);
            slot_wait(th, s, evf_now_ms() + TRANSPORT_WAIT_MS, "redis unavailable");
            return;
        }
    }
    it->runs++;
    ic->pub.ops = &ctx_ops;
    ic->pub.idempotency_key = w->idem ? s->record_key : it->ev->id;
    ic->pub.attempt = attempts_so_far(it->msg, it->runs);
    ic->pub.topic = rd_kafka_topic_name(it->msg->rkt);
    ic->pub.partition = it->msg->partition;
    ic->pub.offset = it->offset;
    ic->pub.group = w->group;
    ic->pub.key_prefix = w->key_prefix;
    ic->reason[0] = '\0';
    ic->fx_error[0] = '\0';
    ic->nemits = 0;
    evf_fx_reset(ic->fx);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ic->pub.deadline_ms = evf_now_ms() + w->timeout_ms;
    evf_proc_result_t res = evf_registry_process(s->inst, it->ev, &ic->pub);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (s->pm)
        evf_series_observe(s->pm->seconds, secs);

    int timed_out = secs * 1000.0 > (double)w->timeout_ms;
    if (s->pm && s->pm->breaker)
        evf_breaker_record(s->pm->breaker, evf_now_ms(), timed_out || res == EVF_PROC_RETRY);
    if (timed_out || res != EVF_PROC_OK) {
        ctx_discard(ic);
    } else if (ic->fx_error[0]) {
        ctx_discard(ic);
        res = EVF_PROC_FAIL;
        snprintf(ic->reason, sizeof(ic->reason), "%s", ic->fx_error);
    }

    if (!timed_out && res == EVF_PROC_OK) {
        s->state = SLOT_COMMIT;
        if (ic->nemits)
            send_emits(th, s);
        return;
    }
    if (!timed_out && res == EVF_PROC_FAIL) {
        slot_fail(th, s, EVF_CLASS_PERMANENT, "%s", ic->reason[0] ? ic->reason : "processor failed");
        return;
    }
    /* retry or timeout: again in place with backoff, up to retry.max.attempts runs */
    evf_class_t cls = timed_out ? EVF_CLASS_TIMEOUT : EVF_CLASS_TRANSIENT;
    if (s->pm)
        evf_series_inc(s->pm->retry);
    if (!it->first_failed_ms)
        it->first_failed_ms = evf_now_ms();
    if (it->runs < w->retry_max_attempts) {
        int64_t delay = evf_backoff_delay(&w->backoff, it->runs, &th->rng);
        if (s->pm)
            evf_series_inc(s->pm->retries);
        char why[600];
        snprintf(why, sizeof(why), "retrying in place (run %d of %d): %.500s", it->runs,
                 w->retry_max_attempts,
                 timed_out ? "processing.timeout.ms exceeded" : ic->reason);
        slot_wait(th, s, evf_now_ms() + delay, why);
        return;
    }
    if (timed_out)
        slot_fail(th, s, cls, "processing took %.0f ms; processing.timeout.ms is %" PRId64,
                  secs * 1000.0, w->timeout_ms);
    else
        slot_fail(th, s, cls, "%s", ic->reason[0] ? ic->reason : "processor asked to retry");
}

static int fx_needed(const evf_fx_commit_t *c) {
    return c->record_key || (c->fx && evf_fx_count(c->fx) > 0);
}

/* Emits confirmed, then effects + completion for every COMMIT slot in one script. */
static void flush_commits(thread_t *th, evf_redis_t *r, size_t lo, size_t hi) {
    evf_worker_t *w = th->w;
    evf_fx_commit_t items[BATCH_MAX];
    evf_fx_status_t results[BATCH_MAX];
    static __thread char reasons[BATCH_MAX][128];
    slot_t *who[BATCH_MAX];
    size_t n = 0;

    for (size_t i = lo; i < hi; i++)
        if (th->slots[i].state == SLOT_COMMIT)
            who[n++] = &th->slots[i];
    if (n == 0)
        return;
    deliveries_wait(th);
    /* who[0..k): events with something to write, in order, for the script; who[k..m): events
     * without a record and without effects (idempotency off and a processor that queued none),
     * applied as they are with no script call (12% of the CPU of a noop worker went to building
     * and sending empty ones). */
    slot_t *plain[BATCH_MAX];
    size_t k = 0, np = 0;
    for (size_t i = 0; i < n; i++) {
        slot_t *s = who[i];
        if (s->dr_failed) {
            slot_wait(th, s, evf_now_ms() + HOLD_WAIT_MS, "emitted event not delivered");
            evf_worker_set_error(w, "hold", "emit failed: %s", s->dr_error);
            continue;
        }
        evf_fx_commit_t c = {
            .fx = s->ctx.fx,
            .record_key = s->acquired ? s->record_key : NULL,
            .token = s->acquired ? s->req.token : NULL,
            .fp = s->fp,
            .ttl_ms = w->idem_ttl_ms,
        };
        if (!fx_needed(&c)) {
            plain[np++] = s;
            continue;
        }
        who[k] = s;
        items[k++] = c;
    }
    size_t m = k + np;
    if (m == 0)
        return;
    for (size_t i = 0; i < np; i++) {
        who[k + i] = plain[i];
        results[k + i] = EVF_FX_APPLIED;
    }
    evf_err_t ferr = EVF_OK;
    if (k > 0) {
        evf_idem_drain(r);
        ferr = evf_fx_apply_batch(r, items, k, results, reasons);
    }
    if (ferr != EVF_OK) {
        atomic_store(&w->redis_ok, 0);
        evf_series_inc(w->s_redis_errors);
        evf_worker_set_error(w, "redis", "%s", evf_redis_last_error(r));
        for (size_t i = 0; i < m; i++)
            slot_wait(th, who[i], evf_now_ms() + TRANSPORT_WAIT_MS, "redis unavailable");
        return;
    }
    atomic_store(&w->redis_ok, 1);
    for (size_t i = 0; i < m; i++) {
        slot_t *s = who[i];
        switch (results[i]) {
        case EVF_FX_APPLIED:
        case EVF_FX_ALREADY:
            s->state = SLOT_DONE;
            s->acquired = 0;
            if (s->pm)
                evf_series_inc(s->pm->ok);
            if (s->item->ev && s->item->ev->time_ms > 0) {
                int64_t lat = evf_now_ms() - s->item->ev->time_ms;
                evf_series_observe(w->s_latency, lat > 0 ? (double)lat / 1000.0 : 0.0);
            }
            break;
        case EVF_FX_FENCED:
            /* Another worker owns the event now: nothing applied; acquire again later, which
             * waits for or observes the owner's outcome. */
            s->acquired = 0;
            slot_wait(th, s, evf_now_ms() + 100, "lease taken over by another worker");
            break;
        case EVF_FX_REJECTED:
            slot_fail(th, s, EVF_CLASS_PERMANENT, "effects rejected: %s", reasons[i]);
            break;
        }
    }
    int64_t first = atomic_load(&w->first_processed_ms);
    if (!first)
        atomic_compare_exchange_strong(&w->first_processed_ms, &first, evf_now_ms());
}

/* Copies to retry and dead-letter topics; the offset is done only once each is confirmed. */
static void send_copies(thread_t *th, size_t lo, size_t hi) {
    evf_worker_t *w = th->w;
    int any = 0, failed = 0;
    char err[256];
    for (size_t i = lo; i < hi; i++) {
        slot_t *s = &th->slots[i];
        if (s->state != SLOT_COPY)
            continue;
        rd_kafka_message_t *msg = s->item->msg;
        int64_t now = evf_now_ms();
        evf_failure_t f = {
            .cls = s->cls,
            .message = s->message,
            .processor = s->pm ? s->pm->name : "",
            .attempts = attempts_so_far(msg, s->item->runs),
            .failed_at_ms = now,
            .first_failed_at_ms = s->item->first_failed_ms,
            .worker = w->instance_id,
            .group = w->group,
            .idempotency_key = s->record_key[0] ? s->record_key : NULL,
            .retry_not_before_ms = s->retry_level ? now + th->delays[s->retry_level - 1] : 0,
        };
        rd_kafka_headers_t *hdrs = evf_dlq_copy_headers(msg, &f);
        s->dr_failed = 0;
        delivery_expect(th, s);
        if (evf_pub_send(w->pub, s->copy_topic, RD_KAFKA_PARTITION_UA, msg->key, msg->key_len,
                         msg->payload, msg->len, hdrs, s, 5000, err, sizeof(err)) != EVF_OK)
            delivery_cancel(th, s, err);
        any = 1;
    }
    if (!any)
        return;
    deliveries_wait(th);
    for (size_t i = lo; i < hi; i++) {
        slot_t *s = &th->slots[i];
        if (s->state != SLOT_COPY)
            continue;
        if (s->dr_failed) {
            char why[400];
            snprintf(why, sizeof(why), "cannot write %s: %s", s->copy_topic, s->dr_error);
            evf_worker_set_error(w, "hold", "%s", why);
            EVF_WARN("pipeline", "%s; partition %s[%d] holds at offset %" PRId64, why,
                     rd_kafka_topic_name(s->item->msg->rkt), s->item->msg->partition,
                     s->item->offset);
            slot_wait(th, s, evf_now_ms() + HOLD_WAIT_MS, why);
            failed = 1;
            if (!s->item->state) {
                held_copy_t *h = calloc(1, sizeof(*h));
                if (!h)
                    abort();
                h->cls = s->cls;
                h->retry_level = s->retry_level;
                h->pm = s->pm;
                memcpy(h->message, s->message, sizeof(h->message));
                memcpy(h->copy_topic, s->copy_topic, sizeof(h->copy_topic));
                memcpy(h->record_key, s->record_key, sizeof(h->record_key));
                evf_lanes_item_state(s->item, h);
            }
            continue;
        }
        evf_lanes_item_state(s->item, NULL);
        s->state = SLOT_DONE;
        if (s->retry_level == 0) {
            char source[EVF_TOPIC_NAME_MAX + 1];
            /* The topic the message came from names its source; its evfleet.original.topic
             * header could come from any producer. */
            evf_topic_classify(rd_kafka_topic_name(s->item->msg->rkt), w->group, source,
                               sizeof(source), NULL);
            evf_series_inc(evf_metric_get(w->m_dlq, source, evf_class_name(s->cls)));
            if (s->pm)
                evf_series_inc(s->pm->dlq);
            else
                evf_series_inc(evf_metric_get(w->m_processed, "", "dlq"));
        }
    }
    /* Another partition may still hold at a copy it could not write: its reason stays. */
    if (!failed && evf_lanes_items_with_state(w->lanes) == 0)
        evf_worker_set_error(w, "hold", "%s", "");
}

/* Release records of everything acquired that is not completed (retry, fail, not run). */
static void release_records(thread_t *th, evf_redis_t *r, size_t lo, size_t hi) {
    evf_worker_t *w = th->w;
    evf_idem_req_t *reqs[BATCH_MAX];
    size_t n = 0;
    if (!w->idem)
        return;
    for (size_t i = lo; i < hi; i++) {
        slot_t *s = &th->slots[i];
        /* Completed slots gave up `acquired`; the rest (retried, dead-lettered, copied, not
         * run) are released so a later delivery or a replay can acquire them again. */
        if (s->acquired)
            reqs[n++] = &s->req;
    }
    if (n == 0)
        return;
    evf_idem_drain(r);
    if (evf_idem_release_batch(w->idem, r, reqs, n, NULL) != EVF_OK) {
        /* The leases expire by themselves; nothing is lost. */
        atomic_store(&w->redis_ok, 0);
        evf_series_inc(w->s_redis_errors);
    }
}

/* Give up the record keys slots claimed (owner: the thread that claimed them). */
static void drop_held(thread_t *owner, slot_t *slots, size_t n) {
    const char *keys[BATCH_MAX];
    size_t k = 0;
    if (!owner->w->held)
        return;
    for (size_t i = 0; i < n; i++)
        if (slots[i].key_held) {
            keys[k++] = slots[i].record_key;
            slots[i].key_held = 0;
        }
    if (k)
        evf_held_drop(owner->w->held, owner, keys, k);
}

/* The end of lane runs [lo, hi) of th's batch: effects and completions (one script), copies,
 * releases; then the items go back to their lanes, so those lanes' next items may run on any
 * thread. Committing before a lane is given back keeps its effects in order. `r` is the Redis
 * connection of the thread doing it (an idle thread may finish a busy one's runs). */
static void finish_runs(thread_t *th, evf_redis_t *r, size_t lo, size_t hi) {
    evf_worker_t *w = th->w;
    if (lo >= hi)
        return;
    flush_commits(th, r, lo, hi);
    send_copies(th, lo, hi);
    release_records(th, r, lo, hi);
    drop_held(th, th->slots + lo, hi - lo);
    for (size_t i = lo; i < hi; i++) {
        slot_t *s = &th->slots[i];
        if (s->state == SLOT_DONE)
            s->item->disp = EVF_DISP_DONE;
        else if (s->state == SLOT_WAIT)
            s->item->disp = EVF_DISP_WAIT;
        else
            s->item->disp = EVF_DISP_NOT_RUN;
    }
    if (evf_lanes_finish(w->lanes, th->items + lo, hi - lo) && w->rkq)
        rd_kafka_queue_yield(w->rkq); /* the poll thread applies the resume now */
}

/* An idle thread helps a peer whose current call has run past the budget: it finishes the
 * peer's lane runs that ran before that call (so those lanes move on) and gives back the runs
 * not started after it (so they run now instead of after that call). Only the running lane
 * waits for the slow call. Runs with the peer's steal_lock held: the peer takes it when its
 * call returns, and its lookups take it, so nothing of the batch is touched twice. */
static int steal_from_peers(thread_t *self) {
    evf_worker_t *w = self->w;
    int helped = 0;
    int64_t now = evf_now_ms();
    pthread_mutex_lock(&w->peers_lock);
    for (int p = 0; p < w->npeers; p++) {
        thread_t *peer = w->peers[p];
        if (peer == self)
            continue;
        pthread_mutex_lock(&peer->steal_lock);
        if (peer->call_started_ms && now - peer->call_started_ms > BATCH_BUDGET_MS) {
            size_t lo = peer->lo, hi = peer->hi; /* the running lane run */
            if (hi < peer->steal_from) {
                for (size_t k = hi; k < peer->steal_from; k++)
                    peer->items[k]->disp = EVF_DISP_NOT_RUN;
                drop_held(peer, peer->slots + hi, peer->steal_from - hi);
                EVF_DBG("pipeline", "gave back %zu item(s) waiting behind a %" PRId64 " ms call",
                        peer->steal_from - hi, now - peer->call_started_ms);
                if (evf_lanes_finish(w->lanes, peer->items + hi, peer->steal_from - hi) &&
                    w->rkq)
                    rd_kafka_queue_yield(w->rkq);
                peer->steal_from = hi;
                helped = 1;
            }
            if (peer->fin_lo < lo) {
                EVF_DBG("pipeline", "finishing %zu item(s) that ran before a %" PRId64 " ms call",
                        lo - peer->fin_lo, now - peer->call_started_ms);
                finish_runs(peer, self->redis, peer->fin_lo, lo);
                peer->fin_lo = lo;
                helped = 1;
            }
        }
        pthread_mutex_unlock(&peer->steal_lock);
    }
    pthread_mutex_unlock(&w->peers_lock);
    return helped;
}

/* A batch: decode and route everything, acquire every record in one script, run lane run by
 * lane run (a lane stops at its first item that waits), then finish all runs at once (one
 * completion script) — unless an idle thread finished or took some while a call was slow. */
static void run_batch(thread_t *th) {
    evf_worker_t *w = th->w;
    int64_t batch_start = evf_now_ms();
    pthread_mutex_lock(&th->steal_lock);
    th->steal_from = th->n;
    th->fin_lo = 0;
    th->lo = th->hi = 0;
    pthread_mutex_unlock(&th->steal_lock);

    for (size_t i = 0; i < th->n; i++) {
        slot_t *s = &th->slots[i];
        evf_fx_t *fx = s->ctx.fx;
        emit_t *emits = s->ctx.emits;
        memset(s, 0, sizeof(*s));
        s->th = th;
        s->item = th->items[i];
        s->ctx.fx = fx;
        s->ctx.emits = emits;
        s->ctx.th = th;
        s->ctx.slot = s;
        s->cls = EVF_CLASS__CNT;
        s->item->disp = EVF_DISP_NOT_RUN;
    }
    for (size_t i = 0; i < th->n; i++)
        prepare(th, &th->slots[i]);
    if (w->idem)
        acquire(th);

    size_t lo = 0;
    for (;;) {
        pthread_mutex_lock(&th->steal_lock);
        int more = lo < th->steal_from; /* from steal_from on, an idle thread took them back */
        pthread_mutex_unlock(&th->steal_lock);
        if (!more)
            break;
        evf_lane_t *lane = th->items[lo]->lane;
        size_t hi = lo + 1;
        while (hi < th->n && th->items[hi]->lane == lane)
            hi++;
        int blocked = 0;
        for (size_t i = lo; i < hi; i++) {
            slot_t *s = &th->slots[i];
            if (blocked) {
                if (s->state != SLOT_DONE)
                    s->state = SLOT_IDLE;
                continue;
            }
            if (s->state == SLOT_WAIT) {
                blocked = 1;
                continue;
            }
            if (s->state != SLOT_RUNNABLE)
                continue;
            if (evf_now_ms() - batch_start > BATCH_BUDGET_MS) {
                /* Slow calls: give the rest back so other threads run them meanwhile (one
                 * slow key or partition must not hold the others taken in the same batch). */
                s->state = SLOT_IDLE;
                blocked = 1; /* its later items must not overtake it (not even to a DLQ) */
                continue;
            }
            pthread_mutex_lock(&th->steal_lock);
            th->lo = lo;
            th->hi = hi;
            th->call_started_ms = evf_now_ms();
            pthread_mutex_unlock(&th->steal_lock);
            run_one(th, s);
            pthread_mutex_lock(&th->steal_lock);
            th->call_started_ms = 0;
            pthread_mutex_unlock(&th->steal_lock);
            if (s->state == SLOT_WAIT)
                blocked = 1;
        }
        lo = hi;
    }
    /* No call runs now, so no idle thread touches the batch any more. */
    finish_runs(th, th->redis, th->fin_lo, th->steal_from);
    th->n = 0;
}

void *evf_pipeline_thread(void *arg) {
    evf_worker_t *w = arg;
    thread_t th;
    char err[256];
    memset(&th, 0, sizeof(th));
    th.w = w;
    th.rng = evf_rand_seed();
    pthread_mutex_init(&th.dlock, NULL);
    pthread_cond_init(&th.dcond, NULL);
    pthread_mutex_init(&th.steal_lock, NULL);
    th.slots = calloc(BATCH_MAX, sizeof(slot_t));
    if (!th.slots)
        abort();
    for (size_t i = 0; i < BATCH_MAX; i++) {
        th.slots[i].ctx.fx = evf_fx_new(FX_MAX_OPS);
        th.slots[i].ctx.emits = calloc(EMITS_MAX, sizeof(emit_t));
        if (!th.slots[i].ctx.emits)
            abort();
    }
    {
        char buf[512];
        const char *list[16];
        size_t n = evf_conf_list(w->conf, "retry.topics.delays.ms", buf, sizeof(buf), list, 16);
        for (size_t i = 0; i < n; i++)
            th.delays[th.ndelays++] = atoll(list[i]);
    }
    th.redis = evf_redis_new(w->conf, "worker", err, sizeof(err));
    if (!th.redis) {
        EVF_ERR("pipeline", "%s", err);
        atomic_store(&w->fatal, 1);
        goto out;
    }
    evf_redis_connect(th.redis, err, sizeof(err)); /* else at first use, with back-off */
    pthread_mutex_lock(&w->peers_lock);
    th.idx = w->thread_seq++;
    if (w->npeers < (int)(sizeof(w->peers) / sizeof(w->peers[0])))
        w->peers[w->npeers++] = &th;
    pthread_mutex_unlock(&w->peers_lock);

    while (atomic_load(&w->running)) {
        th.n = evf_lanes_take(w->lanes, th.items, BATCH_MAX, w->key_ordering ? 8 : PER_LANE_MAX,
                              200);
        if (th.n == 0) {
            if (atomic_load(&w->running) && w->threads > 1)
                steal_from_peers(&th);
            continue;
        }
        run_batch(&th);
    }
out:
    pthread_mutex_lock(&w->peers_lock);
    for (int p = 0; p < w->npeers; p++)
        if (w->peers[p] == &th) {
            w->peers[p] = w->peers[--w->npeers];
            break;
        }
    pthread_mutex_unlock(&w->peers_lock);
    for (size_t i = 0; i < BATCH_MAX; i++) {
        evf_fx_destroy(th.slots[i].ctx.fx);
        free(th.slots[i].ctx.emits);
    }
    free(th.slots);
    evf_redis_destroy(th.redis);
    pthread_mutex_destroy(&th.dlock);
    pthread_cond_destroy(&th.dcond);
    pthread_mutex_destroy(&th.steal_lock);
    return NULL;
}
