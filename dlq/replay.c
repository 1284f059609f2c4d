/* dlq/replay.c — see replay.h. */
#include "replay.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deadletter.h"
#include "kafka.h"
#include "log.h"
#include "publisher.h"

#define BATCH_MAX 256
#define READ_WAIT_MS 200
#define SEND_QUEUE_WAIT_MS 100
#define INTERRUPT_FLUSH_MS 10000
#define TOPIC_TIMEOUT_MS 30000
#define LEDGER_KEY_MAX (EVF_TOPIC_NAME_MAX + 512)
/* Room for the two replay headers on top of the dead-letter topic's largest message. */
#define REPLAY_HEADROOM 4096

/* INTENT. KEYS: ledger entry [, idempotency record]. ARGV: now, to, count.
 * Returns {ledger state, record outcome}: {'sent'|'purged', ''} when another run finished it
 * first (nothing written); else {'sending', 'absent'|'done'|'not-a-hash'|<state it had>|
 * 'released'}. Everything is checked before the first write. */
static const char intent_src[] =
    "#!lua\n"
    "local now = tonumber(ARGV[1])\n"
    "local st = redis.call('HGET', KEYS[1], 'state')\n"
    "if st == 'sent' or st == 'purged' then return {st, ''} end\n"
    "local rec, clear, release = '', false, false\n"
    "if #KEYS > 1 then\n"
    "  local t = redis.call('TYPE', KEYS[2]).ok\n"
    "  if t == 'none' then rec = 'absent'\n"
    "  elseif t ~= 'hash' then rec = 'not-a-hash'\n"
    "  else\n"
    "    local r = redis.call('HMGET', KEYS[2], 'state', 'lease_until')\n"
    "    if r[1] == 'done' then rec = 'done'\n"
    "    else\n"
    "      clear = true rec = r[1] or ''\n"
    "      if r[1] == 'running' and (tonumber(r[2] or '0') or 0) <= now then\n"
    "        release = true rec = 'released' end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'state', 'sending', 'at', ARGV[1], 'to', ARGV[2],\n"
    "  'count', ARGV[3])\n"
    "if clear then redis.call('HSET', KEYS[2], 'unfinished', 0, 'updated', ARGV[1]) end\n"
    "if release then redis.call('HSET', KEYS[2], 'state', 'released', 'lease_until', 0) end\n"
    "return {'sending', rec}\n";

/* PURGE. KEYS: ledger entry. ARGV: now, count. Returns the state the entry ends in, or had
 * ('sent', 'purged') when it was finished before. */
static const char purge_src[] =
    "#!lua\n"
    "local st = redis.call('HGET', KEYS[1], 'state')\n"
    "if st == 'sent' or st == 'purged' then return st end\n"
    "redis.call('HSET', KEYS[1], 'state', 'purged', 'at', ARGV[1], 'to', '', 'count', ARGV[2])\n"
    "return 'purged'\n";

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ------------------------------------------------------------------------------------------ */
/* Ledger                                                                                       */

int evf_dlq_ledger_key(char *out, size_t out_size, const char *prefix, const char *dlq_topic,
                       int32_t partition, int64_t offset) {
    int n = snprintf(out, out_size, "%s:dlq:%s:%d:%" PRId64, prefix, dlq_topic, partition,
                     offset);
    return n < 0 || (size_t)n >= out_size ? -1 : n;
}

const char *evf_ledger_state_name(evf_ledger_state_t s) {
    switch (s) {
    case EVF_LEDGER_SENDING:
        return "sending";
    case EVF_LEDGER_SENT:
        return "sent";
    case EVF_LEDGER_PURGED:
        return "purged";
    case EVF_LEDGER_UNKNOWN:
        return "unknown";
    default:
        return "";
    }
}

static void entry_clear(evf_ledger_entry_t *e, evf_ledger_state_t state) {
    memset(e, 0, sizeof(*e));
    e->state = state;
    e->at = -1;
    e->count = -1;
}

static int64_t reply_int(const redisReply *r) {
    if (!r || r->type != REDIS_REPLY_STRING || !r->len)
        return -1;
    char *end;
    long long v = strtoll(r->str, &end, 10);
    return *end ? -1 : (int64_t)v;
}

evf_err_t evf_dlq_ledger_read(evf_redis_t *r, const char *prefix, const char *dlq_topic,
                              evf_dlq_letter_t *const *letters, size_t n,
                              evf_ledger_entry_t *out) {
    char key[LEDGER_KEY_MAX];
    size_t appended = 0;
    evf_err_t rc = EVF_OK;

    for (size_t i = 0; i < n; i++)
        entry_clear(&out[i], EVF_LEDGER_UNKNOWN);
    for (size_t i = 0; i < n; i++) {
        evf_dlq_ledger_key(key, sizeof(key), prefix, dlq_topic, letters[i]->partition,
                           letters[i]->offset);
        const char *argv[] = {"HMGET", key, "state", "at", "to", "count"};
        if (evf_redis_append_argv(r, 6, argv, NULL) != EVF_OK) {
            rc = EVF_ERR_TRANSPORT;
            break;
        }
        appended++;
    }
    for (size_t i = 0; i < appended; i++) {
        redisReply *rep = NULL;
        if (evf_redis_get_reply(r, &rep) != EVF_OK || !rep) {
            rc = EVF_ERR_TRANSPORT;
            break;
        }
        if (rc == EVF_OK && rep->type == REDIS_REPLY_ARRAY && rep->elements == 4) {
            evf_ledger_entry_t *e = &out[i];
            const redisReply *s = rep->element[0];
            entry_clear(e, EVF_LEDGER_NONE);
            if (s->type == REDIS_REPLY_STRING) {
                if (!strcmp(s->str, "sending"))
                    e->state = EVF_LEDGER_SENDING;
                else if (!strcmp(s->str, "sent"))
                    e->state = EVF_LEDGER_SENT;
                else if (!strcmp(s->str, "purged"))
                    e->state = EVF_LEDGER_PURGED;
            }
            e->at = reply_int(rep->element[1]);
            if (rep->element[2]->type == REDIS_REPLY_STRING)
                snprintf(e->to, sizeof(e->to), "%s", rep->element[2]->str);
            e->count = reply_int(rep->element[3]);
        } else if (rep->type == REDIS_REPLY_ERROR) {
            EVF_WARN("dlq", "reading the replay ledger: %s", rep->str);
        }
        freeReplyObject(rep);
    }
    if (rc != EVF_OK) {
        while (evf_redis_pending(r) > 0) {
            redisReply *rep = NULL;
            if (evf_redis_get_reply(r, &rep) != EVF_OK)
                break;
            freeReplyObject(rep);
        }
        for (size_t i = 0; i < n; i++)
            entry_clear(&out[i], EVF_LEDGER_UNKNOWN);
    }
    return rc;
}

