/* tests/lib/fleet.c — see fleet.h. */
#include "fleet.h"

#include <arpa/inet.h>
#include <check.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
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

#include "config.h"
#include "event.h"
#include "http.h"
#include "kafka.h"
#include "publisher.h"
#include "testutil.h"

#define KAFKA_TMO 30000
#define HTTP_BODY_MAX (4 * 1024 * 1024)

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p)
        abort();
    return p;
}

static char *xstrdup(const char *s) {
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

/* ------------------------------------------------------------------------------------------ */
/* Cleanup                                                                                      */

/* What a test made is written to the session's track file as it is made ("topic NAME", "keys
 * PATTERN", "pid PID" lines): check's forked child that fails an assertion leaves with _exit()
 * (no atexit handler runs) and one that times out is SIGKILLed, so the runner process sweeps
 * the file after the suite (evf_fleet_session_end). A child that ends normally cleans its own
 * at exit. */

#define MAX_TRACKED 128

static char track_path[256];
static char *tracked_topics[MAX_TRACKED];
static size_t n_tracked_topics;
static char *tracked_patterns[MAX_TRACKED];
static size_t n_tracked_patterns;
static pid_t tracked_pids[MAX_TRACKED];
static size_t n_tracked_pids;
static char *tracked_logs[MAX_TRACKED];
static size_t n_tracked_logs;
static pid_t cleanup_owner; /* the process that registered the handler (check forks per test) */

static void track_write(const char *kind, const char *what) {
    char line[600];
    if (!track_path[0])
        return;
    int fd = open(track_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd < 0)
        return;
    int n = snprintf(line, sizeof(line), "%s %s\n", kind, what);
    if (n > 0 && write(fd, line, (size_t)n) != n)
        fprintf(stderr, "fleet: cannot write %s\n", track_path);
    close(fd);
}

/* Is pid (maybe reused since) an evfleet program? */
static int is_evfleet(pid_t pid) {
    char path[64], cmd[512];
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(cmd, 1, sizeof(cmd) - 1, f);
    fclose(f);
    cmd[n] = '\0';
    return strstr(cmd, "evfleet-") != NULL || strstr(cmd, "redis-server") != NULL;
}

static void remove_dir(const char *dir) {
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (evf_test_sh(cmd) != 0)
        fprintf(stderr, "fleet cleanup: cannot remove %s\n", dir);
}

static void kill_pid(pid_t pid) {
    int st;
    if (pid <= 0 || kill(pid, 0) != 0 || !is_evfleet(pid))
        return;
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
}

static void delete_topics(char **topics, size_t n) {
    char err[512];
    if (!n)
        return;
    evf_conf_t *conf = evf_test_conf();
    rd_kafka_conf_t *kc = evf_kafka_conf_new(conf, EVF_KAFKA_ADMIN, err, sizeof(err));
    rd_kafka_t *rk = kc ? rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof(err)) : NULL;
    if (rk) {
        if (evf_kafka_delete_topics(rk, (const char **)topics, n, KAFKA_TMO, err, sizeof(err)))
            fprintf(stderr, "fleet cleanup: deleting topics: %s\n", err);
        rd_kafka_destroy(rk);
    }
    evf_conf_destroy(conf);
}

static void delete_keys(char **patterns, size_t n) {
    char err[512];
    if (!n)
        return;
    evf_conf_t *conf = evf_test_conf();
    evf_redis_t *r = evf_redis_new(conf, "cleanup", err, sizeof(err));
    if (r && evf_redis_connect(r, err, sizeof(err)) == EVF_OK) {
        for (size_t i = 0; i < n; i++)
            evf_fleet_del_pattern(r, patterns[i]);
    }
    evf_redis_destroy(r);
    evf_conf_destroy(conf);
}

static void cleanup_at_exit(void) {
    if (getpid() != cleanup_owner)
        return;
    for (size_t i = 0; i < n_tracked_pids; i++)
        kill_pid(tracked_pids[i]);
    n_tracked_pids = 0;
    delete_topics(tracked_topics, n_tracked_topics);
    delete_keys(tracked_patterns, n_tracked_patterns);
    for (size_t i = 0; i < n_tracked_topics; i++)
        free(tracked_topics[i]);
    for (size_t i = 0; i < n_tracked_patterns; i++)
        free(tracked_patterns[i]);
    n_tracked_topics = n_tracked_patterns = 0;
    /* The test passed (a failed one leaves with _exit): its logs are not needed. */
    for (size_t i = 0; i < n_tracked_logs; i++) {
        unlink(tracked_logs[i]);
        free(tracked_logs[i]);
    }
    n_tracked_logs = 0;
}

static void cleanup_register(void) {
    if (cleanup_owner == getpid())
        return;
    /* A fresh child of check: forget what the parent tracked (the sweep cleans it). */
    n_tracked_topics = n_tracked_patterns = n_tracked_pids = n_tracked_logs = 0;
    cleanup_owner = getpid();
    atexit(cleanup_at_exit);
}

void evf_fleet_session_begin(void) {
    snprintf(track_path, sizeof(track_path), "/tmp/evf-fleet-track-%d.txt", (int)getpid());
    unlink(track_path);
}

void evf_fleet_session_end(void) {
    char *topics[1024], *patterns[256];
    size_t nt = 0, np = 0;
    if (!track_path[0])
        return;
    FILE *f = fopen(track_path, "r");
    if (f) {
        char line[700];
        while (fgets(line, sizeof(line), f)) {
            line[strcspn(line, "\n")] = '\0';
            if (!strncmp(line, "pid ", 4))
                kill_pid((pid_t)atoi(line + 4));
            else if (!strncmp(line, "topic ", 6) && nt < 1024)
                topics[nt++] = xstrdup(line + 6);
            else if (!strncmp(line, "keys ", 5) && np < 256)
                patterns[np++] = xstrdup(line + 5);
            else if (!strncmp(line, "dir /tmp/evf-fleet-redis-", 25) && !strchr(line, '\''))
                remove_dir(line + 4);
        }
        fclose(f);
    }
    delete_topics(topics, nt);
    delete_keys(patterns, np);
    for (size_t i = 0; i < nt; i++)
        free(topics[i]);
    for (size_t i = 0; i < np; i++)
        free(patterns[i]);
    unlink(track_path);
    track_path[0] = '\0';
}

void evf_fleet_track_topic(const char *topic) {
    cleanup_register();
    for (size_t i = 0; i < n_tracked_topics; i++)
        if (!strcmp(tracked_topics[i], topic))
            return;
    ck_assert_uint_lt(n_tracked_topics, MAX_TRACKED);
    tracked_topics[n_tracked_topics++] = xstrdup(topic);
    track_write("topic", topic);
}

void evf_fleet_track_keys(const char *pattern) {
    cleanup_register();
    ck_assert_uint_lt(n_tracked_patterns, MAX_TRACKED);
    tracked_patterns[n_tracked_patterns++] = xstrdup(pattern);
    track_write("keys", pattern);
}

void evf_fleet_track_log(const char *path) {
    cleanup_register();
    ck_assert_uint_lt(n_tracked_logs, MAX_TRACKED);
    tracked_logs[n_tracked_logs++] = xstrdup(path);
}

