/* consumer/lanes.c — see lanes.h. One mutex, one condition variable for "work is ready or the
 * earliest wait expired", one for "a revoked partition's running items finished". */
#include "lanes.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "event.h"
#include "offsets.h"

struct evf_lane_s {
    evf_lane_t *ready_next; /* in the ready list or the waiting list */
    evf_lane_t *hash_next;  /* in its partition's key table */
    evf_part_t *part;
    evf_item_t *head, *tail;
    size_t count;
    int busy;      /* taken by a thread */
    int listed;    /* in the ready or waiting list */
    int ready;     /* in the ready list (its items count in ready_items) */
    int64_t wait_until;
    char *key;     /* key mode only */
    size_t key_len;
    char hold_reason[160];
};

struct evf_part_s {
    evf_part_t *next;
    char *topic;
    int32_t partition;
    int revoked;
    int paused;
    int want_resume;
    size_t queued;   /* items in lanes or running */
    size_t running;  /* items taken by threads */
    int refs;        /* 1 while assigned + taken items */
    evf_offsets_t *offsets;
    int64_t stored;  /* last offset handed out to store, -1 none */
    int64_t high_polled;
    atomic_long *with_state; /* the lanes' count of items holding a scratch state */
    evf_lane_t *lane;        /* partition mode */
    evf_lane_t **keylanes;   /* key mode: hash table of lanes */
    size_t nbuckets, nlanes;
};

struct evf_lanes_s {
    pthread_mutex_t lock;
    pthread_cond_t work_cond;
    pthread_cond_t idle_cond;
    pthread_cond_t room_cond; /* ready_items went down (a thread took work) */
    evf_lanes_conf_t conf;
    evf_part_t *parts;
    evf_lane_t *ready_head, *ready_tail;
    evf_lane_t *waiting; /* unordered; few lanes wait at a time */
    int stopped;
    int resume_pending;
    size_t inflight;
    size_t ready_items; /* items in ready lanes: what threads can take now */
    atomic_long with_state;
};

static int64_t now_ms(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void *xcalloc(size_t n, size_t sz) {
    void *p = calloc(n, sz);
    if (!p)
        abort();
    return p;
}

evf_lanes_t *evf_lanes_new(const evf_lanes_conf_t *conf) {
    evf_lanes_t *s = xcalloc(1, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->work_cond, NULL);
    pthread_cond_init(&s->idle_cond, NULL);
    pthread_cond_init(&s->room_cond, NULL);
    s->conf = *conf;
    if (s->conf.queue_max < 1)
        s->conf.queue_max = 1;
    return s;
}

static void item_free(evf_item_t *it) {
    if (it->msg)
        rd_kafka_message_destroy(it->msg);
    evf_event_free(it->ev);
    if (it->state) {
        free(it->state);
        atomic_fetch_sub(it->part->with_state, 1);
    }
    free(it);
}

static void lane_free(evf_lane_t *lane) {
    evf_item_t *it = lane->head;
    while (it) {
        evf_item_t *next = it->next;
        item_free(it);
        it = next;
    }
    free(lane->key);
    free(lane);
}

static void part_free(evf_part_t *p) {
    if (p->lane)
        lane_free(p->lane);
    for (size_t b = 0; p->keylanes && b < p->nbuckets; b++) {
        evf_lane_t *l = p->keylanes[b];
        while (l) {
            evf_lane_t *next = l->hash_next;
            lane_free(l);
            l = next;
        }
    }
    free(p->keylanes);
    evf_offsets_destroy(p->offsets);
    free(p->topic);
    free(p);
}

void evf_lanes_destroy(evf_lanes_t *s) {
    if (!s)
        return;
    evf_part_t *p = s->parts;
    while (p) {
        evf_part_t *next = p->next;
        part_free(p);
        p = next;
    }
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->work_cond);
    pthread_cond_destroy(&s->idle_cond);
    pthread_cond_destroy(&s->room_cond);
    free(s);
}

static evf_part_t *part_find(evf_lanes_t *s, const char *topic, int32_t partition) {
    for (evf_part_t *p = s->parts; p; p = p->next)
        if (p->partition == partition && !p->revoked && !strcmp(p->topic, topic))
            return p;
    return NULL;
}

