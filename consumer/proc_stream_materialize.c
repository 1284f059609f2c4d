/* consumer/proc_stream_materialize.c — the `stream_materialize` built-in: keeps the latest image of
 * every row of a change stream (DynamoDB-Streams-like records), exact under out-of-order and
 * duplicate delivery.
 *
 * Keys (<p> is idempotency.key.prefix):
 *   <p>:table:<table>:<keys>    hash per row: seq (the sequence number), row (the new image JSON
 *                               text as received, "" for a removed row), op (INSERT|MODIFY|REMOVE)
 *   <p>:table:<table>:__meta    hash: rows = the number of live rows of the table
 * where <keys> is the record's keys object re-serialised compact with sorted keys (jansson
 * JSON_COMPACT|JSON_SORT_KEYS), so `{"b":2, "a":1}` and `{"a":1,"b":2}` are one row. (A row key
 * always starts with `{`, so it never collides with `__meta`.)
 *
 * Order: sequence numbers decide (compared as unsigned decimals of any length). Every effect of an
 * event is guarded by EVF_GUARD_LT_NUM on the row's stored `seq` (absent passes), so an older or
 * duplicate record changes nothing, the row count included; `seq` is written last, so the outcome
 * is the same whether guards are evaluated once up front or before each effect.
 *
 * INSERT and MODIFY set row = new_image, op, seq. REMOVE does not delete the hash: it leaves a
 * tombstone (row "", op REMOVE, seq) so an older INSERT or MODIFY arriving late cannot resurrect
 * the row. A later INSERT/MODIFY (newer seq) brings it back. Tombstones are never expired.
 *
 * Row count: live = the hash exists with op other than REMOVE. The committed op is read with hget
 * (a row's records share a Kafka key `table/<keys>`, so they run one after another in one lane;
 * needs the worker to commit an event's effects before the next event of its lane runs), and the
 * count moves by +1 (not live → live), −1 (live → removed) or 0, under the same guard, so
 * `__meta rows` stays exact.
 *
 * The op is the record's op, or when unset the suffix of the type (`stream:INSERT`, …). Records
 * without a sequence number use approximate_creation_ms (else time_ms) as their sequence number; do
 * not mix both kinds for one table. Not a stream event, no table, keys that are not a JSON object,
 * a new image that is not JSON, or an unknown op: permanent failure. No settings. */
#include <inttypes.h>
#include <jansson.h>

#include "builtins.h"

static int sm_init(void **state, const evf_proc_setting_t *settings, size_t n_settings,
                   char *errstr, size_t errstr_size) {
    *state = NULL;
    if (n_settings > 0)
        return evf_builtin_unknown_setting(settings[0].name, "none", errstr, errstr_size);
    return 0;
}

static void sm_destroy(void *state) {
    (void)state;
}

static Evfleet__V1__StreamOp op_of(const evf_proc_event_t *ev) {
    Evfleet__V1__StreamOp op = ev->stream->op;
    if (op != EVFLEET__V1__STREAM_OP__STREAM_OP_UNSPECIFIED)
        return op;
    const char *colon = ev->type ? strrchr(ev->type, ':') : NULL;
    const char *name = colon ? colon + 1 : ev->type ? ev->type : "";
    if (!strcmp(name, "INSERT"))
        return EVFLEET__V1__STREAM_OP__INSERT;
    if (!strcmp(name, "MODIFY"))
        return EVFLEET__V1__STREAM_OP__MODIFY;
    if (!strcmp(name, "REMOVE"))
        return EVFLEET__V1__STREAM_OP__REMOVE;
    return EVFLEET__V1__STREAM_OP__STREAM_OP_UNSPECIFIED;
}

/** @returns the canonical (compact, sorted) text of a JSON object (malloc'd), or NULL. */
static char *canonical_keys(const char *text) {
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!j)
        return NULL;
    char *dumped = json_is_object(j) ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(j);
    if (!dumped)
        return NULL;
    /* Copy out of jansson's allocator (which a program may have replaced). */
    char *out = evf_builtin_strdup(dumped);
    json_malloc_t jmalloc;
    json_free_t jfree;
    json_get_alloc_funcs(&jmalloc, &jfree);
    jfree(dumped);
    return out;
}

static int is_json(const char *text) {
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (!j)
        return 0;
    json_decref(j);
    return 1;
}

typedef struct {
    evf_proc_ctx_t *ctx;
    int guard;
    int full;
} sm_fx_t;

static void fx(sm_fx_t *f, evf_fx_op_t op, const char *key, const char *field, const char *value) {
    if (!f->full && evf_ctx_effect(f->ctx, f->guard, op, key, field, value) < 0)
        f->full = 1;
}

