/* consumer/registry.c — see registry.h. */
#include "registry.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtins.h"

const evf_processor_t *const evf_builtin_processors[] = {
    &evf_proc_s3_index, &evf_proc_stream_materialize,
    &evf_proc_iot_rollup, &evf_proc_noop,
    &evf_proc_chaos, &evf_proc_ledger,
    NULL,
};

const evf_processor_t *evf_builtin_find(const char *name) {
    for (size_t i = 0; evf_builtin_processors[i]; i++)
        if (!strcmp(evf_builtin_processors[i]->name, name))
            return evf_builtin_processors[i];
    return NULL;
}

struct evf_proc_instance_s {
    char *name;
    char *where_key;    /* the key that made us create it, for errors: "route.s3:*" */
    char *where_origin; /* and where it was set */
    char *library; /* NULL for a built-in */
    char *library_origin;
    void *dl;
    const evf_processor_t *table;
    void *state;
    int initialised;
    evf_proc_setting_t *settings; /* without `library`; strings owned */
    char **setting_origins;
    size_t n_settings;
    int has_mutex;
    pthread_mutex_t mutex; /* around process() when !table->concurrent */
};

struct evf_registry_s {
    evf_proc_instance_t **insts;
    size_t n;
};

static char *xstrdup(const char *s) {
    char *d = strdup(s ? s : "");
    if (!d)
        abort();
    return d;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...) {
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        abort();
    return s;
}

static void instance_free(evf_proc_instance_t *inst) {
    if (!inst)
        return;
    if (inst->initialised && inst->table->destroy)
        inst->table->destroy(inst->state);
    if (inst->dl)
        dlclose(inst->dl);
    if (inst->has_mutex)
        pthread_mutex_destroy(&inst->mutex);
    for (size_t i = 0; i < inst->n_settings; i++) {
        free((char *)inst->settings[i].name);
        free((char *)inst->settings[i].value);
        free(inst->setting_origins[i]);
    }
    free(inst->settings);
    free(inst->setting_origins);
    free(inst->name);
    free(inst->where_key);
    free(inst->where_origin);
    free(inst->library);
    free(inst->library_origin);
    free(inst);
}

void evf_registry_destroy(evf_registry_t *reg) {
    if (!reg)
        return;
    for (size_t i = reg->n; i-- > 0;)
        instance_free(reg->insts[i]);
    free(reg->insts);
    free(reg);
}

static evf_proc_instance_t *find_mut(const evf_registry_t *reg, const char *name) {
    for (size_t i = 0; i < reg->n; i++)
        if (!strcmp(reg->insts[i]->name, name))
            return reg->insts[i];
    return NULL;
}

/* Takes ownership of where_key. */
static evf_proc_instance_t *add_instance(evf_registry_t *reg, const char *name, char *where_key,
                                         const char *where_origin) {
    evf_proc_instance_t *inst = calloc(1, sizeof(*inst));
    if (!inst)
        abort();
    inst->name = xstrdup(name);
    inst->where_key = where_key;
    inst->where_origin = xstrdup(where_origin);
    reg->insts = realloc(reg->insts, (reg->n + 1) * sizeof(*reg->insts));
    if (!reg->insts)
        abort();
    reg->insts[reg->n++] = inst;
    return inst;
}

