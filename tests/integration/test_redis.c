/* tests/integration/test_redis.c — common/redis.[ch] against real Redis: the shared local server
 * ($REDIS_PORT) for plain commands, and private redis-server children on free ports for what
 * needs special server settings or an outage (ACL users, requirepass, eviction policy, DEBUG
 * SLEEP, kill and restart). */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "config.h"
#include "log.h"
#include "redis.h"
#include "testutil.h"

/* ------------------------------------------------------------------ private redis-server */

typedef struct {
    pid_t pid;
    int port;
    char dir[128];
} srv_t;

/* A TCP port nothing listens on right now (bound then released). */
static int free_port(void) {
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

/* Raw hiredis command on 127.0.0.1:port (test setup, independent of the module under test). */
static redisReply *admin(int port, const char *password, const char *fmt, ...) {
    redisContext *c = redisConnect("127.0.0.1", port);
    redisReply *reply;
    va_list ap;
    if (!c || c->err) {
        if (c)
            redisFree(c);
        return NULL;
    }
    if (password) {
        reply = redisCommand(c, "AUTH %s", password);
        ck_assert_ptr_nonnull(reply);
        freeReplyObject(reply);
    }
    va_start(ap, fmt);
    reply = redisvCommand(c, fmt, ap);
    va_end(ap);
    redisFree(c);
    return reply;
}

/* Runs an admin command that must answer without an error. */
static void admin_ok(int port, const char *fmt, ...) {
    redisContext *c = redisConnect("127.0.0.1", port);
    redisReply *reply;
    va_list ap;
    ck_assert_msg(c && !c->err, "admin connect to %d failed", port);
    va_start(ap, fmt);
    reply = redisvCommand(c, fmt, ap);
    va_end(ap);
    ck_assert_ptr_nonnull(reply);
    ck_assert_msg(reply->type != REDIS_REPLY_ERROR, "%s: %s", fmt, reply->str);
    freeReplyObject(reply);
    redisFree(c);
}

/* Starts redis-server on srv->port (picked if 0); it dies with this test process whatever
 * happens (PR_SET_PDEATHSIG), and is killed by PID in srv_stop(). */
static void srv_start(srv_t *srv) {
    char portstr[16], logfile[200];
    pid_t parent = getpid();
    int64_t deadline;
    if (!srv->port)
        srv->port = free_port();
    if (!srv->dir[0]) {
        snprintf(srv->dir, sizeof(srv->dir), "/tmp/evf-test-redis-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(srv->dir));
    }
    snprintf(portstr, sizeof(portstr), "%d", srv->port);
    snprintf(logfile, sizeof(logfile), "%s/redis.log", srv->dir);
    srv->pid = fork();
    ck_assert_int_ge(srv->pid, 0);
    if (srv->pid == 0) {
        char *argv[] = {"redis-server", "--port", portstr, "--bind", "127.0.0.1", "--save", "",
                        "--appendonly", "no", "--enable-debug-command", "yes", "--dir", srv->dir,
                        "--logfile", logfile, "--daemonize", "no", NULL};
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        execvp(argv[0], argv);
        _exit(127);
    }
    deadline = evf_test_now_ms() + 10000;
    for (;;) {
        redisReply *reply = admin(srv->port, NULL, "PING");
        int ok = reply && reply->type == REDIS_REPLY_STATUS;
        if (reply)
            freeReplyObject(reply);
        if (ok)
            return;
        ck_assert_msg(waitpid(srv->pid, NULL, WNOHANG) == 0, "redis-server exited (log %s)",
                      logfile);
        ck_assert_msg(evf_test_now_ms() < deadline, "redis-server on %d not ready", srv->port);
        usleep(20 * 1000);
    }
}

static void srv_stop(srv_t *srv) {
    if (srv->pid > 0)
        evf_test_kill(srv->pid);
    srv->pid = 0;
}

static void srv_cleanup(srv_t *srv) {
    char cmd[300];
    srv_stop(srv);
    if (srv->dir[0]) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", srv->dir);
        evf_test_sh(cmd);
    }
}

/* ------------------------------------------------------------------ helpers */

static evf_redis_t *new_url(const char *url, const char *password, int command_timeout_ms) {
    char err[512] = "";
    evf_redis_opts_t opts = {.url = url,
                             .password = password,
                             .connect_timeout_ms = 1000,
                             .command_timeout_ms = command_timeout_ms,
                             .role = "test"};
    evf_redis_t *r = evf_redis_new_opts(&opts, err, sizeof(err));
    ck_assert_msg(r != NULL, "evf_redis_new_opts(%s): %s", url, err);
    return r;
}

static char *local_url(char *buf, size_t size, int port, const char *userinfo, int db) {
    snprintf(buf, size, "redis://%s%s127.0.0.1:%d/%d", userinfo ? userinfo : "",
             userinfo ? "@" : "", port, db);
    return buf;
}

static void connect_ok(evf_redis_t *r) {
    char err[512] = "";
    ck_assert_msg(evf_redis_connect(r, err, sizeof(err)) == EVF_OK, "connect: %s", err);
    ck_assert_int_eq(evf_redis_connected(r), 1);
}

static void assert_status(redisReply *reply, const char *want) {
    ck_assert_ptr_nonnull(reply);
    ck_assert_msg(reply->type == REDIS_REPLY_STATUS, "type %d: %s", reply->type,
                  reply->str ? reply->str : "");
    ck_assert_str_eq(reply->str, want);
    freeReplyObject(reply);
}

static void assert_string(redisReply *reply, const char *want) {
    ck_assert_ptr_nonnull(reply);
    ck_assert_msg(reply->type == REDIS_REPLY_STRING, "type %d: %s", reply->type,
                  reply->str ? reply->str : "");
    ck_assert_str_eq(reply->str, want);
    freeReplyObject(reply);
}

/* Calls ensure until it connects (sleeping between tries); @returns ms it took, -1 on timeout. */
static int64_t ensure_within(evf_redis_t *r, int timeout_ms) {
    int64_t t0 = evf_test_now_ms();
    while (evf_test_now_ms() - t0 < timeout_ms) {
        if (evf_redis_ensure(r) == EVF_OK)
            return evf_test_now_ms() - t0;
        usleep(20 * 1000);
    }
    return -1;
}

/* ------------------------------------------------------------------ shared server */

START_TEST(test_basic_commands) {
    char err[512] = "", key[96], endpoint[64];
    evf_conf_t *conf = evf_test_conf();
    evf_redis_t *r = evf_redis_new(conf, "test", err, sizeof(err));
    redisReply *reply;
    const char *argv[3];
    size_t lens[3];

    ck_assert_msg(r != NULL, "%s", err);
    snprintf(endpoint, sizeof(endpoint), "127.0.0.1:%d", evf_test_redis_port());
    ck_assert_str_eq(evf_redis_endpoint(r), endpoint);
    ck_assert_int_eq(evf_redis_connected(r), 0); /* new does not connect */
    connect_ok(r);

    assert_status(evf_redis_cmd(r, "PING"), "PONG");
    evf_test_unique(key, sizeof(key), "evf-test-redis");
    assert_status(evf_redis_cmd(r, "SET %s %b PX 60000", key, "v\0x", (size_t)3), "OK");
    reply = evf_redis_cmd(r, "GET %s", key);
    ck_assert_ptr_nonnull(reply);
    ck_assert_int_eq(reply->type, REDIS_REPLY_STRING);
    ck_assert_int_eq(reply->len, 3);
    ck_assert_mem_eq(reply->str, "v\0x", 3);
    freeReplyObject(reply);

    /* argv form with binary lengths */
    argv[0] = "SET", argv[1] = key, argv[2] = "abcdef";
    lens[0] = 3, lens[1] = strlen(key), lens[2] = 3;
    assert_status(evf_redis_cmdargv(r, 3, argv, lens), "OK");
    argv[0] = "GET";
    assert_string(evf_redis_cmdargv(r, 2, argv, NULL), "abc");

    /* An error reply is a reply, not a transport failure. */
    reply = evf_redis_cmd(r, "HGET %s f", key);
    ck_assert_ptr_nonnull(reply);
    ck_assert_int_eq(reply->type, REDIS_REPLY_ERROR);
    ck_assert_ptr_nonnull(strstr(reply->str, "WRONGTYPE"));
    freeReplyObject(reply);
    ck_assert_int_eq(evf_redis_connected(r), 1);
    ck_assert_int_eq(evf_redis_error_count(r), 0);
    ck_assert_str_eq(evf_redis_last_error(r), "");

    reply = evf_redis_cmd(r, "DEL %s", key);
    ck_assert_int_eq(reply->integer, 1);
    freeReplyObject(reply);
    evf_redis_destroy(r);
    evf_conf_destroy(conf);
}
END_TEST

START_TEST(test_pipeline) {
    enum { N = 200 };
    char key[96], val[32], url[128];
    evf_redis_t *r = new_url(local_url(url, sizeof(url), evf_test_redis_port(), NULL, 0), NULL,
                             2000);
    redisReply *reply = NULL;

    evf_test_unique(key, sizeof(key), "evf-test-pipe");
    /* ensure happens on the first append; nothing pending yet */
    ck_assert_int_eq(evf_redis_pending(r), 0);
    ck_assert_int_eq(evf_redis_get_reply(r, &reply), EVF_ERR_TRANSPORT); /* not connected */
    connect_ok(r);
    ck_assert_int_eq(evf_redis_get_reply(r, &reply), EVF_ERR_STATE);
    ck_assert_ptr_null(reply);

    for (int i = 0; i < N; i++) {
        const char *argv[] = {"RPUSH", key, val};
        snprintf(val, sizeof(val), "v%d", i);
        ck_assert_int_eq(evf_redis_append_argv(r, 3, argv, NULL), EVF_OK);
    }
    {
        const char *argv[] = {"PEXPIRE", key, "60000"};
        ck_assert_int_eq(evf_redis_append_argv(r, 3, argv, NULL), EVF_OK);
    }
    ck_assert_int_eq(evf_redis_pending(r), N + 1);
    ck_assert_int_eq(evf_redis_flush(r), EVF_OK); /* sent; replies read below */
    ck_assert_int_eq(evf_redis_flush(r), EVF_OK); /* nothing left to send */
    /* A plain command while replies are pending would read the wrong reply: refused. */
    ck_assert_ptr_null(evf_redis_cmd(r, "PING"));
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(evf_redis_get_reply(r, &reply), EVF_OK);
        ck_assert_int_eq(reply->type, REDIS_REPLY_INTEGER);
        ck_assert_int_eq(reply->integer, i + 1);
        freeReplyObject(reply);
    }
    ck_assert_int_eq(evf_redis_get_reply(r, &reply), EVF_OK);
    ck_assert_int_eq(reply->integer, 1);
    freeReplyObject(reply);
    ck_assert_int_eq(evf_redis_pending(r), 0);

    reply = evf_redis_cmd(r, "LINDEX %s %d", key, N - 1);
    ck_assert_str_eq(reply->str, "v199");
    freeReplyObject(reply);
    freeReplyObject(evf_redis_cmd(r, "DEL %s", key));
    evf_redis_destroy(r);
}
END_TEST

