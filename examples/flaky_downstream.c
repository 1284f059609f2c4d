/* examples/flaky_downstream.c — an example processor plugin that stands in for a flaky downstream
 * service, to watch the failure path at work: retries with backoff, retry topics, dead letters
 * and the circuit breaker. The failure path's integration tests (tests/integration/
 * test_failure_path.c) use it to switch an outage on and off during a run and to see when each
 * call happened.
 *
 * Settings (processor.<name>.<setting>):
 *   down.key       a Redis key (used verbatim); while it exists the downstream counts as down and
 *                  every call returns EVF_PROC_RETRY. Read through the context's read-only
 *                  lookup, so `SET <key> 1` / `DEL <key>` switch the outage on and off live.
 *   fail.ids       comma-separated event ids that fail transiently (EVF_PROC_RETRY); `*` = every
 *                  event. Default: none.
 *   fail.attempts  0 (default): a fail.ids event fails on every run; N > 0: only while the
 *                  event's attempt number (cumulative across retry topics) is at most N.
 *   trace.file     a file to append one line per call to (default: none):
 *                  `<unix ms> <attempt> <ok|retry> <topic> <partition> <offset> <event id>`.
 *                  Each line is one write() on an O_APPEND descriptor, so threads never mix
 *                  lines.
 *   ledger         bool, default false: on success queue HINCRBY <prefix>:ledger:<group> <id> 1
 *                  (the audit trail of the `ledger` built-in), so tests can count effects.
 *
 * It uses only the ABI header and the C library:
 *   cc -shared -fPIC -O2 -I<evfleet>/include -I<evfleet>/build/gen flaky_downstream.c \
 *      -o flaky_downstream.so */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "evfleet/processor.h"

typedef struct {
    char *down_key;   /* NULL: never down */
    char **fail_ids;  /* NULL-terminated */
    int fail_all;     /* fail.ids = * */
    long fail_attempts;
    int trace_fd;     /* -1: no trace */
    int ledger;
} flaky_state_t;

static void flaky_destroy(void *state) {
    flaky_state_t *st = state;
    if (!st)
        return;
    free(st->down_key);
    for (size_t i = 0; st->fail_ids && st->fail_ids[i]; i++)
        free(st->fail_ids[i]);
    free(st->fail_ids);
    if (st->trace_fd >= 0)
        close(st->trace_fd);
    free(st);
}

static char *xstrndup(const char *s, size_t n) {
    char *p = strndup(s, n);
    if (!p)
        abort();
    return p;
}

/* Split a comma-separated list into trimmed, non-empty ids (NULL-terminated array). */
static char **split_ids(const char *value) {
    size_t cap = 4, n = 0;
    char **ids = calloc(cap, sizeof(*ids));
    if (!ids)
        abort();
    for (const char *p = value; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *start = p;
        while (*p && *p != ',')
            p++;
        const char *end = p;
        while (end > start && end[-1] == ' ')
            end--;
        if (end == start)
            continue;
        if (n + 1 >= cap) {
            cap *= 2;
            ids = realloc(ids, cap * sizeof(*ids));
            if (!ids)
                abort();
        }
        ids[n++] = xstrndup(start, (size_t)(end - start));
        ids[n] = NULL;
    }
    return ids;
}

