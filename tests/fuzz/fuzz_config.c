/* tests/fuzz/fuzz_config.c — configuration input: a properties file (evf_conf_load_file, from a
 * memfd), then `-X key=value` arguments (evf_conf_set_arg), then EVFLEET_* variables
 * (evf_conf_apply_env). Input layout: the file's text, then optionally a line `%%X` followed by
 * one -X argument a line, then optionally a line `%%ENV` followed by one NAME=VALUE a line.
 * Seeds: tests/fuzz/corpus/config/.
 *
 * Properties: no crash, leak or undefined behaviour; an error names its origin (the file path
 * and line, "-X" or "env EVFLEET_…"); whatever was accepted reads back through the typed getters
 * within the table's type and range (learnt from evf_conf_print_help, so new keys are covered
 * without touching this file); list values split into trimmed, non-empty elements; routes have
 * a glob and a processor; --check-config output (evf_conf_dump) shows no secret value and no
 * redis.url password, and a kafka.* or processor.<name>.* key naming a password, secret, token or
 * credential is a secret however long it is; a set key survives the environment-name mapping
 * both ways (keys holding ".." or "._" excepted: those names are ambiguous by design). */
#include "fuzz_common.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

typedef enum { KT_STR, KT_INT, KT_DOUBLE, KT_BOOL, KT_ENUM, KT_LIST, KT_INTLIST } conf_kt_t;

typedef struct {
    char name[128]; /* a pattern key has "%s" in place of "<processor>" */
    conf_kt_t type;
    int pattern;
    double min, max; /* KT_INT, KT_DOUBLE, KT_INTLIST */
    char choices[128];
} conf_key_t;

static conf_key_t conf_keys[128];
static size_t conf_nkeys;

/* Learn the table from --help text: "  key  type [range]  help (default: …)". */
static void conf_learn_table(void) {
    char *text = NULL;
    size_t text_len = 0;
    FILE *mem = open_memstream(&text, &text_len);
    if (!mem)
        abort();
    evf_conf_print_help(mem, EVF_CONF_PROG_ALL);
    fclose(mem);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char key[128], t1[64], t2[128], t3[64];
        if (!strncmp(line, "Open prefixes", 13))
            break;
        if (strncmp(line, "  ", 2) || line[2] == ' ')
            continue;
        t2[0] = t3[0] = '\0';
        if (sscanf(line, "%127s %63s %127s %63s", key, t1, t2, t3) < 2)
            continue;
        conf_key_t *k = &conf_keys[conf_nkeys];
        memset(k, 0, sizeof *k);
        k->min = -INFINITY;
        k->max = INFINITY;
        const char *range = t2;
        if (!strcmp(t1, "string")) {
            k->type = KT_STR;
        } else if (!strcmp(t1, "bool")) {
            k->type = KT_BOOL;
        } else if (!strcmp(t1, "list")) {
            k->type = KT_LIST;
        } else if (!strcmp(t1, "enum")) {
            k->type = KT_ENUM;
            snprintf(k->choices, sizeof k->choices, "%s", t2);
        } else if (!strcmp(t1, "int") && !strcmp(t2, "list")) {
            k->type = KT_INTLIST;
            range = t3;
        } else if (!strcmp(t1, "int")) {
            k->type = KT_INT;
        } else if (!strcmp(t1, "double")) {
            k->type = KT_DOUBLE;
        } else {
            continue;
        }
        if (k->type == KT_INT || k->type == KT_DOUBLE || k->type == KT_INTLIST) {
            const char *dots = strstr(range, "..");
            if (dots) {
                k->min = strtod(range, NULL);
                k->max = strtod(dots + 2, NULL);
            } else if (!strcmp(range, ">=")) {
                k->min = k->type == KT_INTLIST ? -INFINITY : strtod(t3, NULL);
            } else if (!strcmp(range, "<=")) {
                k->max = strtod(t3, NULL);
            }
        }
        char *angle = strchr(key, '<');
        if (angle) {
            char *close = strchr(angle, '>');
            if (!close)
                continue;
            k->pattern = 1;
            snprintf(k->name, sizeof k->name, "%.*s%%s%s", (int)(angle - key), key, close + 1);
        } else {
            snprintf(k->name, sizeof k->name, "%s", key);
        }
        if (++conf_nkeys == sizeof conf_keys / sizeof conf_keys[0])
            break;
    }
    free(text);
}