START_TEST(test_select_db) {
    char key[96], url[128];
    evf_redis_t *r = new_url(local_url(url, sizeof(url), evf_test_redis_port(), NULL, 7), NULL,
                             2000);
    redisReply *reply;

    ck_assert_int_eq(evf_redis_db(r), 7);
    evf_test_unique(key, sizeof(key), "evf-test-db");
    connect_ok(r);
    assert_status(evf_redis_cmd(r, "SET %s seven PX 60000", key), "OK");

    reply = admin(evf_test_redis_port(), NULL, "EXISTS %s", key); /* db 0 */
    ck_assert_int_eq(reply->integer, 0);
    freeReplyObject(reply);
    {
        redisContext *c = redisConnect("127.0.0.1", evf_test_redis_port());
        ck_assert(c && !c->err);
        freeReplyObject(redisCommand(c, "SELECT 7"));
        reply = redisCommand(c, "GET %s", key);
        ck_assert_str_eq(reply->str, "seven");
        freeReplyObject(reply);
        redisFree(c);
    }
    /* A reconnect selects the database again. */
    evf_redis_disconnect(r);
    ck_assert_int_eq(evf_redis_connected(r), 0);
    assert_string(evf_redis_cmd(r, "GET %s", key), "seven");
    freeReplyObject(evf_redis_cmd(r, "DEL %s", key));
    evf_redis_destroy(r);
}
END_TEST

