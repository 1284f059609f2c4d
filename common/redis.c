/* common/redis.c — see redis.h.
 *
 * hiredis 0.14 facts this relies on: after an I/O error, EOF, timeout or protocol error a
 * redisContext keeps `err` set and is unusable, so it is freed and a new one made; the command
 * timeout is SO_RCVTIMEO/SO_SNDTIMEO (redisSetTimeout), so a timed-out read fails with EAGAIN
 * ("Resource temporarily unavailable"); hiredis writes with write(2), which raises SIGPIPE on a
 * connection the peer reset. */
#include "redis.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "redis_url.h"

#define LOG_COMPONENT "redis"
/* A connection that fails within this long of being made counts as a failed attempt (backoff
 * grows) rather than as a lost connection (reconnect at once): no tight reconnect loop against a
 * server that accepts and then drops us. */
#define FRESH_CONNECTION_MS 1000
/* A password shorter than this is not scrubbed from error texts (it would mangle every word). */
#define SCRUB_MIN_LEN 3

struct evf_redis_s {
    /* Fixed at creation. */
    char role[64];
    char host[256];
    int port;
    int db;
    char user[128];
    char password[512];
    char endpoint[300];
    int connect_timeout_ms;
    int command_timeout_ms;

    /* Owner thread. */
    redisContext *ctx;
    int pending;             /* pipelined commands whose replies were not read */
    int guard_sigpipe;       /* SIGPIPE is not ignored: block it around I/O */
    int64_t connected_at_ms; /* when ctx was made */
    int64_t next_attempt_ms; /* ensure() tries no connection before this (monotonic ms) */
    int backoff_ms;          /* delay after the next failed attempt grows from this; 0: none yet */
    int down_logged;         /* "unreachable" was reported (by a WARN or to the caller) */
    int lost_logged;         /* "connection lost" was logged */
    unsigned int rand_state;

    /* Read by other threads. */
    int connected;     /* atomic */
    uint64_t errors;   /* atomic */
    uint64_t connects; /* atomic: successful connections so far */
    pthread_mutex_t lock; /* guards last_error */
    char last_error[768];
};

/* ------------------------------------------------------------------ small helpers */

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timeval tv_of_ms(int ms) {
    struct timeval tv;
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    return tv;
}

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n, size);
    if (!p)
        abort();
    return p;
}

static void copy_str(char *dst, size_t dst_size, const char *src) {
    snprintf(dst, dst_size, "%s", src ? src : "");
}

/* Replaces every occurrence of the password in buf by "***" (in place, truncating if needed). */
static void scrub_password(const evf_redis_t *r, char *buf, size_t buf_size) {
    size_t plen = strlen(r->password);
    char *from = buf, *hit;
    if (plen < SCRUB_MIN_LEN || buf_size == 0)
        return;
    while ((hit = strstr(from, r->password)) != NULL) {
        size_t tail = strlen(hit + plen);
        size_t head = (size_t)(hit - buf);
        if (head + 3 >= buf_size) {
            *hit = '\0';
            break;
        }
        if (head + 3 + tail >= buf_size)
            tail = buf_size - head - 3 - 1;
        memmove(hit + 3, hit + plen, tail);
        memcpy(hit, "***", 3);
        hit[3 + tail] = '\0';
        from = hit + 3;
    }
}