/* ---- the checks after loading ---- */

static void conf_check_list(const evf_conf_t *conf, const char *key) {
    char buf[4096];
    const char *elems[64];
    size_t n = evf_conf_list(conf, key, buf, sizeof buf, elems, 64);
    EVF_FUZZ_CHECK(n <= 64, "%zu list elements", n);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(elems[i]);
        EVF_FUZZ_CHECK(len > 0, "empty element in %s", key);
        EVF_FUZZ_CHECK(elems[i] >= buf && elems[i] + len < buf + sizeof buf,
                       "element outside the buffer");
        EVF_FUZZ_CHECK(!strchr(elems[i], ','), "element with a comma in %s", key);
        EVF_FUZZ_CHECK(elems[i][0] != ' ' && elems[i][len - 1] != ' ', "untrimmed element");
    }
    char tiny[3];
    const char *one[1];
    evf_conf_list(conf, key, tiny, sizeof tiny, one, 1);
    EVF_FUZZ_CHECK(memchr(tiny, 0, sizeof tiny) != NULL, "list buffer unterminated");
}

static void conf_check_value(const evf_conf_t *conf, const conf_key_t *k, const char *key) {
    const char *set = evf_conf_get_set(conf, key);
    switch (k->type) {
    case KT_INT: {
        int64_t v = evf_conf_int(conf, key);
        if (set)
            EVF_FUZZ_CHECK((double)v >= k->min && (double)v <= k->max,
                           "%s = %lld outside the table's range", key, (long long)v);
        break;
    }
    case KT_DOUBLE: {
        double v = evf_conf_double(conf, key);
        EVF_FUZZ_CHECK(isfinite(v), "%s = %g", key, v);
        if (set)
            EVF_FUZZ_CHECK(v >= k->min && v <= k->max, "%s = %g outside the table's range", key, v);
        break;
    }
    case KT_BOOL: {
        int v = evf_conf_bool(conf, key);
        EVF_FUZZ_CHECK(v == 0 || v == 1, "%s = %d", key, v);
        if (set)
            EVF_FUZZ_CHECK(!strcmp(set, "true") || !strcmp(set, "false"),
                           "bool %s stored as '%s'", key, set);
        break;
    }
    case KT_ENUM: {
        const char *v = evf_conf_str(conf, key);
        size_t n = strlen(v);
        const char *hit = strstr(k->choices, v);
        EVF_FUZZ_CHECK(n && hit && (hit == k->choices || hit[-1] == '|') &&
                           (hit[n] == '|' || hit[n] == '\0'),
                       "%s = '%s' is not one of %s", key, v, k->choices);
        break;
    }
    case KT_LIST:
    case KT_INTLIST: {
        (void)evf_conf_str(conf, key);
        conf_check_list(conf, key);
        if (k->type == KT_INTLIST && set) {
            char buf[4096];
            const char *elems[64];
            size_t n = evf_conf_list(conf, key, buf, sizeof buf, elems, 64);
            for (size_t i = 0; i < n && strlen(set) < sizeof buf; i++) {
                char *end;
                double v = (double)strtoll(elems[i], &end, 10);
                EVF_FUZZ_CHECK(!*end && v >= k->min && v <= k->max,
                               "%s element '%s' outside the table's range", key, elems[i]);
            }
        }
        break;
    }
    case KT_STR:
        EVF_FUZZ_CHECK(evf_conf_str(conf, key) != NULL, "%s is NULL", key);
        break;
    }
}

/* The key of pattern k for processor name. */
static void conf_pattern_key(char *out, size_t size, const conf_key_t *k, const char *name) {
    const char *star = strstr(k->name, "%s");
    snprintf(out, size, "%.*s%s%s", (int)(star - k->name), k->name, name, star + 2);
}

typedef struct {
    const evf_conf_t *conf;
    const char *dump;
} conf_walk_t;

/* The line of `key` in the dump (after "key = "), or NULL. */
static const char *conf_dump_value(const char *dump, const char *key) {
    size_t klen = strlen(key);
    for (const char *p = dump; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (!strncmp(p, key, klen) && !strncmp(p + klen, " = ", 3))
            return p + klen + 3;
    return NULL;
}

/* A kafka.* or processor.<name>.* key whose setting plainly names a secret, judged without
 * evf_conf_is_secret (whose own list is longer). */
static int conf_obviously_secret(const char *key) {
    static const char *const words[] = {"password", "secret", "token", "credential"};
    const char *setting;
    if (!strncmp(key, "kafka.", 6))
        setting = key + 6;
    else if (!strncmp(key, "processor.", 10) && strchr(key + 10, '.'))
        setting = strchr(key + 10, '.') + 1;
    else
        return 0;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcasestr(setting, words[i]))
            return 1;
    return 0;
}

