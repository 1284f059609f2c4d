/* common/config.h — the one configuration table and its loader (DESIGN.md "Configuration").
 *
 * Sources, later wins: the table's defaults → a properties file (`key = value`, `#` comments) →
 * the environment (`EVFLEET_` + key upper-cased, `.` written `_`, `_` written `__`; `route.*` not
 * accepted there) → `-X key=value`. Every value remembers where it came from ("default",
 * "FILE:LINE", "env EVFLEET_…", "-X") so errors name it.
 *
 * Keys: fixed keys live in the table in config.c. Pattern keys have one `*` segment in the table
 * (`breaker.*.window.ms`) and are typed like fixed keys. Open prefixes carry values the table does
 * not type: `kafka.*` (given to librdkafka verbatim, which validates them), `processor.<name>.*`
 * (given to the processor's init), `route.<type-glob>` (kept in file order).
 *
 * Not thread-safe while being loaded; read-only (any thread) afterwards. */
#ifndef EVF_CONFIG_H
#define EVF_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct evf_conf_s evf_conf_t;

/* Which programs read a key: --help and --check-config of a program show only its keys. */
#define EVF_CONF_PROG_WORKER 0x1
#define EVF_CONF_PROG_PRODUCE 0x2
#define EVF_CONF_PROG_DLQ 0x4
#define EVF_CONF_PROG_ALL 0x7

/** @brief A new configuration holding the table's defaults. Never NULL (aborts on OOM). */
evf_conf_t *evf_conf_new(void);
void evf_conf_destroy(evf_conf_t *conf); /* NULL-safe */

/**
 * @brief Set one key from a given origin ("-X", "FILE:LINE", "env EVFLEET_X"; copied).
 * Validates the key (known fixed key, pattern key, or open prefix) and the value (type, min/max,
 * enum choices, list elements). @returns 0, or -1 with "ORIGIN: key 'k': reason" in errstr.
 */
int evf_conf_set(evf_conf_t *conf, const char *key, const char *value, const char *origin,
                 char *errstr, size_t errstr_size);

/** @brief Parse `KEY=VALUE` (the -X form) and set it with origin "-X". @returns 0 or -1. */
int evf_conf_set_arg(evf_conf_t *conf, const char *key_eq_value, char *errstr,
                     size_t errstr_size);

/**
 * @brief Load a properties file. Blank lines and lines starting with `#` are skipped; `key =
 * value` with spaces around either side trimmed; a value may be empty. The first bad line stops
 * the load. @returns 0, or -1 with "FILE:LINE: key 'k': reason" (or a read error) in errstr.
 */
int evf_conf_load_file(evf_conf_t *conf, const char *path, char *errstr, size_t errstr_size);

/**
 * @brief Apply `EVFLEET_*` variables from envp (NULL-terminated, like environ). A variable that
 * names no key is a warning through the logger, naming it; a bad value is an error.
 * @returns 0, or -1 with "env EVFLEET_X: key 'k': reason" in errstr.
 */
int evf_conf_apply_env(evf_conf_t *conf, char *const *envp, char *errstr, size_t errstr_size);

/** @brief Map a key to its environment variable name ("a.b_c" → "EVFLEET_A_B__C"). */
void evf_conf_env_name(const char *key, char *out, size_t out_size);

/**
 * @brief The reverse mapping: an environment variable name to its key ("EVFLEET_A_B__C" →
 * "a.b_c"): lower-cased, `__` read as `_`, `_` as `.`. @returns 0, or -1 if the name does not
 * start with `EVFLEET_`, has nothing after it, or the key does not fit in out.
 */
int evf_conf_env_key(const char *env_name, char *out, size_t out_size);

/* Typed getters. `key` must be a fixed or pattern key of the table with that type (a mismatch
 * aborts: it is a programming error); a pattern key not set returns the table's default. _str
 * also reads enum keys (the canonical lower-case choice) and list keys (the raw text); _double
 * also reads int keys. Strings stay owned by conf. */
const char *evf_conf_str(const evf_conf_t *conf, const char *key);
int64_t evf_conf_int(const evf_conf_t *conf, const char *key);
double evf_conf_double(const evf_conf_t *conf, const char *key);
int evf_conf_bool(const evf_conf_t *conf, const char *key);
/** @brief Getter for pattern keys: evf_conf_intf(conf, "breaker.%s.window.ms", proc). */
int64_t evf_conf_intf(const evf_conf_t *conf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
double evf_conf_doublef(const evf_conf_t *conf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** @returns the raw value of any key if it was set (not a default), else NULL. */
const char *evf_conf_get_set(const evf_conf_t *conf, const char *key);
/** @returns where the effective value of key came from ("default" when not set). */
const char *evf_conf_origin(const evf_conf_t *conf, const char *key);

/**
 * @brief Split a list value (comma-separated, elements trimmed, empties dropped). Works for the
 * table's list keys (default when not set) and any set key (e.g. `processor.chaos.fail.ids`;
 * an unset one has no elements). A value longer than buf_size - 1 is cut there.
 * @returns the number of elements (≤ max) written as pointers into `buf` (a copy of the value).
 */
size_t evf_conf_list(const evf_conf_t *conf, const char *key, char *buf, size_t buf_size,
                     const char **out, size_t max);

/** One `route.<glob> = <processor>` line, in the order the file (then -X) gave them. */
typedef struct {
    const char *glob;      /* event type glob, `*` matches any run of characters */
    const char *processor; /* processor name */
    const char *origin;
} evf_conf_route_t;

/** @returns the routes in order; *count gets how many. Owned by conf. */
const evf_conf_route_t *evf_conf_routes(const evf_conf_t *conf, size_t *count);

/**
 * @brief Call fn for every set key under prefix (e.g. "kafka." or "processor.chaos."), in the
 * order they were first set, with the key minus the prefix, the value and its origin.
 * fn returns non-zero to stop; that value is returned.
 */
int evf_conf_foreach_prefix(const evf_conf_t *conf, const char *prefix,
                            int (*fn)(void *opaque, const char *subkey, const char *value,
                                      const char *origin),
                            void *opaque);

/** @returns 1 if the key's value must never be printed: redis.password, and `kafka.*` or
 * `processor.<name>.*` keys whose setting mentions a password, secret, token, credential,
 * private key and the like. redis.url is 0: print it through evf_redis_url_redact. */
int evf_conf_is_secret(const char *key);

/**
 * @brief Print the effective configuration for the programs in prog_mask, one `key = value  #
 * origin` line each (the `#` aligned at column 49 when the line is short enough, at least two
 * spaces before it): every fixed key of the mask in table order, pattern keys only when set,
 * then every set `kafka.*`, `processor.*` and `route.*` key in first-set order. Non-empty secrets
 * are shown as `[redacted]`, a redis.url password as `***`.
 */
void evf_conf_dump(const evf_conf_t *conf, FILE *out, int prog_mask);

/** @brief Print the keys of prog_mask with type, default and help (for --help). */
void evf_conf_print_help(FILE *out, int prog_mask);

/** @brief Print the whole table as the README's Markdown configuration reference: a table
 * `| key | type | default | programs | description |` (pattern keys as `breaker.<processor>.…`)
 * and a paragraph per open prefix. Deterministic: the README embeds it and a test compares. */
void evf_conf_print_markdown(FILE *out);

#endif