/* Formats "redis <endpoint>: <detail>" into last_error (scrubbed) and, if errstr, into it too. */
static void set_error(evf_redis_t *r, char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void set_error(evf_redis_t *r, char *errstr, size_t errstr_size, const char *fmt, ...) {
    char detail[400], msg[sizeof(r->last_error)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    snprintf(msg, sizeof(msg), "redis %s: %s", r->endpoint, detail);
    scrub_password(r, msg, sizeof(msg));
    pthread_mutex_lock(&r->lock);
    memcpy(r->last_error, msg, sizeof(msg));
    pthread_mutex_unlock(&r->lock);
    if (errstr && errstr_size)
        copy_str(errstr, errstr_size, msg);
}

static void set_connected(evf_redis_t *r, int value) {
    __atomic_store_n(&r->connected, value, __ATOMIC_RELEASE);
}

static void count_error(evf_redis_t *r) {
    __atomic_add_fetch(&r->errors, 1, __ATOMIC_RELAXED);
}

/* The first word of a command, for messages ("EVALSHA"); "command" when it is not plain text. */
static void command_name(const char *src, size_t len, char *out, size_t out_size) {
    size_t n = 0;
    while (n < len && n + 1 < out_size && src[n] && isalpha((unsigned char)src[n])) {
        out[n] = (char)toupper((unsigned char)src[n]);
        n++;
    }
    if (n == 0 || (n < len && src[n] && src[n] != ' '))
        n = (size_t)snprintf(out, out_size, "command");
    out[n < out_size ? n : out_size - 1] = '\0';
}

/* Describes why a context failed, from its err/errstr and the errno saved right after. */
static void describe_failure(const evf_redis_t *r, const redisContext *c, int saved_errno,
                             const char *cmd, char *out, size_t out_size) {
    if (!c) {
        snprintf(out, out_size, "out of memory");
        return;
    }
    if (c->err == REDIS_ERR_EOF) {
        snprintf(out, out_size, "server closed the connection%s%s", cmd ? " during " : "",
                 cmd ? cmd : "");
        return;
    }
    if (c->err == REDIS_ERR_IO &&
        (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK ||
         strstr(c->errstr, "temporarily unavailable"))) {
        snprintf(out, out_size, "no reply%s%s within %d ms (redis.command.timeout.ms)",
                 cmd ? " to " : "", cmd ? cmd : "", r->command_timeout_ms);
        return;
    }
    if (c->err == REDIS_ERR_IO && (saved_errno == ECONNREFUSED || strstr(c->errstr, "refused"))) {
        snprintf(out, out_size, "connection refused");
        return;
    }
    if (c->err == REDIS_ERR_IO && (saved_errno == EPIPE || saved_errno == ECONNRESET)) {
        snprintf(out, out_size, "connection reset by the server%s%s", cmd ? " during " : "",
                 cmd ? cmd : "");
        return;
    }
    snprintf(out, out_size, "%s%s%s", c->errstr[0] ? c->errstr : "unknown error",
             cmd ? " during " : "", cmd ? cmd : "");
    if (out[0])
        out[0] = (char)tolower((unsigned char)out[0]);
}

/* Error reply text for messages: at most 200 bytes, no line breaks. */
static void reply_text(const redisReply *reply, char *out, size_t out_size) {
    size_t n = reply->len < 200 ? reply->len : 200;
    if (n >= out_size)
        n = out_size - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = (reply->str[i] == '\r' || reply->str[i] == '\n') ? ' ' : reply->str[i];
    out[n] = '\0';
}

/* ------------------------------------------------------------------ SIGPIPE guard */

typedef struct {
    int active;
    sigset_t old;
} pipe_guard_t;

static void guard_begin(const evf_redis_t *r, pipe_guard_t *g) {
    sigset_t set;
    g->active = 0;
    if (!r->guard_sigpipe)
        return;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    /* Already blocked by the caller: a SIGPIPE stays pending, as the caller chose. */
    if (pthread_sigmask(SIG_BLOCK, &set, &g->old) == 0 && !sigismember(&g->old, SIGPIPE))
        g->active = 1;
}

static void guard_end(pipe_guard_t *g) {
    sigset_t set, pending;
    int saved_errno = errno;
    if (!g->active)
        return;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE)) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
    errno = saved_errno;
}

static int sigpipe_ignored(void) {
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) != 0)
        return 0;
    return !(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == SIG_IGN;
}

/* ------------------------------------------------------------------ SHA-1 (FIPS 180-4) */

typedef struct {
    uint32_t h[5];
    uint64_t total;
    uint8_t block[64];
    size_t used;
} sha1_t;

static uint32_t rol32(uint32_t x, int n) {
    return (x << n) | (x >> (32 - n));
}

