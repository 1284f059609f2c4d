/* consumer/idem.c — see idem.h. Three small scripts and a pipelined HSET per processor call;
 * every record write checks the token first. */
#include "idem.h"

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "backoff.h"
#include "log.h"
#include "sha256.h"

#define KEY_SOURCE_MAX 8

struct evf_idem_s {
    evf_idem_conf_t conf;
    char *prefix, *group, *owner;
    char *run_prefix; /* `<prefix>:<group>:running:` */
    char *run_self;   /* run_prefix + owner + ':' + incarnation: this process's running hash */
    char incarnation[17]; /* 16 hex digits, random per process: the head of every token */
    char *fields[KEY_SOURCE_MAX];
    size_t nfields;
    int by_id;
};

/* ACQUIRE. KEYS: records. ARGV: now, lease ms, ttl ms, owner, crash max, running-hash prefix
 * (`<prefix>:<group>:running:`), this thread's running hash and field, then token and fp per key.
 * Returns per key {status, lease_until, unfinished}.
 * A running hash belongs to one process: `<prefix>:<group>:running:<owner>:<incarnation>`, the
 * incarnation being the first 16 hex digits of every token that process hands out (so a worker
 * restarted with the same worker.id is another incarnation). Taking over a `running` record whose
 * token is still the value of a field in its holder's running hash counts that call in
 * `unfinished` (a thread was in it when the holder died or stalled) and removes the field, so the
 * call is counted once. Our own process's pointers are never counted: we are alive, and no thread
 * of ours is in a call for a record we are acquiring. Finally this thread's field is cleared and
 * the hash's TTL refreshed, so the hash exists with its TTL before the first call's pointer is
 * written and never outlives the records. */
static const char acquire_src[] =
    "#!lua\n"
    "local now = tonumber(ARGV[1]) local lease = tonumber(ARGV[2]) local ttl = ARGV[3]\n"
    "local owner = ARGV[4] local cmax = tonumber(ARGV[5]) local runpfx = ARGV[6]\n"
    "local out = {} local taken = {}\n"
    "for i = 1, #KEYS do\n"
    "  local k = KEYS[i] local token = ARGV[7 + 2 * i] local fp = ARGV[8 + 2 * i]\n"
    "  local st = redis.call('HMGET', k, 'state', 'owner', 'lease_until', 'unfinished', 'fp',\n"
    "    'token')\n"
    "  local state = st[1] local lu = tonumber(st[3] or '0') or 0\n"
    "  local unf = tonumber(st[4] or '0') or 0\n"
    "  if state == 'done' then\n"
    "    if fp ~= '' and st[5] and st[5] ~= '' and st[5] ~= fp then\n"
    "      out[i] = {'mismatch', 0, unf}\n"
    "    else out[i] = {'duplicate', 0, unf} end\n"
    "  elseif state == 'running' and lu > now and (st[2] ~= owner or taken[k]) then\n"
    "    out[i] = {'busy', lu, unf}\n"
    "  else\n"
    "    local counted = false\n"
    "    local rk = st[2] and st[6] and (runpfx .. st[2] .. ':' .. string.sub(st[6], 1, 16))\n"
    "    if state == 'running' and rk and rk ~= ARGV[7] then\n"
    "      local h = redis.call('HGETALL', rk)\n"
    "      for j = 1, #h, 2 do\n"
    "        if h[j + 1] == st[6] then\n"
    "          redis.call('HDEL', rk, h[j]) unf = unf + 1 counted = true break\n"
    "        end\n"
    "      end\n"
    "    end\n"
    "    if unf >= cmax then\n"
    "      if counted then\n"
    "        redis.call('HSET', k, 'unfinished', unf, 'updated', now)\n"
    "        redis.call('PEXPIRE', k, ttl)\n"
    "      end\n"
    "      out[i] = {'crashloop', 0, unf}\n"
    "    else\n"
    "      redis.call('HSET', k, 'state', 'running', 'owner', owner, 'token', token,\n"
    "        'lease_until', now + lease, 'unfinished', unf, 'fp', fp, 'updated', now)\n"
    "      redis.call('PEXPIRE', k, ttl)\n"
    "      taken[k] = true\n"
    "      out[i] = {'acquired', now + lease, unf}\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if ARGV[7] ~= '' then\n"
    "  redis.call('HSET', ARGV[7], ARGV[8], '')\n"
    "  redis.call('PEXPIRE', ARGV[7], ttl)\n"
    "end\n"
    "return out\n";

/* RENEW. KEYS: records. ARGV: now, lease ms, ttl ms, then a token per key. Returns per key the
 * new lease_until, or 0 where the token no longer holds. */