void evf_lanes_assign(evf_lanes_t *s, const char *topic, int32_t partition) {
    pthread_mutex_lock(&s->lock);
    if (!part_find(s, topic, partition)) {
        evf_part_t *p = xcalloc(1, sizeof(*p));
        p->topic = strdup(topic);
        if (!p->topic)
            abort();
        p->partition = partition;
        p->refs = 1;
        p->offsets = evf_offsets_new();
        p->stored = -1;
        p->high_polled = -1;
        p->with_state = &s->with_state;
        if (!s->conf.key_ordering) {
            p->lane = xcalloc(1, sizeof(*p->lane));
            p->lane->part = p;
        } else {
            p->nbuckets = 256;
            p->keylanes = xcalloc(p->nbuckets, sizeof(*p->keylanes));
        }
        p->next = s->parts;
        s->parts = p;
    }
    pthread_mutex_unlock(&s->lock);
}

static uint64_t hash_bytes(const void *data, size_t len) {
    const unsigned char *b = data;
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= b[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static evf_lane_t *lane_for_key(evf_part_t *p, const void *key, size_t key_len) {
    size_t b = hash_bytes(key, key_len) % p->nbuckets;
    for (evf_lane_t *l = p->keylanes[b]; l; l = l->hash_next)
        if (l->key_len == key_len && (key_len == 0 || !memcmp(l->key, key, key_len)))
            return l;
    evf_lane_t *l = xcalloc(1, sizeof(*l));
    l->part = p;
    l->key = malloc(key_len + 1);
    if (!l->key)
        abort();
    if (key_len)
        memcpy(l->key, key, key_len);
    l->key[key_len] = '\0';
    l->key_len = key_len;
    l->hash_next = p->keylanes[b];
    p->keylanes[b] = l;
    p->nlanes++;
    return l;
}

/* An idle, empty key lane is dropped so the table holds only keys with work. */
static void lane_maybe_drop(evf_part_t *p, evf_lane_t *lane) {
    if (!p->keylanes || lane->count || lane->busy || lane->listed)
        return;
    size_t b = hash_bytes(lane->key, lane->key_len) % p->nbuckets;
    for (evf_lane_t **pp = &p->keylanes[b]; *pp; pp = &(*pp)->hash_next) {
        if (*pp == lane) {
            *pp = lane->hash_next;
            p->nlanes--;
            lane_free(lane);
            return;
        }
    }
}

static void ready_push(evf_lanes_t *s, evf_lane_t *lane) {
    lane->ready_next = NULL;
    lane->listed = 1;
    lane->ready = 1;
    s->ready_items += lane->count;
    if (s->ready_tail)
        s->ready_tail->ready_next = lane;
    else
        s->ready_head = lane;
    s->ready_tail = lane;
}

/* A lane with items, not busy: ready now, or waiting for its head's not_before. */
static void lane_schedule(evf_lanes_t *s, evf_lane_t *lane, int64_t now) {
    if (lane->busy || lane->listed || !lane->head || lane->part->revoked)
        return;
    if (lane->head->not_before_ms > now) {
        lane->wait_until = lane->head->not_before_ms;
        lane->ready_next = s->waiting;
        lane->listed = 1;
        s->waiting = lane;
    } else {
        lane->wait_until = 0;
        ready_push(s, lane);
    }
    pthread_cond_signal(&s->work_cond);
}

int evf_lanes_enqueue(evf_lanes_t *s, rd_kafka_message_t *msg) {
    const char *topic = rd_kafka_topic_name(msg->rkt);
    int want_pause = 0;
    pthread_mutex_lock(&s->lock);
    evf_part_t *p = part_find(s, topic, msg->partition);
    if (!p || evf_offsets_track(p->offsets, msg->offset) != 0) {
        /* Not ours (any more), or a message we already hold: its owner reads it again. */
        pthread_mutex_unlock(&s->lock);
        rd_kafka_message_destroy(msg);
        return 0;
    }
    evf_item_t *it = xcalloc(1, sizeof(*it));
    it->msg = msg;
    it->part = p;
    it->offset = msg->offset;
    p->high_polled = msg->offset;
    evf_lane_t *lane = p->lane ? p->lane : lane_for_key(p, msg->key, msg->key ? msg->key_len : 0);
    it->lane = lane;
    if (lane->tail)
        lane->tail->next = it;
    else
        lane->head = it;
    lane->tail = it;
    lane->count++;
    if (lane->ready)
        s->ready_items++;
    p->queued++;
    s->inflight++;
    lane_schedule(s, lane, now_ms());
    if (!p->paused && p->queued >= (size_t)s->conf.queue_max) {
        p->paused = 1;
        want_pause = 1;
    }
    pthread_mutex_unlock(&s->lock);
    return want_pause;
}

/* Unlink a lane from the ready or waiting list. */
static void lane_unlist(evf_lanes_t *s, evf_lane_t *lane) {
    if (!lane->listed)
        return;
    evf_lane_t **pp, *prev = NULL;
    for (pp = &s->ready_head; *pp; prev = *pp, pp = &(*pp)->ready_next) {
        if (*pp == lane) {
            *pp = lane->ready_next;
            if (s->ready_tail == lane)
                s->ready_tail = prev;
            lane->listed = 0;
            lane->ready = 0;
            s->ready_items -= lane->count;
            return;
        }
    }
    for (pp = &s->waiting; *pp; pp = &(*pp)->ready_next) {
        if (*pp == lane) {
            *pp = lane->ready_next;
            lane->listed = 0;
            return;
        }
    }
}

/* Drop the not-started items of a lane (revocation). */
static void lane_drop_queued(evf_lanes_t *s, evf_lane_t *lane) {
    lane_unlist(s, lane);
    evf_item_t *it = lane->head;
    while (it) {
        evf_item_t *next = it->next;
        lane->part->queued--;
        s->inflight--;
        item_free(it);
        it = next;
    }
    lane->head = lane->tail = NULL;
    lane->count = 0;
}

static void part_release(evf_lanes_t *s, evf_part_t *p) {
    if (--p->refs > 0)
        return;
    for (evf_part_t **pp = &s->parts; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    part_free(p);
}

int evf_lanes_revoke(evf_lanes_t *s, rd_kafka_topic_partition_list_t *offsets, int timeout_ms) {
    int late = 0;
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }

    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < offsets->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &offsets->elems[i];
        evf_part_t *p = part_find(s, tp->topic, tp->partition);
        tp->offset = RD_KAFKA_OFFSET_INVALID;
        if (!p)
            continue;
        p->revoked = 1;
        if (p->lane) {
            lane_drop_queued(s, p->lane);
        } else {
            for (size_t b = 0; b < p->nbuckets; b++)
                for (evf_lane_t *l = p->keylanes[b]; l; l = l->hash_next)
                    lane_drop_queued(s, l);
        }
        /* Wait for the items threads are running now; other partitions keep flowing. */
        while (p->running > 0) {
            if (pthread_cond_timedwait(&s->idle_cond, &s->lock, &deadline) != 0)
                break;
        }
        if (p->running > 0)
            late++;
        int64_t c = evf_offsets_committable(p->offsets);
        if (c >= 0)
            p->stored = c;
        tp->offset = p->stored >= 0 ? p->stored : RD_KAFKA_OFFSET_INVALID;
        part_release(s, p);
    }
    pthread_mutex_unlock(&s->lock);
    return late;
}

void evf_lanes_collect_offsets(evf_lanes_t *s, rd_kafka_topic_partition_list_t *out) {
    pthread_mutex_lock(&s->lock);
    for (evf_part_t *p = s->parts; p; p = p->next) {
        if (p->revoked)
            continue;
        int64_t c = evf_offsets_committable(p->offsets);
        if (c >= 0) {
            p->stored = c;
            rd_kafka_topic_partition_list_add(out, p->topic, p->partition)->offset = c;
        }
    }
    pthread_mutex_unlock(&s->lock);
}

void evf_lanes_collect_resumes(evf_lanes_t *s, rd_kafka_topic_partition_list_t *out) {
    pthread_mutex_lock(&s->lock);
    if (s->resume_pending) {
        for (evf_part_t *p = s->parts; p; p = p->next) {
            if (p->want_resume && !p->revoked) {
                rd_kafka_topic_partition_list_add(out, p->topic, p->partition);
                p->paused = 0;
            }
            p->want_resume = 0;
        }
        s->resume_pending = 0;
    }
    pthread_mutex_unlock(&s->lock);
}

void evf_lanes_set_paused(evf_lanes_t *s, const char *topic, int32_t partition, int paused) {
    pthread_mutex_lock(&s->lock);
    evf_part_t *p = part_find(s, topic, partition);
    if (p)
        p->paused = paused;
    pthread_mutex_unlock(&s->lock);
}

void evf_lanes_stop(evf_lanes_t *s) {
    pthread_mutex_lock(&s->lock);
    s->stopped = 1;
    pthread_cond_broadcast(&s->work_cond);
    pthread_cond_broadcast(&s->room_cond);
    pthread_mutex_unlock(&s->lock);
}

size_t evf_lanes_inflight(evf_lanes_t *s) {
    pthread_mutex_lock(&s->lock);
    size_t n = s->inflight;
    pthread_mutex_unlock(&s->lock);
    return n;
}

size_t evf_lanes_wait_room(evf_lanes_t *s, size_t limit, int timeout_ms) {
    pthread_mutex_lock(&s->lock);
    if (s->ready_items >= limit && !s->stopped) {
        int64_t until = now_ms() + timeout_ms;
        struct timespec ts = {.tv_sec = until / 1000, .tv_nsec = (long)(until % 1000) * 1000000L};
        while (s->ready_items >= limit && !s->stopped && !s->resume_pending)
            if (pthread_cond_timedwait(&s->room_cond, &s->lock, &ts) != 0)
                break;
    }
    size_t n = s->ready_items;
    pthread_mutex_unlock(&s->lock);
    return n;
}

void evf_lanes_item_state(evf_item_t *it, void *state) {
    if (it->state == state)
        return;
    if (it->state) {
        free(it->state);
        atomic_fetch_sub(it->part->with_state, 1);
    }
    it->state = state;
    if (state)
        atomic_fetch_add(it->part->with_state, 1);
}

long evf_lanes_items_with_state(evf_lanes_t *s) {
    return atomic_load(&s->with_state);
}

size_t evf_lanes_active(evf_lanes_t *s) {
    pthread_mutex_lock(&s->lock);
    size_t n = s->inflight;
    for (evf_lane_t *l = s->waiting; l; l = l->ready_next)
        n -= l->count < n ? l->count : n;
    pthread_mutex_unlock(&s->lock);
    return n;
}

/* Move waiting lanes whose time has come to the ready list; returns the earliest remaining wait. */
static int64_t wake_waiting(evf_lanes_t *s, int64_t now) {
    int64_t earliest = 0;
    evf_lane_t **pp = &s->waiting;
    while (*pp) {
        evf_lane_t *l = *pp;
        if (l->wait_until <= now) {
            *pp = l->ready_next;
            l->wait_until = 0;
            ready_push(s, l);
        } else {
            if (!earliest || l->wait_until < earliest)
                earliest = l->wait_until;
            pp = &l->ready_next;
        }
    }
    return earliest;
}

size_t evf_lanes_take(evf_lanes_t *s, evf_item_t **out, size_t max, size_t per_lane,
                      int timeout_ms) {
    size_t n = 0;
    int64_t now = now_ms(), deadline = now + timeout_ms;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        if (s->stopped)
            break;
        int64_t earliest = wake_waiting(s, now);
        while (s->ready_head && n < max) {
            evf_lane_t *l = s->ready_head;
            s->ready_head = l->ready_next;
            if (!s->ready_head)
                s->ready_tail = NULL;
            l->listed = 0;
            l->ready = 0;
            s->ready_items -= l->count;
            l->busy = 1;
            size_t k = 0;
            for (evf_item_t *it = l->head; it && k < per_lane && n < max; it = it->next, k++) {
                it->disp = EVF_DISP_NOT_RUN;
                out[n++] = it;
            }
            /* Detach the taken prefix; the lane keeps the rest. */
            evf_item_t *rest = out[n - 1]->next;
            out[n - 1]->next = NULL;
            l->head = rest;
            if (!rest)
                l->tail = NULL;
            l->count -= k;
            l->part->running += k;
            l->part->refs++;
        }
        if (n > 0) {
            pthread_cond_signal(&s->room_cond);
            break;
        }
        if (now >= deadline)
            break;
        int64_t until = deadline;
        if (earliest && earliest < until)
            until = earliest;
        struct timespec ts = {.tv_sec = until / 1000, .tv_nsec = (long)(until % 1000) * 1000000L};
        pthread_cond_timedwait(&s->work_cond, &s->lock, &ts);
        now = now_ms();
    }
    pthread_mutex_unlock(&s->lock);
    return n;
}