START_TEST(test_bad_url) {
    char err[512] = "";
    evf_redis_opts_t opts = {.url = "redis://bob:hunter2-secret@localhost:99999/0"};
    ck_assert_ptr_null(evf_redis_new_opts(&opts, err, sizeof(err)));
    ck_assert_msg(strstr(err, "redis.url") && strstr(err, "port"), "%s", err);
    ck_assert_ptr_null(strstr(err, "hunter2-secret"));

    opts.url = "rediss://bob:hunter2-secret@localhost:6379/0";
    ck_assert_ptr_null(evf_redis_new_opts(&opts, err, sizeof(err)));
    ck_assert_msg(strstr(err, "TLS") != NULL, "%s", err);
    ck_assert_ptr_null(strstr(err, "hunter2-secret"));

    opts.url = "";
    ck_assert_ptr_null(evf_redis_new_opts(&opts, err, sizeof(err)));

    /* Through the configuration: a bad value never gets that far (config validates redis.url),
     * and the defaults give a usable handle. */
    {
        evf_conf_t *conf = evf_conf_new();
        evf_redis_t *r = evf_redis_new(conf, NULL, err, sizeof(err));
        ck_assert_msg(r != NULL, "%s", err);
        ck_assert_str_eq(evf_redis_endpoint(r), "127.0.0.1:6379");
        evf_redis_destroy(r);
        evf_conf_destroy(conf);
    }
    evf_redis_destroy(NULL);
}
END_TEST