static void sha1_block(sha1_t *s, const uint8_t *p) {
    uint32_t w[80], a, b, c, d, e;
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (int i = 16; i < 80; i++)
        w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k, t;
        if (i < 20)
            f = (b & c) | (~b & d), k = 0x5A827999;
        else if (i < 40)
            f = b ^ c ^ d, k = 0x6ED9EBA1;
        else if (i < 60)
            f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
        else
            f = b ^ c ^ d, k = 0xCA62C1D6;
        t = rol32(a, 5) + f + e + k + w[i];
        e = d, d = c, c = rol32(b, 30), b = a, a = t;
    }
    s->h[0] += a, s->h[1] += b, s->h[2] += c, s->h[3] += d, s->h[4] += e;
}

static void sha1_update(sha1_t *s, const uint8_t *p, size_t len) {
    s->total += len;
    while (len > 0) {
        size_t n = 64 - s->used < len ? 64 - s->used : len;
        memcpy(s->block + s->used, p, n);
        s->used += n, p += n, len -= n;
        if (s->used == 64) {
            sha1_block(s, s->block);
            s->used = 0;
        }
    }
}

static void sha1_hex(const void *data, size_t len, char out[41]) {
    static const char hex[] = "0123456789abcdef";
    sha1_t s = {{0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0}, 0, {0}, 0};
    uint8_t pad[72] = {0x80};
    uint64_t bits;
    size_t padlen;
    sha1_update(&s, data, len);
    bits = s.total * 8;
    padlen = (s.used < 56 ? 56 - s.used : 120 - s.used);
    for (int i = 0; i < 8; i++)
        pad[padlen + i] = (uint8_t)(bits >> (56 - 8 * i));
    sha1_update(&s, pad, padlen + 8);
    for (int i = 0; i < 20; i++) {
        uint8_t byte = (uint8_t)(s.h[i / 4] >> (24 - 8 * (i % 4)));
        out[2 * i] = hex[byte >> 4];
        out[2 * i + 1] = hex[byte & 15];
    }
    out[40] = '\0';
}

/* ------------------------------------------------------------------ lifecycle */