int evf_lanes_finish(evf_lanes_t *s, evf_item_t **items, size_t n) {
    int resume = 0;
    int64_t now = now_ms();
    pthread_mutex_lock(&s->lock);
    /* Items of one lane are consecutive in the batch; walk lane runs backwards so the ones that
     * go back can be pushed onto the head in their original order. */
    size_t i = n;
    while (i > 0) {
        size_t end = i, start = i - 1;
        evf_lane_t *lane = items[start]->lane;
        while (start > 0 && items[start - 1]->lane == lane)
            start--;
        evf_part_t *p = lane->part;
        for (size_t j = end; j > start; j--) {
            evf_item_t *it = items[j - 1];
            p->running--;
            if (it->disp == EVF_DISP_DONE || p->revoked) {
                if (!p->revoked)
                    evf_offsets_done(p->offsets, it->offset);
                p->queued--;
                s->inflight--;
                item_free(it);
            } else {
                it->next = lane->head;
                lane->head = it;
                if (!lane->tail)
                    lane->tail = it;
                lane->count++;
            }
        }
        lane->busy = 0;
        if (lane->head && lane->head->disp != EVF_DISP_WAIT)
            lane->hold_reason[0] = '\0';
        if (!p->revoked) {
            lane_schedule(s, lane, now);
            lane_maybe_drop(p, lane);
            if (p->paused && !p->want_resume && p->queued <= (size_t)s->conf.queue_max / 2) {
                p->want_resume = 1;
                s->resume_pending = 1;
                resume = 1;
                pthread_cond_signal(&s->room_cond);
            }
        }
        if (p->running == 0)
            pthread_cond_broadcast(&s->idle_cond);
        part_release(s, p);
        i = start;
    }
    pthread_mutex_unlock(&s->lock);
    return resume;
}

