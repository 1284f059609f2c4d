/* tests/unit/test_config.c — the configuration table and loader: precedence and origins, every
 * error path, the environment mapping, pattern keys, lists, routes, secrets and the printers. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

/* Writes content to a new temporary file; returns its path (malloc'd). */
static char *write_tmp(const char *content) {
    char *path = strdup("/tmp/evf-test-config-XXXXXX");
    int fd;
    ck_assert_ptr_nonnull(path);
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    close(fd);
    return path;
}

/* Loads content as a file; returns the load's result, errstr filled, *path_out the file path. */
static int load_text(evf_conf_t *conf, const char *content, char *err, size_t err_size,
                     char **path_out) {
    char *path = write_tmp(content);
    int r = evf_conf_load_file(conf, path, err, err_size);
    unlink(path);
    if (path_out)
        *path_out = path;
    else
        free(path);
    return r;
}

/* Asserts that setting key=value fails with a reason containing want. */
static void set_bad(const char *key, const char *value, const char *want) {
    evf_conf_t *conf = evf_conf_new();
    char err[512] = "", prefix[300];
    int r = evf_conf_set(conf, key, value, "-X", err, sizeof(err));
    ck_assert_msg(r == -1, "%s=%s should be refused", key, value);
    snprintf(prefix, sizeof(prefix), "-X: key '%s': ", key);
    ck_assert_msg(!strncmp(err, prefix, strlen(prefix)), "'%s' does not start with '%s'", err,
                  prefix);
    ck_assert_msg(strstr(err, want), "%s=%s: '%s' does not mention '%s'", key, value, err, want);
    ck_assert_ptr_null(evf_conf_get_set(conf, key));
    evf_conf_destroy(conf);
}

static void set_ok(evf_conf_t *conf, const char *key, const char *value) {
    char err[512] = "";
    int r = evf_conf_set(conf, key, value, "-X", err, sizeof(err));
    ck_assert_msg(r == 0, "%s=%s: %s", key, value, err);
}

/* Runs fn with stderr captured; returns what was written (malloc'd). */
static char *capture_stderr(int (*fn)(void *), void *opaque, int *ret) {
    char path[] = "/tmp/evf-test-stderr-XXXXXX";
    int fd = mkstemp(path), saved;
    FILE *f;
    char *buf = calloc(1, 8192);
    ck_assert_int_ge(fd, 0);
    fflush(stderr);
    saved = dup(2);
    dup2(fd, 2);
    *ret = fn(opaque);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fd);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_ge(fread(buf, 1, 8191, f), 0);
    fclose(f);
    unlink(path);
    return buf;
}

/* Prints with fn into a string (malloc'd). */
static char *dump_to_string(const evf_conf_t *conf, int mask) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    evf_conf_dump(conf, f, mask);
    fclose(f);
    return buf;
}

/* ---------------------------------------------------------------------------------------- */

START_TEST(test_defaults) {
    evf_conf_t *conf = evf_conf_new();
    char buf[256];
    const char *el[8];
    ck_assert_int_eq(evf_conf_int(conf, "worker.threads"), 2);
    ck_assert_int_eq(evf_conf_int(conf, "topics.partitions"), 12);
    ck_assert_int_eq(evf_conf_int(conf, "topics.replication.factor"), -1);
    ck_assert_int_eq(evf_conf_int(conf, "worker.queue.max"), 1000);
    ck_assert_int_eq(evf_conf_int(conf, "event.max.bytes"), 1048576);
    ck_assert_int_eq(evf_conf_int(conf, "processing.timeout.ms"), 30000);
    ck_assert_int_eq(evf_conf_int(conf, "shutdown.grace.ms"), 10000);
    ck_assert_int_eq(evf_conf_int(conf, "retry.max.attempts"), 3);
    ck_assert_int_eq(evf_conf_int(conf, "retry.backoff.initial.ms"), 200);
    ck_assert_int_eq(evf_conf_int(conf, "retry.backoff.max.ms"), 10000);
    ck_assert_double_eq(evf_conf_double(conf, "retry.backoff.multiplier"), 2.0);
    ck_assert_str_eq(evf_conf_str(conf, "retry.jitter"), "full");
    ck_assert_str_eq(evf_conf_str(conf, "retry.topics.delays.ms"), "10000,60000");
    ck_assert_int_eq(evf_conf_int(conf, "max.record.age.ms"), 0);
    ck_assert_int_eq(evf_conf_int(conf, "crash.max.attempts"), 3);
    ck_assert_int_eq(evf_conf_int(conf, "dlq.retention.ms"), -1);
    ck_assert_int_eq(evf_conf_int(conf, "dlq.replay.max"), 3);
    ck_assert_int_eq(evf_conf_bool(conf, "idempotency.enabled"), 1);
    ck_assert_int_eq(evf_conf_int(conf, "idempotency.ttl.ms"), 604800000);
    ck_assert_int_eq(evf_conf_int(conf, "idempotency.lease.ms"), 60000);
    ck_assert_str_eq(evf_conf_str(conf, "idempotency.key.prefix"), "evf");
    ck_assert_str_eq(evf_conf_str(conf, "idempotency.key.source"), "id");
    ck_assert_int_eq(evf_conf_bool(conf, "idempotency.allow.eviction"), 0);
    ck_assert_str_eq(evf_conf_str(conf, "redis.url"), "redis://127.0.0.1:6379/0");
    ck_assert_str_eq(evf_conf_str(conf, "redis.password"), "");
    ck_assert_int_eq(evf_conf_int(conf, "redis.connect.timeout.ms"), 2000);
    ck_assert_int_eq(evf_conf_int(conf, "redis.command.timeout.ms"), 2000);
    ck_assert_str_eq(evf_conf_str(conf, "http.listen"), "127.0.0.1:9464");
    ck_assert_str_eq(evf_conf_str(conf, "log.level"), "info");
    ck_assert_str_eq(evf_conf_str(conf, "log.format"), "auto");
    ck_assert_str_eq(evf_conf_str(conf, "worker.id"), "");
    ck_assert_str_eq(evf_conf_str(conf, "worker.ordering"), "partition");
    ck_assert_str_eq(evf_conf_origin(conf, "worker.threads"), "default");
    ck_assert_ptr_null(evf_conf_get_set(conf, "worker.threads"));
    /* kafka.bootstrap.servers is defaulted by the Kafka module, not the table. */
    ck_assert_ptr_null(evf_conf_get_set(conf, "kafka.bootstrap.servers"));
    ck_assert_uint_eq(evf_conf_list(conf, "topics", buf, sizeof(buf), el, 8), 3);
    ck_assert_str_eq(el[0], "events.s3");
    ck_assert_str_eq(el[1], "events.stream");
    ck_assert_str_eq(el[2], "events.iot");
    evf_conf_destroy(conf);
}
END_TEST

