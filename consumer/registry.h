/* consumer/registry.h — the processor registry: one instance per processor the configuration uses,
 * built-in or loaded from a plugin, initialised with its settings (DESIGN.md "Processor ABI").
 *
 * Which processors: every processor named by a `route.<glob>` line, and every name with
 * `processor.<name>.*` settings. `processor.<name>.library = PATH` loads PATH (exactly that path:
 * a bare file name is taken relative to the working directory, never searched for) with
 * dlopen(RTLD_NOW | RTLD_LOCAL) and calls its `evf_processor_entry`; otherwise the name must be a
 * built-in (s3_index, stream_materialize, iot_rollup, noop, chaos, ledger). init gets the
 * processor's settings without `library`.
 *
 * Built once at start-up (not thread-safe then); afterwards read-only and usable from any thread.
 * evf_registry_process() serialises processors that are not `concurrent`. */
#ifndef EVF_REGISTRY_H
#define EVF_REGISTRY_H

#include <stddef.h>

#include "config.h"
#include "event.h"
#include "evfleet/processor.h"

typedef struct evf_registry_s evf_registry_t;
typedef struct evf_proc_instance_s evf_proc_instance_t;

/**
 * @brief Load and initialise every processor the configuration uses.
 * @returns the registry, or NULL with a configuration error in errstr, in the configuration's
 * "ORIGIN: key 'KEY': reason" form (ORIGIN is FILE:LINE, -X, env EVFLEET_…): an unknown processor
 * (the route or setting naming it), a library that does not load (the dlerror text), lacks
 * `evf_processor_entry` ("missing symbol evf_processor_entry"), was built for another ABI version
 * ("built for ABI version X, this worker speaks Y") or has no process function (all on key
 * `processor.<name>.library`), or an init that refused a setting (on that setting's key when
 * init's message quotes it). The worker exits 2 on it.
 */
evf_registry_t *evf_registry_new(const evf_conf_t *conf, char *errstr, size_t errstr_size);

/** @brief Call every instance's destroy, then dlclose its library. NULL-safe. No process() may
 * still be running. */
void evf_registry_destroy(evf_registry_t *reg);

/** @returns how many instances the registry holds. */
size_t evf_registry_count(const evf_registry_t *reg);
/** @returns instance i (0 ≤ i < count), in configuration order (routes first, then settings). */
const evf_proc_instance_t *evf_registry_at(const evf_registry_t *reg, size_t i);
/** @returns the instance configured as name, or NULL. */
const evf_proc_instance_t *evf_registry_find(const evf_registry_t *reg, const char *name);

/** @returns the configured name (`processor.<name>`, the route's value). */
const char *evf_proc_instance_name(const evf_proc_instance_t *inst);
/** @returns the library path for a plugin, NULL for a built-in. */
const char *evf_proc_instance_library(const evf_proc_instance_t *inst);
/** @returns 1 if process() may run on several threads at once. */
int evf_proc_instance_concurrent(const evf_proc_instance_t *inst);
/** @returns the processor's table (built-in or the plugin's). */
const evf_processor_t *evf_proc_instance_table(const evf_proc_instance_t *inst);

/**
 * @brief Run the processor on ev. Takes the instance's mutex around process() when the processor
 * is not concurrent. A result outside OK/RETRY/FAIL is turned into FAIL with a reason.
 * @locality any processing thread.
 */
evf_proc_result_t evf_registry_process(const evf_proc_instance_t *inst, const evf_event_t *ev,
                                       evf_proc_ctx_t *ctx);

#endif