START_TEST(test_connection_refused_and_backoff) {
    char url[128], err[512] = "";
    int port = free_port();
    evf_redis_t *r = new_url(local_url(url, sizeof(url), port, NULL, 0), NULL, 1000);
    int64_t t0;
    uint64_t errors;

    ck_assert_int_eq(evf_redis_connect(r, err, sizeof(err)), EVF_ERR_TRANSPORT);
    {
        char want[96];
        snprintf(want, sizeof(want), "redis 127.0.0.1:%d: connection refused", port);
        ck_assert_str_eq(err, want);
        ck_assert_str_eq(evf_redis_last_error(r), want);
    }
    ck_assert_int_eq(evf_redis_error_count(r), 1);
    ck_assert_int_eq(evf_redis_connected(r), 0);

    /* Within the backoff, ensure and commands fail at once without trying. */
    t0 = evf_test_now_ms();
    for (int i = 0; i < 100; i++) {
        ck_assert_int_eq(evf_redis_ensure(r), EVF_ERR_TRANSPORT);
        ck_assert_ptr_null(evf_redis_cmd(r, "PING"));
    }
    ck_assert_int_lt(evf_test_now_ms() - t0, 50);
    ck_assert_int_eq(evf_redis_error_count(r), 1);

    /* After it, one more attempt each time the (growing) delay has passed. */
    usleep(120 * 1000);
    ck_assert_int_eq(evf_redis_ensure(r), EVF_ERR_TRANSPORT);
    ck_assert_int_eq(evf_redis_error_count(r), 2);
    errors = 2;
    t0 = evf_test_now_ms();
    while (evf_test_now_ms() - t0 < 1000) {
        if (evf_redis_ensure(r) != EVF_ERR_TRANSPORT)
            ck_abort_msg("connected to nothing");
        usleep(5 * 1000);
    }
    /* 100, 200, 400, 800 ms delays (jittered down by ≤ 25%): 2 or 3 attempts in that second. */
    ck_assert_int_ge(evf_redis_error_count(r), errors + 1);
    ck_assert_int_le(evf_redis_error_count(r), errors + 3);

    /* Whatever an error text holds, the password is never shown (here it is the host). */
    {
        evf_redis_t *odd = new_url(local_url(url, sizeof(url), port, NULL, 0), "127.0.0.1", 1000);
        ck_assert_int_eq(evf_redis_connect(odd, err, sizeof(err)), EVF_ERR_TRANSPORT);
        ck_assert_msg(strstr(err, "127.0.0.1") == NULL && strstr(err, "connection refused"), "%s",
                      err);
        evf_redis_destroy(odd);
    }

    /* Pipelining fails the same way. */
    {
        const char *argv[] = {"PING"};
        redisReply *reply = (redisReply *)1;
        ck_assert_int_eq(evf_redis_append_argv(r, 1, argv, NULL), EVF_ERR_TRANSPORT);
        ck_assert_int_eq(evf_redis_get_reply(r, &reply), EVF_ERR_TRANSPORT);
        ck_assert_ptr_null(reply);
    }
    evf_redis_destroy(r);
}
END_TEST

START_TEST(test_connect_timeout) {
    /* A listener whose accept queue is full drops SYNs: connect() hangs until our timeout. */
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int lfd = socket(AF_INET, SOCK_STREAM, 0), fillers[8], nfill = 0;
    char url[128], err[512] = "";
    evf_redis_t *r;
    evf_redis_opts_t opts = {.connect_timeout_ms = 300, .command_timeout_ms = 300};
    int64_t t0, took;

    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(lfd, 0), 0);
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
    for (; nfill < 8; nfill++) {
        fillers[nfill] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(fillers[nfill], (struct sockaddr *)&sa, sizeof(sa));
    }
    usleep(50 * 1000);
    opts.url = local_url(url, sizeof(url), ntohs(sa.sin_port), NULL, 0);
    r = evf_redis_new_opts(&opts, err, sizeof(err));
    ck_assert_ptr_nonnull(r);
    t0 = evf_test_now_ms();
    ck_assert_int_eq(evf_redis_connect(r, err, sizeof(err)), EVF_ERR_TRANSPORT);
    took = evf_test_now_ms() - t0;
    ck_assert_msg(took >= 250 && took < 1500, "took %lld ms: %s", (long long)took, err);
    ck_assert_msg(strstr(err, "connect timed out after 300 ms (redis.connect.timeout.ms)"), "%s",
                  err);
    evf_redis_destroy(r);
    for (int i = 0; i < nfill; i++)
        close(fillers[i]);
    close(lfd);
}
END_TEST

/* ------------------------------------------------------------------ private server */