/* Processor names become part of keys (`processor.<name>.*`, `breaker.<name>.*`): no dots. */
static int name_valid(const char *name) {
    if (!*name)
        return 0;
    for (const char *p = name; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

typedef struct {
    evf_registry_t *reg;
    char *errstr;
    size_t errstr_size;
} collect_t;

static int collect_setting(void *opaque, const char *subkey, const char *value,
                           const char *origin) {
    collect_t *c = opaque;
    const char *dot = strchr(subkey, '.');
    if (!dot || dot == subkey || !dot[1]) {
        snprintf(c->errstr, c->errstr_size,
                 "%s: key 'processor.%s': expected processor.<name>.<setting>", origin, subkey);
        return 1;
    }
    char *name = strndup(subkey, (size_t)(dot - subkey));
    if (!name)
        abort();
    const char *setting = dot + 1;
    if (!name_valid(name)) {
        snprintf(c->errstr, c->errstr_size,
                 "%s: key 'processor.%s': processor name '%s' may hold only letters, digits, "
                 "'_' and '-'",
                 origin, subkey, name);
        free(name);
        return 1;
    }
    evf_proc_instance_t *inst = find_mut(c->reg, name);
    if (!inst)
        inst = add_instance(c->reg, name, xasprintf("processor.%s", subkey), origin);
    free(name);
    if (!strcmp(setting, "library")) {
        free(inst->library);
        free(inst->library_origin);
        inst->library = xstrdup(value);
        inst->library_origin = xstrdup(origin);
        return 0;
    }
    for (size_t i = 0; i < inst->n_settings; i++) {
        if (!strcmp(inst->settings[i].name, setting)) { /* set twice: the later value wins */
            free((char *)inst->settings[i].value);
            free(inst->setting_origins[i]);
            inst->settings[i].value = xstrdup(value);
            inst->setting_origins[i] = xstrdup(origin);
            return 0;
        }
    }
    size_t n = inst->n_settings + 1;
    inst->settings = realloc(inst->settings, n * sizeof(*inst->settings));
    inst->setting_origins = realloc(inst->setting_origins, n * sizeof(*inst->setting_origins));
    if (!inst->settings || !inst->setting_origins)
        abort();
    inst->settings[n - 1].name = xstrdup(setting);
    inst->settings[n - 1].value = xstrdup(value);
    inst->setting_origins[n - 1] = xstrdup(origin);
    inst->n_settings = n;
    return 0;
}

static void builtin_names(char *out, size_t out_size) {
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; evf_builtin_processors[i] && len < out_size; i++)
        len += (size_t)snprintf(out + len, out_size - len, "%s%s", i ? ", " : "",
                                evf_builtin_processors[i]->name);
}

/* Load inst->library. Returns 0 or -1 with errstr filled. */
static int load_plugin(evf_proc_instance_t *inst, char *errstr, size_t errstr_size) {
    /* dlopen searches the library path for a name without '/'; we load only the path given. */
    char *path = strchr(inst->library, '/') ? xstrdup(inst->library)
                                            : xasprintf("./%s", inst->library);
    int rc = -1;
    dlerror();
    inst->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!inst->dl) {
        const char *why = dlerror();
        snprintf(errstr, errstr_size, "%s: key 'processor.%s.library': cannot load: %s",
                 inst->library_origin, inst->name, why ? why : "unknown error");
        goto out;
    }
    dlerror();
    void *sym = dlsym(inst->dl, EVF_PROCESSOR_ENTRY_SYMBOL);
    if (!sym) {
        snprintf(errstr, errstr_size, "%s: key 'processor.%s.library': %s: missing symbol %s",
                 inst->library_origin, inst->name, path, EVF_PROCESSOR_ENTRY_SYMBOL);
        goto out;
    }
    evf_processor_entry_fn entry;
    memcpy(&entry, &sym, sizeof(entry)); /* object → function pointer without a pedantic cast */
    const evf_processor_t *table = entry();
    if (!table) {
        snprintf(errstr, errstr_size, "%s: key 'processor.%s.library': %s: %s returned NULL",
                 inst->library_origin, inst->name, path, EVF_PROCESSOR_ENTRY_SYMBOL);
        goto out;
    }
    if (table->abi_version != EVF_PROCESSOR_ABI_VERSION) {
        snprintf(errstr, errstr_size,
                 "%s: key 'processor.%s.library': %s: built for ABI version %d, this worker "
                 "speaks %d",
                 inst->library_origin, inst->name, path, table->abi_version,
                 EVF_PROCESSOR_ABI_VERSION);
        goto out;
    }
    if (!table->process) {
        snprintf(errstr, errstr_size,
                 "%s: key 'processor.%s.library': %s: the processor table has no process function",
                 inst->library_origin, inst->name, path);
        goto out;
    }
    inst->table = table;
    rc = 0;
out:
    free(path);
    return rc;
}

/* Run init. Returns 0 or -1 with errstr filled (naming the setting's origin when the processor's
 * message quotes one of its settings). */