static void track_pid(pid_t pid) {
    char buf[32];
    cleanup_register();
    ck_assert_uint_lt(n_tracked_pids, MAX_TRACKED);
    tracked_pids[n_tracked_pids++] = pid;
    snprintf(buf, sizeof(buf), "%d", (int)pid);
    track_write("pid", buf);
}

static void untrack_pid(pid_t pid) {
    for (size_t i = 0; i < n_tracked_pids; i++)
        if (tracked_pids[i] == pid)
            tracked_pids[i] = 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Names and topics                                                                             */

void evf_fleet_names(evf_fleet_names_t *n, const char *what, int unique_prefix) {
    char buf[160];
    memset(n, 0, sizeof(*n));
    snprintf(buf, sizeof(buf), "wt-%s", what);
    evf_test_unique(n->topic, sizeof(n->topic), buf);
    snprintf(buf, sizeof(buf), "wg-%s", what);
    evf_test_unique(n->group, sizeof(n->group), buf);
    if (unique_prefix)
        evf_test_unique(n->prefix, sizeof(n->prefix), "evft");
    else
        snprintf(n->prefix, sizeof(n->prefix), "evf");
    snprintf(n->ledger, sizeof(n->ledger), "%s:ledger:%s", n->prefix, n->group);

    evf_fleet_track_topic(n->topic);
    static const char *const suffixes[] = {"retry.1", "retry.2", "retry.3", "retry.4",
                                           "dlq",     "replay"};
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
        evf_fleet_track_topic(evf_fleet_derived(n, suffixes[i]));
    if (unique_prefix) {
        snprintf(buf, sizeof(buf), "%s:*", n->prefix);
        evf_fleet_track_keys(buf);
    } else {
        snprintf(buf, sizeof(buf), "%s:%s:*", n->prefix, n->group);
        evf_fleet_track_keys(buf);
        evf_fleet_track_keys(n->ledger);
    }
}

const char *evf_fleet_derived(const evf_fleet_names_t *n, const char *suffix) {
    static char bufs[16][300];
    static int next;
    char *b = bufs[next++ % 16];
    snprintf(b, sizeof(bufs[0]), "%s.%s.%s", n->topic, n->group, suffix);
    return b;
}

static rd_kafka_t *admin_handle(void) {
    char err[512];
    evf_conf_t *conf = evf_test_conf();
    rd_kafka_conf_t *kc = evf_kafka_conf_new(conf, EVF_KAFKA_ADMIN, err, sizeof(err));
    ck_assert_msg(kc, "%s", err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof(err));
    ck_assert_msg(rk, "%s", err);
    evf_conf_destroy(conf);
    return rk;
}

void evf_fleet_create_topic(const char *topic, int partitions) {
    char err[512];
    evf_fleet_track_topic(topic);
    rd_kafka_t *rk = admin_handle();
    evf_topic_spec_t spec = {topic, partitions, -1, 0, 0};
    int rc = evf_kafka_ensure_topics(rk, &spec, 1, KAFKA_TMO, err, sizeof(err));
    rd_kafka_destroy(rk);
    ck_assert_msg(rc == 0, "creating %s: %s", topic, err);
}

/* ------------------------------------------------------------------------------------------ */
/* Processes                                                                                    */

int evf_fleet_free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    ck_assert_int_ge(fd, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* fork + exec with output appended to logfile; the child dies with us (PR_SET_PDEATHSIG). */
static pid_t spawn(char *const argv[], const char *logfile) {
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int fd = open(logfile ? logfile : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0) {
            dup2(nul, 0);
            close(nul);
        }
        signal(SIGPIPE, SIG_DFL);
        if (strchr(argv[0], '/'))
            execv(argv[0], argv);
        else
            execvp(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    track_pid(pid);
    return pid;
}

/* Where worker logs go: $EVF_BUILD/test-logs/workers/ (kept when the test fails). */
static const char *log_dir(void) {
    static char dir[256];
    if (!dir[0]) {
        const char *b = getenv("EVF_BUILD");
        char cmd[320];
        snprintf(dir, sizeof(dir), "%s/test-logs/workers", b && *b ? b : "build/default");
        snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", dir);
        if (evf_test_sh(cmd) != 0)
            snprintf(dir, sizeof(dir), "/tmp");
    }
    return dir;
}

static void worker_prepare(evf_fleet_worker_t *w) {
    static int seq;
    memset(w, 0, sizeof(*w));
    w->port = evf_fleet_free_port();
    snprintf(w->base_url, sizeof(w->base_url), "http://127.0.0.1:%d", w->port);
    snprintf(w->log_path, sizeof(w->log_path), "%s/worker-%d-%d-%d.log", log_dir(),
             (int)getpid(), ++seq, w->port);
    unlink(w->log_path);
    evf_fleet_track_log(w->log_path);
}

static void worker_spawn(evf_fleet_worker_t *w, char **argv) {
    w->pid = spawn(argv, w->log_path);
}

void evf_fleet_start(evf_fleet_worker_t *w, const evf_fleet_names_t *n,
                     const char *const *extra, const char *const *args) {
    char *argv[256];
    char *own[64];
    int nown = 0, argc = 0;
    worker_prepare(w);

#define OWN(...)                                                                                   \
    do {                                                                                           \
        ck_assert_int_lt(nown, 64);                                                                \
        if (asprintf(&own[nown], __VA_ARGS__) < 0)                                                 \
            abort();                                                                               \
        argv[argc++] = (char *)"-X";                                                               \
        argv[argc++] = own[nown++];                                                                \
    } while (0)

    char *bin = evf_test_bin("evfleet-worker");
    argv[argc++] = bin;
    OWN("kafka.bootstrap.servers=%s", evf_test_brokers());
    OWN("redis.url=%s", evf_test_redis_url());
    OWN("kafka.group.id=%s", n->group);
    OWN("topics=%s", n->topic);
    int own_routes = 0;
    for (size_t i = 0; extra && extra[i]; i++)
        own_routes |= !strncmp(extra[i], "route.", 6);
    if (!own_routes)
        OWN("route.*=ledger");
    OWN("http.listen=127.0.0.1:%d", w->port);
    OWN("log.format=json");
    OWN("kafka.session.timeout.ms=6000");
    OWN("kafka.heartbeat.interval.ms=500");
    OWN("shutdown.grace.ms=5000");
    OWN("retry.topics.delays.ms=");
    OWN("idempotency.key.prefix=%s", n->prefix);
#undef OWN
    for (size_t i = 0; extra && extra[i]; i++) {
        ck_assert_int_lt(argc, 250);
        argv[argc++] = (char *)"-X";
        argv[argc++] = (char *)extra[i];
    }
    for (size_t i = 0; args && args[i]; i++) {
        ck_assert_int_lt(argc, 254);
        argv[argc++] = (char *)args[i];
    }
    argv[argc] = NULL;
    worker_spawn(w, argv);
    for (int i = 0; i < nown; i++)
        free(own[i]);
    free(bin);
}

void evf_fleet_start_raw(evf_fleet_worker_t *w, const char *const *args) {
    char *argv[256];
    int argc = 0;
    worker_prepare(w);
    char *bin = evf_test_bin("evfleet-worker");
    argv[argc++] = bin;
    for (size_t i = 0; args && args[i]; i++) {
        ck_assert_int_lt(argc, 254);
        argv[argc++] = (char *)args[i];
    }
    argv[argc] = NULL;
    worker_spawn(w, argv);
    free(bin);
}

int evf_fleet_alive(evf_fleet_worker_t *w) {
    int st;
    if (w->pid <= 0)
        return 0;
    pid_t r = waitpid(w->pid, &st, WNOHANG);
    if (r == w->pid) {
        w->exit_status = st;
        untrack_pid(w->pid);
        w->pid = 0;
        return 0;
    }
    return 1;
}

char *evf_fleet_log(const evf_fleet_worker_t *w) {
    char *s = evf_test_read_file(w->log_path, NULL);
    return s ? s : xstrdup("");
}

char *evf_fleet_log_tail(const evf_fleet_worker_t *w, size_t max) {
    size_t len = 0;
    char *s = evf_test_read_file(w->log_path, &len);
    if (!s)
        return xstrdup("(no log)");
    if (len > max) {
        memmove(s, s + len - max, max);
        s[max] = '\0';
    }
    return s;
}

char *evf_fleet_get(const evf_fleet_worker_t *w, const char *path, int *status) {
    char url[256], err[512];
    snprintf(url, sizeof(url), "%s%s", w->base_url, path);
    char *body = xmalloc(HTTP_BODY_MAX);
    *status = -1;
    if (evf_http_get(url, 5000, status, body, HTTP_BODY_MAX, err, sizeof(err)) != 0) {
        free(body);
        *status = -1;
        return NULL;
    }
    return body;
}

static int exit_code_of(int st) {
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void evf_fleet_wait_ready(evf_fleet_worker_t *w, int timeout_ms) {
    int64_t deadline = evf_test_now_ms() + timeout_ms;
    int status = -1;
    char *last = NULL;
    for (;;) {
        if (!evf_fleet_alive(w)) {
            char *tail = evf_fleet_log_tail(w, 3000);
            ck_abort_msg("worker (%s) exited (status %d) before it was ready; log:\n%s",
                         w->log_path, exit_code_of(w->exit_status), tail);
        }
        free(last);
        last = evf_fleet_get(w, "/readyz", &status);
        if (status == 200)
            break;
        if (evf_test_now_ms() > deadline) {
            char *tail = evf_fleet_log_tail(w, 3000);
            ck_abort_msg("worker %s not ready after %d ms (last /readyz %d: %s); log:\n%s",
                         w->base_url, timeout_ms, status, last ? last : "-", tail);
        }
        usleep(50 * 1000);
    }
    free(last);
}

int evf_fleet_wait_exit(evf_fleet_worker_t *w, int timeout_ms) {
    int st = 0;
    if (w->pid <= 0)
        return exit_code_of(w->exit_status);
    if (evf_test_wait(w->pid, timeout_ms, &st) != 0)
        return -1;
    untrack_pid(w->pid);
    w->pid = 0;
    w->exit_status = st;
    return exit_code_of(st);
}

int evf_fleet_stop(evf_fleet_worker_t *w, int timeout_ms, int64_t *elapsed_ms) {
    int64_t t0 = evf_test_now_ms();
    if (elapsed_ms)
        *elapsed_ms = 0;
    if (w->pid <= 0)
        return exit_code_of(w->exit_status);
    kill(w->pid, SIGTERM);
    int st = 0;
    if (evf_test_wait(w->pid, timeout_ms, &st) != 0) {
        if (elapsed_ms)
            *elapsed_ms = evf_test_now_ms() - t0;
        evf_fleet_kill(w);
        return -1;
    }
    if (elapsed_ms)
        *elapsed_ms = evf_test_now_ms() - t0;
    untrack_pid(w->pid);
    w->pid = 0;
    w->exit_status = st;
    return exit_code_of(st);
}

void evf_fleet_term(evf_fleet_worker_t *w) {
    if (w->pid > 0)
        kill(w->pid, SIGTERM);
}

void evf_fleet_kill(evf_fleet_worker_t *w) {
    if (w->pid <= 0)
        return;
    int st = 0;
    kill(w->pid, SIGKILL);
    waitpid(w->pid, &st, 0);
    untrack_pid(w->pid);
    w->pid = 0;
    w->exit_status = st;
}

void *evf_fleet_status(const evf_fleet_worker_t *w) {
    int status;
    json_error_t jerr;
    char *body = evf_fleet_get(w, "/status", &status);
    if (!body || status != 200) {
        free(body);
        return NULL;
    }
    json_t *j = json_loads(body, 0, &jerr);
    free(body);
    return j;
}

int evf_fleet_assigned(const evf_fleet_worker_t *w, const char *topic, int *parts, int max) {
    json_t *j = evf_fleet_status(w);
    if (!j)
        return -1;
    json_t *a = json_object_get(j, "assignment");
    int n = 0;
    size_t i;
    json_t *e;
    json_array_foreach(a, i, e) {
        const char *t = json_string_value(json_object_get(e, "topic"));
        if (t && (!topic || !strcmp(t, topic))) {
            if (n < max)
                parts[n] = (int)json_integer_value(json_object_get(e, "partition"));
            n++;
        }
    }
    json_decref(j);
    return n;
}

/* 1 when the replicas together hold each partition of topic exactly once and each replica holds
 * some partition (of any of the group's topics: the assignor balances the total count over the
 * source, retry and replay topics, not each topic); desc gets who holds what. */
static int balanced(evf_fleet_worker_t *ws, size_t nw, const char *topic, int partitions,
                    char *desc, size_t desc_size) {
    int holders[1024] = {0};
    int ok = partitions <= 1024;
    size_t off = 0;
    desc[0] = '\0';
    for (size_t k = 0; k < nw; k++) {
        int parts[1024];
        int n = evf_fleet_assigned(&ws[k], topic, parts, 1024);
        int total = evf_fleet_assigned(&ws[k], NULL, parts + 0, 0);
        off += (size_t)snprintf(desc + off, off < desc_size ? desc_size - off : 0,
                                "%s[%zu] (%d in all): ", k ? "; " : "", k, total);
        if (n < 0 || total <= 0)
            ok = 0;
        for (int i = 0; i < n && i < 1024; i++) {
            if (parts[i] >= 0 && parts[i] < partitions && parts[i] < 1024)
                holders[parts[i]]++;
            off += (size_t)snprintf(desc + off, off < desc_size ? desc_size - off : 0, "%d ",
                                    parts[i]);
        }
    }
    for (int p = 0; p < partitions && p < 1024; p++)
        if (holders[p] != 1)
            ok = 0;
    return ok;
}

void evf_fleet_wait_balanced(evf_fleet_worker_t *ws, size_t nw, const char *topic, int partitions,
                             int stable_ms, int timeout_ms) {
    char desc[2048];
    int64_t deadline = evf_test_now_ms() + timeout_ms, since = 0;
    for (;;) {
        int64_t now = evf_test_now_ms();
        if (balanced(ws, nw, topic, partitions, desc, sizeof(desc))) {
            if (!since)
                since = now;
            if (now - since >= stable_ms)
                return;
        } else {
            since = 0;
        }
        ck_assert_msg(now < deadline,
                      "%zu replicas did not share the %d partitions of %s within %d ms: %s", nw,
                      partitions, topic, timeout_ms, desc);
        usleep(100 * 1000);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Programs                                                                                     */

int evf_fleet_run(const char *const *argv, int timeout_ms, char **out) {
    static int seq;
    char log[256];
    snprintf(log, sizeof(log), "/tmp/evf-fleet-run-%d-%d.log", (int)getpid(), ++seq);
    unlink(log);
    pid_t pid = spawn((char *const *)argv, log);
    int st = 0, rc;
    if (evf_test_wait(pid, timeout_ms, &st) != 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        rc = -1;
    } else {
        rc = exit_code_of(st);
    }
    untrack_pid(pid);
    if (out) {
        *out = evf_test_read_file(log, NULL);
        if (!*out)
            *out = xstrdup("");
    }
    unlink(log);
    return rc;
}

static char **produce_argv(const char *const *args) {
    size_t n = 0;
    while (args[n])
        n++;
    char **argv = xmalloc((n + 2) * sizeof(char *));
    argv[0] = evf_test_bin("evfleet-produce");
    for (size_t i = 0; i < n; i++)
        argv[i + 1] = (char *)args[i];
    argv[n + 1] = NULL;
    return argv;
}

int evf_fleet_produce(const char *const *args, int timeout_ms, char **out) {
    char **argv = produce_argv(args);
    int rc = evf_fleet_run((const char *const *)argv, timeout_ms, out);
    free(argv[0]);
    free(argv);
    return rc;
}

pid_t evf_fleet_produce_start(const char *const *args, const char *log_path) {
    char **argv = produce_argv(args);
    pid_t pid = spawn(argv, log_path);
    free(argv[0]);
    free(argv);
    return pid;
}

/* ------------------------------------------------------------------------------------------ */
/* Publishing crafted messages                                                                  */

evf_pub_t *evf_fleet_publisher(void) {
    char err[512];
    evf_conf_t *conf = evf_test_conf();
    evf_pub_opts_t opts = {.client_id = "evf-fleet-test"};
    evf_pub_t *pub = evf_pub_new(conf, &opts, err, sizeof(err));
    ck_assert_msg(pub, "%s", err);
    evf_conf_destroy(conf);
    return pub;
}

void evf_fleet_publisher_done(evf_pub_t *pub) {
    evf_pub_stats_t st;
    int left = evf_pub_flush(pub, KAFKA_TMO);
    evf_pub_stats(pub, &st);
    evf_pub_destroy(pub, 1000);
    ck_assert_msg(left == 0 && st.failed == 0 && st.delivered == st.queued,
                  "publishing: %d in flight, %" PRIu64 " of %" PRIu64 " failed (%s)", left,
                  st.failed, st.queued, st.last_reason);
}

/* ------------------------------------------------------------------------------------------ */
/* Reading topics                                                                               */

static int cmp_msg(const void *a, const void *b) {
    const evf_fleet_msg_t *x = a, *y = b;
    if (x->partition != y->partition)
        return x->partition < y->partition ? -1 : 1;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

void evf_fleet_read_topic(const char *topic, evf_fleet_msgs_t *out, int timeout_ms) {
    char err[512];
    memset(out, 0, sizeof(*out));
    evf_conf_t *conf = evf_test_conf();
    rd_kafka_conf_t *kc = evf_kafka_conf_new(conf, EVF_KAFKA_READER, err, sizeof(err));
    ck_assert_msg(kc, "%s", err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof(err));
    ck_assert_msg(rk, "%s", err);
    evf_conf_destroy(conf);
    int parts = evf_kafka_partition_count(rk, topic, KAFKA_TMO, err, sizeof(err));
    ck_assert_msg(parts >= 0, "topic %s: %s", topic, err);
    int64_t *high = xmalloc(sizeof(int64_t) * (size_t)(parts ? parts : 1));
    int64_t *next = xmalloc(sizeof(int64_t) * (size_t)(parts ? parts : 1));
    int remaining = 0;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(parts ? parts : 1);
    for (int p = 0; p < parts; p++) {
        int64_t lo = 0, hi = 0;
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, KAFKA_TMO);
        ck_assert_msg(!e, "watermarks of %s[%d]: %s", topic, p, rd_kafka_err2str(e));
        high[p] = hi;
        next[p] = lo;
        if (hi > lo) {
            rd_kafka_topic_partition_list_add(list, topic, p)->offset = lo;
            remaining++;
        }
    }
    size_t cap = 1024;
    out->msgs = xmalloc(cap * sizeof(*out->msgs));
    if (remaining > 0) {
        ck_assert_int_eq(rd_kafka_assign(rk, list), RD_KAFKA_RESP_ERR_NO_ERROR);
        int64_t deadline = evf_test_now_ms() + timeout_ms;
        while (remaining > 0) {
            ck_assert_msg(evf_test_now_ms() < deadline,
                          "reading %s: timed out after %zu messages", topic, out->count);
            rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
            if (!m)
                continue;
            if (m->err) {
                ck_assert_msg(m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF, "reading %s: %s",
                              topic, rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
                continue;
            }
            int p = m->partition;
            if (p < 0 || p >= parts || next[p] >= high[p]) {
                rd_kafka_message_destroy(m);
                continue;
            }
            if (out->count == cap) {
                cap *= 2;
                out->msgs = realloc(out->msgs, cap * sizeof(*out->msgs));
                if (!out->msgs)
                    abort();
            }
            evf_fleet_msg_t *o = &out->msgs[out->count++];
            memset(o, 0, sizeof(*o));
            o->partition = p;
            o->offset = m->offset;
            o->timestamp = rd_kafka_message_timestamp(m, NULL);
            if (m->key) {
                o->key = xmalloc(m->key_len + 1);
                memcpy(o->key, m->key, m->key_len);
                o->key[m->key_len] = '\0';
                o->key_len = m->key_len;
            }
            if (m->payload) {
                o->value = xmalloc(m->len + 1);
                memcpy(o->value, m->payload, m->len);
                o->value[m->len] = '\0';
                o->value_len = m->len;
            }
            rd_kafka_headers_t *h = NULL;
            if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR && h)
                o->headers = rd_kafka_headers_copy(h);
            next[p] = m->offset + 1;
            if (next[p] >= high[p])
                remaining--;
            rd_kafka_message_destroy(m);
        }
    }
    rd_kafka_topic_partition_list_destroy(list);
    free(high);
    free(next);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    qsort(out->msgs, out->count, sizeof(*out->msgs), cmp_msg);
}

void evf_fleet_read_topic_until(const char *topic, size_t want, evf_fleet_msgs_t *out,
                                int timeout_ms) {
    int64_t deadline = evf_test_now_ms() + timeout_ms;
    for (;;) {
        evf_fleet_read_topic(topic, out, KAFKA_TMO);
        if (out->count >= want || evf_test_now_ms() >= deadline)
            return;
        evf_fleet_msgs_free(out);
        usleep(300 * 1000);
    }
}

void evf_fleet_msgs_free(evf_fleet_msgs_t *m) {
    for (size_t i = 0; i < m->count; i++) {
        free(m->msgs[i].key);
        free(m->msgs[i].value);
        if (m->msgs[i].headers)
            rd_kafka_headers_destroy(m->msgs[i].headers);
    }
    free(m->msgs);
    memset(m, 0, sizeof(*m));
}

const char *evf_fleet_header(const evf_fleet_msg_t *m, const char *name, char *buf,
                             size_t size) {
    const void *v = NULL;
    size_t len = 0;
    if (!m->headers || rd_kafka_header_get_last(m->headers, name, &v, &len))
        return NULL;
    snprintf(buf, size, "%.*s", (int)len, v ? (const char *)v : "");
    return buf;
}

/* ------------------------------------------------------------------------------------------ */
/* String → count map                                                                           */

struct evf_fleet_idmap_s {
    char **keys;
    int64_t *counts;
    size_t cap, size;
};

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

evf_fleet_idmap_t *evf_fleet_idmap_new(void) {
    evf_fleet_idmap_t *m = xmalloc(sizeof(*m));
    m->cap = 1024;
    m->size = 0;
    m->keys = calloc(m->cap, sizeof(char *));
    m->counts = calloc(m->cap, sizeof(int64_t));
    if (!m->keys || !m->counts)
        abort();
    return m;
}

void evf_fleet_idmap_free(evf_fleet_idmap_t *m) {
    if (!m)
        return;
    for (size_t i = 0; i < m->cap; i++)
        free(m->keys[i]);
    free(m->keys);
    free(m->counts);
    free(m);
}

static size_t idmap_slot(const evf_fleet_idmap_t *m, const char *key) {
    size_t i = hash_str(key) & (m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], key))
        i = (i + 1) & (m->cap - 1);
    return i;
}

static void idmap_grow(evf_fleet_idmap_t *m) {
    evf_fleet_idmap_t big = {.cap = m->cap * 2};
    big.keys = calloc(big.cap, sizeof(char *));
    big.counts = calloc(big.cap, sizeof(int64_t));
    if (!big.keys || !big.counts)
        abort();
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i])
            continue;
        size_t j = idmap_slot(&big, m->keys[i]);
        big.keys[j] = m->keys[i];
        big.counts[j] = m->counts[i];
    }
    free(m->keys);
    free(m->counts);
    m->keys = big.keys;
    m->counts = big.counts;
    m->cap = big.cap;
}

int64_t evf_fleet_idmap_add(evf_fleet_idmap_t *m, const char *key, int64_t delta) {
    if ((m->size + 1) * 2 > m->cap)
        idmap_grow(m);
    size_t i = idmap_slot(m, key);
    if (!m->keys[i]) {
        m->keys[i] = xstrdup(key);
        m->counts[i] = 0;
        m->size++;
    }
    m->counts[i] += delta;
    return m->counts[i];
}

int64_t evf_fleet_idmap_get(const evf_fleet_idmap_t *m, const char *key) {
    size_t i = idmap_slot(m, key);
    return m->keys[i] ? m->counts[i] : -1;
}

size_t evf_fleet_idmap_size(const evf_fleet_idmap_t *m) {
    return m->size;
}

int evf_fleet_idmap_at(const evf_fleet_idmap_t *m, size_t i, const char **key, int64_t *count) {
    if (i >= m->cap)
        return 0;
    *key = m->keys[i];
    *count = m->keys[i] ? m->counts[i] : 0;
    return 1;
}

evf_fleet_idmap_t *evf_fleet_topic_ids(const char *topic, int timeout_ms) {
    char err[256];
    evf_fleet_msgs_t msgs;
    evf_fleet_read_topic(topic, &msgs, timeout_ms);
    evf_fleet_idmap_t *ids = evf_fleet_idmap_new();
    for (size_t i = 0; i < msgs.count; i++) {
        char ct[128];
        const char *h = evf_fleet_header(&msgs.msgs[i], "content-type", ct, sizeof(ct));
        evf_event_t *ev = evf_event_decode_message(msgs.msgs[i].value, msgs.msgs[i].value_len, h,
                                                   err, sizeof(err));
        ck_assert_msg(ev, "%s[%d]@%" PRId64 " does not decode: %s", topic,
                      msgs.msgs[i].partition, msgs.msgs[i].offset, err);
        evf_fleet_idmap_add(ids, ev->id, 1);
        evf_event_free(ev);
    }
    evf_fleet_msgs_free(&msgs);
    return ids;
}

char *evf_fleet_missing_report(const char *topic, const evf_fleet_idmap_t *ledger) {
    char err[256];
    evf_fleet_msgs_t msgs;
    size_t cap = 4096, len = 0, missing = 0;
    char *out = xmalloc(cap);
    out[0] = '\0';
    evf_fleet_read_topic(topic, &msgs, KAFKA_TMO);
    int32_t part = -1;
    int64_t run_start = -1, run_end = -1;
#define EMIT_RUN()                                                                                 \
    do {                                                                                           \
        if (run_start >= 0 && len + 64 < cap)                                                      \
            len += (size_t)snprintf(out + len, cap - len, " [%d] %" PRId64 "-%" PRId64, part,     \
                                    run_start, run_end);                                           \
        run_start = -1;                                                                            \
    } while (0)
    for (size_t i = 0; i < msgs.count; i++) {
        const evf_fleet_msg_t *m = &msgs.msgs[i];
        char ct[128];
        const char *h = evf_fleet_header(m, "content-type", ct, sizeof(ct));
        evf_event_t *ev = evf_event_decode_message(m->value, m->value_len, h, err, sizeof(err));
        int absent = !ev || evf_fleet_idmap_get(ledger, ev->id) < 0;
        evf_event_free(ev);
        if (m->partition != part || !absent || m->offset != run_end + 1)
            EMIT_RUN();
        part = m->partition;
        if (absent) {
            missing++;
            if (run_start < 0)
                run_start = m->offset;
            run_end = m->offset;
        }
    }
    EMIT_RUN();
#undef EMIT_RUN
    evf_fleet_msgs_free(&msgs);
    char *res = NULL;
    if (asprintf(&res, "%zu of the topic's messages are not in the ledger, at [partition] "
                       "offsets:%s", missing, out) < 0)
        abort();
    free(out);
    return res;
}

/* ------------------------------------------------------------------------------------------ */
/* Redis                                                                                        */

evf_redis_t *evf_fleet_redis(void) {
    char err[512];
    evf_conf_t *conf = evf_test_conf();
    evf_redis_t *r = evf_redis_new(conf, "test", err, sizeof(err));
    ck_assert_msg(r, "%s", err);
    evf_conf_destroy(conf);
    ck_assert_msg(evf_redis_connect(r, err, sizeof(err)) == EVF_OK, "%s", err);
    return r;
}

evf_redis_t *evf_fleet_redis_url(const char *url, const char *password) {
    char err[512];
    evf_redis_opts_t o = {.url = url,
                          .password = password,
                          .connect_timeout_ms = 2000,
                          .command_timeout_ms = 5000,
                          .role = "test"};
    evf_redis_t *r = evf_redis_new_opts(&o, err, sizeof(err));
    ck_assert_msg(r, "%s", err);
    ck_assert_msg(evf_redis_connect(r, err, sizeof(err)) == EVF_OK, "%s", err);
    return r;
}

evf_fleet_idmap_t *evf_fleet_hash(evf_redis_t *r, const char *key) {
    redisReply *rep = evf_redis_cmd(r, "HGETALL %s", key);
    ck_assert_msg(rep && rep->type == REDIS_REPLY_ARRAY, "HGETALL %s failed", key);
    evf_fleet_idmap_t *m = evf_fleet_idmap_new();
    for (size_t i = 0; i + 1 < rep->elements; i += 2)
        evf_fleet_idmap_add(m, rep->element[i]->str, atoll(rep->element[i + 1]->str));
    freeReplyObject(rep);
    return m;
}

int64_t evf_fleet_hlen(evf_redis_t *r, const char *key) {
    redisReply *rep = evf_redis_cmd(r, "HLEN %s", key);
    int64_t n = rep && rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
    if (rep)
        freeReplyObject(rep);
    return n;
}

const char *evf_fleet_hget(evf_redis_t *r, const char *key, const char *field, char *buf,
                           size_t size) {
    redisReply *rep = evf_redis_cmd(r, "HGET %s %s", key, field);
    const char *res = NULL;
    if (rep && rep->type == REDIS_REPLY_STRING) {
        snprintf(buf, size, "%.*s", (int)rep->len, rep->str);
        res = buf;
    }
    if (rep)
        freeReplyObject(rep);
    return res;
}

long evf_fleet_del_pattern(evf_redis_t *r, const char *pattern) {
    char cursor[32] = "0";
    long deleted = 0;
    do {
        redisReply *rep = evf_redis_cmd(r, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
            if (rep)
                freeReplyObject(rep);
            break;
        }
        snprintf(cursor, sizeof(cursor), "%s", rep->element[0]->str);
        redisReply *keys = rep->element[1];
        for (size_t i = 0; i < keys->elements; i++) {
            redisReply *d = evf_redis_cmd(r, "DEL %s", keys->element[i]->str);
            if (d && d->type == REDIS_REPLY_INTEGER)
                deleted += (long)d->integer;
            if (d)
                freeReplyObject(d);
        }
        freeReplyObject(rep);
    } while (strcmp(cursor, "0") != 0);
    return deleted;
}

void evf_fleet_wait_ledger(evf_redis_t *r, const char *ledger, int64_t want, int timeout_ms,
                           int stall_ms, const char *topic) {
    int64_t start = evf_test_now_ms(), last_change = start, last = -2;
    for (;;) {
        int64_t n = evf_fleet_hlen(r, ledger);
        int64_t now = evf_test_now_ms();
        if (n >= want)
            return;
        if (n != last) {
            last = n;
            last_change = now;
        }
        if (now - start >= timeout_ms || now - last_change >= stall_ms) {
            char *why = NULL;
            if (topic) {
                evf_fleet_idmap_t *have = evf_fleet_hash(r, ledger);
                why = evf_fleet_missing_report(topic, have);
                evf_fleet_idmap_free(have);
            }
            ck_abort_msg("ledger %s holds %" PRId64 " of %" PRId64 " ids after %" PRId64
                         " ms (no progress for %" PRId64 " ms)%s%s",
                         ledger, n, want, now - start, now - last_change, why ? ": " : "",
                         why ? why : "");
        }
        usleep(200 * 1000);
    }
}

int evf_fleet_ledger_exact(const evf_fleet_idmap_t *ledger, const evf_fleet_idmap_t *expected,
                           size_t *missing, size_t *wrong, size_t *extra, char *first_wrong,
                           size_t first_wrong_size) {
    const char *k;
    int64_t c;
    *missing = *wrong = *extra = 0;
    if (first_wrong_size)
        first_wrong[0] = '\0';
    for (size_t i = 0; evf_fleet_idmap_at(expected, i, &k, &c); i++) {
        if (!k)
            continue;
        int64_t got = evf_fleet_idmap_get(ledger, k);
        if (got < 0) {
            (*missing)++;
            if (first_wrong_size && !first_wrong[0])
                snprintf(first_wrong, first_wrong_size, "%s missing", k);
        } else if (got != 1) {
            (*wrong)++;
            if (first_wrong_size && !first_wrong[0])
                snprintf(first_wrong, first_wrong_size, "%s counted %" PRId64, k, got);
        }
    }
    for (size_t i = 0; evf_fleet_idmap_at(ledger, i, &k, &c); i++)
        if (k && evf_fleet_idmap_get(expected, k) < 0)
            (*extra)++;
    return *missing == 0 && *wrong == 0 && *extra == 0;
}

/* ------------------------------------------------------------------------------------------ */
/* A private redis-server                                                                       */

static int redis_ping(int port, const char *password) {
    redisContext *c = redisConnect("127.0.0.1", port);
    int ok = 0;
    if (c && !c->err) {
        redisReply *r = password ? redisCommand(c, "AUTH %s", password) : NULL;
        if (r)
            freeReplyObject(r);
        r = redisCommand(c, "PING");
        ok = r && r->type == REDIS_REPLY_STATUS;
        if (r)
            freeReplyObject(r);
    }
    if (c)
        redisFree(c);
    return ok;
}

void evf_fleet_redis_srv_start(evf_fleet_redis_srv_t *srv, const char *requirepass) {
    char port[16], logfile[200];
    if (!srv->port)
        srv->port = evf_fleet_free_port();
    if (!srv->dir[0]) {
        snprintf(srv->dir, sizeof(srv->dir), "/tmp/evf-fleet-redis-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(srv->dir));
        track_write("dir", srv->dir);
    }
    snprintf(port, sizeof(port), "%d", srv->port);
    snprintf(logfile, sizeof(logfile), "%s/redis.log", srv->dir);
    char *argv[] = {"redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no", "--dir", srv->dir, "--logfile", logfile,
                    "--daemonize", "no", requirepass ? "--requirepass" : NULL,
                    (char *)requirepass, NULL};
    srv->pid = spawn(argv, NULL);
    int64_t deadline = evf_test_now_ms() + 10000;
    while (!redis_ping(srv->port, requirepass)) {
        int st;
        ck_assert_msg(waitpid(srv->pid, &st, WNOHANG) == 0, "redis-server exited (log %s)",
                      logfile);
        ck_assert_msg(evf_test_now_ms() < deadline, "redis-server on %d not ready", srv->port);
        usleep(20 * 1000);
    }
}

void evf_fleet_redis_srv_stop(evf_fleet_redis_srv_t *srv) {
    int st;
    if (srv->pid <= 0)
        return;
    kill(srv->pid, SIGKILL);
    waitpid(srv->pid, &st, 0);
    untrack_pid(srv->pid);
    srv->pid = 0;
}

void evf_fleet_redis_srv_cleanup(evf_fleet_redis_srv_t *srv) {
    evf_fleet_redis_srv_stop(srv);
    if (srv->dir[0]) {
        remove_dir(srv->dir);
        srv->dir[0] = '\0';
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Kafka offsets                                                                                */

void evf_fleet_committed(const char *group, const char *topic, int n, int64_t *out) {
    char err[512];
    evf_conf_t *conf = evf_test_conf();
    rd_kafka_conf_t *kc = evf_kafka_conf_new(conf, EVF_KAFKA_READER, err, sizeof(err));
    ck_assert_msg(kc, "%s", err);
    ck_assert_msg(evf_kafka_conf_set(kc, "group.id", group, err, sizeof(err)) == 0, "%s", err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof(err));
    ck_assert_msg(rk, "%s", err);
    evf_conf_destroy(conf);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
    for (int p = 0; p < n; p++)
        rd_kafka_topic_partition_list_add(l, topic, p);
    rd_kafka_resp_err_t e = rd_kafka_committed(rk, l, KAFKA_TMO);
    ck_assert_msg(!e, "committed offsets of %s: %s", group, rd_kafka_err2str(e));
    for (int p = 0; p < n; p++)
        out[p] = l->elems[p].err ? -1 : l->elems[p].offset;
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
}

void evf_fleet_high_watermarks(const char *topic, int n, int64_t *out) {
    char err[512];
    evf_conf_t *conf = evf_test_conf();
    rd_kafka_conf_t *kc = evf_kafka_conf_new(conf, EVF_KAFKA_READER, err, sizeof(err));
    ck_assert_msg(kc, "%s", err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof(err));
    ck_assert_msg(rk, "%s", err);
    evf_conf_destroy(conf);
    for (int p = 0; p < n; p++) {
        int64_t lo = 0, hi = 0;
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, KAFKA_TMO);
        ck_assert_msg(!e, "watermarks of %s[%d]: %s", topic, p, rd_kafka_err2str(e));
        out[p] = hi;
    }
    rd_kafka_destroy(rk);
}

/* ------------------------------------------------------------------------------------------ */
/* Prometheus text format                                                                       */

typedef struct {
    char *name;
    char *labels[16][2];
    int nlabels;
    double value;
} prom_sample_t;

typedef struct {
    char *name;
    char *type;
    int help;
    int has_samples;
} prom_family_t;

struct evf_prom_s {
    prom_sample_t *samples;
    size_t nsamples, cap;
    prom_family_t families[256];
    size_t nfamilies;
};

static int name_start(int c) {
    return isalpha(c) || c == '_' || c == ':';
}

static int name_char(int c) {
    return isalnum(c) || c == '_' || c == ':';
}

static int label_start(int c) {
    return isalpha(c) || c == '_';
}

static int label_char(int c) {
    return isalnum(c) || c == '_';
}

static prom_family_t *family_find(evf_prom_t *p, const char *name) {
    for (size_t i = 0; i < p->nfamilies; i++)
        if (!strcmp(p->families[i].name, name))
            return &p->families[i];
    return NULL;
}

static prom_family_t *family_get(evf_prom_t *p, const char *name) {
    prom_family_t *f = family_find(p, name);
    if (f || p->nfamilies == 256)
        return f;
    f = &p->families[p->nfamilies++];
    memset(f, 0, sizeof(*f));
    f->name = xstrdup(name);
    return f;
}

/* The family a sample name belongs to (histogram suffixes stripped when its family is one). */
static prom_family_t *family_of_sample(evf_prom_t *p, const char *name, const char **suffix) {
    prom_family_t *f = family_find(p, name);
    *suffix = "";
    if (f && f->type)
        return f;
    static const char *const sfx[] = {"_bucket", "_sum", "_count"};
    size_t len = strlen(name);
    for (size_t i = 0; i < 3; i++) {
        size_t sl = strlen(sfx[i]);
        if (len > sl && !strcmp(name + len - sl, sfx[i])) {
            char base[256];
            snprintf(base, sizeof(base), "%.*s", (int)(len - sl), name);
            prom_family_t *b = family_find(p, base);
            if (b && b->type && (!strcmp(b->type, "histogram") || !strcmp(b->type, "summary"))) {
                *suffix = sfx[i];
                return b;
            }
        }
    }
    return f;
}

static int parse_value(const char *s, const char **end, double *out) {
    if (!strncmp(s, "+Inf", 4)) {
        *out = INFINITY;
        *end = s + 4;
        return 0;
    }
    if (!strncmp(s, "-Inf", 4)) {
        *out = -INFINITY;
        *end = s + 4;
        return 0;
    }
    if (!strncmp(s, "NaN", 3)) {
        *out = NAN;
        *end = s + 3;
        return 0;
    }
    char *e = NULL;
    errno = 0;
    *out = strtod(s, &e);
    if (e == s || errno)
        return -1;
    /* strtod also reads "inf"/"nan" spellings and hex: the format allows only Go-style floats. */
    for (const char *c = s; c < e; c++)
        if (!(isdigit((unsigned char)*c) || *c == '.' || *c == 'e' || *c == 'E' || *c == '+' ||
              *c == '-'))
            return -1;
    *end = e;
    return 0;
}

static int parse_err(char *err, size_t size, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int parse_err(char *err, size_t size, int line, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(err, size, "line %d: %s", line, msg);
    return -1;
}

/* One line; returns 0 or -1 (err set). */
static int prom_line(evf_prom_t *p, const char *line, size_t len, int lineno, char *err,
                     size_t err_size) {
    char buf[8192];
    if (len >= sizeof(buf))
        return parse_err(err, err_size, lineno, "line too long");
    memcpy(buf, line, len);
    buf[len] = '\0';
    if (len == 0)
        return 0;
    if (buf[0] == '#') {
        const char *s = buf + 1;
        while (*s == ' ' || *s == '\t')
            s++;
        int is_help = !strncmp(s, "HELP ", 5), is_type = !strncmp(s, "TYPE ", 5);
        if (!is_help && !is_type)
            return 0; /* a plain comment */
        s += 5;
        while (*s == ' ')
            s++;
        const char *ns = s;
        if (!name_start((unsigned char)*s))
            return parse_err(err, err_size, lineno, "bad metric name in '%s'", buf);
        while (name_char((unsigned char)*s))
            s++;
        char name[256];
        snprintf(name, sizeof(name), "%.*s", (int)(s - ns), ns);
        if (*s && *s != ' ')
            return parse_err(err, err_size, lineno, "bad metric name in '%s'", buf);
        while (*s == ' ')
            s++;
        prom_family_t *f = family_get(p, name);
        if (!f)
            return parse_err(err, err_size, lineno, "too many families");
        if (is_help) {
            if (f->help)
                return parse_err(err, err_size, lineno, "second HELP for %s", name);
            f->help = 1;
            return 0;
        }
        static const char *const types[] = {"counter", "gauge", "histogram", "summary",
                                            "untyped"};
        int ok = 0;
        for (size_t i = 0; i < 5; i++)
            ok |= !strcmp(s, types[i]);
        if (!ok)
            return parse_err(err, err_size, lineno, "unknown TYPE '%s' for %s", s, name);
        if (f->type)
            return parse_err(err, err_size, lineno, "second TYPE for %s", name);
        if (f->has_samples)
            return parse_err(err, err_size, lineno, "TYPE for %s after its samples", name);
        f->type = xstrdup(s);
        return 0;
    }

    /* A sample. */
    prom_sample_t smp;
    memset(&smp, 0, sizeof(smp));
    const char *s = buf;
    if (!name_start((unsigned char)*s))
        return parse_err(err, err_size, lineno, "not a comment or a sample: '%s'", buf);
    while (name_char((unsigned char)*s))
        s++;
    smp.name = strndup(buf, (size_t)(s - buf));
    if (*s == '{') {
        s++;
        while (*s != '}') {
            if (!label_start((unsigned char)*s))
                goto bad_labels;
            const char *ls = s;
            while (label_char((unsigned char)*s))
                s++;
            if (smp.nlabels == 16)
                goto bad_labels;
            char *lname = strndup(ls, (size_t)(s - ls));
            if (*s != '=' || s[1] != '"') {
                free(lname);
                goto bad_labels;
            }
            s += 2;
            char val[4096];
            size_t vn = 0;
            while (*s && *s != '"') {
                if (*s == '\\') {
                    s++;
                    if (*s == 'n')
                        val[vn++] = '\n';
                    else if (*s == '\\' || *s == '"')
                        val[vn++] = *s;
                    else {
                        free(lname);
                        goto bad_labels;
                    }
                    s++;
                } else {
                    val[vn++] = *s++;
                }
                if (vn >= sizeof(val) - 1) {
                    free(lname);
                    goto bad_labels;
                }
            }
            if (*s != '"') {
                free(lname);
                goto bad_labels;
            }
            s++;
            val[vn] = '\0';
            for (int i = 0; i < smp.nlabels; i++) {
                if (!strcmp(smp.labels[i][0], lname)) {
                    free(lname);
                    goto bad_labels;
                }
            }
            smp.labels[smp.nlabels][0] = lname;
            smp.labels[smp.nlabels][1] = xstrdup(val);
            smp.nlabels++;
            if (*s == ',')
                s++;
            else if (*s != '}')
                goto bad_labels;
        }
        s++;
    }
    if (*s != ' ')
        goto bad_value;
    while (*s == ' ')
        s++;
    const char *end;
    if (parse_value(s, &end, &smp.value))
        goto bad_value;
    s = end;
    if (*s == ' ') { /* an optional timestamp */
        while (*s == ' ')
            s++;
        if (*s == '-')
            s++;
        if (!isdigit((unsigned char)*s))
            goto bad_value;
        while (isdigit((unsigned char)*s))
            s++;
    }
    if (*s)
        goto bad_value;

    const char *suffix;
    prom_family_t *f = family_of_sample(p, smp.name, &suffix);
    if (!f || !f->type) {
        parse_err(err, err_size, lineno, "sample %s has no TYPE line before it", smp.name);
        goto fail;
    }
    if (!strcmp(f->type, "histogram")) {
        int has_le = 0;
        for (int i = 0; i < smp.nlabels; i++)
            has_le |= !strcmp(smp.labels[i][0], "le");
        if (!*suffix || has_le != !strcmp(suffix, "_bucket")) {
            parse_err(err, err_size, lineno, "histogram sample %s: bad suffix or le label",
                      smp.name);
            goto fail;
        }
    }
    f->has_samples = 1;
    if (p->nsamples == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 256;
        p->samples = realloc(p->samples, p->cap * sizeof(*p->samples));
        if (!p->samples)
            abort();
    }
    p->samples[p->nsamples++] = smp;
    return 0;

bad_labels:
    parse_err(err, err_size, lineno, "bad labels in '%s'", buf);
    goto fail;
bad_value:
    parse_err(err, err_size, lineno, "bad value in '%s'", buf);
fail:
    free(smp.name);
    for (int i = 0; i < smp.nlabels; i++) {
        free(smp.labels[i][0]);
        free(smp.labels[i][1]);
    }
    return -1;
}

evf_prom_t *evf_prom_parse(const char *text, char *err, size_t err_size) {
    evf_prom_t *p = calloc(1, sizeof(*p));
    if (!p)
        abort();
    int lineno = 0;
    const char *s = text;
    while (*s) {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);
        lineno++;
        if (prom_line(p, s, len, lineno, err, err_size)) {
            evf_prom_free(p);
            return NULL;
        }
        if (!nl)
            break;
        s = nl + 1;
    }
    return p;
}

void evf_prom_free(evf_prom_t *p) {
    if (!p)
        return;
    for (size_t i = 0; i < p->nsamples; i++) {
        free(p->samples[i].name);
        for (int k = 0; k < p->samples[i].nlabels; k++) {
            free(p->samples[i].labels[k][0]);
            free(p->samples[i].labels[k][1]);
        }
    }
    free(p->samples);
    for (size_t i = 0; i < p->nfamilies; i++) {
        free(p->families[i].name);
        free(p->families[i].type);
    }
    free(p);
}

const char *evf_prom_type(const evf_prom_t *p, const char *family) {
    for (size_t i = 0; i < p->nfamilies; i++)
        if (!strcmp(p->families[i].name, family))
            return p->families[i].type;
    return NULL;
}

int evf_prom_has_help(const evf_prom_t *p, const char *family) {
    for (size_t i = 0; i < p->nfamilies; i++)
        if (!strcmp(p->families[i].name, family))
            return p->families[i].help;
    return 0;
}

static const char *sample_label(const prom_sample_t *s, const char *name) {
    for (int i = 0; i < s->nlabels; i++)
        if (!strcmp(s->labels[i][0], name))
            return s->labels[i][1];
    return NULL;
}

static int sample_matches(const prom_sample_t *s, const char *match) {
    char buf[512];
    if (!match || !*match)
        return 1;
    snprintf(buf, sizeof(buf), "%s", match);
    char *save = NULL;
    for (char *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq)
            return 0;
        *eq = '\0';
        const char *v = sample_label(s, kv);
        if (!v || strcmp(v, eq + 1))
            return 0;
    }
    return 1;
}

double evf_prom_sum(const evf_prom_t *p, const char *name, const char *match, int *n) {
    double sum = 0;
    int count = 0;
    for (size_t i = 0; i < p->nsamples; i++) {
        if (strcmp(p->samples[i].name, name) || !sample_matches(&p->samples[i], match))
            continue;
        sum += p->samples[i].value;
        count++;
    }
    if (n)
        *n = count;
    return sum;
}

size_t evf_prom_count(const evf_prom_t *p) {
    return p->nsamples;
}

int evf_prom_sample(const evf_prom_t *p, size_t i, const char **name, double *value,
                    const char *label, const char **label_value) {
    if (i >= p->nsamples)
        return -1;
    *name = p->samples[i].name;
    *value = p->samples[i].value;
    if (label_value)
        *label_value = label ? sample_label(&p->samples[i], label) : NULL;
    return 0;
}

evf_prom_t *evf_fleet_metrics(const evf_fleet_worker_t *w) {
    int status;
    char err[600];
    char *body = evf_fleet_get(w, "/metrics", &status);
    ck_assert_msg(body && status == 200, "GET %s/metrics: status %d", w->base_url, status);
    evf_prom_t *p = evf_prom_parse(body, err, sizeof(err));
    ck_assert_msg(p, "%s/metrics does not parse: %s", w->base_url, err);
    free(body);
    return p;
}