static evf_proc_result_t sm_process(void *state, const evf_proc_event_t *ev,
                                    evf_proc_ctx_t *ctx) {
    (void)state;
    if (ev->detail_case != EVFLEET__V1__EVENT__DETAIL_STREAM || !ev->stream) {
        evf_ctx_reason(ctx, "stream_materialize: event %s (type %s) has no stream detail",
                       ev->id, ev->type);
        return EVF_PROC_FAIL;
    }
    const Evfleet__V1__StreamRecord *rec = ev->stream;
    if (!*rec->table) {
        evf_ctx_reason(ctx, "stream_materialize: event %s has no table", ev->id);
        return EVF_PROC_FAIL;
    }
    Evfleet__V1__StreamOp op = op_of(ev);
    if (op == EVFLEET__V1__STREAM_OP__STREAM_OP_UNSPECIFIED) {
        evf_ctx_reason(ctx, "stream_materialize: event %s (type %s) has no INSERT, MODIFY or "
                            "REMOVE op", ev->id, ev->type);
        return EVF_PROC_FAIL;
    }
    char seq[64];
    if (*rec->sequence_number) {
        if (!evf_builtin_is_decimal(rec->sequence_number) ||
            strlen(rec->sequence_number) >= sizeof(seq)) {
            evf_ctx_reason(ctx, "stream_materialize: event %s: sequence number '%.64s' is not "
                                "a decimal of at most 63 digits", ev->id, rec->sequence_number);
            return EVF_PROC_FAIL;
        }
        snprintf(seq, sizeof(seq), "%s", rec->sequence_number);
    } else {
        int64_t t = rec->approximate_creation_ms > 0 ? rec->approximate_creation_ms : ev->time_ms;
        if (t < 0) {
            evf_ctx_reason(ctx, "stream_materialize: event %s has no sequence number", ev->id);
            return EVF_PROC_FAIL;
        }
        snprintf(seq, sizeof(seq), "%" PRId64, t);
    }
    int removing = op == EVFLEET__V1__STREAM_OP__REMOVE;
    if (!removing && *rec->new_image && !is_json(rec->new_image)) {
        evf_ctx_reason(ctx, "stream_materialize: event %s: new_image is not JSON", ev->id);
        return EVF_PROC_FAIL;
    }
    char *keys = canonical_keys(rec->keys);
    if (!keys) {
        evf_ctx_reason(ctx, "stream_materialize: event %s: keys are not a JSON object", ev->id);
        return EVF_PROC_FAIL;
    }

    const char *prefix = evf_builtin_prefix(ctx);
    char *row_key = evf_builtin_fmt("%s:table:%s:%s", prefix, rec->table, keys);
    char *meta_key = evf_builtin_fmt("%s:table:%s:__meta", prefix, rec->table);
    evf_proc_result_t res = EVF_PROC_OK;

    char stored_seq[128], stored_op[16];
    int rc = evf_ctx_hget(ctx, row_key, "seq", stored_seq, sizeof(stored_seq));
    if (rc < 0)
        goto lookup_failed;
    if (rc == 0 && evf_builtin_is_decimal(stored_seq) &&
        evf_builtin_numcmp(stored_seq, seq, 0) >= 0) {
        evf_ctx_log(ctx, EVF_PROC_LOG_DEBUG,
                    "stream_materialize: %s: event %s (seq %s) is not newer than %s, skipped",
                    row_key, ev->id, seq, stored_seq);
        goto out;
    }
    rc = evf_ctx_hget(ctx, row_key, "op", stored_op, sizeof(stored_op));
    if (rc < 0)
        goto lookup_failed;
    int was_live = rc == 0 && strcmp(stored_op, "REMOVE") != 0;

    sm_fx_t f = {.ctx = ctx};
    f.guard = evf_ctx_guard(ctx, EVF_GUARD_LT_NUM, row_key, "seq", seq);
    if (f.guard < 0) {
        evf_ctx_reason(ctx, "stream_materialize: guard refused (effect queue full)");
        res = EVF_PROC_FAIL;
        goto out;
    }
    if (removing) {
        fx(&f, EVF_FX_HSET, row_key, "row", "");
        fx(&f, EVF_FX_HSET, row_key, "op", "REMOVE");
        if (was_live)
            fx(&f, EVF_FX_HINCRBY, meta_key, "rows", "-1");
    } else {
        fx(&f, EVF_FX_HSET, row_key, "row", rec->new_image);
        fx(&f, EVF_FX_HSET, row_key, "op",
           op == EVFLEET__V1__STREAM_OP__INSERT ? "INSERT" : "MODIFY");
        if (!was_live)
            fx(&f, EVF_FX_HINCRBY, meta_key, "rows", "1");
    }
    fx(&f, EVF_FX_HSET, row_key, "seq", seq); /* last: see the top comment */
    if (f.full) {
        /* Refused again on every retry: permanent. */
        evf_ctx_reason(ctx, "stream_materialize: effect refused (queue full or invalid)");
        res = EVF_PROC_FAIL;
    }
    goto out;

lookup_failed:
    evf_ctx_reason(ctx, "stream_materialize: lookup of %s failed", row_key);
    res = EVF_PROC_RETRY;
out:
    free(keys);
    free(row_key);
    free(meta_key);
    return res;
}

const evf_processor_t evf_proc_stream_materialize = {
    .abi_version = EVF_PROCESSOR_ABI_VERSION,
    .name = "stream_materialize",
    .concurrent = 1,
    .init = sm_init,
    .process = sm_process,
    .destroy = sm_destroy,
};
