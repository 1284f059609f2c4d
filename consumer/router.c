/* consumer/router.c — see router.h.
 *
 * Routing is a linear scan of the compiled globs (each with its literal prefix checked first), so
 * a few dozen routes cost well under a microsecond. In front of it sits a bounded cache of type →
 * route, because a fleet sees few distinct types: an insert-only open-addressing table whose slots
 * are published with release stores and read with acquire loads, so lookups take no lock; inserts
 * take a mutex. It stops growing at half its slots (types come from the wire, so an attacker's
 * random types cannot grow memory), after which new types are simply matched every time. */
#include "router.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROUTER_CACHE_SLOTS 1024 /* power of two */
#define ROUTER_CACHE_MAX (ROUTER_CACHE_SLOTS / 2)
#define ROUTER_CACHE_PROBES 16
#define ROUTER_CACHE_TYPE_MAX 256 /* longer types are not cached */

typedef struct {
    char *glob;
    size_t prefix_len; /* characters before the first '*' (all of them when there is none) */
    int has_star;
    const evf_proc_instance_t *inst;
} route_t;

typedef struct {
    uint64_t hash;
    int route; /* index into routes, -1: unroutable */
    char type[];
} cache_entry_t;

struct evf_router_s {
    route_t *routes;
    size_t n;
    pthread_mutex_t cache_lock; /* serialises inserts only */
    size_t cache_used;
    _Atomic(cache_entry_t *) cache[ROUTER_CACHE_SLOTS];
};

int evf_router_glob_match(const char *glob, const char *s) {
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*glob == '*') {
            star = glob++;
            resume = s;
        } else if (*glob == *s) {
            glob++;
            s++;
        } else if (star) {
            /* Let the last star absorb one more character. With `*` the only wildcard,
             * matching each literal segment leftmost is always safe, so earlier stars never
             * need to be revisited: linear backtracking, no recursion. */
            glob = star + 1;
            s = ++resume;
        } else {
            return 0;
        }
    }
    while (*glob == '*')
        glob++;
    return *glob == '\0';
}

void evf_router_destroy(evf_router_t *router) {
    if (!router)
        return;
    for (size_t i = 0; i < router->n; i++)
        free(router->routes[i].glob);
    free(router->routes);
    for (size_t i = 0; i < ROUTER_CACHE_SLOTS; i++)
        free(atomic_load_explicit(&router->cache[i], memory_order_relaxed));
    pthread_mutex_destroy(&router->cache_lock);
    free(router);
}

evf_router_t *evf_router_new_routes(const evf_conf_route_t *routes, size_t n_routes,
                                    const evf_registry_t *reg, char *errstr, size_t errstr_size) {
    evf_router_t *router = calloc(1, sizeof(*router));
    if (!router)
        abort();
    pthread_mutex_init(&router->cache_lock, NULL);
    for (size_t i = 0; i < ROUTER_CACHE_SLOTS; i++)
        atomic_init(&router->cache[i], NULL);
    router->routes = calloc(n_routes ? n_routes : 1, sizeof(*router->routes));
    if (!router->routes)
        abort();
    for (size_t i = 0; i < n_routes; i++) {
        const evf_conf_route_t *rt = &routes[i];
        const char *origin = rt->origin ? rt->origin : "route";
        if (!rt->glob || !*rt->glob) {
            snprintf(errstr, errstr_size, "%s: key 'route.': the type glob is empty", origin);
            goto fail;
        }
        const evf_proc_instance_t *inst = rt->processor ? evf_registry_find(reg, rt->processor)
                                                        : NULL;
        if (!inst) {
            snprintf(errstr, errstr_size, "%s: key 'route.%s': no processor '%s' is loaded",
                     origin, rt->glob, rt->processor ? rt->processor : "");
            goto fail;
        }
        route_t *r = &router->routes[router->n++];
        r->glob = strdup(rt->glob);
        if (!r->glob)
            abort();
        const char *star = strchr(r->glob, '*');
        r->has_star = star != NULL;
        r->prefix_len = star ? (size_t)(star - r->glob) : strlen(r->glob);
        r->inst = inst;
    }
    return router;
fail:
    evf_router_destroy(router);
    return NULL;
}

evf_router_t *evf_router_new(const evf_conf_t *conf, const evf_registry_t *reg, char *errstr,
                             size_t errstr_size) {
    size_t n = 0;
    const evf_conf_route_t *routes = evf_conf_routes(conf, &n);
    return evf_router_new_routes(routes, n, reg, errstr, errstr_size);
}

size_t evf_router_count(const evf_router_t *router) {
    return router->n;
}

static int match_routes(const evf_router_t *router, const char *type) {
    for (size_t i = 0; i < router->n; i++) {
        const route_t *r = &router->routes[i];
        if (strncmp(r->glob, type, r->prefix_len) != 0)
            continue;
        if (!r->has_star ? type[r->prefix_len] == '\0'
                         : evf_router_glob_match(r->glob + r->prefix_len, type + r->prefix_len))
            return (int)i;
    }
    return -1;
}

static uint64_t hash_type(const char *s, size_t *len) {
    uint64_t h = 0xcbf29ce484222325ULL;
    const char *p = s;
    for (; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 0x100000001b3ULL;
    }
    *len = (size_t)(p - s);
    return h;
}

const evf_proc_instance_t *evf_router_route(const evf_router_t *crouter, const char *type) {
    /* The cache is the router's only mutable part. */
    evf_router_t *router = (evf_router_t *)crouter;
    if (!type)
        type = "";
    size_t len;
    uint64_t h = hash_type(type, &len);
    size_t slot = (size_t)h & (ROUTER_CACHE_SLOTS - 1);
    for (int probe = 0; probe < ROUTER_CACHE_PROBES; probe++) {
        cache_entry_t *e = atomic_load_explicit(&router->cache[(slot + (size_t)probe) &
                                                               (ROUTER_CACHE_SLOTS - 1)],
                                                memory_order_acquire);
        if (!e)
            break;
        if (e->hash == h && !strcmp(e->type, type))
            return e->route < 0 ? NULL : router->routes[e->route].inst;
    }

    int route = match_routes(router, type);
    if (len <= ROUTER_CACHE_TYPE_MAX) {
        pthread_mutex_lock(&router->cache_lock);
        if (router->cache_used < ROUTER_CACHE_MAX) {
            for (int probe = 0; probe < ROUTER_CACHE_PROBES; probe++) {
                _Atomic(cache_entry_t *) *cell =
                    &router->cache[(slot + (size_t)probe) & (ROUTER_CACHE_SLOTS - 1)];
                cache_entry_t *e = atomic_load_explicit(cell, memory_order_relaxed);
                if (e && e->hash == h && !strcmp(e->type, type))
                    break; /* another thread cached it meanwhile */
                if (e)
                    continue;
                e = malloc(sizeof(*e) + len + 1);
                if (!e)
                    abort();
                e->hash = h;
                e->route = route;
                memcpy(e->type, type, len + 1);
                atomic_store_explicit(cell, e, memory_order_release);
                router->cache_used++;
                break;
            }
        }
        pthread_mutex_unlock(&router->cache_lock);
    }
    return route < 0 ? NULL : router->routes[route].inst;
}