START_TEST(test_acl_user) {
    srv_t srv = {0};
    char url[200], err[512] = "";
    evf_redis_t *r;
    redisReply *reply;
    uint64_t errors;

    srv_start(&srv);
    admin_ok(srv.port, "ACL SETUSER alice on >alice-secret-123 ~* &* +@all");

    /* user and password in the URL */
    r = new_url(local_url(url, sizeof(url), srv.port, "alice:alice-secret-123", 0), NULL, 2000);
    connect_ok(r);
    assert_string(evf_redis_cmd(r, "ACL WHOAMI"), "alice");
    evf_redis_destroy(r);

    /* a percent-encoded password */
    admin_ok(srv.port, "ACL SETUSER carol on >p@ss/w:rd ~* +@all");
    r = new_url(local_url(url, sizeof(url), srv.port, "carol:p%40ss%2Fw%3Ard", 0), NULL, 2000);
    connect_ok(r);
    assert_string(evf_redis_cmd(r, "ACL WHOAMI"), "carol");
    evf_redis_destroy(r);

    /* wrong password: a clear error that never shows the password */
    r = new_url(local_url(url, sizeof(url), srv.port, "alice:wrong-pass-456", 0), NULL, 2000);
    ck_assert_int_eq(evf_redis_connect(r, err, sizeof(err)), EVF_ERR_TRANSPORT);
    ck_assert_msg(strstr(err, "authentication failed for user 'alice'") != NULL, "%s", err);
    ck_assert_msg(strstr(err, "WRONGPASS") != NULL, "%s", err);
    ck_assert_ptr_null(strstr(err, "wrong-pass-456"));
    ck_assert_ptr_null(strstr(evf_redis_last_error(r), "wrong-pass-456"));
    ck_assert_int_eq(evf_redis_connected(r), 0);
    errors = evf_redis_error_count(r);
    ck_assert_int_eq(errors, 1);
    ck_assert_ptr_null(evf_redis_cmd(r, "PING")); /* within the backoff */
    evf_redis_destroy(r);

    /* redis.password (e.g. from a secret via the environment) overrides the URL's */
    {
        evf_conf_t *conf = evf_conf_new();
        ck_assert_int_eq(evf_conf_set(conf, "redis.url",
                                      local_url(url, sizeof(url), srv.port,
                                                "alice:wrong-pass-456", 0),
                                      "test", err, sizeof(err)),
                         0);
        ck_assert_int_eq(
            evf_conf_set(conf, "redis.password", "alice-secret-123", "test", err, sizeof(err)),
            0);
        r = evf_redis_new(conf, "test", err, sizeof(err));
        ck_assert_msg(r != NULL, "%s", err);
        connect_ok(r);
        reply = evf_redis_cmd(r, "ACL WHOAMI");
        ck_assert_str_eq(reply->str, "alice");
        freeReplyObject(reply);
        evf_redis_destroy(r);
        evf_conf_destroy(conf);
    }

    /* a disabled user */
    admin_ok(srv.port, "ACL SETUSER alice off");
    r = new_url(local_url(url, sizeof(url), srv.port, "alice:alice-secret-123", 0), NULL, 2000);
    ck_assert_int_eq(evf_redis_connect(r, err, sizeof(err)), EVF_ERR_TRANSPORT);
    ck_assert_msg(strstr(err, "authentication failed for user 'alice'") != NULL, "%s", err);
    ck_assert_ptr_null(strstr(err, "alice-secret-123"));
    evf_redis_destroy(r);
    srv_cleanup(&srv);
}
END_TEST

START_TEST(test_password_only) {
    srv_t srv = {0};
    char url[200], err[512] = "";
    evf_redis_t *r;

    srv_start(&srv);
    admin_ok(srv.port, "CONFIG SET requirepass pw-only-789");

    /* no password: the server says NOAUTH on PING */
    r = new_url(local_url(url, sizeof(url), srv.port, NULL, 0), NULL, 2000);
    ck_assert_int_eq(evf_redis_connect(r, err, sizeof(err)), EVF_ERR_TRANSPORT);
    ck_assert_msg(strstr(err, "authentication required") != NULL, "%s", err);
    evf_redis_destroy(r);

    /* `AUTH password` from the URL (no user) */
    r = new_url(local_url(url, sizeof(url), srv.port, ":pw-only-789", 0), NULL, 2000);
    connect_ok(r);
    assert_string(evf_redis_cmd(r, "ACL WHOAMI"), "default");
    evf_redis_destroy(r);

    /* ... and from redis.password */
    r = new_url(local_url(url, sizeof(url), srv.port, NULL, 3), "pw-only-789", 2000);
    connect_ok(r);
    assert_status(evf_redis_cmd(r, "SET k three"), "OK");
    evf_redis_destroy(r);

    /* wrong password */
    r = new_url(local_url(url, sizeof(url), srv.port, NULL, 0), "not-the-pw-000", 2000);
    ck_assert_int_eq(evf_redis_connect(r, err, sizeof(err)), EVF_ERR_TRANSPORT);
    ck_assert_msg(strstr(err, "authentication failed (") != NULL, "%s", err);
    ck_assert_ptr_null(strstr(err, "not-the-pw-000"));
    evf_redis_destroy(r);

    /* a database that does not exist */
    r = new_url(local_url(url, sizeof(url), srv.port, NULL, 99), "pw-only-789", 2000);
    ck_assert_int_eq(evf_redis_connect(r, err, sizeof(err)), EVF_ERR_TRANSPORT);
    ck_assert_msg(strstr(err, "cannot select database 99") != NULL, "%s", err);
    evf_redis_destroy(r);
    srv_cleanup(&srv);
}
END_TEST

