/* consumer/proc_ledger.c — the `ledger` built-in: the audit trail that proves exactly-once effects.
 *
 * For every event it processes it queues `HINCRBY <prefix>:ledger:<group> <event id> 1`, where
 * <prefix> is idempotency.key.prefix and <group> the consumer group. With exactly-once effects
 * every field of that hash ends at 1; a field at 2 is an effect applied twice, a missing field an event
 * lost. Setting `key` replaces the whole key (used verbatim).
 *
 * evf_ledger_count() is the same effect for other built-ins (chaos with `ledger = true`). */
#include "builtins.h"

typedef struct {
    char *key; /* NULL: <prefix>:ledger:<group> */
} ledger_state_t;

int evf_ledger_count(evf_proc_ctx_t *ctx, const char *key, const evf_proc_event_t *ev) {
    char *dflt = NULL;
    if (!key)
        key = dflt = evf_builtin_fmt("%s:ledger:%s", evf_builtin_prefix(ctx),
                                     ctx->group ? ctx->group : "");
    int rc = evf_ctx_effect(ctx, 0, EVF_FX_HINCRBY, key, ev->id, "1");
    free(dflt);
    if (rc < 0)
        evf_ctx_reason(ctx, "ledger: effect refused (queue full or invalid)");
    return rc;
}

static int ledger_init(void **state, const evf_proc_setting_t *settings, size_t n_settings,
                       char *errstr, size_t errstr_size) {
    ledger_state_t *st = calloc(1, sizeof(*st));
    if (!st)
        abort();
    for (size_t i = 0; i < n_settings; i++) {
        if (!strcmp(settings[i].name, "key")) {
            if (!*settings[i].value) {
                snprintf(errstr, errstr_size, "setting 'key': must not be empty");
                goto fail;
            }
            free(st->key);
            st->key = evf_builtin_strdup(settings[i].value);
        } else {
            evf_builtin_unknown_setting(settings[i].name, "key", errstr, errstr_size);
            goto fail;
        }
    }
    *state = st;
    return 0;
fail:
    free(st->key);
    free(st);
    return -1;
}

static evf_proc_result_t ledger_process(void *state, const evf_proc_event_t *ev,
                                        evf_proc_ctx_t *ctx) {
    ledger_state_t *st = state;
    /* A refused effect would be refused again on every retry. */
    return evf_ledger_count(ctx, st->key, ev) ? EVF_PROC_FAIL : EVF_PROC_OK;
}

static void ledger_destroy(void *state) {
    ledger_state_t *st = state;
    if (!st)
        return;
    free(st->key);
    free(st);
}

const evf_processor_t evf_proc_ledger = {
    .abi_version = EVF_PROCESSOR_ABI_VERSION,
    .name = "ledger",
    .concurrent = 1,
    .init = ledger_init,
    .process = ledger_process,
    .destroy = ledger_destroy,
};
