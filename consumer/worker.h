/* consumer/worker.h — the worker daemon: its state shared by the poll loop (worker.c), the
 * processing threads (pipeline.c) and the HTTP endpoints (status.c). Internal to consumer/. */
#ifndef EVF_WORKER_H
#define EVF_WORKER_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

#include "held.h"
#include "backoff.h"
#include "breaker.h"
#include "config.h"
#include "http.h"
#include "idem.h"
#include "lanes.h"
#include "metrics.h"
#include "publisher.h"
#include "registry.h"
#include "router.h"

#define EVF_WORKER_MAX_TOPICS 64

/* Per processor: its metric series, cached so the hot path takes no lock. */
typedef struct {
    const evf_proc_instance_t *inst;
    const char *name;
    evf_series_t *ok, *duplicate, *retry, *dlq;
    evf_series_t *seconds;
    evf_series_t *retries;
    evf_series_t *breaker_open;
    evf_breaker_t *breaker;
} evf_proc_metrics_t;

typedef struct evf_worker_s {
    evf_conf_t *conf; /* owned */
    char instance_id[64];
    char hostname[128];
    char group[256];

    /* settings read once from conf */
    int threads;
    size_t ready_max; /* the poll thread stops polling while this much work is ready */
    /* librdkafka failed to fetch committed offsets after an assignment: fetch them again at
     * refetch_at and seek (poll thread only). */
    int refetch_pending;
    int64_t refetch_at;
    /* Fetch kick (poll thread only): librdkafka's consumer queue length at its last peak, whether
     * a kick is due when it has drained to half of that, and when the last kick was sent. */
    int64_t kick_peak;
    int kick_armed;
    int64_t kick_last_ms;
    int key_ordering;
    int queue_max;
    int64_t event_max_bytes;
    int64_t timeout_ms;
    int64_t grace_ms;
    int retry_max_attempts;
    evf_backoff_t backoff;
    int64_t max_age_ms;
    int idem_enabled;
    int64_t idem_ttl_ms;
    const char *key_prefix;
    int64_t dlq_max_message_bytes; /* producer message.max.bytes for copies */

    /* source topics (from `topics`) */
    char *topics[EVF_WORKER_MAX_TOPICS];
    size_t ntopics;

    rd_kafka_t *rk;
    rd_kafka_queue_t *rkq;
    evf_lanes_t *lanes;
    evf_pub_t *pub;
    evf_registry_t *registry;
    evf_router_t *router;
    evf_idem_t *idem; /* NULL when idempotency is off */
    evf_held_t *held; /* records held by this worker's threads (idempotency on) */
    evf_http_t *http;

    evf_metrics_t *metrics;
    evf_proc_metrics_t *procm;
    size_t nprocm;
    evf_metric_t *m_consumed, *m_dlq, *m_lag;
    evf_series_t *s_duplicates, *s_redis_errors, *s_rebalances, *s_paused;
    evf_series_t *s_latency; /* event time → effects applied */
    evf_metric_t *m_processed;

    pthread_t *tids;
    /* Processing threads, so an idle one can take back the not-started work of a batch stuck
     * behind a slow call (pipeline.c). */
    pthread_mutex_t peers_lock;
    struct thread_s *peers[256];
    int npeers;
    int thread_seq; /* numbers processing threads (their field in the running hash) */
    pthread_mutex_t state_lock; /* guards the strings below */
    char kafka_error[256];      /* "" when fine */
    char redis_error[256];
    char hold_error[256];       /* why a partition holds (dead-letter topic unwritable …) */

    atomic_int joined;         /* has an assignment or joined the group */
    atomic_int redis_ok;       /* last Redis call of any thread succeeded */
    atomic_int_least64_t last_poll_ms;
    atomic_int_least64_t first_processed_ms;
    atomic_int running;        /* processing threads keep going while 1 */
    atomic_int fatal;
    int64_t started_ms;
    int closed; /* the consumer left its group cleanly */
    atomic_int committed; /* the final commit was attempted */
    volatile sig_atomic_t *stop_flag;
} evf_worker_t;

/* ---- pipeline.c ---- */

/** @brief A processing thread's body (arg: the worker). */
void *evf_pipeline_thread(void *arg);

/** @returns the cached metric series of a processor instance (NULL if unknown). */
evf_proc_metrics_t *evf_worker_procm(evf_worker_t *w, const evf_proc_instance_t *inst);

/** @brief Record a problem for /readyz and /status (component: "kafka", "redis", "hold"). */
void evf_worker_set_error(evf_worker_t *w, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- status.c ---- */

/** @brief The HTTP handler for /healthz, /readyz, /metrics and /status. */
int evf_status_handle(void *opaque, const char *method, const char *path,
                      evf_http_response_t *resp);

/* ---- worker.c ---- */

/** @returns the exit code: 0 clean shutdown, 1 runtime failure, 2 configuration error. */
int evf_worker_run(evf_conf_t *conf, volatile sig_atomic_t *stop_flag);

int64_t evf_now_ms(void);

#endif