START_TEST(test_precedence_and_origins) {
    evf_conf_t *conf = evf_conf_new();
    char err[512] = "", *path, origin[300];
    char *env[] = {"PATH=/bin", "EVFLEET_WORKER_THREADS=4", "EVFLEET_RETRY_JITTER=none",
                   "EVFLEET_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9999",
                   "EVFLEET_KAFKA_SASL_PASSWORD=pw", NULL};
    ck_assert_int_eq(load_text(conf,
                               "# comment\n"
                               "worker.threads = 3\n"
                               "retry.jitter = equal\n"
                               "log.level = debug\n",
                               err, sizeof(err), &path),
                     0);
    snprintf(origin, sizeof(origin), "%s:4", path);
    ck_assert_str_eq(evf_conf_origin(conf, "log.level"), origin);
    ck_assert_int_eq(evf_conf_int(conf, "worker.threads"), 3);
    ck_assert_int_eq(evf_conf_apply_env(conf, env, err, sizeof(err)), 0);
    ck_assert_int_eq(evf_conf_int(conf, "worker.threads"), 4);
    ck_assert_str_eq(evf_conf_origin(conf, "worker.threads"), "env EVFLEET_WORKER_THREADS");
    ck_assert_str_eq(evf_conf_str(conf, "retry.jitter"), "none");
    ck_assert_str_eq(evf_conf_get_set(conf, "kafka.bootstrap.servers"), "127.0.0.1:9999");
    ck_assert_str_eq(evf_conf_get_set(conf, "kafka.sasl.password"), "pw");
    ck_assert_int_eq(evf_conf_set_arg(conf, "worker.threads=5", err, sizeof(err)), 0);
    ck_assert_int_eq(evf_conf_int(conf, "worker.threads"), 5);
    ck_assert_str_eq(evf_conf_origin(conf, "worker.threads"), "-X");
    ck_assert_str_eq(evf_conf_get_set(conf, "worker.threads"), "5");
    /* Untouched by later sources. */
    ck_assert_str_eq(evf_conf_str(conf, "log.level"), "debug");
    ck_assert_str_eq(evf_conf_origin(conf, "log.level"), origin);
    ck_assert_str_eq(evf_conf_origin(conf, "retry.jitter"), "env EVFLEET_RETRY_JITTER");
    free(path);
    evf_conf_destroy(conf);
}
END_TEST

START_TEST(test_file_syntax) {
    evf_conf_t *conf = evf_conf_new();
    char err[512] = "";
    ck_assert_int_eq(load_text(conf,
                               "\xEF\xBB\xBF# a BOM, comments and blank lines\n"
                               "\n"
                               "   # indented comment\n"
                               "\tworker.threads\t=\t7  \r\n"
                               "worker.id =\n"
                               "processor.chaos.fail.ids = a=b # not a comment\n"
                               "idempotency.enabled=OFF\n"
                               "worker.ordering = KEY\n"
                               "kafka.client.id=x",
                               err, sizeof(err), NULL),
                     0);
    ck_assert_int_eq(evf_conf_int(conf, "worker.threads"), 7);
    ck_assert_str_eq(evf_conf_str(conf, "worker.id"), "");
    ck_assert_str_eq(evf_conf_get_set(conf, "worker.id"), "");
    ck_assert_str_eq(evf_conf_get_set(conf, "processor.chaos.fail.ids"), "a=b # not a comment");
    ck_assert_int_eq(evf_conf_bool(conf, "idempotency.enabled"), 0);
    ck_assert_str_eq(evf_conf_get_set(conf, "idempotency.enabled"), "false"); /* canonical */
    ck_assert_str_eq(evf_conf_str(conf, "worker.ordering"), "key"); /* canonical spelling */
    ck_assert_str_eq(evf_conf_get_set(conf, "kafka.client.id"), "x");
    evf_conf_destroy(conf);
}
END_TEST