static int conf_check_set_key(void *opaque, const char *key, const char *value,
                              const char *origin) {
    conf_walk_t *w = opaque;
    EVF_FUZZ_CHECK(origin && *origin, "set key without an origin");
    EVF_FUZZ_CHECK(!strcmp(evf_conf_origin(w->conf, key), origin), "origin differs");
    EVF_FUZZ_CHECK(!strcmp(evf_conf_get_set(w->conf, key), value), "get_set differs");

    const char *shown = conf_dump_value(w->dump, key);
    if (conf_obviously_secret(key))
        EVF_FUZZ_CHECK(evf_conf_is_secret(key),
                       "%.80s… (%zu bytes) names a secret but is not one", key, strlen(key));
    if (evf_conf_is_secret(key) && *value) {
        EVF_FUZZ_CHECK(shown != NULL, "secret %s missing from --check-config", key);
        EVF_FUZZ_CHECK(!strncmp(shown, "[redacted]", 10) && (shown[10] == ' ' || shown[10] == '\n'),
                       "--check-config shows secret %s", key);
    }
    if (!strcmp(key, "redis.url") && shown) {
        /* The raw password: from the first ':' after redis:// to the last '@'. */
        const char *at = strrchr(value, '@');
        const char *colon =
            at && strlen(value) > 8 ? memchr(value + 8, ':', (size_t)(at - value - 8)) : NULL;
        if (colon && at > colon + 1) {
            char needle[600];
            int n = snprintf(needle, sizeof needle, ":%.*s@", (int)(at - colon - 1), colon + 1);
            if (n > 0 && (size_t)n < sizeof needle && strcmp(needle, ":***@")) {
                /* From the colon on: the user name before it is shown as it is and may hold
                 * the same text ("redis://a:/@b@h" has the password "/@b"). */
                const char *eol = strchr(shown, '\n');
                size_t line_len = eol ? (size_t)(eol - shown) : strlen(shown);
                size_t skip = (size_t)(colon - value);
                EVF_FUZZ_CHECK(line_len < skip || !memmem(shown + skip, line_len - skip, needle,
                                                          (size_t)n),
                               "--check-config shows the redis.url password");
            }
        }
    }

    /* Environment names map back to the key: lower-case keys without ".." or "._" (those two map
     * to the same names as "_" and "_." do: processor.a..b and processor.a_b are both
     * EVFLEET_PROCESSOR_A__B). */
    int plain = !strstr(key, "..") && !strstr(key, "._");
    for (const char *c = key; *c && plain; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '.' || *c == '_' ||
              *c == '-'))
            plain = 0;
    if (plain && strlen(key) < 100) {
        char env[512], back[512];
        evf_conf_env_name(key, env, sizeof env);
        EVF_FUZZ_CHECK(evf_conf_env_key(env, back, sizeof back) == 0 && !strcmp(back, key),
                       "environment name %s does not map back to %s", env, key);
    }
    (void)evf_conf_is_secret(key);
    return 0;
}