START_TEST(test_command_timeout) {
    srv_t srv = {0};
    char url[200];
    evf_redis_t *r;
    int64_t t0, took;

    srv_start(&srv);
    r = new_url(local_url(url, sizeof(url), srv.port, NULL, 0), NULL, 300);
    connect_ok(r);
    t0 = evf_test_now_ms();
    ck_assert_ptr_null(evf_redis_cmd(r, "DEBUG SLEEP 2"));
    took = evf_test_now_ms() - t0;
    ck_assert_msg(took >= 250 && took < 1000, "took %lld ms", (long long)took);
    ck_assert_msg(strstr(evf_redis_last_error(r), "no reply to DEBUG within 300 ms") != NULL,
                  "%s", evf_redis_last_error(r));
    ck_assert_int_eq(evf_redis_connected(r), 0);
    ck_assert_int_eq(evf_redis_error_count(r), 1);

    /* The server is still asleep for ~1.7 s: reconnects fail (PING times out) until it wakes. */
    took = ensure_within(r, 6000);
    ck_assert_msg(took >= 0, "no reconnect: %s", evf_redis_last_error(r));
    assert_status(evf_redis_cmd(r, "PING"), "PONG");
    ck_assert_int_ge(evf_redis_error_count(r), 2);

    /* A blocking command past the timeout, while the server stays responsive; the connection
     * is no longer fresh, so the next command reconnects at once. */
    usleep(1100 * 1000);
    ck_assert_ptr_null(evf_redis_cmd(r, "BLPOP evf-none 2"));
    ck_assert_msg(strstr(evf_redis_last_error(r), "no reply to BLPOP") != NULL, "%s",
                  evf_redis_last_error(r));
    assert_status(evf_redis_cmd(r, "PING"), "PONG"); /* reconnects at once */
    evf_redis_destroy(r);
    srv_cleanup(&srv);
}
END_TEST

START_TEST(test_outage_and_recovery) {
    srv_t srv = {0};
    char url[200], last[512];
    evf_redis_t *r;
    int64_t t0, took;
    uint64_t errors;

    /* SIGPIPE stays at its default here: the module must not let a write to a dead server kill
     * the process. */
    signal(SIGPIPE, SIG_DFL);
    srv_start(&srv);
    r = new_url(local_url(url, sizeof(url), srv.port, NULL, 0), NULL, 1000);
    connect_ok(r);
    assert_status(evf_redis_cmd(r, "SET k v"), "OK");

    srv_stop(&srv);
    usleep(50 * 1000);
    {
        /* A big pipelined write to the dead server (EPIPE / SIGPIPE on the way). */
        size_t big = 8 << 20;
        char *val = malloc(big);
        const char *argv[] = {"SET", "big", val};
        size_t lens[] = {3, 3, big};
        redisReply *reply = NULL;
        memset(val, 'x', big);
        t0 = evf_test_now_ms();
        ck_assert_int_eq(evf_redis_append_argv(r, 3, argv, lens), EVF_OK);
        ck_assert_int_eq(evf_redis_append_argv(r, 3, argv, lens), EVF_OK);
        ck_assert_int_eq(evf_redis_flush(r), EVF_ERR_TRANSPORT);
        ck_assert_int_eq(evf_redis_pending(r), 0); /* both replies lost */
        ck_assert_int_eq(evf_redis_get_reply(r, &reply), EVF_ERR_TRANSPORT);
        ck_assert_ptr_null(reply);
        ck_assert_int_eq(evf_redis_flush(r), EVF_ERR_TRANSPORT);
        ck_assert_int_lt(evf_test_now_ms() - t0, 1000);
        free(val);
    }
    ck_assert_int_eq(evf_redis_connected(r), 0);
    evf_redis_last_error_copy(r, last, sizeof(last));
    ck_assert_msg(strstr(last, "redis 127.0.0.1:") != NULL, "%s", last);

    /* Reconnect attempts now find nobody listening (the first one waits out the backoff: the
     * connection that broke was fresh); later calls wait for the backoff. */
    usleep(150 * 1000);
    t0 = evf_test_now_ms();
    ck_assert_ptr_null(evf_redis_cmd(r, "PING"));
    ck_assert_msg(strstr(evf_redis_last_error(r), "connection refused") != NULL, "%s",
                  evf_redis_last_error(r));
    errors = evf_redis_error_count(r);
    for (int i = 0; i < 50; i++)
        ck_assert_int_eq(evf_redis_ensure(r), EVF_ERR_TRANSPORT);
    ck_assert_int_lt(evf_test_now_ms() - t0, 100);
    ck_assert_int_eq(evf_redis_error_count(r), errors);

    /* Keep trying for a while (the backoff grows), then the server comes back. */
    t0 = evf_test_now_ms();
    while (evf_test_now_ms() - t0 < 700) {
        ck_assert_int_eq(evf_redis_ensure(r), EVF_ERR_TRANSPORT);
        usleep(10 * 1000);
    }
    srv_start(&srv); /* same port */
    took = ensure_within(r, 8000);
    ck_assert_msg(took >= 0 && took <= EVF_REDIS_BACKOFF_MAX_MS + 500, "took %lld: %s",
                  (long long)took, evf_redis_last_error(r));
    ck_assert_int_eq(evf_redis_connected(r), 1);
    assert_status(evf_redis_cmd(r, "PING"), "PONG");

    /* The server closing our connection (CLIENT KILL): the next command fails, the one after
     * reconnects at once (the connection was not fresh). */
    usleep(1100 * 1000);
    admin_ok(srv.port, "CLIENT KILL TYPE normal");
    ck_assert_ptr_null(evf_redis_cmd(r, "PING"));
    ck_assert_msg(strstr(evf_redis_last_error(r), "closed the connection") ||
                      strstr(evf_redis_last_error(r), "reset"),
                  "%s", evf_redis_last_error(r));
    assert_status(evf_redis_cmd(r, "PING"), "PONG");
    evf_redis_destroy(r);
    srv_cleanup(&srv);
}
END_TEST

