/* consumer/proc_s3_index.c — the `s3_index` built-in: an index of S3 objects and per-bucket totals,
 * kept exact under out-of-order and duplicate delivery.
 *
 * Keys (<p> is idempotency.key.prefix):
 *   <p>:s3:obj:<bucket>/<key>   hash: size, etag, content_type, version_id, sequencer,
 *                               last_event (the event type), last_time_ms, state (live|removed)
 *   <p>:s3:bucket:<bucket>      hash: created, removed, live_bytes, live_objects
 *
 * Which events: a type (or, when the type has neither, the S3 event_name) containing
 * "ObjectCreated" is a create, "ObjectRemoved" a remove; other S3 events (restore, tagging, …)
 * change nothing and return OK. A non-S3 event, or one without bucket or key, fails (permanent).
 *
 * Order: the object's `sequencer` decides. Every effect of an event is guarded by
 * EVF_GUARD_LT_HEX on the object's stored `sequencer` (absent passes), so an event older than — or
 * equal to, i.e. a duplicate of — what is stored changes nothing at all: neither the object nor the
 * bucket's counters. Sequencers compare as hex numbers (left-padded, case-insensitive) and are
 * stored upper-cased. `sequencer` is written last among the effects, so the outcome is the same
 * whether the worker evaluates guards once before the first write or before each effect.
 *
 * Applied create (seq newer than stored): the object gets size, etag, content_type, version_id,
 * last_event, last_time_ms, state=live, sequencer; bucket created += 1; if the object was live,
 * live_bytes += new size − old size; else live_bytes += size and live_objects += 1.
 * Applied remove: the object becomes a tombstone — state=removed, size=0, etag and content_type
 * "", version_id of the remove event (a delete marker's, or ""), last_event, last_time_ms,
 * sequencer — which is kept (never deleted) so an older create delivered late cannot resurrect the
 * object; bucket removed += 1; if the object was live, live_bytes −= old size, live_objects −= 1.
 * So `created`/`removed` count the events applied (not those skipped as stale or duplicate), and
 * live_bytes/live_objects always equal the sums over the objects whose newest event is a create.
 *
 * The old state and size are read with hget: lookups see committed state, and an object's events
 * share a Kafka key (`bucket/key`) and so one lane, run one after another; the guard makes a stale
 * read harmless for an event that is itself stale. (Needs: the worker commits an event's effects
 * before the next event of its lane runs.)
 *
 * Events without a sequencer are ordered by time_ms instead: their sequencer is time_ms written as
 * 16 upper-case hex digits, so a later time wins and an equal time_ms is taken as a duplicate. Do
 * not mix events with and without sequencers for one object: the two orders do not compare.
 *
 * No settings. Tombstones live forever (one small hash per removed key). */
#include <inttypes.h>

#include "builtins.h"

typedef enum { S3_OTHER = 0, S3_CREATE, S3_REMOVE } s3_kind_t;

static int s3_init(void **state, const evf_proc_setting_t *settings, size_t n_settings,
                   char *errstr, size_t errstr_size) {
    *state = NULL;
    if (n_settings > 0)
        return evf_builtin_unknown_setting(settings[0].name, "none", errstr, errstr_size);
    return 0;
}

static void s3_destroy(void *state) {
    (void)state;
}

static s3_kind_t s3_kind(const char *text) {
    if (!text)
        return S3_OTHER;
    if (strstr(text, "ObjectCreated"))
        return S3_CREATE;
    if (strstr(text, "ObjectRemoved"))
        return S3_REMOVE;
    return S3_OTHER;
}

/* Queue one effect; remember a refusal (queue full, invalid value) so process() fails once at the
 * end: the same event would be refused again on every retry, so that is permanent. */
typedef struct {
    evf_proc_ctx_t *ctx;
    int guard;
    int full;
} s3_fx_t;

static void fx(s3_fx_t *f, evf_fx_op_t op, const char *key, const char *field, const char *value) {
    if (!f->full && evf_ctx_effect(f->ctx, f->guard, op, key, field, value) < 0)
        f->full = 1;
}

static void fx_i64(s3_fx_t *f, const char *key, const char *field, int64_t delta) {
    char num[32];
    snprintf(num, sizeof(num), "%" PRId64, delta);
    fx(f, EVF_FX_HINCRBY, key, field, num);
}