static int parse_bool(const char *v, int *out) {
    if (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes") || !strcmp(v, "on"))
        *out = 1;
    else if (!strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no") || !strcmp(v, "off"))
        *out = 0;
    else
        return -1;
    return 0;
}

static int flaky_init(void **state, const evf_proc_setting_t *settings, size_t n_settings,
                      char *errstr, size_t errstr_size) {
    flaky_state_t *st = calloc(1, sizeof(*st));
    if (!st)
        abort();
    st->trace_fd = -1;
    for (size_t i = 0; i < n_settings; i++) {
        const char *name = settings[i].name, *value = settings[i].value;
        if (!strcmp(name, "down.key")) {
            free(st->down_key);
            st->down_key = *value ? xstrndup(value, strlen(value)) : NULL;
        } else if (!strcmp(name, "fail.ids")) {
            for (size_t k = 0; st->fail_ids && st->fail_ids[k]; k++)
                free(st->fail_ids[k]);
            free(st->fail_ids);
            st->fail_ids = split_ids(value);
            st->fail_all = st->fail_ids[0] && !strcmp(st->fail_ids[0], "*");
        } else if (!strcmp(name, "fail.attempts")) {
            char *end = NULL;
            errno = 0;
            st->fail_attempts = strtol(value, &end, 10);
            if (errno || end == value || *end || st->fail_attempts < 0) {
                snprintf(errstr, errstr_size,
                         "setting 'fail.attempts': '%s' is not an integer >= 0", value);
                goto fail;
            }
        } else if (!strcmp(name, "trace.file")) {
            if (st->trace_fd >= 0)
                close(st->trace_fd);
            st->trace_fd = open(value, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
            if (st->trace_fd < 0) {
                snprintf(errstr, errstr_size, "setting 'trace.file': cannot open '%s': %s", value,
                         strerror(errno));
                goto fail;
            }
        } else if (!strcmp(name, "ledger")) {
            if (parse_bool(value, &st->ledger)) {
                snprintf(errstr, errstr_size, "setting 'ledger': '%s' is not a boolean", value);
                goto fail;
            }
        } else {
            snprintf(errstr, errstr_size,
                     "setting '%s': unknown setting (known: down.key, fail.ids, fail.attempts, "
                     "trace.file, ledger)",
                     name);
            goto fail;
        }
    }
    *state = st;
    return 0;
fail:
    flaky_destroy(st);
    return -1;
}

static int listed(const flaky_state_t *st, const char *id) {
    if (st->fail_all)
        return 1;
    for (size_t i = 0; st->fail_ids && st->fail_ids[i]; i++)
        if (!strcmp(st->fail_ids[i], id))
            return 1;
    return 0;
}

static void trace(const flaky_state_t *st, long long at_ms, const evf_proc_ctx_t *ctx,
                  const char *outcome, const char *id) {
    char line[1024];
    if (st->trace_fd < 0)
        return;
    int n = snprintf(line, sizeof(line), "%lld %d %s %s %d %lld %s\n", at_ms, ctx->attempt,
                     outcome, ctx->topic ? ctx->topic : "-", (int)ctx->partition,
                     (long long)ctx->offset, id);
    if (n > 0 && (size_t)n < sizeof(line)) {
        ssize_t w = write(st->trace_fd, line, (size_t)n);
        (void)w; /* a trace line that cannot be written is not the event's failure */
    }
}

static evf_proc_result_t flaky_process(void *state, const evf_proc_event_t *ev,
                                       evf_proc_ctx_t *ctx) {
    const flaky_state_t *st = state;
    const char *id = ev->id ? ev->id : "";
    struct timeval tv;
    gettimeofday(&tv, NULL);
    long long at_ms = (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
    const char *why = NULL;

    if (st->down_key) {
        char buf[64];
        int rc = ctx->ops->get(ctx, st->down_key, buf, sizeof(buf));
        if (rc == 0)
            why = "downstream down";
        else if (rc < 0)
            why = "cannot read the downstream's state";
    }
    if (!why && listed(st, id) && (st->fail_attempts == 0 || ctx->attempt <= st->fail_attempts))
        why = "fail.ids";
    if (why) {
        evf_ctx_reason(ctx, "flaky_downstream: %s (attempt %d)", why, ctx->attempt);
        trace(st, at_ms, ctx, "retry", id);
        return EVF_PROC_RETRY;
    }
    if (st->ledger) {
        char key[512];
        snprintf(key, sizeof(key), "%s:ledger:%s", ctx->key_prefix ? ctx->key_prefix : "evf",
                 ctx->group ? ctx->group : "");
        if (evf_ctx_effect(ctx, 0, EVF_FX_HINCRBY, key, id, "1") < 0) {
            evf_ctx_reason(ctx, "flaky_downstream: ledger effect refused");
            return EVF_PROC_FAIL;
        }
    }
    trace(st, at_ms, ctx, "ok", id);
    return EVF_PROC_OK;
}

static const evf_processor_t flaky_downstream = {
    .abi_version = EVF_PROCESSOR_ABI_VERSION,
    .name = "flaky_downstream",
    .concurrent = 1,
    .init = flaky_init,
    .process = flaky_process,
    .destroy = flaky_destroy,
};

const evf_processor_t *evf_processor_entry(void) {
    return &flaky_downstream;
}