static const char renew_src[] =
    "#!lua\n"
    "local now = tonumber(ARGV[1]) local until_ = now + tonumber(ARGV[2])\n"
    "local out = {}\n"
    "for i = 1, #KEYS do\n"
    "  local k = KEYS[i]\n"
    "  local st = redis.call('HMGET', k, 'token', 'state')\n"
    "  if st[1] == ARGV[3 + i] and st[2] == 'running' then\n"
    "    redis.call('HSET', k, 'lease_until', until_, 'updated', now)\n"
    "    redis.call('PEXPIRE', k, ARGV[3])\n"
    "    out[i] = until_\n"
    "  else out[i] = 0 end\n"
    "end\n"
    "return out\n";

/* RELEASE. KEYS: records. ARGV: now, ttl, then a token per key. */
static const char release_src[] =
    "#!lua\n"
    "local out = {}\n"
    "for i = 1, #KEYS do\n"
    "  local k = KEYS[i]\n"
    "  if redis.call('HGET', k, 'token') == ARGV[2 + i] then\n"
    "    redis.call('HSET', k, 'state', 'released', 'lease_until', 0, 'updated', ARGV[1])\n"
    "    redis.call('PEXPIRE', k, ARGV[2])\n"
    "    out[i] = 1\n"
    "  else out[i] = 0 end\n"
    "end\n"
    "return out\n";

static evf_redis_script_t acquire_script, renew_script, release_script;
static pthread_once_t scripts_once = PTHREAD_ONCE_INIT;

static void scripts_init(void) {
    evf_redis_script_init(&acquire_script, acquire_src);
    evf_redis_script_init(&renew_script, renew_src);
    evf_redis_script_init(&release_script, release_src);
}

