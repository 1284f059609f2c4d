/* tests/lib/testutil.c — see testutil.h. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static const char *env_or(const char *name, const char *dflt) {
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

const char *evf_test_brokers(void) {
    static char buf[64];
    snprintf(buf, sizeof(buf), "127.0.0.1:%s", env_or("KAFKA_PORT", "9092"));
    return buf;
}

int evf_test_redis_port(void) {
    return atoi(env_or("REDIS_PORT", "6379"));
}

const char *evf_test_redis_url(void) {
    static char buf[64];
    snprintf(buf, sizeof(buf), "redis://127.0.0.1:%d/0", evf_test_redis_port());
    return buf;
}

char *evf_test_bin(const char *name) {
    char *p = NULL;
    if (asprintf(&p, "%s/%s", env_or("EVF_BIN", "bin"), name) < 0)
        abort();
    return p;
}

char *evf_test_plugin(const char *name) {
    char *p = NULL;
    if (asprintf(&p, "%s/plugins/%s.so", env_or("EVF_BUILD", "build/default"), name) < 0)
        abort();
    return p;
}

void evf_test_unique(char *out, size_t out_size, const char *prefix) {
    static int counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(out, out_size, "%s-%d-%d-%lx", prefix, (int)getpid(), ++counter,
             (unsigned long)((ts.tv_nsec ^ (ts.tv_sec << 20)) & 0xffffff));
}

evf_conf_t *evf_test_conf(void) {
    char err[512];
    evf_conf_t *conf = evf_conf_new();
    if (evf_conf_set(conf, "kafka.bootstrap.servers", evf_test_brokers(), "test", err,
                     sizeof(err)) ||
        evf_conf_set(conf, "redis.url", evf_test_redis_url(), "test", err, sizeof(err))) {
        fprintf(stderr, "evf_test_conf: %s\n", err);
        abort();
    }
    return conf;
}

int64_t evf_test_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

pid_t evf_test_spawn(char *const argv[], char *const extra_env[], const char *logfile) {
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        abort();
    }
    if (pid == 0) {
        if (logfile) {
            int fd = open(logfile, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
                close(fd);
            }
        }
        for (size_t i = 0; extra_env && extra_env[i]; i++)
            putenv(extra_env[i]);
        execv(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

int evf_test_wait(pid_t pid, int timeout_ms, int *status) {
    int64_t deadline = evf_test_now_ms() + timeout_ms;
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return 0;
        if (r < 0 && errno != EINTR)
            return -1;
        if (evf_test_now_ms() >= deadline)
            return -1;
        usleep(20 * 1000);
    }
}

void evf_test_kill(pid_t pid) {
    int st;
    if (pid <= 0)
        return;
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
}

int evf_test_sh(const char *cmdline) {
    int st = system(cmdline);
    if (st == -1 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

char *evf_test_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0;
    if (!f)
        return NULL;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            buf = realloc(buf, cap);
            if (!buf)
                abort();
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}