/* Known SHA-1 vectors (FIPS 180 examples) and agreement with Redis's own SHA1 of the script. */
START_TEST(test_script_sha1) {
    evf_redis_script_t s;
    static char million[1000001];
    evf_redis_script_init(&s, "");
    ck_assert_str_eq(s.sha1, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    evf_redis_script_init(&s, "abc");
    ck_assert_str_eq(s.sha1, "a9993e364706816aba3e25717850c26c9cd0d89d");
    evf_redis_script_init(&s, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq");
    ck_assert_str_eq(s.sha1, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    memset(million, 'a', 1000000);
    evf_redis_script_init(&s, million);
    ck_assert_str_eq(s.sha1, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    /* lengths around the padding boundary (55, 56, 63, 64 bytes) against Redis below */
}
END_TEST

START_TEST(test_evalsha_fallback) {
    srv_t srv = {0};
    char url[200], src[200];
    evf_redis_t *r;
    evf_redis_script_t s, bad;
    redisReply *reply;
    const char *argv[40];

    srv_start(&srv);
    r = new_url(local_url(url, sizeof(url), srv.port, NULL, 0), NULL, 2000);
    connect_ok(r);

    /* Our SHA1 equals SCRIPT LOAD's for sources of many lengths (padding edge cases). */
    for (int n = 50; n <= 70; n++) {
        snprintf(src, sizeof(src), "return %*d", n - 7, n);
        ck_assert_int_eq((int)strlen(src), n);
        evf_redis_script_init(&s, src);
        reply = admin(srv.port, NULL, "SCRIPT LOAD %s", src);
        ck_assert_str_eq(reply->str, s.sha1);
        freeReplyObject(reply);
    }
    admin_ok(srv.port, "SCRIPT FLUSH");

    evf_redis_script_init(&s, "return {KEYS[1], ARGV[1], #ARGV}");
    argv[0] = "key1", argv[1] = "arg1";
    /* not loaded yet: NOSCRIPT → SCRIPT LOAD → EVALSHA */
    reply = evf_redis_eval(r, &s, 1, 2, argv, NULL);
    ck_assert_ptr_nonnull(reply);
    ck_assert_msg(reply->type == REDIS_REPLY_ARRAY, "%d %s", reply->type,
                  reply->str ? reply->str : "");
    ck_assert_int_eq(reply->elements, 3);
    ck_assert_str_eq(reply->element[0]->str, "key1");
    ck_assert_str_eq(reply->element[1]->str, "arg1");
    ck_assert_int_eq(reply->element[2]->integer, 1);
    freeReplyObject(reply);

    /* loaded: one EVALSHA */
    reply = evf_redis_eval(r, &s, 1, 2, argv, NULL);
    ck_assert_int_eq(reply->type, REDIS_REPLY_ARRAY);
    freeReplyObject(reply);

    /* after SCRIPT FLUSH, again; with more arguments than the stack array holds */
    admin_ok(srv.port, "SCRIPT FLUSH");
    for (int i = 0; i < 40; i++)
        argv[i] = i == 0 ? "k" : "a";
    reply = evf_redis_eval(r, &s, 1, 40, argv, NULL);
    ck_assert_int_eq(reply->type, REDIS_REPLY_ARRAY);
    ck_assert_int_eq(reply->element[2]->integer, 39);
    freeReplyObject(reply);

    /* a script that does not compile: Redis's error comes back as a reply */
    evf_redis_script_init(&bad, "return {{");
    reply = evf_redis_eval(r, &bad, 0, 0, NULL, NULL);
    ck_assert_ptr_nonnull(reply);
    ck_assert_int_eq(reply->type, REDIS_REPLY_ERROR);
    freeReplyObject(reply);
    ck_assert_int_eq(evf_redis_connected(r), 1);
    ck_assert_int_eq(evf_redis_error_count(r), 0);
    evf_redis_destroy(r);
    srv_cleanup(&srv);
}
END_TEST

START_TEST(test_eviction_policy) {
    srv_t srv = {0};
    char url[200], err[1024] = "";
    evf_redis_t *r, *bob, *dave;

    srv_start(&srv);
    r = new_url(local_url(url, sizeof(url), srv.port, NULL, 0), NULL, 2000);
    connect_ok(r);
    ck_assert_int_eq(evf_redis_check_eviction(r, 0, err, sizeof(err)), EVF_OK);

    admin_ok(srv.port, "CONFIG SET maxmemory-policy allkeys-lru");
    ck_assert_int_eq(evf_redis_check_eviction(r, 0, err, sizeof(err)), EVF_ERR_INVALID);
    ck_assert_str_eq(err, "redis maxmemory-policy is 'allkeys-lru': idempotency records could be "
                          "evicted; set `maxmemory-policy noeviction` (CONFIG SET "
                          "maxmemory-policy noeviction, or in redis.conf) or set "
                          "idempotency.allow.eviction=true");
    ck_assert_int_eq(evf_redis_check_eviction(r, 1, err, sizeof(err)), EVF_OK);

    /* volatile-* evicts our keys too: they all have a TTL */
    admin_ok(srv.port, "CONFIG SET maxmemory-policy volatile-ttl");
    ck_assert_int_eq(evf_redis_check_eviction(r, 0, err, sizeof(err)), EVF_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err, "'volatile-ttl'"));

    /* a user refused CONFIG: read from INFO memory */
    admin_ok(srv.port, "ACL SETUSER bob on >bob-pw-1 ~* +@all -config");
    bob = new_url(local_url(url, sizeof(url), srv.port, "bob:bob-pw-1", 0), NULL, 2000);
    connect_ok(bob);
    ck_assert_int_eq(evf_redis_check_eviction(bob, 0, err, sizeof(err)), EVF_ERR_INVALID);
    ck_assert_msg(strstr(err, "'volatile-ttl'") != NULL, "%s", err);
    admin_ok(srv.port, "CONFIG SET maxmemory-policy noeviction");
    ck_assert_int_eq(evf_redis_check_eviction(bob, 0, err, sizeof(err)), EVF_OK);

    /* a user refused both: cannot tell, so refuse unless allowed */
    admin_ok(srv.port, "ACL SETUSER dave on >dave-pw-1 ~* +@all -config -info");
    dave = new_url(local_url(url, sizeof(url), srv.port, "dave:dave-pw-1", 0), NULL, 2000);
    connect_ok(dave);
    ck_assert_int_eq(evf_redis_check_eviction(dave, 0, err, sizeof(err)), EVF_ERR_INVALID);
    ck_assert_msg(strstr(err, "cannot read maxmemory-policy") && strstr(err, "NOPERM"), "%s",
                  err);
    ck_assert_int_eq(evf_redis_check_eviction(dave, 1, err, sizeof(err)), EVF_OK);
    ck_assert_int_eq(evf_redis_connected(dave), 1);

    /* unreachable: a transport error */
    srv_stop(&srv);
    ck_assert_int_eq(evf_redis_check_eviction(r, 0, err, sizeof(err)), EVF_ERR_TRANSPORT);
    ck_assert_msg(strstr(err, "redis 127.0.0.1:") != NULL, "%s", err);

    evf_redis_destroy(dave);
    evf_redis_destroy(bob);
    evf_redis_destroy(r);
    srv_cleanup(&srv);
}
END_TEST

static Suite *redis_suite(void) {
    Suite *s = suite_create("redis");
    TCase *shared = tcase_create("shared-server");
    TCase *priv = tcase_create("private-server");
    tcase_set_timeout(shared, 60);
    tcase_set_timeout(priv, 60);
    tcase_add_test(shared, test_basic_commands);
    tcase_add_test(shared, test_pipeline);
    tcase_add_test(shared, test_select_db);
    tcase_add_test(shared, test_bad_url);
    tcase_add_test(shared, test_connection_refused_and_backoff);
    tcase_add_test(shared, test_connect_timeout);
    tcase_add_test(shared, test_script_sha1);
    tcase_add_test(priv, test_acl_user);
    tcase_add_test(priv, test_password_only);
    tcase_add_test(priv, test_command_timeout);
    tcase_add_test(priv, test_outage_and_recovery);
    tcase_add_test(priv, test_evalsha_fallback);
    tcase_add_test(priv, test_eviction_policy);
    suite_add_tcase(s, shared);
    suite_add_tcase(s, priv);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(redis_suite());
    int failed;
    evf_log_init("test_redis", "test", EVF_LOG_DEBUG, EVF_LOG_FORMAT_TEXT);
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