evf_dlq_status_t evf_dlq_status(const evf_dlq_letter_t *l, const evf_ledger_entry_t *e,
                                int64_t replay_max) {
    if (e) {
        switch (e->state) {
        case EVF_LEDGER_SENT:
            return EVF_DLQ_REPLAYED;
        case EVF_LEDGER_PURGED:
            return EVF_DLQ_PURGED;
        case EVF_LEDGER_SENDING:
            return EVF_DLQ_SENDING;
        case EVF_LEDGER_UNKNOWN:
            return EVF_DLQ_UNKNOWN;
        default:
            break;
        }
    }
    return l->replay_count >= replay_max ? EVF_DLQ_PARKED : EVF_DLQ_PENDING;
}

const char *evf_dlq_status_name(evf_dlq_status_t s) {
    static const char *const names[] = {"pending", "sending", "replayed",
                                        "purged",  "parked",  "unknown"};
    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "unknown";
}

const char *evf_dlq_action_name(evf_dlq_action_t act) {
    static const char *const names[] = {"send",   "resend",  "purge",     "replayed", "purged",
                                        "parked", "refused", "delivered", "failed"};
    return (unsigned)act < sizeof(names) / sizeof(names[0]) ? names[act] : "?";
}

/* ------------------------------------------------------------------------------------------ */
/* Targets                                                                                      */