static evf_proc_result_t s3_process(void *state, const evf_proc_event_t *ev,
                                    evf_proc_ctx_t *ctx) {
    (void)state;
    if (ev->detail_case != EVFLEET__V1__EVENT__DETAIL_S3 || !ev->s3) {
        evf_ctx_reason(ctx, "s3_index: event %s (type %s) has no S3 detail", ev->id, ev->type);
        return EVF_PROC_FAIL;
    }
    const Evfleet__V1__S3Object *s3 = ev->s3;
    if (!*s3->bucket || !*s3->key) {
        evf_ctx_reason(ctx, "s3_index: event %s has no bucket or key", ev->id);
        return EVF_PROC_FAIL;
    }
    s3_kind_t kind = s3_kind(ev->type);
    if (kind == S3_OTHER)
        kind = s3_kind(s3->event_name);
    if (kind == S3_OTHER) {
        evf_ctx_log(ctx, EVF_PROC_LOG_DEBUG, "s3_index: ignoring %s (%s)", ev->id, ev->type);
        return EVF_PROC_OK;
    }
    if (kind == S3_CREATE && s3->size < 0) {
        evf_ctx_reason(ctx, "s3_index: event %s has a negative size", ev->id);
        return EVF_PROC_FAIL;
    }

    char seq_buf[40];
    char *seq = NULL;
    if (*s3->sequencer) {
        if (!evf_builtin_is_hex(s3->sequencer)) {
            evf_ctx_reason(ctx, "s3_index: event %s: sequencer '%.64s' is not hex", ev->id,
                           s3->sequencer);
            return EVF_PROC_FAIL;
        }
        seq = evf_builtin_strdup(s3->sequencer);
        for (char *c = seq; *c; c++)
            if (*c >= 'a' && *c <= 'f')
                *c = (char)(*c - 'a' + 'A');
    } else {
        if (ev->time_ms < 0) {
            evf_ctx_reason(ctx, "s3_index: event %s has neither sequencer nor time", ev->id);
            return EVF_PROC_FAIL;
        }
        snprintf(seq_buf, sizeof(seq_buf), "%016" PRIX64, (uint64_t)ev->time_ms);
        seq = evf_builtin_strdup(seq_buf);
    }

    const char *prefix = evf_builtin_prefix(ctx);
    char *obj_key = evf_builtin_fmt("%s:s3:obj:%s/%s", prefix, s3->bucket, s3->key);
    char *bucket_key = evf_builtin_fmt("%s:s3:bucket:%s", prefix, s3->bucket);
    evf_proc_result_t res = EVF_PROC_OK;

    /* The committed state: skip outright when it is already as new (the guard would anyway). */
    char stored_seq[128], stored_state[16], stored_size[32];
    int rc = evf_ctx_hget(ctx, obj_key, "sequencer", stored_seq, sizeof(stored_seq));
    if (rc < 0)
        goto lookup_failed;
    if (rc == 0 && evf_builtin_is_hex(stored_seq) && evf_builtin_numcmp(stored_seq, seq, 1) >= 0) {
        evf_ctx_log(ctx, EVF_PROC_LOG_DEBUG,
                    "s3_index: %s/%s: event %s (sequencer %s) is not newer than %s, skipped",
                    s3->bucket, s3->key, ev->id, seq, stored_seq);
        goto out;
    }
    rc = evf_ctx_hget(ctx, obj_key, "state", stored_state, sizeof(stored_state));
    if (rc < 0)
        goto lookup_failed;
    int was_live = rc == 0 && !strcmp(stored_state, "live");
    int64_t old_size = 0;
    if (was_live) {
        rc = evf_ctx_hget(ctx, obj_key, "size", stored_size, sizeof(stored_size));
        if (rc < 0)
            goto lookup_failed;
        if (rc == 0 && (evf_builtin_parse_i64(stored_size, &old_size) || old_size < 0)) {
            evf_ctx_reason(ctx, "s3_index: %s has a bad size '%s'", obj_key, stored_size);
            res = EVF_PROC_FAIL;
            goto out;
        }
    }

    s3_fx_t f = {.ctx = ctx};
    f.guard = evf_ctx_guard(ctx, EVF_GUARD_LT_HEX, obj_key, "sequencer", seq);
    if (f.guard < 0) {
        evf_ctx_reason(ctx, "s3_index: guard refused (effect queue full)");
        res = EVF_PROC_FAIL;
        goto out;
    }
    char num[32], when[32];
    snprintf(when, sizeof(when), "%" PRId64, ev->time_ms);
    if (kind == S3_CREATE) {
        snprintf(num, sizeof(num), "%" PRId64, s3->size);
        fx(&f, EVF_FX_HSET, obj_key, "size", num);
        fx(&f, EVF_FX_HSET, obj_key, "etag", s3->etag);
        fx(&f, EVF_FX_HSET, obj_key, "content_type", s3->content_type);
        fx(&f, EVF_FX_HSET, obj_key, "version_id", s3->version_id);
        fx(&f, EVF_FX_HSET, obj_key, "last_event", ev->type);
        fx(&f, EVF_FX_HSET, obj_key, "last_time_ms", when);
        fx(&f, EVF_FX_HSET, obj_key, "state", "live");
        fx_i64(&f, bucket_key, "created", 1);
        if (was_live) {
            if (s3->size != old_size)
                fx_i64(&f, bucket_key, "live_bytes", s3->size - old_size);
        } else {
            fx_i64(&f, bucket_key, "live_bytes", s3->size);
            fx_i64(&f, bucket_key, "live_objects", 1);
        }
    } else {
        fx(&f, EVF_FX_HSET, obj_key, "size", "0");
        fx(&f, EVF_FX_HSET, obj_key, "etag", "");
        fx(&f, EVF_FX_HSET, obj_key, "content_type", "");
        fx(&f, EVF_FX_HSET, obj_key, "version_id", s3->version_id);
        fx(&f, EVF_FX_HSET, obj_key, "last_event", ev->type);
        fx(&f, EVF_FX_HSET, obj_key, "last_time_ms", when);
        fx(&f, EVF_FX_HSET, obj_key, "state", "removed");
        fx_i64(&f, bucket_key, "removed", 1);
        if (was_live) {
            fx_i64(&f, bucket_key, "live_bytes", -old_size);
            fx_i64(&f, bucket_key, "live_objects", -1);
        }
    }
    fx(&f, EVF_FX_HSET, obj_key, "sequencer", seq); /* last: see the top comment */
    if (f.full) {
        evf_ctx_reason(ctx, "s3_index: effect refused (queue full or invalid)");
        res = EVF_PROC_FAIL;
    }
    goto out;

lookup_failed:
    evf_ctx_reason(ctx, "s3_index: lookup of %s failed", obj_key);
    res = EVF_PROC_RETRY;
out:
    free(seq);
    free(obj_key);
    free(bucket_key);
    return res;
}

const evf_processor_t evf_proc_s3_index = {
    .abi_version = EVF_PROCESSOR_ABI_VERSION,
    .name = "s3_index",
    .concurrent = 1,
    .init = s3_init,
    .process = s3_process,
    .destroy = s3_destroy,
};