evf_redis_t *evf_redis_new_opts(const evf_redis_opts_t *opts, char *errstr, size_t errstr_size) {
    evf_redis_url_t url;
    char why[256];
    evf_redis_t *r = NULL;

    if (!opts->url || !*opts->url) {
        snprintf(errstr, errstr_size, "redis.url: empty");
        return NULL;
    }
    if (evf_redis_url_parse(opts->url, &url, why, sizeof(why))) {
        snprintf(errstr, errstr_size, "redis.url: %s", why);
        goto fail;
    }
    if (opts->connect_timeout_ms < 0 || opts->command_timeout_ms < 0) {
        snprintf(errstr, errstr_size, "redis timeouts must not be negative");
        goto fail;
    }
    if (opts->password && strlen(opts->password) >= sizeof(r->password)) {
        snprintf(errstr, errstr_size, "redis.password: too long (at most %zu bytes)",
                 sizeof(r->password) - 1);
        goto fail;
    }

    r = xcalloc(1, sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
    copy_str(r->role, sizeof(r->role), opts->role && *opts->role ? opts->role : "redis");
    copy_str(r->host, sizeof(r->host), url.host);
    r->port = url.port;
    r->db = url.db;
    copy_str(r->user, sizeof(r->user), url.user);
    copy_str(r->password, sizeof(r->password),
             opts->password && *opts->password ? opts->password : url.password);
    if (strchr(r->host, ':'))
        snprintf(r->endpoint, sizeof(r->endpoint), "[%s]:%d", r->host, r->port);
    else
        snprintf(r->endpoint, sizeof(r->endpoint), "%s:%d", r->host, r->port);
    r->connect_timeout_ms = opts->connect_timeout_ms;
    r->command_timeout_ms = opts->command_timeout_ms;
    r->rand_state = (unsigned int)now_ms() ^ (unsigned int)(uintptr_t)r;
    explicit_bzero(&url, sizeof(url));
    return r;

fail:
    explicit_bzero(&url, sizeof(url));
    return NULL;
}

static int clamp_int(int64_t v) {
    if (v < 0)
        return 0;
    return v > 1000 * 1000 * 1000 ? 1000 * 1000 * 1000 : (int)v;
}

evf_redis_t *evf_redis_new(const evf_conf_t *conf, const char *role, char *errstr,
                           size_t errstr_size) {
    evf_redis_opts_t opts = {
        .url = evf_conf_str(conf, "redis.url"),
        .password = evf_conf_str(conf, "redis.password"),
        .connect_timeout_ms = clamp_int(evf_conf_int(conf, "redis.connect.timeout.ms")),
        .command_timeout_ms = clamp_int(evf_conf_int(conf, "redis.command.timeout.ms")),
        .role = role,
    };
    return evf_redis_new_opts(&opts, errstr, errstr_size);
}

static void close_ctx(evf_redis_t *r) {
    if (r->ctx) {
        redisFree(r->ctx);
        r->ctx = NULL;
    }
    r->pending = 0;
    set_connected(r, 0);
}

void evf_redis_destroy(evf_redis_t *r) {
    if (!r)
        return;
    close_ctx(r);
    pthread_mutex_destroy(&r->lock);
    explicit_bzero(r->password, sizeof(r->password));
    free(r);
}

void evf_redis_disconnect(evf_redis_t *r) {
    close_ctx(r);
    r->next_attempt_ms = 0;
}

/* ------------------------------------------------------------------ connecting */

static int jittered(evf_redis_t *r, int delay_ms) {
    return delay_ms - (int)(rand_r(&r->rand_state) % (unsigned)(delay_ms / 4 + 1));
}

/* A connection attempt failed (or a fresh connection broke): wait longer before the next one. */
static void schedule_backoff(evf_redis_t *r) {
    if (r->backoff_ms <= 0)
        r->backoff_ms = EVF_REDIS_BACKOFF_INITIAL_MS;
    else if (r->backoff_ms < EVF_REDIS_BACKOFF_MAX_MS)
        r->backoff_ms = r->backoff_ms * 2 > EVF_REDIS_BACKOFF_MAX_MS ? EVF_REDIS_BACKOFF_MAX_MS
                                                                     : r->backoff_ms * 2;
    r->next_attempt_ms = now_ms() + jittered(r, r->backoff_ms);
}

/* Runs one command on the connection being set up. NULL: ctx failed, reason in last_error. */
static redisReply *setup_cmd(evf_redis_t *r, int argc, const char **argv, const size_t *argvlen,
                             const char *name) {
    redisReply *reply = redisCommandArgv(r->ctx, argc, argv, argvlen);
    if (!reply) {
        char why[300];
        describe_failure(r, r->ctx, errno, name, why, sizeof(why));
        set_error(r, NULL, 0, "%s", why);
    }
    return reply;
}

/* One connection attempt, whatever the backoff. Does not log. */
static evf_err_t try_connect(evf_redis_t *r) {
    redisReply *reply = NULL;
    char text[256];
    pipe_guard_t guard;
    int64_t t0 = now_ms();

    close_ctx(r);
    r->guard_sigpipe = !sigpipe_ignored();
    guard_begin(r, &guard);

    if (r->connect_timeout_ms > 0)
        r->ctx = redisConnectWithTimeout(r->host, r->port, tv_of_ms(r->connect_timeout_ms));
    else
        r->ctx = redisConnect(r->host, r->port);
    if (!r->ctx || r->ctx->err) {
        int saved_errno = errno;
        if (r->ctx && r->ctx->err == REDIS_ERR_IO &&
            (saved_errno == ETIMEDOUT || strstr(r->ctx->errstr, "timed out")) &&
            r->connect_timeout_ms > 0 && now_ms() - t0 >= r->connect_timeout_ms - 10)
            set_error(r, NULL, 0, "connect timed out after %d ms (redis.connect.timeout.ms)",
                      r->connect_timeout_ms);
        else if (r->ctx && r->ctx->err == REDIS_ERR_OTHER)
            /* getaddrinfo's message, e.g. "Name or service not known". */
            set_error(r, NULL, 0, "cannot resolve '%s': %s", r->host, r->ctx->errstr);
        else {
            char why[300];
            describe_failure(r, r->ctx, saved_errno, NULL, why, sizeof(why));
            set_error(r, NULL, 0, "%s", why);
        }
        goto fail;
    }
    if (r->command_timeout_ms > 0 &&
        redisSetTimeout(r->ctx, tv_of_ms(r->command_timeout_ms)) != REDIS_OK) {
        set_error(r, NULL, 0, "cannot set the command timeout: %s", r->ctx->errstr);
        goto fail;
    }
    if (redisEnableKeepAlive(r->ctx) != REDIS_OK) {
        set_error(r, NULL, 0, "cannot enable TCP keepalive: %s", r->ctx->errstr);
        goto fail;
    }

    if (r->password[0] || r->user[0]) {
        const char *argv[3] = {"AUTH", r->user, r->password};
        if (r->user[0])
            reply = setup_cmd(r, 3, argv, NULL, "AUTH");
        else {
            argv[1] = r->password;
            reply = setup_cmd(r, 2, argv, NULL, "AUTH");
        }
        if (!reply)
            goto fail;
        if (reply->type == REDIS_REPLY_ERROR) {
            reply_text(reply, text, sizeof(text));
            if (r->user[0])
                set_error(r, NULL, 0, "authentication failed for user '%s' (%s)", r->user,
                          text);
            else
                set_error(r, NULL, 0, "authentication failed (%s)", text);
            goto fail;
        }
        freeReplyObject(reply);
        reply = NULL;
    }

    if (r->db != 0) {
        char dbstr[16];
        const char *argv[2] = {"SELECT", dbstr};
        snprintf(dbstr, sizeof(dbstr), "%d", r->db);
        if (!(reply = setup_cmd(r, 2, argv, NULL, "SELECT")))
            goto fail;
        if (reply->type == REDIS_REPLY_ERROR) {
            reply_text(reply, text, sizeof(text));
            set_error(r, NULL, 0, "cannot select database %d (%s)", r->db, text);
            goto fail;
        }
        freeReplyObject(reply);
        reply = NULL;
    }

    {
        const char *argv[1] = {"PING"};
        if (!(reply = setup_cmd(r, 1, argv, NULL, "PING")))
            goto fail;
        if (reply->type == REDIS_REPLY_ERROR) {
            reply_text(reply, text, sizeof(text));
            if (!strncmp(text, "NOAUTH", 6)) {
                set_error(r, NULL, 0,
                          "authentication required (%s): set the password in redis.url or "
                          "redis.password",
                          text);
                goto fail;
            }
            /* An ACL user without +ping still has a working connection. */
            if (strncmp(text, "NOPERM", 6)) {
                set_error(r, NULL, 0, "PING refused (%s)", text);
                goto fail;
            }
        }
        freeReplyObject(reply);
        reply = NULL;
    }

    guard_end(&guard);
    r->connected_at_ms = now_ms();
    r->next_attempt_ms = 0;
    __atomic_add_fetch(&r->connects, 1, __ATOMIC_RELAXED);
    set_connected(r, 1);
    EVF_DBG(LOG_COMPONENT, "[%s] connected to redis %s db %d%s%s", r->role, r->endpoint, r->db,
            r->user[0] ? " as user " : "", r->user);
    return EVF_OK;

fail:
    if (reply)
        freeReplyObject(reply);
    close_ctx(r);
    guard_end(&guard);
    count_error(r);
    schedule_backoff(r);
    return EVF_ERR_TRANSPORT;
}

static void log_recovered(evf_redis_t *r) {
    if (r->down_logged || r->lost_logged)
        EVF_INFO(LOG_COMPONENT, "[%s] redis reachable again (%s)", r->role, r->endpoint);
    r->down_logged = 0;
    r->lost_logged = 0;
}

evf_err_t evf_redis_connect(evf_redis_t *r, char *errstr, size_t errstr_size) {
    if (try_connect(r) != EVF_OK) {
        /* The caller reports this one; ensure() logs only the recovery. */
        r->down_logged = 1;
        evf_redis_last_error_copy(r, errstr, errstr_size);
        return EVF_ERR_TRANSPORT;
    }
    log_recovered(r);
    return EVF_OK;
}

evf_err_t evf_redis_ensure(evf_redis_t *r) {
    if (r->ctx)
        return EVF_OK;
    if (now_ms() < r->next_attempt_ms)
        return EVF_ERR_TRANSPORT;
    if (try_connect(r) != EVF_OK) {
        if (!r->down_logged) {
            EVF_WARN(LOG_COMPONENT, "[%s] redis unreachable: %s (retrying with backoff)", r->role,
                     r->last_error);
            r->down_logged = 1;
        } else {
            EVF_DBG(LOG_COMPONENT, "[%s] redis still unreachable: %s", r->role, r->last_error);
        }
        return EVF_ERR_TRANSPORT;
    }
    log_recovered(r);
    return EVF_OK;
}

/* ------------------------------------------------------------------ commands */

/* The connection failed during a command: close it, record why, plan the reconnect. */
static void command_failed(evf_redis_t *r, int saved_errno, const char *cmd) {
    char why[300];
    describe_failure(r, r->ctx, saved_errno, cmd, why, sizeof(why));
    set_error(r, NULL, 0, "%s", why);
    count_error(r);
    if (now_ms() - r->connected_at_ms < FRESH_CONNECTION_MS) {
        schedule_backoff(r);
    } else {
        r->backoff_ms = 0;
        r->next_attempt_ms = 0;
    }
    close_ctx(r);
    if (!r->lost_logged && !r->down_logged) {
        EVF_WARN(LOG_COMPONENT, "[%s] redis connection lost: %s", r->role, r->last_error);
        r->lost_logged = 1;
    }
}

redisReply *evf_redis_cmd(evf_redis_t *r, const char *fmt, ...) {
    redisReply *reply;
    pipe_guard_t guard;
    va_list ap;
    int saved_errno;

    if (r->pending > 0) {
        EVF_ERR(LOG_COMPONENT, "[%s] bug: command sent with %d pipelined replies unread", r->role,
                r->pending);
        return NULL;
    }
    if (evf_redis_ensure(r) != EVF_OK)
        return NULL;
    guard_begin(r, &guard);
    va_start(ap, fmt);
    reply = redisvCommand(r->ctx, fmt, ap);
    va_end(ap);
    saved_errno = errno;
    guard_end(&guard);
    if (!reply) {
        char name[32];
        command_name(fmt, strlen(fmt), name, sizeof(name));
        command_failed(r, saved_errno, name);
    }
    return reply;
}

redisReply *evf_redis_cmdargv(evf_redis_t *r, int argc, const char **argv,
                              const size_t *argvlen) {
    redisReply *reply;
    pipe_guard_t guard;
    int saved_errno;

    if (r->pending > 0) {
        EVF_ERR(LOG_COMPONENT, "[%s] bug: command sent with %d pipelined replies unread", r->role,
                r->pending);
        return NULL;
    }
    if (evf_redis_ensure(r) != EVF_OK)
        return NULL;
    guard_begin(r, &guard);
    reply = redisCommandArgv(r->ctx, argc, argv, argvlen);
    saved_errno = errno;
    guard_end(&guard);
    if (!reply) {
        char name[32];
        command_name(argv[0], argvlen ? argvlen[0] : strlen(argv[0]), name, sizeof(name));
        command_failed(r, saved_errno, name);
    }
    return reply;
}

evf_err_t evf_redis_append_argv(evf_redis_t *r, int argc, const char **argv,
                                const size_t *argvlen) {
    if (r->pending == 0 && evf_redis_ensure(r) != EVF_OK)
        return EVF_ERR_TRANSPORT;
    if (!r->ctx)
        return EVF_ERR_TRANSPORT;
    if (redisAppendCommandArgv(r->ctx, argc, argv, argvlen) != REDIS_OK) {
        command_failed(r, errno, "pipeline");
        return EVF_ERR_TRANSPORT;
    }
    r->pending++;
    return EVF_OK;
}

evf_err_t evf_redis_flush(evf_redis_t *r) {
    pipe_guard_t guard;
    int done = 0, rc = REDIS_OK, saved_errno = 0;

    if (!r->ctx)
        return EVF_ERR_TRANSPORT;
    guard_begin(r, &guard);
    while (!done && (rc = redisBufferWrite(r->ctx, &done)) == REDIS_OK)
        ;
    saved_errno = errno;
    guard_end(&guard);
    if (rc != REDIS_OK) {
        command_failed(r, saved_errno, "pipeline");
        return EVF_ERR_TRANSPORT;
    }
    return EVF_OK;
}

evf_err_t evf_redis_get_reply(evf_redis_t *r, redisReply **out) {
    void *reply = NULL;
    pipe_guard_t guard;
    int rc, saved_errno;

    *out = NULL;
    if (!r->ctx)
        return EVF_ERR_TRANSPORT;
    if (r->pending <= 0)
        return EVF_ERR_STATE;
    guard_begin(r, &guard);
    rc = redisGetReply(r->ctx, &reply);
    saved_errno = errno;
    guard_end(&guard);
    if (rc != REDIS_OK || !reply) {
        if (reply)
            freeReplyObject(reply);
        command_failed(r, saved_errno, "pipeline");
        return EVF_ERR_TRANSPORT;
    }
    r->pending--;
    *out = reply;
    return EVF_OK;
}

int evf_redis_pending(const evf_redis_t *r) {
    return r->pending;
}

/* ------------------------------------------------------------------ scripts */

void evf_redis_script_init(evf_redis_script_t *s, const char *source) {
    s->source = source;
    sha1_hex(source, strlen(source), s->sha1);
}

#define EVAL_STACK_ARGS 32

redisReply *evf_redis_eval(evf_redis_t *r, const evf_redis_script_t *s, int nkeys, int argc,
                           const char **argv, const size_t *argvlen) {
    const char *stack_argv[EVAL_STACK_ARGS + 3];
    size_t stack_len[EVAL_STACK_ARGS + 3];
    const char **av = stack_argv;
    size_t *al = stack_len;
    char nkeys_str[16];
    redisReply *reply;

    if (argc > EVAL_STACK_ARGS) {
        av = xcalloc((size_t)argc + 3, sizeof(*av));
        al = xcalloc((size_t)argc + 3, sizeof(*al));
    }
    snprintf(nkeys_str, sizeof(nkeys_str), "%d", nkeys);
    av[0] = "EVALSHA", al[0] = 7;
    av[1] = s->sha1, al[1] = 40;
    av[2] = nkeys_str, al[2] = strlen(nkeys_str);
    for (int i = 0; i < argc; i++) {
        av[3 + i] = argv[i];
        al[3 + i] = argvlen ? argvlen[i] : strlen(argv[i]);
    }

    reply = evf_redis_cmdargv(r, argc + 3, av, al);
    if (reply && reply->type == REDIS_REPLY_ERROR && !strncmp(reply->str, "NOSCRIPT", 8)) {
        const char *load[3] = {"SCRIPT", "LOAD", s->source};
        redisReply *loaded;
        freeReplyObject(reply);
        reply = NULL;
        loaded = evf_redis_cmdargv(r, 3, load, NULL);
        if (!loaded)
            goto done;
        if (loaded->type == REDIS_REPLY_ERROR) {
            /* A script that does not compile: the caller sees Redis's reason. */
            reply = loaded;
            goto done;
        }
        if (loaded->type != REDIS_REPLY_STRING || loaded->len != 40 ||
            memcmp(loaded->str, s->sha1, 40))
            EVF_ERR(LOG_COMPONENT, "[%s] SCRIPT LOAD returned another SHA1 than %s", r->role,
                    s->sha1);
        freeReplyObject(loaded);
        reply = evf_redis_cmdargv(r, argc + 3, av, al);
    }
done:
    if (av != stack_argv) {
        free(av);
        free(al);
    }
    return reply;
}

/* ------------------------------------------------------------------ eviction policy */

/* Finds "maxmemory_policy:<value>" in an INFO text. @returns 0 or -1. */
static int info_field(const char *info, size_t len, const char *field, char *out,
                      size_t out_size) {
    size_t flen = strlen(field);
    const char *p = info, *end = info + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t llen = eol ? (size_t)(eol - p) : (size_t)(end - p);
        if (llen > flen && !memcmp(p, field, flen) && p[flen] == ':') {
            size_t vlen = llen - flen - 1;
            while (vlen > 0 && (p[flen + 1 + vlen - 1] == '\r' || p[flen + 1 + vlen - 1] == ' '))
                vlen--;
            if (vlen >= out_size)
                return -1;
            memcpy(out, p + flen + 1, vlen);
            out[vlen] = '\0';
            return 0;
        }
        p = eol ? eol + 1 : end;
    }
    return -1;
}

