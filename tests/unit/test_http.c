/* tests/unit/test_http.c — the HTTP server (GET endpoints on libmicrohttpd) and the GET client,
 * on loopback only. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "http.h"

#define BIG_BODY (1024 * 1024 + 17)

typedef struct {
    pthread_mutex_t lock;
    int calls;
    char last_method[16];
    char last_path[256];
    const char *tag; /* tells two servers apart */
} handler_state_t;

static char *xstrdup_body(const char *s) {
    char *d = strdup(s);
    ck_assert(d);
    return d;
}

static int handler(void *opaque, const char *method, const char *path, evf_http_response_t *resp) {
    handler_state_t *st = opaque;
    pthread_mutex_lock(&st->lock);
    st->calls++;
    snprintf(st->last_method, sizeof(st->last_method), "%s", method);
    snprintf(st->last_path, sizeof(st->last_path), "%s", path);
    pthread_mutex_unlock(&st->lock);

    if (strcmp(path, "/healthz") == 0) {
        resp->body = xstrdup_body("ok\n");
    } else if (strcmp(path, "/metrics") == 0) {
        resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
        resp->body = xstrdup_body("# HELP evfleet_x X.\n# TYPE evfleet_x gauge\nevfleet_x 1\n");
    } else if (strcmp(path, "/readyz") == 0) {
        resp->status = 503;
        resp->body = xstrdup_body("not ready: kafka group not joined\n");
    } else if (strcmp(path, "/tag") == 0) {
        resp->body = xstrdup_body(st->tag);
    } else if (strcmp(path, "/status") == 0) {
        resp->content_type = "application/json";
        resp->body = xstrdup_body("{\"instance\":\"w1\"}");
    } else if (strcmp(path, "/binary") == 0) {
        resp->content_type = "application/octet-stream";
        resp->body = malloc(4);
        memcpy(resp->body, "a\0b\0", 4);
        resp->body_len = 4;
    } else if (strcmp(path, "/big") == 0) {
        resp->body = malloc(BIG_BODY);
        for (size_t i = 0; i < BIG_BODY; i++)
            resp->body[i] = (char)('a' + i % 26);
        resp->body_len = BIG_BODY;
    } else if (strcmp(path, "/empty") == 0) {
        resp->status = 200;
    } else if (strcmp(path, "/fail") == 0) {
        resp->body = xstrdup_body("this body must be freed by the server\n");
        return -1;
    } else {
        resp->status = 404;
        resp->body = xstrdup_body("not found\n");
    }
    return 0;
}

static handler_state_t *state_new(const char *tag) {
    handler_state_t *st = calloc(1, sizeof(*st));
    pthread_mutex_init(&st->lock, NULL);
    st->tag = tag;
    return st;
}

static void state_free(handler_state_t *st) {
    pthread_mutex_destroy(&st->lock);
    free(st);
}

static evf_http_t *start_or_fail(const char *listen, handler_state_t *st) {
    char errstr[256] = "";
    evf_http_t *h = evf_http_start(listen, handler, st, errstr, sizeof(errstr));
    ck_assert_msg(h, "start %s: %s", listen, errstr);
    ck_assert_int_gt(evf_http_port(h), 0);
    return h;
}

/* GET http://<host>:<port><path> with the client; asserts it succeeds. */
static int get(const char *host, int port, const char *path, char *body, size_t body_size) {
    char url[256], errstr[256] = "";
    int status = -1;
    snprintf(url, sizeof(url), "http://%s:%d%s", host, port, path);
    int rc = evf_http_get(url, 5000, &status, body, body_size, errstr, sizeof(errstr));
    ck_assert_msg(rc == 0, "GET %s: %s", url, errstr);
    return status;
}

/* Sends request as is to 127.0.0.1:port and reads the whole response (malloc'd). */
static char *raw_request(int port, const char *request) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {.tv_sec = 5};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_ge(fd, 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(send(fd, request, strlen(request), MSG_NOSIGNAL), (ssize_t)strlen(request));
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        ssize_t r = recv(fd, buf + len, cap - 1 - len, 0);
        if (r <= 0)
            break;
        len += (size_t)r;
        ck_assert(len < cap - 1);
    }
    buf[len] = '\0';
    close(fd);
    return buf;
}

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------------------------------ */

