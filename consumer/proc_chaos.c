/* consumer/proc_chaos.c — the `chaos` built-in: injects failures, crashes and latency so tests and
 * demos can exercise retries, dead letters, crash-loop detection and timeouts (DESIGN.md
 * "Configuration", chaos settings).
 *
 * Settings (processor.chaos.<setting>):
 *   fail.rate      0..1, default 0: the share of events that fail. Deterministic per event id: the
 *                  id is hashed to a number in [0,1) and the event fails when it is below the rate,
 *                  so a retried event that failed by rate fails again (unless fail.attempts).
 *   fail.kind      transient (RETRY, default) | permanent (FAIL).
 *   fail.ids       comma-separated event ids that always fail with fail.kind.
 *   fail.attempts  default 0 = every run fails; N > 0: fail only while ctx->attempt <= N, so
 *                  "fails transiently once" is fail.attempts = 1 (with fail.rate or fail.ids).
 *   crash.ids      comma-separated event ids on which the process abort()s (crash-loop tests).
 *   latency.ms     sleep this long per event before anything else, default 0.
 *   ledger         bool, default false: on success also count the event like `ledger` does
 *                  (HINCRBY <prefix>:ledger:<group> <id> 1), so one route gives chaos + audit.
 * Per event, in order: sleep latency.ms; abort if the id is in crash.ids; fail if the id is in
 * fail.ids or hashes below fail.rate (subject to fail.attempts); else count in the ledger when
 * asked and return OK. */
#include <time.h>

#include "builtins.h"

typedef struct {
    double fail_rate;
    evf_proc_result_t fail_result; /* RETRY or FAIL */
    int64_t fail_attempts;
    int64_t latency_ms;
    int ledger;
    char **fail_ids; /* sorted, for bsearch */
    size_t n_fail_ids;
    char **crash_ids;
    size_t n_crash_ids;
} chaos_state_t;

static const char chaos_known[] =
    "fail.rate, fail.kind, fail.ids, fail.attempts, crash.ids, latency.ms, ledger";

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_ids(char **ids, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

/* Split a comma-separated list into a sorted array of trimmed, non-empty strings (replacing any
 * earlier list). */
static void parse_ids(const char *value, char ***ids, size_t *n) {
    free_ids(*ids, *n);
    *ids = NULL;
    *n = 0;
    size_t cap = 0;
    const char *p = value;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *start = p;
        while (*p && *p != ',')
            p++;
        const char *end = p;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        if (end == start)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            *ids = realloc(*ids, cap * sizeof(**ids));
            if (!*ids)
                abort();
        }
        char *id = strndup(start, (size_t)(end - start));
        if (!id)
            abort();
        (*ids)[(*n)++] = id;
    }
    if (*n > 1)
        qsort(*ids, *n, sizeof(**ids), cmp_str);
}

static int has_id(char **ids, size_t n, const char *id) {
    return n && bsearch(&id, ids, n, sizeof(*ids), cmp_str) != NULL;
}

/* A number in [0,1) from the event id: FNV-1a 64, then the splitmix64 finaliser so similar ids
 * spread evenly. Stable across runs, hosts and restarts. */
static double id_unit(const char *id) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return (double)(h >> 11) * (1.0 / 9007199254740992.0);
}

static void chaos_destroy(void *state) {
    chaos_state_t *st = state;
    if (!st)
        return;
    free_ids(st->fail_ids, st->n_fail_ids);
    free_ids(st->crash_ids, st->n_crash_ids);
    free(st);
}

static int chaos_init(void **state, const evf_proc_setting_t *settings, size_t n_settings,
                      char *errstr, size_t errstr_size) {
    chaos_state_t *st = calloc(1, sizeof(*st));
    if (!st)
        abort();
    st->fail_result = EVF_PROC_RETRY;
    for (size_t i = 0; i < n_settings; i++) {
        const char *name = settings[i].name, *value = settings[i].value;
        if (!strcmp(name, "fail.rate")) {
            if (evf_builtin_parse_double(value, &st->fail_rate) || st->fail_rate < 0 ||
                st->fail_rate > 1) {
                snprintf(errstr, errstr_size,
                         "setting 'fail.rate': '%s' is not a number between 0 and 1", value);
                goto fail;
            }
        } else if (!strcmp(name, "fail.kind")) {
            if (!strcmp(value, "transient")) {
                st->fail_result = EVF_PROC_RETRY;
            } else if (!strcmp(value, "permanent")) {
                st->fail_result = EVF_PROC_FAIL;
            } else {
                snprintf(errstr, errstr_size,
                         "setting 'fail.kind': '%s' is not transient or permanent", value);
                goto fail;
            }
        } else if (!strcmp(name, "fail.ids")) {
            parse_ids(value, &st->fail_ids, &st->n_fail_ids);
        } else if (!strcmp(name, "crash.ids")) {
            parse_ids(value, &st->crash_ids, &st->n_crash_ids);
        } else if (!strcmp(name, "fail.attempts")) {
            if (evf_builtin_parse_i64(value, &st->fail_attempts) || st->fail_attempts < 0) {
                snprintf(errstr, errstr_size,
                         "setting 'fail.attempts': '%s' is not an integer >= 0", value);
                goto fail;
            }
        } else if (!strcmp(name, "latency.ms")) {
            if (evf_builtin_parse_i64(value, &st->latency_ms) || st->latency_ms < 0 ||
                st->latency_ms > 3600 * 1000) {
                snprintf(errstr, errstr_size,
                         "setting 'latency.ms': '%s' is not an integer in 0..3600000", value);
                goto fail;
            }
        } else if (!strcmp(name, "ledger")) {
            if (evf_builtin_parse_bool(value, &st->ledger)) {
                snprintf(errstr, errstr_size, "setting 'ledger': '%s' is not a boolean", value);
                goto fail;
            }
        } else {
            evf_builtin_unknown_setting(name, chaos_known, errstr, errstr_size);
            goto fail;
        }
    }
    *state = st;
    return 0;
fail:
    chaos_destroy(st);
    return -1;
}

static void sleep_ms(int64_t ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

static evf_proc_result_t chaos_process(void *state, const evf_proc_event_t *ev,
                                       evf_proc_ctx_t *ctx) {
    const chaos_state_t *st = state;
    const char *id = ev->id ? ev->id : "";

    if (st->latency_ms > 0)
        sleep_ms(st->latency_ms);

    if (has_id(st->crash_ids, st->n_crash_ids, id)) {
        evf_ctx_log(ctx, EVF_PROC_LOG_ERROR, "chaos: crashing on event %s (crash.ids)", id);
        abort();
    }

    if (st->fail_attempts == 0 || ctx->attempt <= st->fail_attempts) {
        const char *why = NULL;
        if (has_id(st->fail_ids, st->n_fail_ids, id))
            why = "fail.ids";
        else if (st->fail_rate > 0 && id_unit(id) < st->fail_rate)
            why = "fail.rate";
        if (why) {
            evf_ctx_reason(ctx, "chaos: injected %s failure (%s, attempt %d)",
                           st->fail_result == EVF_PROC_FAIL ? "permanent" : "transient", why,
                           ctx->attempt);
            return st->fail_result;
        }
    }

    if (st->ledger && evf_ledger_count(ctx, NULL, ev))
        return EVF_PROC_FAIL;
    return EVF_PROC_OK;
}

const evf_processor_t evf_proc_chaos = {
    .abi_version = EVF_PROCESSOR_ABI_VERSION,
    .name = "chaos",
    .concurrent = 1,
    .init = chaos_init,
    .process = chaos_process,
    .destroy = chaos_destroy,
};