static int init_instance(evf_proc_instance_t *inst, char *errstr, size_t errstr_size) {
    char why[512] = "";
    if (!inst->table->init) {
        if (inst->n_settings == 0)
            return 0;
        snprintf(errstr, errstr_size, "processor '%s': setting '%s' (%s): the processor takes "
                 "no settings", inst->name, inst->settings[0].name, inst->setting_origins[0]);
        return -1;
    }
    if (inst->table->init(&inst->state, inst->settings, inst->n_settings, why, sizeof(why)) == 0) {
        inst->initialised = 1;
        return 0;
    }
    if (!why[0])
        snprintf(why, sizeof(why), "init failed");
    size_t named = inst->n_settings;
    for (size_t i = 0; i < inst->n_settings && named == inst->n_settings; i++) {
        char quoted[256];
        snprintf(quoted, sizeof(quoted), "'%s'", inst->settings[i].name);
        if (strstr(why, quoted))
            named = i;
    }
    if (named < inst->n_settings)
        snprintf(errstr, errstr_size, "%s: key 'processor.%s.%s': processor '%s': %s",
                 inst->setting_origins[named], inst->name, inst->settings[named].name, inst->name,
                 why);
    else
        snprintf(errstr, errstr_size, "%s: key '%s': processor '%s': %s", inst->where_origin,
                 inst->where_key, inst->name, why);
    return -1;
}

evf_registry_t *evf_registry_new(const evf_conf_t *conf, char *errstr, size_t errstr_size) {
    evf_registry_t *reg = calloc(1, sizeof(*reg));
    if (!reg)
        abort();
    size_t n_routes = 0;
    const evf_conf_route_t *routes = evf_conf_routes(conf, &n_routes);
    for (size_t i = 0; i < n_routes; i++) {
        const char *name = routes[i].processor;
        if (!name_valid(name)) {
            snprintf(errstr, errstr_size,
                     "%s: key 'route.%s': processor name '%s' may hold only letters, digits, "
                     "'_' and '-'",
                     routes[i].origin, routes[i].glob, name);
            goto fail;
        }
        if (!find_mut(reg, name))
            add_instance(reg, name, xasprintf("route.%s", routes[i].glob), routes[i].origin);
    }
    collect_t c = {.reg = reg, .errstr = errstr, .errstr_size = errstr_size};
    if (evf_conf_foreach_prefix(conf, "processor.", collect_setting, &c))
        goto fail;

    for (size_t i = 0; i < reg->n; i++) {
        evf_proc_instance_t *inst = reg->insts[i];
        if (inst->library) {
            if (load_plugin(inst, errstr, errstr_size))
                goto fail;
        } else {
            inst->table = evf_builtin_find(inst->name);
            if (!inst->table) {
                char names[256];
                builtin_names(names, sizeof(names));
                snprintf(errstr, errstr_size,
                         "%s: key '%s': unknown processor '%s': not a built-in (%s) and no "
                         "processor.%s.library is set",
                         inst->where_origin, inst->where_key, inst->name, names, inst->name);
                goto fail;
            }
        }
        if (init_instance(inst, errstr, errstr_size))
            goto fail;
        if (!inst->table->concurrent) {
            pthread_mutex_init(&inst->mutex, NULL);
            inst->has_mutex = 1;
        }
    }
    return reg;
fail:
    evf_registry_destroy(reg);
    return NULL;
}

size_t evf_registry_count(const evf_registry_t *reg) {
    return reg->n;
}

const evf_proc_instance_t *evf_registry_at(const evf_registry_t *reg, size_t i) {
    return i < reg->n ? reg->insts[i] : NULL;
}

const evf_proc_instance_t *evf_registry_find(const evf_registry_t *reg, const char *name) {
    return find_mut(reg, name);
}

const char *evf_proc_instance_name(const evf_proc_instance_t *inst) {
    return inst->name;
}

const char *evf_proc_instance_library(const evf_proc_instance_t *inst) {
    return inst->library;
}

int evf_proc_instance_concurrent(const evf_proc_instance_t *inst) {
    return inst->table->concurrent != 0;
}

const evf_processor_t *evf_proc_instance_table(const evf_proc_instance_t *inst) {
    return inst->table;
}

evf_proc_result_t evf_registry_process(const evf_proc_instance_t *cinst, const evf_event_t *ev,
                                       evf_proc_ctx_t *ctx) {
    /* The mutex is the only part that changes; the instance itself is never const storage. */
    evf_proc_instance_t *inst = (evf_proc_instance_t *)cinst;
    evf_proc_result_t res;
    if (inst->has_mutex) {
        pthread_mutex_lock(&inst->mutex);
        res = inst->table->process(inst->state, ev, ctx);
        pthread_mutex_unlock(&inst->mutex);
    } else {
        res = inst->table->process(inst->state, ev, ctx);
    }
    if (res != EVF_PROC_OK && res != EVF_PROC_RETRY && res != EVF_PROC_FAIL) {
        evf_ctx_reason(ctx, "processor '%s' returned an invalid result %d", inst->name, (int)res);
        res = EVF_PROC_FAIL;
    }
    return res;
}