START_TEST(test_get_paths) {
    handler_state_t *st = state_new("a");
    evf_http_t *h = start_or_fail("127.0.0.1:0", st);
    int port = evf_http_port(h);
    char body[4096];

    ck_assert_int_eq(get("127.0.0.1", port, "/healthz", body, sizeof(body)), 200);
    ck_assert_str_eq(body, "ok\n");
    ck_assert_str_eq(st->last_method, "GET");
    ck_assert_str_eq(st->last_path, "/healthz");

    ck_assert_int_eq(get("127.0.0.1", port, "/metrics", body, sizeof(body)), 200);
    ck_assert_str_eq(body, "# HELP evfleet_x X.\n# TYPE evfleet_x gauge\nevfleet_x 1\n");

    ck_assert_int_eq(get("127.0.0.1", port, "/readyz", body, sizeof(body)), 503);
    ck_assert_str_eq(body, "not ready: kafka group not joined\n");

    ck_assert_int_eq(get("127.0.0.1", port, "/nope", body, sizeof(body)), 404);
    ck_assert_str_eq(body, "not found\n");

    /* the handler sees the path without the query string */
    ck_assert_int_eq(get("127.0.0.1", port, "/healthz?verbose=1", body, sizeof(body)), 200);
    ck_assert_str_eq(st->last_path, "/healthz");

    ck_assert_int_eq(get("127.0.0.1", port, "", body, sizeof(body)), 404);
    ck_assert_str_eq(st->last_path, "/");

    ck_assert_int_eq(get("127.0.0.1", port, "/empty", body, sizeof(body)), 200);
    ck_assert_str_eq(body, "");

    ck_assert_int_eq(get("127.0.0.1", port, "/fail", body, sizeof(body)), 500);

    /* body_size 0 and NULL body: status only */
    char errstr[256];
    int status = 0;
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", port);
    ck_assert_int_eq(evf_http_get(url, 2000, &status, NULL, 0, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(status, 200);
    /* truncated to body_size - 1 */
    char small[4];
    ck_assert_int_eq(get("127.0.0.1", port, "/readyz", small, sizeof(small)), 503);
    ck_assert_str_eq(small, "not");

    ck_assert_int_eq(st->calls, 10);
    evf_http_stop(h);
    state_free(st);
}
END_TEST

START_TEST(test_content_type_and_head) {
    handler_state_t *st = state_new("a");
    evf_http_t *h = start_or_fail("127.0.0.1:0", st);
    int port = evf_http_port(h);

    char *r = raw_request(port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    ck_assert_msg(strncmp(r, "HTTP/1.1 200", 12) == 0, "%s", r);
    ck_assert_msg(strcasestr(r, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
                  "%s", r);
    ck_assert(strstr(r, "\r\n\r\n# HELP evfleet_x X.\n"));
    free(r);

    r = raw_request(port, "GET /status HTTP/1.0\r\n\r\n");
    ck_assert_msg(strcasestr(r, "\r\nContent-Type: application/json\r\n"), "%s", r);
    ck_assert(strstr(r, "\r\n\r\n{\"instance\":\"w1\"}"));
    free(r);

    r = raw_request(port, "GET /healthz HTTP/1.0\r\n\r\n");
    ck_assert_msg(strcasestr(r, "\r\nContent-Type: text/plain; charset=utf-8\r\n"), "%s", r);
    ck_assert_msg(strcasestr(r, "\r\nContent-Length: 3\r\n"), "%s", r);
    free(r);

    /* HEAD: the handler runs, the body is not sent */
    r = raw_request(port, "HEAD /healthz HTTP/1.0\r\n\r\n");
    ck_assert_msg(strncmp(r, "HTTP/1.0 200", 12) == 0 || strncmp(r, "HTTP/1.1 200", 12) == 0,
                  "%s", r);
    ck_assert_str_eq(st->last_method, "HEAD");
    char *end = strstr(r, "\r\n\r\n");
    ck_assert(end);
    ck_assert_str_eq(end + 4, "");
    free(r);

    /* a body with NUL bytes goes through whole */
    r = raw_request(port, "GET /binary HTTP/1.0\r\n\r\n");
    ck_assert_msg(strcasestr(r, "\r\nContent-Length: 4\r\n"), "%s", r);
    free(r);

    evf_http_stop(h);
    state_free(st);
}
END_TEST

START_TEST(test_methods_not_allowed) {
    handler_state_t *st = state_new("a");
    evf_http_t *h = start_or_fail("127.0.0.1:0", st);
    int port = evf_http_port(h);
    const char *requests[] = {
        "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        "PUT /healthz HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
        "DELETE /status HTTP/1.0\r\n\r\n",
        "OPTIONS / HTTP/1.0\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
        char *r = raw_request(port, requests[i]);
        ck_assert_msg(strncmp(r + 9, "405", 3) == 0, "%s -> %s", requests[i], r);
        ck_assert_msg(strcasestr(r, "\r\nAllow: GET, HEAD\r\n"), "%s", r);
        free(r);
    }
    ck_assert_int_eq(st->calls, 0); /* the handler never saw them */
    evf_http_stop(h);
    state_free(st);
}
END_TEST

START_TEST(test_big_body) {
    handler_state_t *st = state_new("a");
    evf_http_t *h = start_or_fail("127.0.0.1:0", st);
    char *body = malloc(BIG_BODY + 1);
    ck_assert_int_eq(get("127.0.0.1", evf_http_port(h), "/big", body, BIG_BODY + 1), 200);
    ck_assert_uint_eq(strlen(body), BIG_BODY);
    for (size_t i = 0; i < BIG_BODY; i += 4099)
        ck_assert_int_eq(body[i], 'a' + i % 26);
    /* a smaller buffer: the client stops reading early and still succeeds */
    ck_assert_int_eq(get("127.0.0.1", evf_http_port(h), "/big", body, 100), 200);
    ck_assert_uint_eq(strlen(body), 99);
    free(body);
    evf_http_stop(h);
    state_free(st);
}
END_TEST

START_TEST(test_two_servers) {
    handler_state_t *sa = state_new("server-a"), *sb = state_new("server-b");
    evf_http_t *a = start_or_fail("127.0.0.1:0", sa);
    evf_http_t *b = start_or_fail("127.0.0.1:0", sb);
    char body[64];
    ck_assert_int_ne(evf_http_port(a), evf_http_port(b));
    ck_assert_int_eq(get("127.0.0.1", evf_http_port(a), "/tag", body, sizeof(body)), 200);
    ck_assert_str_eq(body, "server-a");
    ck_assert_int_eq(get("127.0.0.1", evf_http_port(b), "/tag", body, sizeof(body)), 200);
    ck_assert_str_eq(body, "server-b");
    evf_http_stop(a);
    ck_assert_int_eq(get("127.0.0.1", evf_http_port(b), "/tag", body, sizeof(body)), 200);
    ck_assert_str_eq(body, "server-b");
    evf_http_stop(b);
    state_free(sa);
    state_free(sb);
}
END_TEST

START_TEST(test_address_in_use) {
    handler_state_t *st = state_new("a");
    evf_http_t *h = start_or_fail("127.0.0.1:0", st);
    char listen[64], errstr[256] = "";
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", evf_http_port(h));
    evf_http_t *again = evf_http_start(listen, handler, st, errstr, sizeof(errstr));
    ck_assert(!again);
    ck_assert_msg(strstr(errstr, listen), "error does not name the address: %s", errstr);
    ck_assert_msg(strstr(errstr, "in use"), "%s", errstr);
    evf_http_stop(h);
    /* the port is free again at once (SO_REUSEADDR) */
    h = evf_http_start(listen, handler, st, errstr, sizeof(errstr));
    ck_assert_msg(h, "%s", errstr);
    evf_http_stop(h);
    state_free(st);
}
END_TEST

START_TEST(test_bad_addresses) {
    const char *bad[] = {"nonsense",      "127.0.0.1",      "127.0.0.1:",    "127.0.0.1:99999",
                         "127.0.0.1:http", "::1:9464",      "[::1",          "[::1]9464",
                         ":9464",          "256.1.1.1:9464", "192.0.2.1:9464", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char errstr[256] = "";
        evf_http_t *h = evf_http_start(bad[i], handler, NULL, errstr, sizeof(errstr));
        ck_assert_msg(!h, "%s was accepted", bad[i]);
        ck_assert_msg(errstr[0], "no reason for %s", bad[i]);
        if (bad[i][0])
            ck_assert_msg(strstr(errstr, bad[i]), "error does not name %s: %s", bad[i], errstr);
    }
    char errstr[64];
    ck_assert(!evf_http_start(NULL, handler, NULL, errstr, sizeof(errstr)));
    ck_assert(!evf_http_start("127.0.0.1:0", NULL, NULL, errstr, sizeof(errstr)));
}
END_TEST

START_TEST(test_stop_with_open_connections) {
    handler_state_t *st = state_new("a");
    evf_http_t *h = start_or_fail("127.0.0.1:0", st);
    int port = evf_http_port(h);
    int fds[3];
    for (int i = 0; i < 3; i++) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        ck_assert_int_eq(connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
    }
    /* one half-sent request, two idle connections */
    send(fds[0], "GET /healthz HTTP/1.1\r\nHo", 25, MSG_NOSIGNAL);
    usleep(50 * 1000);
    int64_t t0 = mono_ms();
    evf_http_stop(h);
    ck_assert_int_lt(mono_ms() - t0, 2000);
    for (int i = 0; i < 3; i++)
        close(fds[i]);
    evf_http_stop(NULL);
    ck_assert_int_eq(evf_http_port(NULL), -1);
    state_free(st);
}
END_TEST

typedef struct {
    int port;
    int ok;
} client_arg_t;

static void *client_thread(void *p) {
    client_arg_t *a = p;
    char url[128], body[64], errstr[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", a->port);
    for (int i = 0; i < 25; i++) {
        int status = 0;
        if (evf_http_get(url, 5000, &status, body, sizeof(body), errstr, sizeof(errstr)) == 0 &&
            status == 200 && strcmp(body, "ok\n") == 0)
            a->ok++;
    }
    return NULL;
}

START_TEST(test_concurrent_clients) {
    handler_state_t *st = state_new("a");
    evf_http_t *h = start_or_fail("127.0.0.1:0", st);
    pthread_t th[8];
    client_arg_t args[8];
    for (int i = 0; i < 8; i++) {
        args[i] = (client_arg_t){evf_http_port(h), 0};
        pthread_create(&th[i], NULL, client_thread, &args[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(args[i].ok, 25);
    }
    ck_assert_int_eq(st->calls, 200);
    evf_http_stop(h);
    state_free(st);
}
END_TEST

/* 1 when this machine can bind ::1 */
static int have_ipv6_loopback(void) {
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

START_TEST(test_ipv6_loopback) {
    if (!have_ipv6_loopback()) {
        fprintf(stderr, "test_ipv6_loopback: no ::1 on this machine, skipped\n");
        return;
    }
    handler_state_t *st = state_new("v6");
    evf_http_t *h = start_or_fail("[::1]:0", st);
    char body[64];
    ck_assert_int_eq(get("[::1]", evf_http_port(h), "/tag", body, sizeof(body)), 200);
    ck_assert_str_eq(body, "v6");
    /* bound to ::1 only: not reachable over IPv4 */
    char url[64], errstr[256];
    int status;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/tag", evf_http_port(h));
    ck_assert_int_eq(evf_http_get(url, 1000, &status, body, sizeof(body), errstr, sizeof(errstr)),
                     -1);
    evf_http_stop(h);
    state_free(st);
}
END_TEST

START_TEST(test_localhost_name) {
    handler_state_t *st = state_new("named");
    evf_http_t *h = start_or_fail("localhost:0", st);
    char body[64];
    ck_assert_int_eq(get("localhost", evf_http_port(h), "/tag", body, sizeof(body)), 200);
    ck_assert_str_eq(body, "named");
    evf_http_stop(h);
    state_free(st);
}
END_TEST

START_TEST(test_client_errors) {
    char errstr[256], body[16];
    int status = -1;
    const char *bad[] = {"https://127.0.0.1:1/", "ftp://x/", "127.0.0.1:80/", "http://",
                         "http://:80/",         "http://h:99999/", "http://u@127.0.0.1:1/",
                         "http://::1:80/"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        errstr[0] = '\0';
        ck_assert_msg(evf_http_get(bad[i], 1000, &status, body, sizeof(body), errstr,
                                   sizeof(errstr)) == -1,
                      "%s accepted", bad[i]);
        ck_assert_msg(strstr(errstr, bad[i]), "error does not name %s: %s", bad[i], errstr);
    }
    ck_assert(evf_http_get(NULL, 1000, &status, body, sizeof(body), errstr, sizeof(errstr)) == -1);

    /* refused: a port nobody listens on any more */
    handler_state_t *st = state_new("a");
    evf_http_t *h = start_or_fail("127.0.0.1:0", st);
    int port = evf_http_port(h);
    evf_http_stop(h);
    state_free(st);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/readyz", port);
    ck_assert_int_eq(evf_http_get(url, 1000, &status, body, sizeof(body), errstr, sizeof(errstr)),
                     -1);
    ck_assert_msg(strstr(errstr, url) && strstr(errstr, "refused"), "%s", errstr);

    /* a listener that never answers: the timeout holds */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sa);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(fd, 4), 0);
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/readyz", ntohs(sa.sin_port));
    int64_t t0 = mono_ms();
    ck_assert_int_eq(evf_http_get(url, 300, &status, body, sizeof(body), errstr, sizeof(errstr)),
                     -1);
    int64_t took = mono_ms() - t0;
    ck_assert_msg(took >= 250 && took < 2000, "took %lld ms", (long long)took);
    ck_assert_msg(strstr(errstr, "timed out"), "%s", errstr);
    close(fd);
}
END_TEST

/* A server that answers with something that is not HTTP, then closes. */
static void *junk_server(void *p) {
    int lfd = *(int *)p;
    int c = accept(lfd, NULL, NULL);
    char tmp[512];
    if (c >= 0) {
        (void)!recv(c, tmp, sizeof(tmp), 0);
        (void)!send(c, "SSH-2.0-OpenSSH\r\n", 17, MSG_NOSIGNAL);
        close(c);
    }
    return NULL;
}

START_TEST(test_client_not_http) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sa);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(fd, 4), 0);
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    pthread_t th;
    pthread_create(&th, NULL, junk_server, &fd);
    char url[64], errstr[256], body[16];
    int status;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", ntohs(sa.sin_port));
    ck_assert_int_eq(evf_http_get(url, 2000, &status, body, sizeof(body), errstr, sizeof(errstr)),
                     -1);
    ck_assert_msg(strstr(errstr, "not an HTTP response"), "%s", errstr);
    pthread_join(th, NULL);
    close(fd);
}
END_TEST

static Suite *http_suite(void) {
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("server");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_get_paths);
    tcase_add_test(tc, test_content_type_and_head);
    tcase_add_test(tc, test_methods_not_allowed);
    tcase_add_test(tc, test_big_body);
    tcase_add_test(tc, test_two_servers);
    tcase_add_test(tc, test_address_in_use);
    tcase_add_test(tc, test_bad_addresses);
    tcase_add_test(tc, test_stop_with_open_connections);
    tcase_add_test(tc, test_concurrent_clients);
    tcase_add_test(tc, test_ipv6_loopback);
    tcase_add_test(tc, test_localhost_name);
    suite_add_tcase(s, tc);
    tc = tcase_create("client");
    tcase_add_test(tc, test_client_errors);
    tcase_add_test(tc, test_client_not_http);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(http_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