size_t evf_lanes_parts(evf_lanes_t *s, evf_part_info_t *out, size_t max) {
    size_t n = 0;
    pthread_mutex_lock(&s->lock);
    for (evf_part_t *p = s->parts; p && n < max; p = p->next) {
        if (p->revoked)
            continue;
        evf_part_info_t *o = &out[n++];
        memset(o, 0, sizeof(*o));
        snprintf(o->topic, sizeof(o->topic), "%s", p->topic);
        o->partition = p->partition;
        o->queued = p->queued;
        o->paused = p->paused;
        o->committed_next = p->stored;
        o->first_pending = evf_offsets_first_pending(p->offsets);
        o->high_polled = p->high_polled;
        for (evf_lane_t *l = s->waiting; l; l = l->ready_next) {
            if (l->part == p) {
                o->waiting_until = l->wait_until;
                snprintf(o->hold_reason, sizeof(o->hold_reason), "%s", l->hold_reason);
                break;
            }
        }
    }
    pthread_mutex_unlock(&s->lock);
    return n;
}

void evf_lanes_hold_reason(evf_lanes_t *s, evf_item_t *item, const char *reason) {
    pthread_mutex_lock(&s->lock);
    snprintf(item->lane->hold_reason, sizeof(item->lane->hold_reason), "%s", reason);
    pthread_mutex_unlock(&s->lock);
}