static int topic_name_ok(const char *t) {
    size_t n = strlen(t);
    if (!n || n > EVF_TOPIC_NAME_MAX || !strcmp(t, ".") || !strcmp(t, ".."))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int evf_dlq_to_parse(const char *arg, evf_dlq_to_t *to, char *topic, size_t topic_size,
                     char *errstr, size_t errstr_size) {
    if (topic_size)
        topic[0] = '\0';
    if (!strcmp(arg, "inbox")) {
        *to = EVF_DLQ_TO_INBOX;
        return 0;
    }
    if (!strcmp(arg, "source")) {
        *to = EVF_DLQ_TO_SOURCE;
        return 0;
    }
    if (!topic_name_ok(arg)) {
        snprintf(errstr, errstr_size,
                 "--to: '%s' is not inbox, source or a valid topic name ([A-Za-z0-9._-], at "
                 "most %d characters)",
                 arg, EVF_TOPIC_NAME_MAX);
        return -1;
    }
    evf_topic_kind_t kind = evf_topic_kind_any(arg);
    if (kind == EVF_TOPIC_DLQ || kind == EVF_TOPIC_RETRY) {
        snprintf(errstr, errstr_size,
                 "--to: '%s' is a %s topic; replays never go to dead-letter or retry topics",
                 arg, kind == EVF_TOPIC_DLQ ? "dead-letter" : "retry");
        return -1;
    }
    if (strlen(arg) + 1 > topic_size) {
        snprintf(errstr, errstr_size, "--to: topic name too long");
        return -1;
    }
    snprintf(topic, topic_size, "%s", arg);
    *to = EVF_DLQ_TO_TOPIC;
    return 0;
}

int evf_dlq_check_group(const char *dlq_topic, const char *group, char *errstr,
                        size_t errstr_size) {
    char why[256];
    if (evf_topics_group_valid(group, 0, 1, why, sizeof(why))) {
        snprintf(errstr, errstr_size, "group '%s': %s", group, why);
        return -1;
    }
    size_t tl = strlen(dlq_topic), gl = strlen(group);
    /* ".<group>.dlq" with at least one character of source topic before it */
    if (tl < gl + 6 || strcmp(dlq_topic + tl - 4, ".dlq") ||
        strncmp(dlq_topic + tl - 4 - gl, group, gl) || dlq_topic[tl - 5 - gl] != '.') {
        snprintf(errstr, errstr_size,
                 "'%s' is not a dead-letter topic of group '%s' (<topic>.%s.dlq); give the "
                 "failing group with -g",
                 dlq_topic, group, group);
        return -1;
    }
    return 0;
}

int evf_dlq_target(evf_dlq_to_t to, const char *to_topic, const char *group,
                   const char *dlq_topic, const evf_dlq_letter_t *l, char *out, size_t out_size,
                   char *why, size_t why_size) {
    char source[EVF_TOPIC_NAME_MAX + 1], g[EVF_TOPIC_NAME_MAX + 1];
    if (to == EVF_DLQ_TO_TOPIC) {
        snprintf(out, out_size, "%s", to_topic);
        return 0;
    }
    if (!strcmp(l->cls, "fingerprint-mismatch")) {
        snprintf(why, why_size,
                 "fingerprint-mismatch: it would mismatch again in its group; purge it or copy "
                 "it to another topic with --to TOPIC");
        return -1;
    }
    if (l->original_topic[0]) {
        snprintf(source, sizeof(source), "%s", l->original_topic);
    } else if (group && *group) {
        size_t strip = strlen(group) + 5; /* ".<group>.dlq" */
        size_t tl = strlen(dlq_topic);
        if (tl <= strip) {
            snprintf(why, why_size, "no %s header", EVF_H_ORIGINAL_TOPIC);
            return -1;
        }
        snprintf(source, sizeof(source), "%.*s", (int)(tl - strip), dlq_topic);
    } else {
        snprintf(why, why_size, "no %s header: give the group with -g", EVF_H_ORIGINAL_TOPIC);
        return -1;
    }
    if (to == EVF_DLQ_TO_SOURCE) {
        snprintf(out, out_size, "%s", source);
        return 0;
    }
    if (group && *group) {
        snprintf(g, sizeof(g), "%s", group);
    } else if (evf_dlq_group_of(dlq_topic, source, g, sizeof(g))) {
        snprintf(why, why_size,
                 "cannot tell the group from '%s' and original topic '%s': give it with -g",
                 dlq_topic, source);
        return -1;
    }
    if (evf_topic_replay(out, out_size, source, g) < 0) {
        snprintf(why, why_size, "the inbox name of '%s' and group '%s' is too long", source, g);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Reading in batches                                                                           */

/* Fill letters[] with up to max letters: stops early when the reader has nothing for a moment
 * and something is collected. *end is set when the reader is at its end. */
static evf_err_t collect(evf_dlq_reader_t *rd, evf_dlq_letter_t **letters, size_t max,
                         size_t *n, int *end, volatile sig_atomic_t *stop, char *errstr,
                         size_t errstr_size) {
    *n = 0;
    *end = 0;
    while (*n < max) {
        evf_dlq_letter_t *l = NULL;
        evf_err_t e = evf_dlq_reader_next(rd, &l, READ_WAIT_MS, errstr, errstr_size);
        if (e == EVF_OK) {
            letters[(*n)++] = l;
        } else if (e == EVF_ERR_NOT_FOUND) {
            *end = 1;
            break;
        } else if (e == EVF_ERR_TIMEOUT) {
            if (*n > 0)
                break;
            if (stop && *stop)
                return EVF_ERR_STATE;
        } else {
            for (size_t i = 0; i < *n; i++)
                evf_dlq_letter_free(letters[i]);
            *n = 0;
            return e;
        }
    }
    return EVF_OK;
}

evf_err_t evf_dlq_scan(evf_dlq_reader_t *rd, evf_redis_t *redis, const char *prefix,
                       const char *dlq_topic, evf_dlq_scan_cb_t *cb, void *opaque,
                       volatile sig_atomic_t *stop, int *ledger_failed, char *errstr,
                       size_t errstr_size) {
    evf_dlq_letter_t *letters[BATCH_MAX];
    evf_ledger_entry_t entries[BATCH_MAX];
    int failed = 0, end = 0, stopped = 0;
    size_t n;
    if (ledger_failed)
        *ledger_failed = 0;
    while (!end && !stopped) {
        if (stop && *stop)
            return EVF_ERR_STATE;
        evf_err_t e = collect(rd, letters, BATCH_MAX, &n, &end, stop, errstr, errstr_size);
        if (e != EVF_OK)
            return e;
        if (redis && !failed && n) {
            if (evf_dlq_ledger_read(redis, prefix, dlq_topic, letters, n, entries) != EVF_OK) {
                failed = 1;
                EVF_WARN("dlq", "cannot read the replay ledger (%s): replay state unknown",
                         evf_redis_last_error(redis));
                if (ledger_failed)
                    *ledger_failed = 1;
            }
        } else {
            for (size_t i = 0; i < n; i++)
                entry_clear(&entries[i], EVF_LEDGER_UNKNOWN);
        }
        for (size_t i = 0; i < n; i++) {
            if (!stopped && cb(opaque, letters[i], &entries[i]))
                stopped = 1;
            evf_dlq_letter_free(letters[i]);
        }
    }
    return EVF_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Replay and purge                                                                             */

typedef struct {
    evf_dlq_letter_t *l;
    evf_ledger_entry_t e;
    evf_dlq_action_t act;
    char target[EVF_TOPIC_NAME_MAX + 1];
    char key[LEDGER_KEY_MAX];
    int64_t count;  /* evfleet.replay.count of the copy */
    int intent_ok;  /* `sending` is written */
    int queued;     /* accepted by the publisher: one delivery report will come */
    int reported;   /* its delivery report came */
    rd_kafka_resp_err_t err;
    int written;    /* `sent` is written */
} slot_t;

typedef struct {
    char name[EVF_TOPIC_NAME_MAX + 1];
    int usable;      /* exists (or was created) */
    int would_create; /* dry run: missing, would be created */
    char why[256];   /* not usable: why */
} target_t;

typedef struct {
    const evf_conf_t *conf;
    const evf_dlq_run_conf_t *rc;
    evf_dlq_run_stats_t *st;
    evf_dlq_reader_t *rd;
    evf_redis_t *redis;
    evf_pub_t *pub;
    slot_t slots[BATCH_MAX];
    size_t n;
    uint64_t inflight;
    target_t *targets;
    size_t n_targets;
    int64_t dlq_max_message_bytes; /* 0: unknown */
    evf_redis_script_t intent_script, purge_script;
    double tokens, burst;
    int64_t last_us;
} run_t;

static void note(run_t *run, const slot_t *s, evf_dlq_action_t act, const char *why) {
    if (run->rc->note)
        run->rc->note(run->rc->opaque, s->l, act, s->target, why ? why : "");
}

static void progress(run_t *run) {
    if (run->rc->progress) {
        evf_dlq_reader_progress(run->rd, &run->st->read, &run->st->total);
        run->rc->progress(run->rc->opaque, run->st);
    }
}

static void note_target(run_t *run, const char *topic) {
    if (!run->st->first_target[0])
        snprintf(run->st->first_target, sizeof(run->st->first_target), "%s", topic);
    else if (strcmp(run->st->first_target, topic))
        run->st->many_targets = 1;
}

/* Delivery reports: on this thread, inside evf_pub_poll/flush/send/destroy. */
static void on_delivery(void *msg_opaque, rd_kafka_resp_err_t err, const char *topic,
                        int32_t partition, int64_t offset, void *opaque) {
    run_t *run = opaque;
    slot_t *s = msg_opaque;
    (void)partition, (void)offset;
    s->reported = 1;
    s->err = err;
    if (run->inflight)
        run->inflight--;
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        run->st->delivered++;
        if (s->l) /* NULL: a report served at shutdown, after its batch was let go */
            note(run, s, EVF_DLQ_ACT_DELIVERED, NULL);
        return;
    }
    run->st->failed++;
    snprintf(run->st->last_error, sizeof(run->st->last_error), "%s: %s", topic,
             rd_kafka_err2str(err));
    if (s->l)
        note(run, s, EVF_DLQ_ACT_FAILED, rd_kafka_err2str(err));
}

/* Run one script per call, pipelined; replies[i] (caller frees) NULL on a transport failure. */
typedef struct {
    int nkeys;
    int argc;
    const char *argv[8];
} eval_call_t;

static evf_err_t eval_batch(evf_redis_t *r, const evf_redis_script_t *s, eval_call_t *calls,
                            size_t n, redisReply **replies) {
    evf_err_t rc = EVF_OK;
    size_t appended = 0;
    char nkeys[8][4];
    for (size_t i = 0; i < n; i++)
        replies[i] = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *argv[12];
        snprintf(nkeys[i % 8], sizeof(nkeys[0]), "%d", calls[i].nkeys);
        argv[0] = "EVALSHA";
        argv[1] = s->sha1;
        argv[2] = nkeys[i % 8];
        for (int k = 0; k < calls[i].argc; k++)
            argv[3 + k] = calls[i].argv[k];
        if (evf_redis_append_argv(r, 3 + calls[i].argc, argv, NULL) != EVF_OK) {
            rc = EVF_ERR_TRANSPORT;
            break;
        }
        appended++;
    }
    for (size_t i = 0; i < appended; i++) {
        if (evf_redis_get_reply(r, &replies[i]) != EVF_OK) {
            rc = EVF_ERR_TRANSPORT;
            break;
        }
    }
    if (rc != EVF_OK) {
        for (size_t i = 0; i < n; i++) {
            if (replies[i])
                freeReplyObject(replies[i]);
            replies[i] = NULL;
        }
        while (evf_redis_pending(r) > 0) {
            redisReply *rep = NULL;
            if (evf_redis_get_reply(r, &rep) != EVF_OK)
                break;
            freeReplyObject(rep);
        }
        return rc;
    }
    /* A script cache flushed under us: run those once more through EVAL's fallback. */
    for (size_t i = 0; i < n; i++) {
        if (replies[i]->type == REDIS_REPLY_ERROR && !strncmp(replies[i]->str, "NOSCRIPT", 8)) {
            freeReplyObject(replies[i]);
            replies[i] = evf_redis_eval(r, s, calls[i].nkeys, calls[i].argc, calls[i].argv, NULL);
            if (!replies[i]) {
                for (size_t k = 0; k < n; k++)
                    if (replies[k])
                        freeReplyObject(replies[k]);
                return EVF_ERR_TRANSPORT;
            }
        }
    }
    return EVF_OK;
}

/* Write `sent` for every delivered copy not written yet (one round trip). */
static evf_err_t write_confirmed(run_t *run, char *errstr, size_t errstr_size) {
    char at[24], count[24];
    size_t appended = 0;
    slot_t *who[BATCH_MAX];
    snprintf(at, sizeof(at), "%" PRId64, wall_ms());
    for (size_t i = 0; i < run->n; i++) {
        slot_t *s = &run->slots[i];
        if (!s->reported || s->err || s->written)
            continue;
        snprintf(count, sizeof(count), "%" PRId64, s->count);
        const char *argv[] = {"HSET", s->key, "state", "sent", "at",    at,
                              "to",   s->target, "count", count};
        if (evf_redis_append_argv(run->redis, 10, argv, NULL) != EVF_OK)
            goto fail;
        who[appended++] = s;
    }
    for (size_t i = 0; i < appended; i++) {
        redisReply *rep = NULL;
        if (evf_redis_get_reply(run->redis, &rep) != EVF_OK || !rep)
            goto fail;
        if (rep->type == REDIS_REPLY_ERROR) {
            snprintf(errstr, errstr_size, "writing the replay ledger (%s): %s", who[i]->key,
                     rep->str);
            freeReplyObject(rep);
            goto drain;
        }
        who[i]->written = 1;
        freeReplyObject(rep);
    }
    return EVF_OK;
fail:
    snprintf(errstr, errstr_size, "writing the replay ledger: %s",
             evf_redis_last_error(run->redis));
drain:
    while (evf_redis_pending(run->redis) > 0) {
        redisReply *rep = NULL;
        if (evf_redis_get_reply(run->redis, &rep) != EVF_OK)
            break;
        freeReplyObject(rep);
    }
    return EVF_ERR_TRANSPORT;
}

static int64_t topic_max_message_bytes(rd_kafka_t *rk, const char *topic) {
    char val[64], err[256];
    if (evf_kafka_topic_config(rk, topic, "max.message.bytes", val, sizeof(val), TOPIC_TIMEOUT_MS,
                               err, sizeof(err))) {
        EVF_WARN("dlq", "cannot read max.message.bytes of %s: %s", topic, err);
        return 0;
    }
    return strtoll(val, NULL, 10);
}

/* Look a target topic up once: usable, refused (why), or (dry run) would be created. A missing
 * inbox or named topic is created, with the source's partition count for an inbox. @returns 0,
 * or -1 with errstr when Kafka failed (the run stops). */
static int target_lookup(run_t *run, const slot_t *s, target_t **out, char *errstr,
                         size_t errstr_size) {
    const evf_dlq_run_conf_t *rc = run->rc;
    for (size_t i = 0; i < run->n_targets; i++) {
        if (!strcmp(run->targets[i].name, s->target)) {
            *out = &run->targets[i];
            return 0;
        }
    }
    run->targets = realloc(run->targets, (run->n_targets + 1) * sizeof(*run->targets));
    if (!run->targets)
        abort();
    target_t *t = &run->targets[run->n_targets++];
    memset(t, 0, sizeof(*t));
    snprintf(t->name, sizeof(t->name), "%s", s->target);
    *out = t;

    rd_kafka_t *rk = run->pub ? evf_pub_handle(run->pub) : evf_dlq_reader_handle(run->rd);
    char err[512];
    int parts = evf_kafka_partition_count(rk, t->name, TOPIC_TIMEOUT_MS, err, sizeof(err));
    if (parts < 0) {
        snprintf(errstr, errstr_size, "looking up topic '%s': %s", t->name, err);
        return -1;
    }
    if (parts > 0) {
        t->usable = 1;
        return 0;
    }
    /* A resend goes where the first send went, whatever kind of topic that was. */
    int is_source = s->act != EVF_DLQ_ACT_RESEND && rc->to == EVF_DLQ_TO_SOURCE;
    if (is_source) {
        snprintf(t->why, sizeof(t->why), "source topic '%s' does not exist", t->name);
        return 0;
    }
    if (rc->dry_run) {
        t->usable = 1;
        t->would_create = 1;
        return 0;
    }
    int want = (int)evf_conf_int(run->conf, "topics.partitions");
    if (s->l->original_topic[0]) {
        int sp = evf_kafka_partition_count(rk, s->l->original_topic, TOPIC_TIMEOUT_MS, err,
                                           sizeof(err));
        if (sp > 0 && evf_topic_kind_any(t->name) == EVF_TOPIC_REPLAY)
            want = sp;
    }
    evf_topic_spec_t spec = {
        .name = t->name,
        .partitions = want,
        .replication_factor = (int)evf_conf_int(run->conf, "topics.replication.factor"),
        .max_message_bytes = run->dlq_max_message_bytes,
        .retention_ms = 0,
    };
    if (evf_kafka_ensure_topics(rk, &spec, 1, TOPIC_TIMEOUT_MS, err, sizeof(err))) {
        snprintf(errstr, errstr_size, "creating topic '%s': %s", t->name, err);
        return -1;
    }
    t->usable = 1;
    return 0;
}

/* Decide what to do with each slot of the batch (no writes). */
static void decide(run_t *run, uint64_t *planned) {
    const evf_dlq_run_conf_t *rc = run->rc;
    for (size_t i = 0; i < run->n; i++) {
        slot_t *s = &run->slots[i];
        char why[512] = "";
        run->st->selected++;
        evf_dlq_ledger_key(s->key, sizeof(s->key), rc->prefix, rc->dlq_topic, s->l->partition,
                           s->l->offset);
        if (s->e.state == EVF_LEDGER_SENT) {
            s->act = EVF_DLQ_ACT_SKIP_SENT;
            snprintf(s->target, sizeof(s->target), "%s", s->e.to);
            run->st->already++;
        } else if (s->e.state == EVF_LEDGER_PURGED) {
            s->act = EVF_DLQ_ACT_SKIP_PURGED;
            run->st->purged_before++;
        } else if (rc->purge) {
            s->act = EVF_DLQ_ACT_PURGE;
            s->count = s->l->replay_count;
        } else if (s->e.state == EVF_LEDGER_SENDING && s->e.to[0]) {
            s->act = EVF_DLQ_ACT_RESEND;
            snprintf(s->target, sizeof(s->target), "%s", s->e.to);
            s->count = s->e.count > 0 ? s->e.count : s->l->replay_count + 1;
        } else if (s->l->replay_count >= rc->replay_max) {
            s->act = EVF_DLQ_ACT_PARKED;
            snprintf(why, sizeof(why), "replayed %" PRId64 " times (dlq.replay.max %" PRId64 ")",
                     s->l->replay_count, rc->replay_max);
            run->st->parked++;
        } else if (evf_dlq_target(rc->to, rc->to_topic, rc->group, rc->dlq_topic, s->l,
                                  s->target, sizeof(s->target), why, sizeof(why))) {
            s->act = EVF_DLQ_ACT_REFUSED;
            run->st->refused++;
        } else {
            s->act = EVF_DLQ_ACT_SEND;
            s->count = s->l->replay_count + 1;
        }
        int acts = s->act == EVF_DLQ_ACT_SEND || s->act == EVF_DLQ_ACT_RESEND ||
                   s->act == EVF_DLQ_ACT_PURGE;
        if (acts && rc->limit && *planned >= rc->limit) {
            /* Past the limit: left untouched for a later run. */
            run->st->selected--;
            run->st->limit_reached = 1;
            run->n = i;
            return;
        }
        if (acts)
            (*planned)++;
        if (!acts)
            note(run, s, s->act, why);
    }
}

/* Wait for a send token (rate limiting), serving delivery reports meanwhile. @returns 0, or -1
 * when stopped. */
static int rate_wait(run_t *run, char *errstr, size_t errstr_size, evf_err_t *werr) {
    double rate = run->rc->rate;
    if (rate <= 0)
        return 0;
    for (;;) {
        int64_t now = mono_us();
        run->tokens += (double)(now - run->last_us) * rate / 1e6;
        if (run->tokens > run->burst)
            run->tokens = run->burst;
        run->last_us = now;
        if (run->tokens >= 1.0) {
            run->tokens -= 1.0;
            return 0;
        }
        if (run->rc->stop && *run->rc->stop)
            return -1;
        double wait_us = (1.0 - run->tokens) * 1e6 / rate;
        if (wait_us > 100000)
            wait_us = 100000;
        if (run->pub)
            evf_pub_poll(run->pub, 0);
        if (write_confirmed(run, errstr, errstr_size) != EVF_OK) {
            *werr = EVF_ERR_TRANSPORT;
            return -1;
        }
        progress(run);
        struct timespec ts = {0, (long)(wait_us * 1000.0)};
        nanosleep(&ts, NULL);
    }
}

/* Withdraw the intents of copies that were never queued (an interrupted batch), so their letters
 * read as pending again; an intent that was there before (a resend) stays. */
static void withdraw_unsent(run_t *run) {
    for (size_t i = 0; i < run->n; i++) {
        slot_t *s = &run->slots[i];
        if (!s->intent_ok || s->queued || s->e.state == EVF_LEDGER_SENDING)
            continue;
        redisReply *rep = evf_redis_cmd(run->redis, "DEL %s", s->key);
        if (rep)
            freeReplyObject(rep);
    }
}

static evf_err_t run_purge_batch(run_t *run, char *errstr, size_t errstr_size) {
    eval_call_t calls[BATCH_MAX];
    redisReply *replies[BATCH_MAX];
    slot_t *who[BATCH_MAX];
    char at[24], counts[BATCH_MAX][24];
    size_t n = 0;
    snprintf(at, sizeof(at), "%" PRId64, wall_ms());
    for (size_t i = 0; i < run->n; i++) {
        slot_t *s = &run->slots[i];
        if (s->act != EVF_DLQ_ACT_PURGE)
            continue;
        if (run->rc->dry_run) {
            run->st->purged++;
            note(run, s, EVF_DLQ_ACT_PURGE, NULL);
            continue;
        }
        snprintf(counts[n], sizeof(counts[n]), "%" PRId64, s->count);
        calls[n] = (eval_call_t){.nkeys = 1, .argc = 3, .argv = {s->key, at, counts[n]}};
        who[n++] = s;
    }
    if (!n)
        return EVF_OK;
    if (eval_batch(run->redis, &run->purge_script, calls, n, replies) != EVF_OK) {
        snprintf(errstr, errstr_size, "writing the replay ledger: %s",
                 evf_redis_last_error(run->redis));
        return EVF_ERR_TRANSPORT;
    }
    evf_err_t rc = EVF_OK;
    for (size_t i = 0; i < n; i++) {
        redisReply *rep = replies[i];
        if (rep->type == REDIS_REPLY_STRING && !strcmp(rep->str, "purged")) {
            run->st->purged++;
            note(run, who[i], EVF_DLQ_ACT_PURGE, NULL);
        } else if (rep->type == REDIS_REPLY_STRING && !strcmp(rep->str, "sent")) {
            run->st->already++;
            note(run, who[i], EVF_DLQ_ACT_SKIP_SENT, "replayed meanwhile by another run");
        } else if (rep->type == REDIS_REPLY_ERROR) {
            snprintf(errstr, errstr_size, "writing the replay ledger (%s): %s", who[i]->key,
                     rep->str);
            rc = EVF_ERR_TRANSPORT;
        }
        freeReplyObject(rep);
    }
    return rc;
}

static evf_err_t run_replay_batch(run_t *run, int *interrupted, char *errstr,
                                  size_t errstr_size) {
    const evf_dlq_run_conf_t *rc = run->rc;
    eval_call_t calls[BATCH_MAX];
    redisReply *replies[BATCH_MAX];
    slot_t *who[BATCH_MAX];
    char at[24], counts[BATCH_MAX][24];
    size_t n = 0;
    evf_err_t err = EVF_OK;

    /* Targets: look each up once; refuse letters whose target cannot take them. */
    for (size_t i = 0; i < run->n; i++) {
        slot_t *s = &run->slots[i];
        if (s->act != EVF_DLQ_ACT_SEND && s->act != EVF_DLQ_ACT_RESEND)
            continue;
        target_t *t;
        if (target_lookup(run, s, &t, errstr, errstr_size))
            return EVF_ERR_TRANSPORT;
        if (!t->usable) {
            s->act = EVF_DLQ_ACT_REFUSED;
            run->st->refused++;
            note(run, s, EVF_DLQ_ACT_REFUSED, t->why);
            continue;
        }
        if (rc->dry_run) {
            char why[300] = "";
            if (s->act == EVF_DLQ_ACT_RESEND)
                snprintf(why, sizeof(why), "an earlier send was not confirmed");
            if (t->would_create)
                snprintf(why + strlen(why), sizeof(why) - strlen(why), "%stopic %s would be created",
                         why[0] ? "; " : "", t->name);
            run->st->sent++;
            if (s->act == EVF_DLQ_ACT_RESEND)
                run->st->resent++;
            note_target(run, s->target);
            note(run, s, s->act, why);
        }
    }
    if (rc->dry_run)
        return EVF_OK;

    /* Intents, with the records cleared, in one round trip. */
    snprintf(at, sizeof(at), "%" PRId64, wall_ms());
    for (size_t i = 0; i < run->n; i++) {
        slot_t *s = &run->slots[i];
        if (s->act != EVF_DLQ_ACT_SEND && s->act != EVF_DLQ_ACT_RESEND)
            continue;
        snprintf(counts[n], sizeof(counts[n]), "%" PRId64, s->count);
        if (s->l->idempotency_key[0])
            calls[n] = (eval_call_t){.nkeys = 2,
                                     .argc = 5,
                                     .argv = {s->key, s->l->idempotency_key, at, s->target,
                                              counts[n]}};
        else
            calls[n] = (eval_call_t){
                .nkeys = 1, .argc = 4, .argv = {s->key, at, s->target, counts[n]}};
        who[n++] = s;
    }
    if (!n)
        return EVF_OK;
    if (eval_batch(run->redis, &run->intent_script, calls, n, replies) != EVF_OK) {
        snprintf(errstr, errstr_size, "writing the replay ledger: %s",
                 evf_redis_last_error(run->redis));
        return EVF_ERR_TRANSPORT;
    }
    for (size_t i = 0; i < n; i++) {
        redisReply *rep = replies[i];
        slot_t *s = who[i];
        if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
            rep->element[0]->type == REDIS_REPLY_STRING) {
            const char *state = rep->element[0]->str;
            if (!strcmp(state, "sending")) {
                s->intent_ok = 1;
                const char *rec = rep->element[1]->type == REDIS_REPLY_STRING
                                      ? rep->element[1]->str
                                      : "";
                if (!strcmp(rec, "not-a-hash"))
                    EVF_WARN("dlq", "%s: the idempotency record key %s is not a hash; left alone",
                             s->l->id, s->l->idempotency_key);
                else if (!strcmp(rec, "released"))
                    EVF_INFO("dlq", "%s: released the expired lease of record %s", s->l->id,
                             s->l->idempotency_key);
            } else if (!strcmp(state, "sent")) {
                run->st->already++;
                note(run, s, EVF_DLQ_ACT_SKIP_SENT, "replayed meanwhile by another run");
            } else {
                run->st->purged_before++;
                note(run, s, EVF_DLQ_ACT_SKIP_PURGED, "purged meanwhile by another run");
            }
        } else {
            run->st->failed++;
            snprintf(run->st->last_error, sizeof(run->st->last_error), "ledger %s: %s", s->key,
                     rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
            note(run, s, EVF_DLQ_ACT_FAILED, run->st->last_error);
        }
        freeReplyObject(rep);
    }

    /* The copies, paced. */
    for (size_t i = 0; i < run->n && err == EVF_OK; i++) {
        slot_t *s = &run->slots[i];
        char why[512];
        if (!s->intent_ok)
            continue;
        if ((rc->stop && *rc->stop) || rate_wait(run, errstr, errstr_size, &err)) {
            *interrupted = err == EVF_OK;
            break;
        }
        int64_t now = wall_ms();
        for (;;) {
            rd_kafka_headers_t *h = evf_dlq_replay_headers(s->l->msg, s->count, now);
            evf_err_t e = evf_pub_send(run->pub, s->target, RD_KAFKA_PARTITION_UA, s->l->msg->key,
                                       s->l->msg->key_len, s->l->msg->payload, s->l->msg->len, h,
                                       s, SEND_QUEUE_WAIT_MS, why, sizeof(why));
            if (e == EVF_OK) {
                s->queued = 1;
                run->inflight++;
                run->st->sent++;
                if (s->act == EVF_DLQ_ACT_RESEND)
                    run->st->resent++;
                note_target(run, s->target);
                note(run, s, s->act, NULL);
                break;
            }
            if (e == EVF_ERR_FULL && !(rc->stop && *rc->stop))
                continue;
            if (e == EVF_ERR_FULL) {
                *interrupted = 1;
                break;
            }
            if (e == EVF_ERR_TRANSPORT) {
                /* The producer cannot go on (fatal error): every later send would fail too. The
                 * intent stays `sending`; a rerun sends the copy. */
                snprintf(errstr, errstr_size, "sending to %s: %s", s->target, why);
                err = EVF_ERR_TRANSPORT;
                break;
            }
            /* Refused (too large, say): no delivery report will come; the intent stays, a
             * rerun tries again. */
            s->reported = 1;
            s->err = RD_KAFKA_RESP_ERR__FAIL;
            run->st->failed++;
            snprintf(run->st->last_error, sizeof(run->st->last_error), "%s: %s", s->target, why);
            note(run, s, EVF_DLQ_ACT_FAILED, why);
            break;
        }
        if (*interrupted || err != EVF_OK)
            break;
        evf_pub_poll(run->pub, 0);
        if (write_confirmed(run, errstr, errstr_size) != EVF_OK)
            err = EVF_ERR_TRANSPORT;
        progress(run);
    }
    if (*interrupted || err != EVF_OK)
        withdraw_unsent(run);

    /* Wait for every delivery report of the batch, writing `sent` as they come. Interrupted:
     * for at most INTERRUPT_FLUSH_MS, or not at all after a second signal. */
    int64_t deadline = 0;
    while (run->inflight > 0) {
        if (rc->stop && *rc->stop) {
            int64_t now = mono_us() / 1000;
            if (!deadline)
                deadline = now + INTERRUPT_FLUSH_MS;
            if (*rc->stop > 1 || now >= deadline)
                break;
            *interrupted = 1;
        }
        evf_pub_flush(run->pub, 100);
        if (err == EVF_OK && write_confirmed(run, errstr, errstr_size) != EVF_OK)
            err = EVF_ERR_TRANSPORT;
        progress(run);
    }
    if (err == EVF_OK && write_confirmed(run, errstr, errstr_size) != EVF_OK)
        err = EVF_ERR_TRANSPORT;
    return err;
}

evf_err_t evf_dlq_run(const evf_conf_t *conf, evf_dlq_reader_t *rd, evf_redis_t *redis,
                      const evf_dlq_run_conf_t *rc, evf_dlq_run_stats_t *st, char *errstr,
                      size_t errstr_size) {
    run_t *run = calloc(1, sizeof(*run));
    evf_dlq_letter_t *letters[BATCH_MAX];
    evf_ledger_entry_t entries[BATCH_MAX];
    evf_err_t err = EVF_OK;
    int end = 0, interrupted = 0;
    uint64_t planned = 0;
    if (!run)
        abort();
    memset(st, 0, sizeof(*st));
    run->conf = conf;
    run->rc = rc;
    run->st = st;
    run->rd = rd;
    run->redis = redis;
    evf_redis_script_init(&run->intent_script, intent_src);
    evf_redis_script_init(&run->purge_script, purge_src);
    run->burst = rc->rate > 0 ? (rc->rate / 20.0 > 1.0 ? rc->rate / 20.0 : 1.0) : 0;
    run->tokens = 1.0;
    run->last_us = mono_us();

    size_t batch_max = BATCH_MAX;
    if (rc->rate > 0 && rc->rate < BATCH_MAX)
        batch_max = rc->rate < 1 ? 1 : (size_t)rc->rate;

    if (!rc->dry_run && !rc->purge) {
        run->dlq_max_message_bytes =
            topic_max_message_bytes(evf_dlq_reader_handle(rd), rc->dlq_topic);
        evf_pub_opts_t popts = {
            .client_id = "evfleet-dlq",
            .dr_cb = on_delivery,
            .dr_opaque = run,
            .message_max_bytes =
                run->dlq_max_message_bytes > 0
                    ? (run->dlq_max_message_bytes > 1000000 ? run->dlq_max_message_bytes
                                                            : 1000000) +
                          REPLAY_HEADROOM
                    : 0,
            .create_topics = 0,
        };
        run->pub = evf_pub_new(conf, &popts, errstr, errstr_size);
        if (!run->pub) {
            free(run);
            return EVF_ERR_TRANSPORT;
        }
    }

    while (!end && err == EVF_OK && !interrupted && !st->limit_reached) {
        if (rc->stop && *rc->stop) {
            interrupted = 1;
            break;
        }
        size_t n = 0;
        evf_err_t e = collect(rd, letters, batch_max, &n, &end, rc->stop, errstr, errstr_size);
        if (e == EVF_ERR_STATE) {
            interrupted = 1;
            break;
        }
        if (e != EVF_OK) {
            err = e;
            break;
        }
        if (!n)
            continue;
        if (evf_dlq_ledger_read(redis, rc->prefix, rc->dlq_topic, letters, n, entries) !=
            EVF_OK) {
            snprintf(errstr, errstr_size, "reading the replay ledger: %s",
                     evf_redis_last_error(redis));
            for (size_t i = 0; i < n; i++)
                evf_dlq_letter_free(letters[i]);
            err = EVF_ERR_TRANSPORT;
            break;
        }
        memset(run->slots, 0, sizeof(run->slots[0]) * n);
        for (size_t i = 0; i < n; i++) {
            run->slots[i].l = letters[i];
            run->slots[i].e = entries[i];
            run->slots[i].act = EVF_DLQ_ACT_SEND;
        }
        run->n = n;
        decide(run, &planned);
        if (rc->purge)
            err = run_purge_batch(run, errstr, errstr_size);
        else
            err = run_replay_batch(run, &interrupted, errstr, errstr_size);
        for (size_t i = 0; i < n; i++) {
            evf_dlq_letter_free(letters[i]);
            run->slots[i].l = NULL;
        }
        run->n = 0;
        progress(run);
    }

    if (run->pub) {
        /* Whatever is still in flight (a second signal) is purged: its reports count it failed,
         * and its ledger entry stays `sending` for the next run. */
        run->n = 0;
        evf_pub_destroy(run->pub, 0);
        run->pub = NULL;
    }
    evf_dlq_reader_progress(rd, &st->read, &st->total);
    free(run->targets);
    free(run);
    if (err != EVF_OK)
        return err;
    return interrupted ? EVF_ERR_STATE : EVF_OK;
}
