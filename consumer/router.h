/* consumer/router.h — event type → processor instance, from the `route.<type-glob> = <processor>`
 * lines in configuration order: the first glob that matches the event's type wins. In a glob `*`
 * matches any run of characters (the empty one too); every other character, `?` and `[`
 * included, matches only itself.
 *
 * Built once at start-up; evf_router_route() is thread-safe (lock-free lookups of a small,
 * bounded per-type cache). */
#ifndef EVF_ROUTER_H
#define EVF_ROUTER_H

#include <stddef.h>

#include "config.h"
#include "registry.h"

typedef struct evf_router_s evf_router_t;

/**
 * @brief Compile the routes of conf (evf_conf_routes) against the registry's instances.
 * @returns the router, or NULL with "ORIGIN: key 'route.GLOB': reason" in errstr (empty glob, or
 * a processor the registry does not hold). reg must outlive the router.
 */
evf_router_t *evf_router_new(const evf_conf_t *conf, const evf_registry_t *reg, char *errstr,
                             size_t errstr_size);

/** @brief The same from an explicit route list (copied). */
evf_router_t *evf_router_new_routes(const evf_conf_route_t *routes, size_t n_routes,
                                    const evf_registry_t *reg, char *errstr, size_t errstr_size);

void evf_router_destroy(evf_router_t *router); /* NULL-safe */

/**
 * @brief The processor for an event type: the first route whose glob matches type.
 * @returns the instance, or NULL when no route matches (the event is `unroutable`).
 * Allocates nothing once the type is cached. @locality any thread.
 */
const evf_proc_instance_t *evf_router_route(const evf_router_t *router, const char *type);

/** @returns the number of routes. */
size_t evf_router_count(const evf_router_t *router);

/** @returns 1 if s matches glob (`*` = any run of characters, nothing else special), else 0. */
int evf_router_glob_match(const char *glob, const char *s);

#endif