static void conf_check(const evf_conf_t *conf) {
    char *dump = NULL;
    size_t dump_len = 0;
    FILE *mem = open_memstream(&dump, &dump_len);
    if (!mem)
        abort();
    evf_conf_dump(conf, mem, EVF_CONF_PROG_ALL);
    fclose(mem);

    conf_walk_t w = {conf, dump};
    evf_conf_foreach_prefix(conf, "", conf_check_set_key, &w);

    for (size_t i = 0; i < conf_nkeys; i++) {
        const conf_key_t *k = &conf_keys[i];
        if (!k->pattern) {
            conf_check_value(conf, k, k->name);
            continue;
        }
        /* A pattern key: the default's name, and every processor name that was set. */
        char key[512];
        conf_pattern_key(key, sizeof key, k, "fuzz");
        conf_check_value(conf, k, key);
        const char *star = strstr(k->name, "%s");
        size_t plen = (size_t)(star - k->name);
        const char *suffix = star + 2;
        for (const char *p = dump; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
            if (strncmp(p, k->name, plen))
                continue;
            size_t nlen = strcspn(p + plen, ". ");
            if (nlen == 0 || nlen > 200 || strncmp(p + plen + nlen, suffix, strlen(suffix)) ||
                p[plen + nlen + strlen(suffix)] != ' ')
                continue;
            char name[256];
            snprintf(name, sizeof name, "%.*s", (int)nlen, p + plen);
            conf_pattern_key(key, sizeof key, k, name);
            conf_check_value(conf, k, key);
            if (!strcmp(k->name, "breaker.%s.window.ms"))
                EVF_FUZZ_CHECK(evf_conf_intf(conf, "breaker.%s.window.ms", name) ==
                                   evf_conf_int(conf, key),
                               "intf differs");
        }
    }

    size_t count;
    const evf_conf_route_t *routes = evf_conf_routes(conf, &count);
    for (size_t i = 0; i < count; i++) {
        EVF_FUZZ_CHECK(routes[i].glob && routes[i].glob[0], "route without a glob");
        EVF_FUZZ_CHECK(routes[i].processor && routes[i].processor[0], "route without a processor");
        EVF_FUZZ_CHECK(routes[i].origin && routes[i].origin[0], "route without an origin");
    }
    conf_check_list(conf, "processor.chaos.fail.ids");
    free(dump);
}

/* ---- the entry ---- */

void evf_fuzz_config(const uint8_t *data, size_t size) {
    static int learnt;
    if (!learnt) {
        evf_log_min_level = EVF_LOG_OFF; /* unknown EVFLEET_* variables would log a warning */
        conf_learn_table();
        learnt = 1;
    }

    /* Split the input: file text, then -X lines, then environment lines. */
    char *text = evf_fuzz_strndup(data, size);
    char **xargs = calloc(size + 1, sizeof *xargs), **envp = calloc(size + 2, sizeof *envp);
    char *file = malloc(size + 1);
    if (!xargs || !envp || !file)
        abort();
    size_t nx = 0, nenv = 0, file_len = 0;
    int mode = 0;
    const char *p = text, *end = text + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (len == 3 && !memcmp(p, "%%X", 3)) {
            mode = 1;
        } else if (len == 5 && !memcmp(p, "%%ENV", 5)) {
            mode = 2;
        } else if (mode == 0) {
            memcpy(file + file_len, p, len + (nl ? 1 : 0));
            file_len += len + (nl ? 1 : 0);
        } else if (mode == 1) {
            xargs[nx++] = evf_fuzz_strndup((const uint8_t *)p, len);
        } else {
            envp[nenv++] = evf_fuzz_strndup((const uint8_t *)p, len);
        }
        p += len + 1;
    }

    int fd = memfd_create("evf-fuzz-config", MFD_CLOEXEC);
    EVF_FUZZ_CHECK(fd >= 0, "memfd_create: %s", strerror(errno));
    for (size_t off = 0; off < file_len;) {
        ssize_t w = write(fd, file + off, file_len - off);
        EVF_FUZZ_CHECK(w > 0, "write: %s", strerror(errno));
        off += (size_t)w;
    }
    char path[64], err[1024];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);

    evf_conf_t *conf = evf_conf_new();
    err[0] = '\0';
    if (evf_conf_load_file(conf, path, err, sizeof err) != 0)
        EVF_FUZZ_CHECK(!strncmp(err, path, strlen(path)) && err[strlen(path)] == ':',
                       "a file error does not name the file: %s", err);
    for (size_t i = 0; i < nx; i++) {
        err[0] = '\0';
        if (evf_conf_set_arg(conf, xargs[i], err, sizeof err) != 0)
            EVF_FUZZ_CHECK(!strncmp(err, "-X", 2), "a -X error does not say -X: %s", err);
    }
    err[0] = '\0';
    if (evf_conf_apply_env(conf, envp, err, sizeof err) != 0)
        EVF_FUZZ_CHECK(!strncmp(err, "env EVFLEET_", 12),
                       "an environment error does not name the variable: %s", err);
    conf_check(conf);
    evf_conf_destroy(conf);

    close(fd);
    for (size_t i = 0; i < nx; i++)
        free(xargs[i]);
    for (size_t i = 0; i < nenv; i++)
        free(envp[i]);
    free(xargs);
    free(envp);
    free(file);
    free(text);
}

EVF_FUZZ_TARGET(evf_fuzz_config)