static int64_t now_ms(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static char *xstrdup(const char *s) {
    char *d = strdup(s ? s : "");
    if (!d)
        abort();
    return d;
}

evf_idem_t *evf_idem_new(const evf_idem_conf_t *conf, char *errstr, size_t errstr_size) {
    evf_idem_t *idem = calloc(1, sizeof(*idem));
    if (!idem)
        abort();
    idem->conf = *conf;
    idem->prefix = xstrdup(conf->prefix);
    idem->group = xstrdup(conf->group);
    idem->owner = xstrdup(conf->owner);
    uint64_t seed = evf_rand_seed();
    snprintf(idem->incarnation, sizeof(idem->incarnation), "%016llx",
             (unsigned long long)evf_rand_next(&seed));
    size_t rn = strlen(idem->prefix) + strlen(idem->group) + strlen(idem->owner) + 40;
    idem->run_prefix = malloc(rn);
    idem->run_self = malloc(rn);
    if (!idem->run_prefix || !idem->run_self)
        abort();
    snprintf(idem->run_prefix, rn, "%s:%s:running:", idem->prefix, idem->group);
    snprintf(idem->run_self, rn, "%s%s:%s", idem->run_prefix, idem->owner, idem->incarnation);
    pthread_once(&scripts_once, scripts_init);

    char *src = xstrdup(conf->key_source ? conf->key_source : "id");
    char *save = NULL;
    for (char *tok = strtok_r(src, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        size_t len = strlen(tok);
        while (len && tok[len - 1] == ' ')
            tok[--len] = '\0';
        if (!len)
            continue;
        if (idem->nfields == KEY_SOURCE_MAX) {
            snprintf(errstr, errstr_size, "idempotency.key.source: at most %d fields",
                     KEY_SOURCE_MAX);
            goto fail;
        }
        if (!evf_event_field_valid(tok)) {
            snprintf(errstr, errstr_size, "idempotency.key.source: unknown event field '%s'",
                     tok);
            goto fail;
        }
        idem->fields[idem->nfields++] = xstrdup(tok);
    }
    idem->by_id = idem->nfields == 0 || (idem->nfields == 1 && !strcmp(idem->fields[0], "id"));
    free(src);
    return idem;
fail:
    free(src);
    evf_idem_destroy(idem);
    return NULL;
}

void evf_idem_destroy(evf_idem_t *idem) {
    if (!idem)
        return;
    for (size_t i = 0; i < idem->nfields; i++)
        free(idem->fields[i]);
    free(idem->prefix);
    free(idem->group);
    free(idem->owner);
    free(idem->run_prefix);
    free(idem->run_self);
    free(idem);
}

int evf_idem_record_key(const evf_idem_t *idem, const evf_event_t *ev, char *out,
                        size_t out_size) {
    /* The key part: the event id, or the fields joined with '|' (a '|' or '\' inside a value is
     * escaped with '\', so two different field tuples never join to the same text). A part too
     * long for the record key is replaced by its SHA-256, so it is never cut. */
    size_t cap = 1024, len = 0;
    char *part = malloc(cap);
    int rc = 0;
    if (!part)
        abort();
    part[0] = '\0';
    if (idem->by_id) {
        size_t n = strlen(ev->id);
        if (n + 1 > cap) {
            cap = n + 1;
            part = realloc(part, cap);
            if (!part)
                abort();
        }
        memcpy(part, ev->id, n + 1);
        len = n;
    } else {
        static __thread char val[65536];
        for (size_t i = 0; i < idem->nfields; i++) {
            if (evf_event_field(ev, idem->fields[i], val, sizeof(val)) != 0) {
                /* absent or too long to read: fall back to the event id */
                len = strlen(ev->id);
                if (len + 1 > cap) {
                    cap = len + 1;
                    part = realloc(part, cap);
                    if (!part)
                        abort();
                }
                memcpy(part, ev->id, len + 1);
                rc = -1;
                break;
            }
            size_t vn = strlen(val);
            if (len + 2 * vn + 2 > cap) {
                while (len + 2 * vn + 2 > cap)
                    cap *= 2;
                part = realloc(part, cap);
                if (!part)
                    abort();
            }
            if (i)
                part[len++] = '|';
            for (size_t k = 0; k < vn; k++) {
                if (val[k] == '|' || val[k] == '\\')
                    part[len++] = '\\';
                part[len++] = val[k];
            }
            part[len] = '\0';
        }
    }
    /* A literal part starting with '#' or '\\' gets a '\\' in front: it never equals a hashed one;
     * so does one starting with "running:", which would name a running hash. */
    if (len && (part[0] == '#' || part[0] == '\\' || !strncmp(part, "running:", 8))) {
        if (len + 2 > cap) {
            cap = len + 2;
            part = realloc(part, cap);
            if (!part)
                abort();
        }
        memmove(part + 1, part, len + 1);
        part[0] = '\\';
        len++;
    }
    int head = snprintf(out, out_size, "%s:%s:", idem->prefix, idem->group);
    if (head < 0)
        head = 0;
    if ((size_t)head + len + 1 <= out_size) {
        memcpy(out + head, part, len + 1);
    } else {
        uint8_t d[EVF_SHA256_DIGEST_LEN];
        char hex[2 * EVF_SHA256_DIGEST_LEN + 1];
        evf_sha256(part, len, d);
        for (size_t i = 0; i < EVF_SHA256_DIGEST_LEN; i++)
            snprintf(hex + 2 * i, 3, "%02x", d[i]);
        snprintf(out + head, out_size > (size_t)head ? out_size - (size_t)head : 0, "#sha256:%s",
                 hex);
    }
    free(part);
    return rc;
}

/* The numbers the scripts take, as text: now, the lease and the TTL (ms). */
typedef struct {
    char now[24], lease[24], ttl[24];
} idem_nums_t;

static void idem_nums(const evf_idem_t *idem, idem_nums_t *n) {
    snprintf(n->now, sizeof(n->now), "%" PRId64, now_ms());
    snprintf(n->lease, sizeof(n->lease), "%" PRId64, idem->conf.lease_ms);
    snprintf(n->ttl, sizeof(n->ttl), "%" PRId64, idem->conf.ttl_ms);
}

/* A token: this process's incarnation, then 64 random bits, as 32 hex digits. */
static void new_token(const evf_idem_t *idem, char out[33]) {
    static __thread uint64_t rng;
    if (!rng)
        rng = evf_rand_seed();
    snprintf(out, 33, "%s%016llx", idem->incarnation, (unsigned long long)evf_rand_next(&rng));
}

evf_err_t evf_idem_acquire_batch(evf_idem_t *idem, evf_redis_t *r, int thread,
                                 evf_idem_req_t *reqs, size_t n) {
    size_t argc = n + 8 + 2 * n;
    const char **argv = malloc(argc * sizeof(*argv));
    idem_nums_t nums;
    char cmaxbuf[16], thbuf[16];
    evf_err_t err = EVF_OK;
    if (!argv)
        abort();
    idem_nums(idem, &nums);
    snprintf(cmaxbuf, sizeof(cmaxbuf), "%d", idem->conf.crash_max > 0 ? idem->conf.crash_max
                                                                       : 1 << 30);
    for (size_t i = 0; i < n; i++) {
        argv[i] = reqs[i].record_key;
        new_token(idem, reqs[i].token);
    }
    argv[n] = nums.now;
    argv[n + 1] = nums.lease;
    argv[n + 2] = nums.ttl;
    argv[n + 3] = idem->owner;
    argv[n + 4] = cmaxbuf;
    snprintf(thbuf, sizeof(thbuf), "%d", thread);
    argv[n + 5] = idem->run_prefix;
    argv[n + 6] = thread >= 0 ? idem->run_self : "";
    argv[n + 7] = thbuf;
    for (size_t i = 0; i < n; i++) {
        argv[n + 8 + 2 * i] = reqs[i].token;
        argv[n + 9 + 2 * i] = reqs[i].fp ? reqs[i].fp : "";
    }
    redisReply *rep = evf_redis_eval(r, &acquire_script, (int)n, (int)argc, argv, NULL);
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != n) {
        if (rep && rep->type == REDIS_REPLY_ERROR)
            EVF_WARN("idem", "acquire script failed: %s", rep->str);
        err = EVF_ERR_TRANSPORT;
    } else {
        for (size_t i = 0; i < n; i++) {
            redisReply *e = rep->element[i];
            const char *st = e->type == REDIS_REPLY_ARRAY && e->elements == 3 &&
                                     e->element[0]->type == REDIS_REPLY_STRING
                                 ? e->element[0]->str
                                 : "";
            reqs[i].lease_until = e->elements == 3 ? e->element[1]->integer : 0;
            reqs[i].unfinished = e->elements == 3 ? (int)e->element[2]->integer : 0;
            if (!strcmp(st, "acquired"))
                reqs[i].status = EVF_IDEM_ACQUIRED;
            else if (!strcmp(st, "duplicate"))
                reqs[i].status = EVF_IDEM_DUPLICATE;
            else if (!strcmp(st, "busy"))
                reqs[i].status = EVF_IDEM_BUSY;
            else if (!strcmp(st, "crashloop"))
                reqs[i].status = EVF_IDEM_CRASH_LOOP;
            else
                reqs[i].status = EVF_IDEM_MISMATCH;
            if (reqs[i].status != EVF_IDEM_ACQUIRED)
                reqs[i].token[0] = '\0';
        }
    }
    if (rep)
        freeReplyObject(rep);
    free(argv);
    return err;
}

evf_err_t evf_idem_mark_call(evf_idem_t *idem, evf_redis_t *r, int thread,
                             const evf_idem_req_t *cur) {
    char field[16];
    snprintf(field, sizeof(field), "%d", thread);
    const char *argv[4] = {"HSET", idem->run_self, field, cur->token};
    evf_err_t err = evf_redis_append_argv(r, 4, argv, NULL);
    if (err == EVF_OK)
        err = evf_redis_flush(r);
    return err;
}

void evf_idem_drain(evf_redis_t *r) {
    while (evf_redis_pending(r) > 0) {
        redisReply *rep = NULL;
        if (evf_redis_get_reply(r, &rep) != EVF_OK)
            break;
        if (rep && rep->type == REDIS_REPLY_ERROR)
            EVF_WARN("idem", "call pointer not written: %s", rep->str);
        if (rep)
            freeReplyObject(rep);
    }
}

evf_err_t evf_idem_renew_batch(evf_idem_t *idem, evf_redis_t *r, evf_idem_req_t **reqs,
                               size_t n) {
    if (n == 0)
        return EVF_OK;
    size_t argc = n + 3 + n;
    const char **argv = malloc(argc * sizeof(*argv));
    idem_nums_t nums;
    evf_err_t err = EVF_OK;
    if (!argv)
        abort();
    idem_nums(idem, &nums);
    for (size_t i = 0; i < n; i++) {
        argv[i] = reqs[i]->record_key;
        argv[n + 3 + i] = reqs[i]->token;
    }
    argv[n] = nums.now;
    argv[n + 1] = nums.lease;
    argv[n + 2] = nums.ttl;
    redisReply *rep = evf_redis_eval(r, &renew_script, (int)n, (int)argc, argv, NULL);
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != n)
        err = EVF_ERR_TRANSPORT;
    else
        for (size_t i = 0; i < n; i++)
            reqs[i]->lease_until = rep->element[i]->integer;
    if (rep)
        freeReplyObject(rep);
    free(argv);
    return err;
}

evf_err_t evf_idem_release_batch(evf_idem_t *idem, evf_redis_t *r, evf_idem_req_t **reqs,
                                 size_t n, int *fenced) {
    size_t argc = n + 2 + n;
    const char **argv = malloc(argc * sizeof(*argv));
    idem_nums_t nums;
    evf_err_t err = EVF_OK;
    if (!argv)
        abort();
    if (n == 0) {
        free(argv);
        return EVF_OK;
    }
    idem_nums(idem, &nums);
    for (size_t i = 0; i < n; i++)
        argv[i] = reqs[i]->record_key;
    argv[n] = nums.now;
    argv[n + 1] = nums.ttl;
    for (size_t i = 0; i < n; i++)
        argv[n + 2 + i] = reqs[i]->token;
    redisReply *rep = evf_redis_eval(r, &release_script, (int)n, (int)argc, argv, NULL);
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != n) {
        err = EVF_ERR_TRANSPORT;
    } else {
        for (size_t i = 0; i < n; i++)
            if (fenced)
                fenced[i] = rep->element[i]->integer == 0;
    }
    if (rep)
        freeReplyObject(rep);
    free(argv);
    return err;
}