evf_err_t evf_redis_check_eviction(evf_redis_t *r, int allow_eviction, char *errstr,
                                   size_t errstr_size) {
    char policy[64] = "", config_err[160] = "", info_err[160] = "";
    redisReply *reply;

    reply = evf_redis_cmd(r, "CONFIG GET maxmemory-policy");
    if (!reply) {
        evf_redis_last_error_copy(r, errstr, errstr_size);
        return EVF_ERR_TRANSPORT;
    }
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply->element[1]->type == REDIS_REPLY_STRING)
        copy_str(policy, sizeof(policy), reply->element[1]->str);
    else if (reply->type == REDIS_REPLY_ERROR)
        reply_text(reply, config_err, sizeof(config_err));
    else
        copy_str(config_err, sizeof(config_err), "unexpected reply");
    freeReplyObject(reply);

    if (!policy[0]) {
        /* CONFIG may be refused (ACL, renamed command, managed Redis): INFO has the field too. */
        reply = evf_redis_cmd(r, "INFO memory");
        if (!reply) {
            evf_redis_last_error_copy(r, errstr, errstr_size);
            return EVF_ERR_TRANSPORT;
        }
        if (reply->type == REDIS_REPLY_ERROR)
            reply_text(reply, info_err, sizeof(info_err));
        else if ((reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_STATUS) ||
                 info_field(reply->str, reply->len, "maxmemory_policy", policy, sizeof(policy)))
            copy_str(info_err, sizeof(info_err), "no maxmemory_policy field");
        freeReplyObject(reply);
    }

    if (!policy[0]) {
        if (allow_eviction) {
            EVF_WARN(LOG_COMPONENT,
                     "[%s] redis %s: cannot read maxmemory-policy (CONFIG GET: %s; INFO: %s); "
                     "continuing because idempotency.allow.eviction=true",
                     r->role, r->endpoint, config_err, info_err);
            return EVF_OK;
        }
        set_error(r, errstr, errstr_size,
                  "cannot read maxmemory-policy (CONFIG GET: %s; INFO: %s): allow the user "
                  "`CONFIG GET` or `INFO`, or set idempotency.allow.eviction=true",
                  config_err, info_err);
        return EVF_ERR_INVALID;
    }
    if (!strcmp(policy, "noeviction"))
        return EVF_OK;
    if (allow_eviction) {
        EVF_WARN(LOG_COMPONENT,
                 "[%s] redis %s maxmemory-policy is '%s': idempotency records could be evicted "
                 "(allowed by idempotency.allow.eviction=true)",
                 r->role, r->endpoint, policy);
        return EVF_OK;
    }
    snprintf(errstr, errstr_size,
             "redis maxmemory-policy is '%s': idempotency records could be evicted; set "
             "`maxmemory-policy noeviction` (CONFIG SET maxmemory-policy noeviction, or in "
             "redis.conf) or set idempotency.allow.eviction=true",
             policy);
    return EVF_ERR_INVALID;
}

/* ------------------------------------------------------------------ state */

int evf_redis_connected(const evf_redis_t *r) {
    return __atomic_load_n(&r->connected, __ATOMIC_ACQUIRE);
}

const char *evf_redis_last_error(const evf_redis_t *r) {
    return r->last_error;
}

char *evf_redis_last_error_copy(const evf_redis_t *r, char *buf, size_t buf_size) {
    if (!buf || buf_size == 0)
        return buf;
    pthread_mutex_lock((pthread_mutex_t *)&r->lock);
    copy_str(buf, buf_size, r->last_error);
    pthread_mutex_unlock((pthread_mutex_t *)&r->lock);
    return buf;
}

uint64_t evf_redis_connect_count(const evf_redis_t *r) {
    return __atomic_load_n(&r->connects, __ATOMIC_RELAXED);
}

uint64_t evf_redis_error_count(const evf_redis_t *r) {
    return __atomic_load_n(&r->errors, __ATOMIC_RELAXED);
}

const char *evf_redis_endpoint(const evf_redis_t *r) {
    return r->endpoint;
}

int evf_redis_db(const evf_redis_t *r) {
    return r->db;
}
