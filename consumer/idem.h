/* consumer/idem.h — the idempotency record (DESIGN.md "The idempotency record"): acquire for a
 * batch of events in one round trip, point at the call each thread is in, renew, release on
 * retry/fail. The completion (effects + done) is the effects module's script, fenced by the same
 * token.
 *
 * Record: hash `<prefix>:<group>:<idempotency key>` with state, owner, token, lease_until,
 * unfinished, fp, updated; its TTL is always idempotency.ttl.ms, refreshed on every write. */
#ifndef EVF_IDEM_H
#define EVF_IDEM_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "event.h"
#include "redis.h"

typedef struct evf_idem_s evf_idem_t;

typedef struct {
    const char *prefix;    /* idempotency.key.prefix */
    const char *group;
    const char *owner;     /* worker instance id */
    const char *key_source; /* idempotency.key.source (comma-separated fields) */
    int64_t ttl_ms;
    int64_t lease_ms;
    int crash_max;         /* crash.max.attempts */
} evf_idem_conf_t;

/** @returns the module, or NULL with the reason (e.g. an unknown key.source field) in errstr. */
evf_idem_t *evf_idem_new(const evf_idem_conf_t *conf, char *errstr, size_t errstr_size);
void evf_idem_destroy(evf_idem_t *idem); /* NULL-safe */

/**
 * @brief Write the record key of ev: `<prefix>:<group>:<key>` where key is the event id, or the
 * key.source fields joined with '|' ('|' and '\\' inside values escaped with '\\'); a key part
 * too long for out becomes `#sha256:<hex>` of it, never cut (a literal part starting with '#' is
 * escaped). Our own live lease does not block an
 * acquisition (fencing keeps a second holder in this process from applying twice).
 * @returns 0, or -1 if a configured field is absent (then the event id is used).
 */
int evf_idem_record_key(const evf_idem_t *idem, const evf_event_t *ev, char *out,
                        size_t out_size);

typedef enum {
    EVF_IDEM_ACQUIRED = 0, /* running under our new token */
    EVF_IDEM_DUPLICATE,    /* done before: skip, offset done */
    EVF_IDEM_BUSY,         /* another owner holds a live lease: wait and ask again */
    EVF_IDEM_CRASH_LOOP,   /* unfinished reached crash.max.attempts: dead-letter */
    EVF_IDEM_MISMATCH,     /* done with another fingerprint: dead-letter */
} evf_idem_status_t;

typedef struct {
    const char *record_key; /* in */
    const char *fp;         /* in: fingerprint */
    char token[33];         /* out: our fencing token when ACQUIRED */
    evf_idem_status_t status;
    int64_t lease_until;    /* out: BUSY: when the other owner's lease ends (Unix ms) */
    int unfinished;         /* out */
} evf_idem_req_t;

/**
 * @brief Acquire every record of the batch in one script call. `thread` is the calling processing
 * thread's number (its field in this worker's running hash, cleared here), or -1 for a caller
 * that runs no processor. Taking over a `running` record whose call was in progress (its token
 * still in its owner's running hash) counts that call in `unfinished`. @returns EVF_OK or
 * TRANSPORT.
 */
evf_err_t evf_idem_acquire_batch(evf_idem_t *idem, evf_redis_t *r, int thread,
                                 evf_idem_req_t *reqs, size_t n);
/**
 * @brief Record that `thread` is about to call the processor for `cur`: one HSET of its token
 * into this process's running hash `<prefix>:<group>:running:<owner>:<incarnation>`, sent without waiting for
 * the reply (the bytes are on the socket before the processor runs, so a crash during the call
 * is still seen by the next acquisition). Replies are read by evf_idem_drain.
 * @returns EVF_OK or EVF_ERR_TRANSPORT.
 */
evf_err_t evf_idem_mark_call(evf_idem_t *idem, evf_redis_t *r, int thread,
                             const evf_idem_req_t *cur);
/** @brief Read the replies of earlier mark_call calls. */
void evf_idem_drain(evf_redis_t *r);
/**
 * @brief Extend the leases of held records to now + lease, fenced: lease_until is set to the new
 * value, or 0 where the token no longer holds. @returns EVF_OK or EVF_ERR_TRANSPORT.
 */
evf_err_t evf_idem_renew_batch(evf_idem_t *idem, evf_redis_t *r, evf_idem_req_t **reqs,
                               size_t n);
/**
 * @brief Release records after a retry or fail outcome (state released, lease 0), fenced. fenced[i] is set to 1 where the token no longer held (may be NULL).
 * @returns EVF_OK or EVF_ERR_TRANSPORT.
 */
evf_err_t evf_idem_release_batch(evf_idem_t *idem, evf_redis_t *r, evf_idem_req_t **reqs,
                                 size_t n, int *fenced);

#endif
