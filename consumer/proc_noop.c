/* consumer/proc_noop.c — the `noop` built-in: accepts every event and does nothing. Useful to
 * measure the worker's own overhead and to drain a topic deliberately. Takes no settings. */
#include "builtins.h"

static int noop_init(void **state, const evf_proc_setting_t *settings, size_t n_settings,
                     char *errstr, size_t errstr_size) {
    *state = NULL;
    if (n_settings > 0)
        return evf_builtin_unknown_setting(settings[0].name, "none", errstr, errstr_size);
    return 0;
}

static evf_proc_result_t noop_process(void *state, const evf_proc_event_t *ev,
                                      evf_proc_ctx_t *ctx) {
    (void)state;
    (void)ev;
    (void)ctx;
    return EVF_PROC_OK;
}

static void noop_destroy(void *state) {
    (void)state;
}

const evf_processor_t evf_proc_noop = {
    .abi_version = EVF_PROCESSOR_ABI_VERSION,
    .name = "noop",
    .concurrent = 1,
    .init = noop_init,
    .process = noop_process,
    .destroy = noop_destroy,
};
