/* consumer/builtins.h — the built-in processors (DESIGN.md "Processor ABI"), and the small helpers
 * they share for parsing settings, building Redis keys and comparing versions.
 *
 * Each built-in is a processor table exactly like a plugin's; the registry knows them by name.
 * Settings are `processor.<name>.<setting>`; each built-in rejects a setting it does not know,
 * naming it. Every built-in is concurrent (its state is read-only after init). */
#ifndef EVF_BUILTINS_H
#define EVF_BUILTINS_H

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "evfleet/processor.h"

extern const evf_processor_t evf_proc_noop;               /* proc_noop.c */
extern const evf_processor_t evf_proc_chaos;              /* proc_chaos.c */
extern const evf_processor_t evf_proc_ledger;             /* proc_ledger.c */
extern const evf_processor_t evf_proc_s3_index;           /* proc_s3_index.c */
extern const evf_processor_t evf_proc_stream_materialize; /* proc_stream_materialize.c */
extern const evf_processor_t evf_proc_iot_rollup;         /* proc_iot_rollup.c */

/* All built-ins, NULL-terminated (defined in registry.c). */
extern const evf_processor_t *const evf_builtin_processors[];

/** @returns the built-in named name, or NULL. */
const evf_processor_t *evf_builtin_find(const char *name);

/**
 * @brief Queue the ledger's effect for ev: HINCRBY key <event id> 1, key NULL meaning the default
 * `<prefix>:ledger:<group>` (proc_ledger.c; chaos uses it with `ledger = true`).
 * @returns 0, or -1 with the reason set on ctx when the effect queue is full.
 */
int evf_ledger_count(evf_proc_ctx_t *ctx, const char *key, const evf_proc_event_t *ev);

/* ---- helpers shared by the built-ins (header-only) ---- */

/** @brief vasprintf that aborts on out-of-memory. @returns a malloc'd string. */
static inline char *evf_builtin_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline char *evf_builtin_fmt(const char *fmt, ...) {
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        abort();
    return s;
}

/** @brief strdup that aborts on out-of-memory. */
static inline char *evf_builtin_strdup(const char *s) {
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

/** @returns 0 and *out when v is a finite number (whole string), else -1. */
static inline int evf_builtin_parse_double(const char *v, double *out) {
    char *end = NULL;
    errno = 0;
    double d = strtod(v, &end);
    if (end == v || errno || !isfinite(d))
        return -1;
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end)
        return -1;
    *out = d;
    return 0;
}

/** @returns 0 and *out when v is a decimal integer (whole string), else -1. */
static inline int evf_builtin_parse_i64(const char *v, int64_t *out) {
    char *end = NULL;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (end == v || errno)
        return -1;
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end)
        return -1;
    *out = (int64_t)n;
    return 0;
}

/** @returns 0 and *out for true/false/1/0/yes/no/on/off (any case), else -1. */
static inline int evf_builtin_parse_bool(const char *v, int *out) {
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (!strcasecmp(v, yes[i])) {
            *out = 1;
            return 0;
        }
        if (!strcasecmp(v, no[i])) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

/** @brief The shortest "%.Ng" form of v that reads back as v. out needs ≥ 32 bytes. */
static inline void evf_builtin_fmt_double(char *out, size_t out_size, double v) {
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, out_size, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

/** @returns 1 if s is a non-empty run of hex digits. */
static inline int evf_builtin_is_hex(const char *s) {
    if (!*s)
        return 0;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return 0;
    }
    return 1;
}

/** @returns 1 if s is a non-empty run of decimal digits. */
static inline int evf_builtin_is_decimal(const char *s) {
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

/**
 * @brief Compare two unsigned numbers written in hex (hex=1, case-insensitive) or decimal
 * (hex=0) of any length, as if left-padded with zeros to equal length — the guards' rule
 * (processor.h). Both must be valid (is_hex / is_decimal). @returns <0, 0, >0.
 */
static inline int evf_builtin_numcmp(const char *a, const char *b, int hex) {
    while (*a == '0' && a[1])
        a++;
    while (*b == '0' && b[1])
        b++;
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb)
        return la < lb ? -1 : 1;
    for (size_t i = 0; i < la; i++) {
        int ca = hex ? (a[i] >= 'a' && a[i] <= 'f' ? a[i] - 'a' + 'A' : a[i]) : a[i];
        int cb = hex ? (b[i] >= 'a' && b[i] <= 'f' ? b[i] - 'a' + 'A' : b[i]) : b[i];
        if (ca != cb)
            return ca < cb ? -1 : 1;
    }
    return 0;
}

/** @returns the prefix to start Redis keys with ("evf", the default, when the context has none). */
static inline const char *evf_builtin_prefix(const evf_proc_ctx_t *ctx) {
    return ctx->key_prefix && *ctx->key_prefix ? ctx->key_prefix : "evf";
}

/** @brief Fill errstr with "setting 'NAME': unknown setting" for init. @returns -1. */
static inline int evf_builtin_unknown_setting(const char *setting, const char *known,
                                              char *errstr, size_t errstr_size) {
    snprintf(errstr, errstr_size, "setting '%s': unknown setting (known: %s)", setting, known);
    return -1;
}

#endif