START_TEST(test_file_errors_name_file_and_line) {
    static const struct {
        const char *text, *want;
        int line;
    } cases[] = {
        {"worker.threads = 2\n\nnope = 1\n", "key 'nope': unknown key", 3},
        {"# c\nworker.threads = abc\n", "key 'worker.threads': expected an integer, got 'abc'", 2},
        {"worker.threads = 0\n", "key 'worker.threads': must be between 1 and 256", 1},
        {"worker.threads 2\n", "expected 'key = value'", 1},
        {"a\n", "no '='", 1},
        {"= 2\n", "missing key", 1},
        {"processor.x = 1\n", "key 'processor.x': expected processor.<name>.<setting>", 1},
        {"route.s3:* =\n", "key 'route.s3:*': the value must be a processor name", 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        evf_conf_t *conf = evf_conf_new();
        char err[512] = "", *path, prefix[300];
        ck_assert_int_eq(load_text(conf, cases[i].text, err, sizeof(err), &path), -1);
        snprintf(prefix, sizeof(prefix), "%s:%d: ", path, cases[i].line);
        ck_assert_msg(!strncmp(err, prefix, strlen(prefix)), "'%s' should start with '%s'", err,
                      prefix);
        ck_assert_msg(strstr(err, cases[i].want), "'%s' should mention '%s'", err,
                      cases[i].want);
        free(path);
        evf_conf_destroy(conf);
    }
}
END_TEST

START_TEST(test_file_stops_at_first_bad_line) {
    evf_conf_t *conf = evf_conf_new();
    char err[512] = "";
    ck_assert_int_eq(load_text(conf, "worker.threads = 9\nbad\nlog.level = error\n", err,
                               sizeof(err), NULL),
                     -1);
    ck_assert_int_eq(evf_conf_int(conf, "worker.threads"), 9);
    ck_assert_str_eq(evf_conf_str(conf, "log.level"), "info");
    evf_conf_destroy(conf);
}
END_TEST

START_TEST(test_file_missing_and_secret_lines) {
    evf_conf_t *conf = evf_conf_new();
    char err[512] = "";
    ck_assert_int_eq(evf_conf_load_file(conf, "/nonexistent/evf.conf", err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/evf.conf"));
    /* A line without '=' is never quoted: it may be a password missing its key. */
    ck_assert_int_eq(load_text(conf, "hunter2\n", err, sizeof(err), NULL), -1);
    ck_assert_ptr_null(strstr(err, "hunter2"));
    evf_conf_destroy(conf);
}
END_TEST

START_TEST(test_int_values) {
    evf_conf_t *conf = evf_conf_new();
    set_ok(conf, "topics.replication.factor", "-1");
    set_ok(conf, "topics.replication.factor", " 3 ");
    ck_assert_int_eq(evf_conf_int(conf, "topics.replication.factor"), 3);
    set_ok(conf, "max.record.age.ms", "9223372036854775807");
    ck_assert_int_eq(evf_conf_int(conf, "max.record.age.ms"), INT64_MAX);
    set_ok(conf, "worker.threads", "256");
    evf_conf_destroy(conf);

    set_bad("worker.threads", "abc", "expected an integer, got 'abc'");
    set_bad("worker.threads", "12x", "expected an integer, got '12x'");
    set_bad("worker.threads", "1 2", "expected an integer");
    set_bad("worker.threads", "+2", "expected an integer");
    set_bad("worker.threads", "-", "expected an integer");
    set_bad("worker.threads", "", "expected an integer, got ''");
    set_bad("worker.threads", "2.5", "expected an integer");
    set_bad("worker.threads", "0x10", "expected an integer");
    set_bad("worker.threads", "257", "must be between 1 and 256");
    set_bad("worker.threads", "-3", "must be between 1 and 256");
    set_bad("worker.threads", "99999999999999999999", "must be between 1 and 256");
    set_bad("max.record.age.ms", "99999999999999999999", "must be at least 0");
    set_bad("max.record.age.ms", "-1", "must be at least 0");
    set_bad("topics.replication.factor", "-2", "must be between -1 and 32");
    set_bad("idempotency.lease.ms", "999", "must be between 1000 and 86400000");
    set_bad("idempotency.ttl.ms", "999", "must be at least 1000");
    set_bad("shutdown.grace.ms", "3600001", "must be between 0 and 3600000");
}
END_TEST

START_TEST(test_double_bool_enum_values) {
    evf_conf_t *conf = evf_conf_new();
    set_ok(conf, "retry.backoff.multiplier", "1.5");
    ck_assert_double_eq(evf_conf_double(conf, "retry.backoff.multiplier"), 1.5);
    set_ok(conf, "retry.backoff.multiplier", "1e1");
    ck_assert_double_eq(evf_conf_double(conf, "retry.backoff.multiplier"), 10.0);
    static const char *yes[] = {"true", "TRUE", "1", "yes", "Yes", "on", "ON"};
    static const char *no[] = {"false", "False", "0", "no", "NO", "off", "Off"};
    for (size_t i = 0; i < 7; i++) {
        set_ok(conf, "idempotency.allow.eviction", yes[i]);
        ck_assert_int_eq(evf_conf_bool(conf, "idempotency.allow.eviction"), 1);
        set_ok(conf, "idempotency.allow.eviction", no[i]);
        ck_assert_int_eq(evf_conf_bool(conf, "idempotency.allow.eviction"), 0);
    }
    set_ok(conf, "log.level", "WARN");
    ck_assert_str_eq(evf_conf_str(conf, "log.level"), "warn");
    set_ok(conf, "log.format", "json");
    ck_assert_str_eq(evf_conf_str(conf, "log.format"), "json");
    evf_conf_destroy(conf);

    set_bad("retry.backoff.multiplier", "fast", "expected a number, got 'fast'");
    set_bad("retry.backoff.multiplier", "2x", "expected a number");
    set_bad("retry.backoff.multiplier", "", "expected a number");
    set_bad("retry.backoff.multiplier", "inf", "expected a number");
    set_bad("retry.backoff.multiplier", "nan", "expected a number");
    set_bad("retry.backoff.multiplier", "1e999", "expected a number");
    set_bad("retry.backoff.multiplier", "0.5", "must be between 1 and 100");
    set_bad("breaker.p.failure.ratio", "1.01", "must be between 0 and 1");
    set_bad("idempotency.enabled", "maybe", "expected true/false");
    set_bad("idempotency.enabled", "", "expected true/false");
    set_bad("worker.ordering", "random", "must be one of partition|key");
    set_bad("retry.jitter", "", "must be one of full|equal|none");
    set_bad("log.level", "verbose", "must be one of debug|info|warn|error");
}
END_TEST

START_TEST(test_string_values) {
    evf_conf_t *conf = evf_conf_new();
    set_ok(conf, "http.listen", "0.0.0.0:8080");
    set_ok(conf, "http.listen", "[::1]:0");
    set_ok(conf, "http.listen", "localhost:65535");
    set_ok(conf, "redis.url", "redis://:pw@[::1]:6380/3");
    set_ok(conf, "idempotency.key.prefix", "app-1");
    evf_conf_destroy(conf);

    set_bad("http.listen", "9464", "expected host:port");
    set_bad("http.listen", ":9464", "expected host:port");
    set_bad("http.listen", "::1:9464", "expected host:port");
    set_bad("http.listen", "[::1]", "expected host:port or [IPv6]:port");
    set_bad("http.listen", "[]:1", "expected host:port or [IPv6]:port");
    set_bad("http.listen", "host:65536", "port must be between 0 and 65535");
    set_bad("http.listen", "host:-1", "port must be between 0 and 65535");
    set_bad("http.listen", "host:", "port must be");
    set_bad("http.listen", "", "must not be empty");
    set_bad("idempotency.key.prefix", "", "must not be empty");
    set_bad("idempotency.key.prefix", "a b", "spaces");
    set_bad("redis.url", "rediss://h:6380", "TLS");
    set_bad("redis.url", "redis://h:0", "port");
    set_bad("redis.url", "", "must not be empty");
}
END_TEST

START_TEST(test_redis_url_error_hides_password) {
    evf_conf_t *conf = evf_conf_new();
    char err[512] = "";
    ck_assert_int_eq(
        evf_conf_set(conf, "redis.url", "redis://u:hunter2@h:notaport/0", "-X", err, sizeof(err)),
        -1);
    ck_assert_ptr_nonnull(strstr(err, "key 'redis.url'"));
    ck_assert_ptr_null(strstr(err, "hunter2"));
    evf_conf_destroy(conf);
}
END_TEST

START_TEST(test_list_values) {
    evf_conf_t *conf = evf_conf_new();
    char buf[64];
    const char *el[4];
    set_ok(conf, "topics", " a , ,b,, c.d-e_f ,");
    ck_assert_uint_eq(evf_conf_list(conf, "topics", buf, sizeof(buf), el, 4), 3);
    ck_assert_str_eq(el[0], "a");
    ck_assert_str_eq(el[1], "b");
    ck_assert_str_eq(el[2], "c.d-e_f");
    /* max limits the count. */
    ck_assert_uint_eq(evf_conf_list(conf, "topics", buf, sizeof(buf), el, 2), 2);
    ck_assert_str_eq(el[1], "b");
    set_ok(conf, "retry.topics.delays.ms", "");
    ck_assert_uint_eq(evf_conf_list(conf, "retry.topics.delays.ms", buf, sizeof(buf), el, 4), 0);
    set_ok(conf, "retry.topics.delays.ms", "0, 5000 ,604800000");
    ck_assert_uint_eq(evf_conf_list(conf, "retry.topics.delays.ms", buf, sizeof(buf), el, 4), 3);
    ck_assert_str_eq(el[1], "5000");
    set_ok(conf, "idempotency.key.source", "s3.bucket,s3.key,s3.sequencer");
    ck_assert_uint_eq(evf_conf_list(conf, "idempotency.key.source", buf, sizeof(buf), el, 4), 3);
    ck_assert_str_eq(el[2], "s3.sequencer");
    /* Open-prefix keys split too; unset ones are empty. */
    set_ok(conf, "processor.chaos.fail.ids", "e1,e2");
    ck_assert_uint_eq(evf_conf_list(conf, "processor.chaos.fail.ids", buf, sizeof(buf), el, 4),
                      2);
    ck_assert_str_eq(el[0], "e1");
    ck_assert_uint_eq(evf_conf_list(conf, "processor.chaos.crash.ids", buf, sizeof(buf), el, 4),
                      0);
    /* A buffer too small truncates, never overflows. */
    ck_assert_uint_eq(evf_conf_list(conf, "idempotency.key.source", buf, 8, el, 4), 1);
    ck_assert_str_eq(el[0], "s3.buck");
    evf_conf_destroy(conf);

    set_bad("topics", "", "needs at least one element");
    set_bad("topics", " , ", "needs at least one element");
    set_bad("topics", "good,bad topic", "element 'bad topic'");
    set_bad("topics", "a,b/c", "[A-Za-z0-9._-]");
    set_bad("retry.topics.delays.ms", "1000,x", "element 'x' is not an integer");
    set_bad("retry.topics.delays.ms", "1000,-5", "must be between 0 and 604800000");
    set_bad("idempotency.key.source", "", "needs at least one element");
    set_bad("idempotency.key.source", "s3.key,a b", "element 'a b'");
}
END_TEST

START_TEST(test_key_shapes) {
    evf_conf_t *conf = evf_conf_new();
    char err[512];
    set_ok(conf, "processor.iot_rollup.window.ms", "60000");
    set_ok(conf, "processor.chaos.fail.rate", "0.1");
    set_ok(conf, "kafka.security.protocol", "SASL_PLAINTEXT");
    set_ok(conf, "route.s3:ObjectCreated:*", "s3_index");
    set_ok(conf, "breaker.s3_index.window.ms", "1000");
    set_ok(conf, "breaker.iot-rollup.min.calls", "0");
    /* -X splits at the first '=' only. */
    ck_assert_int_eq(evf_conf_set_arg(conf, "processor.p.expr=a=b", err, sizeof(err)), 0);
    ck_assert_str_eq(evf_conf_get_set(conf, "processor.p.expr"), "a=b");
    ck_assert_int_eq(evf_conf_set_arg(conf, "  worker.threads =  6 ", err, sizeof(err)), 0);
    ck_assert_int_eq(evf_conf_int(conf, "worker.threads"), 6);
    ck_assert_int_eq(evf_conf_set_arg(conf, "worker.threads", err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "-X"));
    ck_assert_ptr_nonnull(strstr(err, "key=value"));
    evf_conf_destroy(conf);

    set_bad("nope", "1", "unknown key");
    set_bad("Worker.Threads", "1", "unknown key");
    set_bad("worker", "1", "unknown key");
    set_bad("processor.x", "1", "expected processor.<name>.<setting>");
    set_bad("processor.x.", "1", "expected processor.<name>.<setting>");
    set_bad("processor..y", "1", "expected processor.<name>.<setting>");
    set_bad("processor.", "1", "expected processor.<name>.<setting>");
    set_bad("processor.a b.c", "1", "processor name");
    set_bad("kafka.", "x", "expected kafka.");
    set_bad("route.", "noop", "expected route.");
    set_bad("route.s3:*", "", "processor name");
    set_bad("route.s3:*", "two words", "processor name");
    set_bad("breaker.window.ms", "1", "unknown key");
    set_bad("breaker..window.ms", "1", "unknown key");
    set_bad("breaker.a.b.window.ms", "1", "unknown key");
    set_bad("breaker.a.window", "1", "unknown key");
    set_bad("breaker.a.window.ms", "x", "expected an integer");
}
END_TEST

START_TEST(test_pattern_getters) {
    evf_conf_t *conf = evf_conf_new();
    ck_assert_int_eq(evf_conf_intf(conf, "breaker.%s.window.ms", "s3_index"), 30000);
    ck_assert_int_eq(evf_conf_intf(conf, "breaker.%s.min.calls", "s3_index"), 20);
    ck_assert_int_eq(evf_conf_intf(conf, "breaker.%s.cooldown.ms", "s3_index"), 10000);
    ck_assert_double_eq(evf_conf_doublef(conf, "breaker.%s.failure.ratio", "s3_index"), 0.5);
    set_ok(conf, "breaker.s3_index.min.calls", "0");
    set_ok(conf, "breaker.s3_index.failure.ratio", "0.25");
    ck_assert_int_eq(evf_conf_intf(conf, "breaker.%s.min.calls", "s3_index"), 0);
    ck_assert_double_eq(evf_conf_doublef(conf, "breaker.%s.failure.ratio", "s3_index"), 0.25);
    ck_assert_int_eq(evf_conf_intf(conf, "breaker.%s.min.calls", "other"), 20);
    ck_assert_str_eq(evf_conf_origin(conf, "breaker.s3_index.min.calls"), "-X");
    ck_assert_str_eq(evf_conf_origin(conf, "breaker.other.min.calls"), "default");
    /* A double getter reads an int key too. */
    ck_assert_double_eq(evf_conf_double(conf, "worker.threads"), 2.0);
    evf_conf_destroy(conf);
}
END_TEST

START_TEST(test_getter_wrong_type_aborts) {
    evf_conf_t *conf = evf_conf_new();
    (void)evf_conf_int(conf, "log.level");
}
END_TEST

START_TEST(test_getter_unknown_key_aborts) {
    evf_conf_t *conf = evf_conf_new();
    (void)evf_conf_str(conf, "kafka.bootstrap.servers");
}
END_TEST

START_TEST(test_env_names) {
    char out[128];
    evf_conf_env_name("processor.iot_rollup.window.ms", out, sizeof(out));
    ck_assert_str_eq(out, "EVFLEET_PROCESSOR_IOT__ROLLUP_WINDOW_MS");
    evf_conf_env_name("kafka.bootstrap.servers", out, sizeof(out));
    ck_assert_str_eq(out, "EVFLEET_KAFKA_BOOTSTRAP_SERVERS");
    evf_conf_env_name("a.b_c", out, sizeof(out));
    ck_assert_str_eq(out, "EVFLEET_A_B__C");
    evf_conf_env_name("worker.threads", out, 12);
    ck_assert_str_eq(out, "EVFLEET_WOR");

    ck_assert_int_eq(evf_conf_env_key("EVFLEET_PROCESSOR_IOT__ROLLUP_WINDOW_MS", out, sizeof(out)),
                     0);
    ck_assert_str_eq(out, "processor.iot_rollup.window.ms");
    ck_assert_int_eq(evf_conf_env_key("EVFLEET_KAFKA_SASL_PASSWORD", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "kafka.sasl.password");
    ck_assert_int_eq(evf_conf_env_key("EVFLEET_A_B__C", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "a.b_c");
    ck_assert_int_eq(evf_conf_env_key("EVFLEET_", out, sizeof(out)), -1);
    ck_assert_int_eq(evf_conf_env_key("OTHER_X", out, sizeof(out)), -1);
    ck_assert_int_eq(evf_conf_env_key("EVFLEET_WORKER_THREADS", out, 8), -1);

    /* Both directions agree for every key shape the project uses. */
    static const char *keys[] = {"worker.threads", "breaker.s3_index.failure.ratio",
                                 "processor.stream_materialize.key_fields", "kafka.sasl.username",
                                 "idempotency.allow.eviction"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char env[128], back[128];
        evf_conf_env_name(keys[i], env, sizeof(env));
        ck_assert_int_eq(evf_conf_env_key(env, back, sizeof(back)), 0);
        ck_assert_str_eq(back, keys[i]);
    }
}
END_TEST

START_TEST(test_env_processor_setting) {
    evf_conf_t *conf = evf_conf_new();
    char err[512];
    char *env[] = {"EVFLEET_PROCESSOR_IOT__ROLLUP_WINDOW_MS=60000",
                   "EVFLEET_BREAKER_S3__INDEX_MIN_CALLS=5", "EVFLEET_REDIS_PASSWORD= s3cr3t ",
                   NULL};
    ck_assert_int_eq(evf_conf_apply_env(conf, env, err, sizeof(err)), 0);
    ck_assert_str_eq(evf_conf_get_set(conf, "processor.iot_rollup.window.ms"), "60000");
    ck_assert_str_eq(evf_conf_origin(conf, "processor.iot_rollup.window.ms"),
                     "env EVFLEET_PROCESSOR_IOT__ROLLUP_WINDOW_MS");
    ck_assert_int_eq(evf_conf_intf(conf, "breaker.%s.min.calls", "s3_index"), 5);
    ck_assert_str_eq(evf_conf_str(conf, "redis.password"), "s3cr3t");
    evf_conf_destroy(conf);
}
END_TEST

START_TEST(test_env_bad_value_is_error) {
    evf_conf_t *conf = evf_conf_new();
    char err[512] = "";
    char *env[] = {"EVFLEET_LOG_LEVEL=debug", "EVFLEET_WORKER_THREADS=many", NULL};
    ck_assert_int_eq(evf_conf_apply_env(conf, env, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "env EVFLEET_WORKER_THREADS: key 'worker.threads': expected an "
                              "integer, got 'many'"),
                  "%s", err);
    evf_conf_destroy(conf);
}
END_TEST

typedef struct {
    evf_conf_t *conf;
    char **env;
    char err[512];
} env_call_t;

static int call_apply_env(void *opaque) {
    env_call_t *c = opaque;
    return evf_conf_apply_env(c->conf, c->env, c->err, sizeof(c->err));
}

START_TEST(test_env_unknown_is_warning) {
    env_call_t c = {.conf = evf_conf_new()};
    char *env[] = {"EVFLEET_NO_SUCH_KEY=1", "EVFLEET_PROCESSOR_X=1", "EVFLEET_=1",
                   "EVFLEET_WORKER_THREADS=8", "NOT_OURS=1", NULL};
    int r;
    char *out;
    c.env = env;
    out = capture_stderr(call_apply_env, &c, &r);
    ck_assert_int_eq(r, 0);
    ck_assert_msg(strstr(out, "EVFLEET_NO_SUCH_KEY"), "warning should name it: %s", out);
    ck_assert_msg(strstr(out, "EVFLEET_PROCESSOR_X"), "warning should name it: %s", out);
    ck_assert_ptr_null(strstr(out, "NOT_OURS"));
    ck_assert_ptr_null(evf_conf_get_set(c.conf, "no.such.key"));
    /* The known variable after the unknown ones is still applied. */
    ck_assert_int_eq(evf_conf_int(c.conf, "worker.threads"), 8);
    free(out);
    evf_conf_destroy(c.conf);
}
END_TEST

START_TEST(test_env_route_ignored) {
    env_call_t c = {.conf = evf_conf_new()};
    char *env[] = {"EVFLEET_ROUTE_S3=noop", NULL};
    size_t n = 99;
    int r;
    char *out;
    c.env = env;
    out = capture_stderr(call_apply_env, &c, &r);
    ck_assert_int_eq(r, 0);
    ck_assert_ptr_null(evf_conf_get_set(c.conf, "route.s3"));
    evf_conf_routes(c.conf, &n);
    ck_assert_uint_eq(n, 0);
    ck_assert_msg(strstr(out, "EVFLEET_ROUTE_S3") && strstr(out, "-X"), "%s", out);
    free(out);
    evf_conf_destroy(c.conf);
}
END_TEST

START_TEST(test_routes_order_and_replacement) {
    evf_conf_t *conf = evf_conf_new();
    char err[512] = "", *path, origin[300];
    const evf_conf_route_t *routes;
    size_t n = 0;
    ck_assert_int_eq(load_text(conf,
                               "route.s3:* = s3_index\n"
                               "route.stream:* = stream_materialize\n"
                               "route.iot:telemetry = iot_rollup\n",
                               err, sizeof(err), &path),
                     0);
    ck_assert_int_eq(evf_conf_set_arg(conf, "route.custom.* = my.plugin-1", err, sizeof(err)), 0);
    ck_assert_int_eq(evf_conf_set_arg(conf, "route.stream:* = noop", err, sizeof(err)), 0);
    routes = evf_conf_routes(conf, &n);
    ck_assert_uint_eq(n, 4);
    ck_assert_str_eq(routes[0].glob, "s3:*");
    ck_assert_str_eq(routes[0].processor, "s3_index");
    snprintf(origin, sizeof(origin), "%s:1", path);
    ck_assert_str_eq(routes[0].origin, origin);
    ck_assert_str_eq(routes[1].glob, "stream:*");
    ck_assert_str_eq(routes[1].processor, "noop"); /* replaced in place */
    ck_assert_str_eq(routes[1].origin, "-X");
    ck_assert_str_eq(routes[2].glob, "iot:telemetry");
    ck_assert_str_eq(routes[3].glob, "custom.*");
    ck_assert_str_eq(routes[3].processor, "my.plugin-1");
    free(path);
    evf_conf_destroy(conf);
}
END_TEST

typedef struct {
    char seen[512];
    int stop_at;
    int calls;
} collect_t;

static int collect(void *opaque, const char *subkey, const char *value, const char *origin) {
    collect_t *c = opaque;
    size_t len = strlen(c->seen);
    snprintf(c->seen + len, sizeof(c->seen) - len, "%s=%s@%s;", subkey, value, origin);
    return ++c->calls == c->stop_at ? 42 : 0;
}

START_TEST(test_foreach_prefix_order) {
    evf_conf_t *conf = evf_conf_new();
    char err[512];
    collect_t c = {.stop_at = 0};
    set_ok(conf, "kafka.client.id", "a");
    set_ok(conf, "processor.chaos.fail.rate", "0.5");
    set_ok(conf, "kafka.acks", "all");
    ck_assert_int_eq(evf_conf_set(conf, "kafka.client.id", "b", "f:9", err, sizeof(err)), 0);
    set_ok(conf, "kafka.linger.ms", "5");
    set_ok(conf, "processor.chaos.fail.kind", "permanent");
    ck_assert_int_eq(evf_conf_foreach_prefix(conf, "kafka.", collect, &c), 0);
    ck_assert_str_eq(c.seen, "client.id=b@f:9;acks=all@-X;linger.ms=5@-X;");
    memset(&c, 0, sizeof(c));
    c.stop_at = 1;
    ck_assert_int_eq(evf_conf_foreach_prefix(conf, "processor.chaos.", collect, &c), 42);
    ck_assert_str_eq(c.seen, "fail.rate=0.5@-X;");
    memset(&c, 0, sizeof(c));
    ck_assert_int_eq(evf_conf_foreach_prefix(conf, "processor.none.", collect, &c), 0);
    ck_assert_int_eq(c.calls, 0);
    evf_conf_destroy(conf);
}
END_TEST

START_TEST(test_is_secret) {
    ck_assert(evf_conf_is_secret("redis.password"));
    ck_assert(!evf_conf_is_secret("redis.url"));
    ck_assert(!evf_conf_is_secret("worker.threads"));
    ck_assert(evf_conf_is_secret("kafka.sasl.password"));
    ck_assert(evf_conf_is_secret("kafka.ssl.key.password"));
    ck_assert(evf_conf_is_secret("kafka.ssl.keystore.password"));
    ck_assert(evf_conf_is_secret("kafka.ssl.key.pem"));
    ck_assert(evf_conf_is_secret("kafka.ssl_key"));
    ck_assert(evf_conf_is_secret("kafka.sasl.oauthbearer.config"));
    ck_assert(evf_conf_is_secret("kafka.sasl.oauthbearer.client.secret"));
    ck_assert(evf_conf_is_secret("kafka.SASL.Password"));
    ck_assert(evf_conf_is_secret("processor.http.api_token"));
    ck_assert(evf_conf_is_secret("processor.s3.aws.credentials"));
    ck_assert(!evf_conf_is_secret("processor.token_counter.window.ms"));
    ck_assert(!evf_conf_is_secret("kafka.sasl.username"));
    ck_assert(!evf_conf_is_secret("kafka.bootstrap.servers"));
    ck_assert(!evf_conf_is_secret("route.password:*"));
}
END_TEST

START_TEST(test_dump_redacts_secrets) {
    evf_conf_t *conf = evf_conf_new();
    char *out;
    set_ok(conf, "redis.url", "redis://admin:urlsecret1@h:6379/0");
    set_ok(conf, "redis.password", "pwsecret2");
    set_ok(conf, "kafka.sasl.password", "kafkasecret3");
    set_ok(conf, "kafka.sasl.username", "alice");
    set_ok(conf, "processor.http.api_token", "tokensecret4");
    set_ok(conf, "processor.http.endpoint", "http://x");
    set_ok(conf, "route.s3:*", "s3_index");
    set_ok(conf, "breaker.s3_index.min.calls", "7");
    out = dump_to_string(conf, EVF_CONF_PROG_ALL);
    ck_assert_ptr_null(strstr(out, "urlsecret1"));
    ck_assert_ptr_null(strstr(out, "pwsecret2"));
    ck_assert_ptr_null(strstr(out, "kafkasecret3"));
    ck_assert_ptr_null(strstr(out, "tokensecret4"));
    ck_assert_ptr_nonnull(strstr(out, "redis.url = redis://admin:***@h:6379/0 "));
    ck_assert_ptr_nonnull(strstr(out, "redis.password = [redacted] "));
    ck_assert_ptr_nonnull(strstr(out, "kafka.sasl.password = [redacted] "));
    ck_assert_ptr_nonnull(strstr(out, "processor.http.api_token = [redacted] "));
    ck_assert_ptr_nonnull(strstr(out, "kafka.sasl.username = alice "));
    ck_assert_ptr_nonnull(strstr(out, "processor.http.endpoint = http://x "));
    ck_assert_ptr_nonnull(strstr(out, "route.s3:* = s3_index "));
    ck_assert_ptr_nonnull(strstr(out, "breaker.s3_index.min.calls = 7 "));
    ck_assert_ptr_nonnull(strstr(out, "worker.threads = 2 "));
    ck_assert_ptr_nonnull(strstr(out, "# default\n"));
    ck_assert_ptr_nonnull(strstr(out, "# -X\n"));
    ck_assert_ptr_null(strstr(out, "breaker.<processor>"));
    ck_assert_ptr_null(strstr(out, "breaker.*"));
    free(out);

    /* An empty secret stays empty: "[redacted]" would suggest one is set. */
    evf_conf_destroy(conf);
    conf = evf_conf_new();
    out = dump_to_string(conf, EVF_CONF_PROG_WORKER);
    ck_assert_ptr_nonnull(strstr(out, "\nredis.password = "));
    ck_assert_ptr_null(strstr(out, "[redacted]"));
    free(out);
    evf_conf_destroy(conf);
}
END_TEST

START_TEST(test_dump_masks_programs) {
    evf_conf_t *conf = evf_conf_new();
    char *out = dump_to_string(conf, EVF_CONF_PROG_PRODUCE);
    ck_assert_ptr_nonnull(strstr(out, "topics = events.s3,events.stream,events.iot "));
    ck_assert_ptr_nonnull(strstr(out, "log.level = info "));
    ck_assert_ptr_null(strstr(out, "worker.threads"));
    ck_assert_ptr_null(strstr(out, "redis.url"));
    free(out);
    out = dump_to_string(conf, EVF_CONF_PROG_DLQ);
    ck_assert_ptr_nonnull(strstr(out, "dlq.replay.max = 3 "));
    ck_assert_ptr_nonnull(strstr(out, "redis.url = "));
    ck_assert_ptr_null(strstr(out, "worker.threads"));
    free(out);
    evf_conf_destroy(conf);
}
END_TEST

/* Every line of a default dump sets back without error: the table's defaults are valid. */
START_TEST(test_defaults_are_valid) {
    evf_conf_t *conf = evf_conf_new(), *again = evf_conf_new();
    char *out = dump_to_string(conf, EVF_CONF_PROG_ALL), *save = NULL;
    int lines = 0;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *eq = strstr(line, " = "), *hash = strstr(line, "  # ");
        char err[512];
        ck_assert_ptr_nonnull(eq);
        ck_assert_ptr_nonnull(hash);
        ck_assert_str_eq(hash + 4, "default");
        *eq = '\0';
        *hash = '\0';
        ck_assert_msg(evf_conf_set(again, line, eq + 3, "dump", err, sizeof(err)) == 0, "%s",
                      err);
        lines++;
    }
    ck_assert_int_ge(lines, 33);
    free(out);
    evf_conf_destroy(conf);
    evf_conf_destroy(again);
}
END_TEST

START_TEST(test_markdown_lists_every_key) {
    evf_conf_t *conf = evf_conf_new();
    char *dump = dump_to_string(conf, EVF_CONF_PROG_ALL), *md = NULL, *md2 = NULL, *save = NULL;
    size_t len = 0, len2 = 0;
    FILE *f = open_memstream(&md, &len);
    evf_conf_print_markdown(f);
    fclose(f);
    f = open_memstream(&md2, &len2);
    evf_conf_print_markdown(f);
    fclose(f);
    ck_assert_str_eq(md, md2); /* deterministic */
    ck_assert(!strncmp(md, "| key | type | default | programs | description |\n", 50));
    for (char *line = strtok_r(dump, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char row[256];
        *strstr(line, " = ") = '\0';
        snprintf(row, sizeof(row), "| `%s` |", line);
        ck_assert_msg(strstr(md, row), "markdown lacks %s", row);
    }
    static const char *patterns[] = {"breaker.<processor>.window.ms",
                                     "breaker.<processor>.min.calls",
                                     "breaker.<processor>.failure.ratio",
                                     "breaker.<processor>.cooldown.ms"};
    for (size_t i = 0; i < 4; i++) {
        char row[256];
        snprintf(row, sizeof(row), "| `%s` |", patterns[i]);
        ck_assert_msg(strstr(md, row), "markdown lacks %s", row);
    }
    ck_assert_ptr_nonnull(strstr(md, "`kafka.<property>`"));
    ck_assert_ptr_nonnull(strstr(md, "`processor.<name>.<setting>`"));
    ck_assert_ptr_nonnull(strstr(md, "`route.<type-glob>"));
    /* Enum choices are escaped so they do not split the table's cells. */
    ck_assert_ptr_nonnull(strstr(md, "enum partition\\|key"));
    free(dump);
    free(md);
    free(md2);
    evf_conf_destroy(conf);
}
END_TEST

START_TEST(test_help_by_program) {
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    evf_conf_print_help(f, EVF_CONF_PROG_PRODUCE);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(out, "  topics "));
    ck_assert_ptr_nonnull(strstr(out, "kafka.<property>"));
    ck_assert_ptr_null(strstr(out, "worker.threads"));
    ck_assert_ptr_null(strstr(out, "route.<type-glob>"));
    free(out);
    f = open_memstream(&out, &len);
    evf_conf_print_help(f, EVF_CONF_PROG_WORKER);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(out, "worker.threads"));
    ck_assert_ptr_nonnull(strstr(out, "int 1..256"));
    ck_assert_ptr_nonnull(strstr(out, "(default: 2)"));
    ck_assert_ptr_nonnull(strstr(out, "breaker.<processor>.min.calls"));
    ck_assert_ptr_nonnull(strstr(out, "route.<type-glob>"));
    ck_assert_ptr_null(strstr(out, "dlq.replay.max"));
    free(out);
}
END_TEST

static Suite *config_suite(void) {
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("load");
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_precedence_and_origins);
    tcase_add_test(tc, test_file_syntax);
    tcase_add_test(tc, test_file_errors_name_file_and_line);
    tcase_add_test(tc, test_file_stops_at_first_bad_line);
    tcase_add_test(tc, test_file_missing_and_secret_lines);
    tcase_add_test(tc, test_int_values);
    tcase_add_test(tc, test_double_bool_enum_values);
    tcase_add_test(tc, test_string_values);
    tcase_add_test(tc, test_redis_url_error_hides_password);
    tcase_add_test(tc, test_list_values);
    tcase_add_test(tc, test_key_shapes);
    tcase_add_test(tc, test_pattern_getters);
    tcase_add_test_raise_signal(tc, test_getter_wrong_type_aborts, SIGABRT);
    tcase_add_test_raise_signal(tc, test_getter_unknown_key_aborts, SIGABRT);
    suite_add_tcase(s, tc);

    tc = tcase_create("env");
    tcase_add_test(tc, test_env_names);
    tcase_add_test(tc, test_env_processor_setting);
    tcase_add_test(tc, test_env_bad_value_is_error);
    tcase_add_test(tc, test_env_unknown_is_warning);
    tcase_add_test(tc, test_env_route_ignored);
    suite_add_tcase(s, tc);

    tc = tcase_create("order");
    tcase_add_test(tc, test_routes_order_and_replacement);
    tcase_add_test(tc, test_foreach_prefix_order);
    suite_add_tcase(s, tc);

    tc = tcase_create("print");
    tcase_add_test(tc, test_is_secret);
    tcase_add_test(tc, test_dump_redacts_secrets);
    tcase_add_test(tc, test_dump_masks_programs);
    tcase_add_test(tc, test_defaults_are_valid);
    tcase_add_test(tc, test_markdown_lists_every_key);
    tcase_add_test(tc, test_help_by_program);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(config_suite());
    int failed;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
