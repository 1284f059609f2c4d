/* tests/lib/idemtest.c — see idemtest.h. */
#include "idemtest.h"

#include <check.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "publisher.h"
#include "testutil.h"

static char *xstrdup(const char *s) {
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

/* ---- a private redis-server ---- */

static pid_t session_pid; /* the check runner's pid (inherited by its forked tests) */

void evf_itest_session_begin(void) {
    session_pid = getpid();
}

void evf_itest_session_end(void) {
    char cmd[128];
    if (!session_pid)
        return;
    snprintf(cmd, sizeof(cmd), "rm -rf /tmp/evf-itest-redis-%d-*", (int)session_pid);
    evf_test_sh(cmd);
}

void evf_itest_redis_init(evf_itest_redis_t *s, const char *const *extra) {
    memset(s, 0, sizeof(*s));
    s->port = evf_fleet_free_port();
    snprintf(s->dir, sizeof(s->dir), "/tmp/evf-itest-redis-%d-XXXXXX",
             (int)(session_pid ? session_pid : getpid()));
    ck_assert_ptr_nonnull(mkdtemp(s->dir));
    snprintf(s->url, sizeof(s->url), "redis://127.0.0.1:%d/0", s->port);
    snprintf(s->log_path, sizeof(s->log_path), "%s/redis.log", s->dir);
    for (size_t i = 0; extra && extra[i]; i++) {
        ck_assert_uint_lt(s->nargs, EVF_ITEST_REDIS_ARGS_MAX);
        s->args[s->nargs++] = xstrdup(extra[i]);
    }
}

/* Any reply on port means the server is up (an error such as NOAUTH included). */
static int answers(int port) {
    struct timeval tv = {.tv_sec = 1, .tv_usec = 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    int ok = 0;
    if (c && !c->err) {
        redisReply *reply = redisCommand(c, "PING");
        ok = reply != NULL;
        if (reply)
            freeReplyObject(reply);
    }
    if (c)
        redisFree(c);
    return ok;
}

void evf_itest_redis_start(evf_itest_redis_t *s) {
    char portstr[16];
    char *argv[16 + EVF_ITEST_REDIS_ARGS_MAX];
    int argc = 0;
    pid_t parent = getpid();
    ck_assert_int_eq(s->pid, 0);
    snprintf(portstr, sizeof(portstr), "%d", s->port);
    argv[argc++] = (char *)"redis-server";
    argv[argc++] = (char *)"--port";
    argv[argc++] = portstr;
    argv[argc++] = (char *)"--bind";
    argv[argc++] = (char *)"127.0.0.1";
    argv[argc++] = (char *)"--save";
    argv[argc++] = (char *)"";
    argv[argc++] = (char *)"--appendonly";
    argv[argc++] = (char *)"no";
    argv[argc++] = (char *)"--dir";
    argv[argc++] = s->dir;
    argv[argc++] = (char *)"--logfile";
    argv[argc++] = s->log_path;
    for (size_t i = 0; i < s->nargs; i++)
        argv[argc++] = s->args[i];
    argv[argc] = NULL;
    fflush(NULL);
    s->pid = fork();
    ck_assert_int_ge(s->pid, 0);
    if (s->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        int nul = open("/dev/null", O_RDWR);
        if (nul >= 0) {
            dup2(nul, 0);
            dup2(nul, 1);
            dup2(nul, 2);
            close(nul);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    int64_t deadline = evf_test_now_ms() + 15000;
    while (!answers(s->port)) {
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            char *log = evf_test_read_file(s->log_path, NULL);
            ck_abort_msg("redis-server on port %d exited (status %d); log:\n%s", s->port, st,
                         log ? log : "-");
        }
        ck_assert_msg(evf_test_now_ms() < deadline, "redis-server on port %d not answering",
                      s->port);
        usleep(20 * 1000);
    }
}

void evf_itest_redis_kill(evf_itest_redis_t *s) {
    if (s->pid > 0)
        evf_test_kill(s->pid);
    s->pid = 0;
}

void evf_itest_redis_cleanup(evf_itest_redis_t *s) {
    char cmd[200];
    evf_itest_redis_kill(s);
    if (s->dir[0]) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
        evf_test_sh(cmd);
        s->dir[0] = '\0';
    }
    for (size_t i = 0; i < s->nargs; i++)
        free(s->args[i]);
    s->nargs = 0;
}

/* ---- Redis helpers ---- */

evf_redis_t *evf_itest_connect(const char *url, const char *password) {
    char err[512] = "";
    evf_redis_opts_t opts = {.url = url,
                             .password = password,
                             .connect_timeout_ms = 2000,
                             .command_timeout_ms = 10000,
                             .role = "test"};
    evf_redis_t *r = evf_redis_new_opts(&opts, err, sizeof(err));
    ck_assert_msg(r != NULL, "redis handle for %s: %s", url, err);
    ck_assert_msg(evf_redis_connect(r, err, sizeof(err)) == EVF_OK, "connect %s: %s", url, err);
    return r;
}

static redisReply *vcmd(evf_redis_t *r, const char *fmt, va_list ap) {
    char line[1024];
    vsnprintf(line, sizeof(line), fmt, ap);
    /* Split on spaces: test keys and values never contain one (see the callers). */
    const char *argv[64];
    int argc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(line, " ", &save); tok && argc < 64;
         tok = strtok_r(NULL, " ", &save))
        argv[argc++] = tok;
    redisReply *reply = evf_redis_cmdargv(r, argc, argv, NULL);
    ck_assert_msg(reply != NULL, "redis: no reply (%s)", evf_redis_last_error(r));
    return reply;
}

long long evf_itest_int(evf_redis_t *r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *reply = vcmd(r, fmt, ap);
    va_end(ap);
    ck_assert_msg(reply->type == REDIS_REPLY_INTEGER, "%s: reply type %d (%s)", fmt, reply->type,
                  reply->str ? reply->str : "");
    long long v = reply->integer;
    freeReplyObject(reply);
    return v;
}

char *evf_itest_str(evf_redis_t *r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *reply = vcmd(r, fmt, ap);
    va_end(ap);
    char *res = NULL;
    if (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS)
        res = xstrdup(reply->str);
    else
        ck_assert_msg(reply->type == REDIS_REPLY_NIL, "%s: reply type %d (%s)", fmt, reply->type,
                      reply->str ? reply->str : "");
    freeReplyObject(reply);
    return res;
}

void evf_itest_ok(evf_redis_t *r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *reply = vcmd(r, fmt, ap);
    va_end(ap);
    ck_assert_msg(reply->type != REDIS_REPLY_ERROR, "%s: %s", fmt, reply->str);
    freeReplyObject(reply);
}

void evf_itest_del_prefix(evf_redis_t *r, const char *prefix) {
    char pattern[256];
    snprintf(pattern, sizeof(pattern), "%s:*", prefix);
    evf_fleet_del_pattern(r, pattern);
}

/* ---- events ---- */

evf_event_t *evf_itest_iot(const char *id, const char *device, const char *metric, double value,
                           int64_t time_ms, const char *subject) {
    evf_event_t *ev = evf_event_new();
    evf_event_set_str(&ev->id, id);
    ev->source = EVFLEET__V1__SOURCE__IOT;
    evf_event_set_str(&ev->type, "iot:telemetry");
    evf_event_set_str(&ev->subject, subject ? subject : device);
    ev->time_ms = time_ms;
    Evfleet__V1__IotTelemetry *iot = evf_event_set_iot(ev);
    evf_event_set_str(&iot->device_id, device);
    evf_event_set_str(&iot->metric, metric);
    iot->value = value;
    evf_event_set_str(&iot->unit, "C");
    return ev;
}

void evf_itest_send(struct evf_pub_s *pub, const char *topic, int32_t partition,
                    const evf_event_t *ev) {
    char err[512] = "";
    evf_err_t e;
    if (partition < 0) {
        e = evf_pub_send_event(pub, topic, ev, NULL, 10000, err, sizeof(err));
    } else {
        char key[512];
        size_t len = 0;
        uint8_t *buf = evf_event_encode(ev, &len);
        size_t klen = evf_event_kafka_key(ev, key, sizeof(key));
        rd_kafka_headers_t *h = rd_kafka_headers_new(2);
        rd_kafka_header_add(h, "content-type", -1, EVF_CT_PROTOBUF, -1);
        rd_kafka_header_add(h, "ce_id", -1, ev->id, -1);
        e = evf_pub_send(pub, topic, partition, key, klen < sizeof(key) ? klen : sizeof(key) - 1,
                         buf, len, h, NULL, 10000, err, sizeof(err));
        free(buf);
    }
    ck_assert_msg(e == EVF_OK, "publishing %s to %s: %s", ev->id, topic, err);
}

/* ---- a worker's endpoints ---- */

double evf_itest_metric(const evf_fleet_worker_t *w, const char *name, const char *match) {
    evf_prom_t *p = evf_fleet_metrics(w);
    double v = evf_prom_sum(p, name, match, NULL);
    evf_prom_free(p);
    return v;
}

double evf_itest_wait_metric(const evf_fleet_worker_t *w, const char *name, const char *match,
                             double want, int timeout_ms) {
    int64_t deadline = evf_test_now_ms() + timeout_ms;
    for (;;) {
        double v = evf_itest_metric(w, name, match);
        if (v >= want)
            return v;
        ck_assert_msg(evf_test_now_ms() < deadline, "%s{%s} is %.0f after %d ms, want >= %.0f",
                      name, match ? match : "", v, timeout_ms, want);
        usleep(100 * 1000);
    }
}

char *evf_itest_wait_readyz(evf_fleet_worker_t *w, int status, int timeout_ms) {
    int64_t deadline = evf_test_now_ms() + timeout_ms;
    char *body = NULL;
    int got = -1;
    for (;;) {
        if (!evf_fleet_alive(w)) {
            char *tail = evf_fleet_log_tail(w, 3000);
            ck_abort_msg("worker exited (status %d) while waiting for /readyz %d; log:\n%s",
                         w->exit_status, status, tail);
        }
        free(body);
        body = evf_fleet_get(w, "/readyz", &got);
        if (got == status)
            return body ? body : xstrdup("");
        if (evf_test_now_ms() > deadline) {
            char *tail = evf_fleet_log_tail(w, 3000);
            ck_abort_msg("/readyz of %s did not answer %d within %d ms (last %d: %s); log:\n%s",
                         w->base_url, status, timeout_ms, got, body ? body : "-", tail);
        }
        usleep(100 * 1000);
    }
}

int evf_itest_contains_ci(const char *haystack, const char *needle) {
    size_t n = strlen(needle);
    if (!haystack)
        return 0;
    for (const char *p = haystack; *p; p++)
        if (!strncasecmp(p, needle, n))
            return 1;
    return n == 0;
}
