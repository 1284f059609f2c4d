/* common/http.c — see http.h.
 *
 * The server creates, binds and listens on its socket itself and hands it to libmicrohttpd
 * (MHD_OPTION_LISTEN_SOCKET): that binds exactly the address asked for, gives errors a precise
 * errno, and makes the chosen port readable with getsockname(). MHD closes the socket in
 * MHD_stop_daemon(); when MHD_start_daemon() fails it leaves it to us. */
#include "http.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#if MHD_VERSION < 0x00097002
typedef int MHD_Result_t; /* before 0.9.71 callbacks returned int */
#else
typedef enum MHD_Result MHD_Result_t;
#endif

#define DEFAULT_CONTENT_TYPE "text/plain; charset=utf-8"
#define GET_DEFAULT_TIMEOUT_MS 5000
#define GET_MAX_HEADER_BYTES (64 * 1024)

struct evf_http_s {
    struct MHD_Daemon *daemon;
    evf_http_handler_t *handler;
    void *opaque;
    int port;
};

/* ------------------------------------------------------------------------------------------ */
/* host:port */

/*
 * Splits "host:port", "[v6]:port" (and, when port_optional, "host" or "[v6]") into host (without
 * brackets) and port. An empty port_out means none was given.
 * @returns 0, or -1 with the reason in errstr.
 */
static int split_host_port(const char *s, size_t len, int port_optional, char *host,
                           size_t host_size, char *port, size_t port_size, char *errstr,
                           size_t errstr_size) {
    const char *host_start, *host_end, *port_start = NULL;
    const char *end = s + len;

    if (len > 0 && s[0] == '[') {
        host_start = s + 1;
        host_end = memchr(host_start, ']', (size_t)(end - host_start));
        if (!host_end) {
            snprintf(errstr, errstr_size, "missing ']' after the IPv6 address");
            return -1;
        }
        if (host_end + 1 < end) {
            if (host_end[1] != ':') {
                snprintf(errstr, errstr_size, "expected ':' after ']'");
                return -1;
            }
            port_start = host_end + 2;
        }
    } else {
        const char *colon = NULL;
        int colons = 0;
        for (const char *p = s; p < end; p++)
            if (*p == ':') {
                colon = p;
                colons++;
            }
        if (colons > 1) {
            snprintf(errstr, errstr_size, "an IPv6 address must be in brackets, e.g. [::1]:9464");
            return -1;
        }
        host_start = s;
        host_end = colon ? colon : end;
        if (colon)
            port_start = colon + 1;
    }

    size_t hlen = (size_t)(host_end - host_start);
    if (hlen + 1 > host_size) {
        snprintf(errstr, errstr_size, "host name too long");
        return -1;
    }
    memcpy(host, host_start, hlen);
    host[hlen] = '\0';

    port[0] = '\0';
    if (!port_start) {
        if (port_optional)
            return 0;
        snprintf(errstr, errstr_size, "missing :port");
        return -1;
    }
    size_t plen = (size_t)(end - port_start);
    long value = 0;
    if (plen == 0 || plen > 5 || plen + 1 > port_size) {
        snprintf(errstr, errstr_size, "bad port");
        return -1;
    }
    for (size_t i = 0; i < plen; i++) {
        if (port_start[i] < '0' || port_start[i] > '9') {
            snprintf(errstr, errstr_size, "bad port");
            return -1;
        }
        value = value * 10 + (port_start[i] - '0');
    }
    if (value > 65535) {
        snprintf(errstr, errstr_size, "port out of range");
        return -1;
    }
    snprintf(port, port_size, "%ld", value);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Server */

static MHD_Result_t queue_response(struct MHD_Connection *conn, int status,
                                   const char *content_type, char *body, size_t body_len,
                                   int allow_header) {
    struct MHD_Response *resp;
    MHD_Result_t ret;

    if (body)
        resp = MHD_create_response_from_buffer(body_len, body, MHD_RESPMEM_MUST_FREE);
    else
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            content_type ? content_type : DEFAULT_CONTENT_TYPE);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (allow_header)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    ret = MHD_queue_response(conn, (unsigned int)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static char *text_body(const char *text, size_t *len) {
    *len = strlen(text);
    char *body = malloc(*len + 1);
    if (body)
        memcpy(body, text, *len + 1);
    return body;
}

/* Runs on MHD's thread. */
static MHD_Result_t on_request(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_data_size, void **req_cls) {
    evf_http_t *http = cls;
    evf_http_response_t resp = {.status = 200, .content_type = DEFAULT_CONTENT_TYPE};
    size_t len;
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)req_cls;

    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        char *body = text_body("method not allowed\n", &len);
        return queue_response(conn, MHD_HTTP_METHOD_NOT_ALLOWED, NULL, body, len, 1);
    }
    if (http->handler(http->opaque, method, url, &resp) != 0 || resp.status < 100 ||
        resp.status > 999) {
        free(resp.body);
        char *body = text_body("internal server error\n", &len);
        return queue_response(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, body, len, 0);
    }
    if (resp.body && resp.body_len == 0)
        resp.body_len = strlen(resp.body);
    return queue_response(conn, resp.status, resp.content_type, resp.body, resp.body_len, 0);
}

/* Creates a listening socket on exactly addr. @returns the fd, or -1 with errno set. */
static int listen_socket(const struct addrinfo *ai) {
    int one = 1;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    /* A restarted worker must rebind while old connections sit in TIME_WAIT; on Linux this never
     * lets two live listeners share the port. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, EVF_HTTP_MAX_CONNECTIONS) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

static int bound_port(int fd) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

evf_http_t *evf_http_start(const char *listen, evf_http_handler_t *handler, void *opaque,
                           char *errstr, size_t errstr_size) {
    char host[256], port[8], reason[160];
    struct addrinfo hints = {0}, *res = NULL;
    evf_http_t *http = NULL;
    unsigned int flags;
    int fd = -1, rc;

    if (!listen || !handler) {
        snprintf(errstr, errstr_size, "http: no listen address or handler");
        goto fail;
    }
    if (split_host_port(listen, strlen(listen), 0, host, sizeof(host), port, sizeof(port), reason,
                        sizeof(reason)) != 0) {
        snprintf(errstr, errstr_size, "http: bad listen address \"%s\": %s", listen, reason);
        goto fail;
    }
    if (!host[0]) {
        snprintf(errstr, errstr_size, "http: bad listen address \"%s\": no host (use 0.0.0.0 or [::])",
                 listen);
        goto fail;
    }
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        snprintf(errstr, errstr_size, "http: cannot resolve listen address \"%s\": %s", listen,
                 gai_strerror(rc));
        goto fail;
    }
    fd = listen_socket(res);
    if (fd < 0) {
        snprintf(errstr, errstr_size, "http: cannot listen on %s: %s", listen, strerror(errno));
        goto fail;
    }

    http = calloc(1, sizeof(*http));
    if (!http) {
        snprintf(errstr, errstr_size, "http: out of memory");
        goto fail;
    }
    http->handler = handler;
    http->opaque = opaque;
    http->port = bound_port(fd);

    flags = MHD_USE_INTERNAL_POLLING_THREAD;
    flags |= MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES ? MHD_USE_EPOLL : MHD_USE_POLL;
    if (res->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    http->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, http, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)EVF_HTTP_MAX_CONNECTIONS,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)EVF_HTTP_TIMEOUT_S, MHD_OPTION_END);
    if (!http->daemon) {
        snprintf(errstr, errstr_size, "http: cannot start the HTTP server on %s", listen);
        goto fail;
    }
    freeaddrinfo(res);
    return http;

fail:
    if (fd >= 0)
        close(fd);
    if (res)
        freeaddrinfo(res);
    free(http);
    return NULL;
}

int evf_http_port(const evf_http_t *http) {
    return http ? http->port : -1;
}

void evf_http_stop(evf_http_t *http) {
    if (!http)
        return;
    if (http->daemon)
        MHD_stop_daemon(http->daemon);
    free(http);
}

/* ------------------------------------------------------------------------------------------ */
/* Client */

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on fd until deadline. @returns 1 ready, 0 timed out, -1 error (errno). */
static int wait_fd(int fd, short events, int64_t deadline) {
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return 0;
        struct pollfd pfd = {.fd = fd, .events = events};
        int rc = poll(&pfd, 1, left > INT32_MAX ? INT32_MAX : (int)left);
        if (rc > 0)
            return 1;
        if (rc == 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

/* Connects to the first address of host:port that answers. @returns the fd or -1. */
static int connect_any(const char *host, const char *port, int64_t deadline, char *reason,
                       size_t reason_size) {
    struct addrinfo hints = {0}, *res = NULL;
    int fd = -1;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        snprintf(reason, reason_size, "cannot resolve the host: %s", gai_strerror(rc));
        return -1;
    }
    snprintf(reason, reason_size, "no address");
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            snprintf(reason, reason_size, "socket: %s", strerror(errno));
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        if (errno == EINPROGRESS) {
            int ready = wait_fd(fd, POLLOUT, deadline), soerr = 0;
            socklen_t sl = sizeof(soerr);
            if (ready > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
                break;
            snprintf(reason, reason_size, "connect: %s",
                     ready == 0 ? "timed out" : strerror(ready > 0 ? soerr : errno));
        } else {
            snprintf(reason, reason_size, "connect: %s", strerror(errno));
        }
        close(fd);
        fd = -1;
        if (now_ms() >= deadline)
            break;
    }
    freeaddrinfo(res);
    return fd;
}

/* Finds the end of the header block. @returns the offset of the body, or 0 if not there yet. */
static size_t header_end(const char *buf, size_t len) {
    for (size_t i = 0; i + 1 < len; i++) {
        if (buf[i] == '\n' && buf[i + 1] == '\n')
            return i + 2;
        if (i + 3 < len && memcmp(buf + i, "\r\n\r\n", 4) == 0)
            return i + 4;
    }
    return 0;
}

int evf_http_get(const char *url, int timeout_ms, int *status, char *body, size_t body_size,
                 char *errstr, size_t errstr_size) {
    char host[256], port[8], reason[256], request[2048];
    const char *authority, *path;
    char *buf = NULL;
    size_t len = 0, cap, body_at = 0;
    int fd = -1, ret = -1;
    int64_t deadline;

    if (body && body_size)
        body[0] = '\0';
    if (timeout_ms <= 0)
        timeout_ms = GET_DEFAULT_TIMEOUT_MS;
    deadline = now_ms() + timeout_ms;

    if (!url || strncasecmp(url, "http://", 7) != 0) {
        snprintf(errstr, errstr_size, "GET %s: only http:// URLs are supported", url ? url : "");
        return -1;
    }
    authority = url + 7;
    path = authority + strcspn(authority, "/?#");
    if (memchr(authority, '@', (size_t)(path - authority))) {
        snprintf(errstr, errstr_size, "GET %s: user information in URLs is not supported", url);
        return -1;
    }
    if (split_host_port(authority, (size_t)(path - authority), 1, host, sizeof(host), port,
                        sizeof(port), reason, sizeof(reason)) != 0) {
        snprintf(errstr, errstr_size, "GET %s: %s", url, reason);
        return -1;
    }
    if (!host[0]) {
        snprintf(errstr, errstr_size, "GET %s: no host", url);
        return -1;
    }
    if (!port[0])
        snprintf(port, sizeof(port), "80");

    /* "http://h:p?x" has an empty path: the request line still needs its "/" */
    int n = snprintf(request, sizeof(request),
                     "GET %s%.*s HTTP/1.0\r\nHost: %.*s\r\nUser-Agent: evfleet\r\n"
                     "Accept: */*\r\nConnection: close\r\n\r\n",
                     *path == '/' ? "" : "/", (int)strcspn(path, "#"), path,
                     (int)(strcspn(authority, "/?#")), authority);
    if (n < 0 || (size_t)n >= sizeof(request)) {
        snprintf(errstr, errstr_size, "GET %s: URL too long", url);
        return -1;
    }

    fd = connect_any(host, port, deadline, reason, sizeof(reason));
    if (fd < 0) {
        snprintf(errstr, errstr_size, "GET %s: %s", url, reason);
        return -1;
    }

    for (size_t sent = 0; sent < (size_t)n;) {
        ssize_t w = send(fd, request + sent, (size_t)n - sent, MSG_NOSIGNAL);
        if (w > 0) {
            sent += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int ready = wait_fd(fd, POLLOUT, deadline);
            if (ready > 0)
                continue;
            snprintf(errstr, errstr_size, "GET %s: sending: %s", url,
                     ready == 0 ? "timed out" : strerror(errno));
            goto done;
        }
        snprintf(errstr, errstr_size, "GET %s: sending: %s", url, strerror(errno));
        goto done;
    }

    /* Read to the end of the response (HTTP/1.0: the server closes), keeping the headers and as
     * much body as the caller can take. */
    cap = GET_MAX_HEADER_BYTES + body_size + 1;
    buf = malloc(cap);
    if (!buf) {
        snprintf(errstr, errstr_size, "GET %s: out of memory", url);
        goto done;
    }
    for (;;) {
        char scratch[4096];
        char *into = len < cap - 1 ? buf + len : scratch;
        size_t room = len < cap - 1 ? cap - 1 - len : sizeof(scratch);
        ssize_t r = recv(fd, into, room, 0);
        if (r > 0) {
            if (into != scratch)
                len += (size_t)r;
            if (!body_at) {
                buf[len] = '\0';
                body_at = header_end(buf, len);
                if (!body_at && len >= GET_MAX_HEADER_BYTES) {
                    snprintf(errstr, errstr_size, "GET %s: response headers too long", url);
                    goto done;
                }
            }
            if (body_at && len - body_at >= body_size)
                break; /* all the caller can take */
            continue;
        }
        if (r == 0)
            break;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int ready = wait_fd(fd, POLLIN, deadline);
            if (ready > 0)
                continue;
            snprintf(errstr, errstr_size, "GET %s: reading: %s", url,
                     ready == 0 ? "timed out" : strerror(errno));
            goto done;
        }
        snprintf(errstr, errstr_size, "GET %s: reading: %s", url, strerror(errno));
        goto done;
    }
    buf[len] = '\0';
    if (!body_at)
        body_at = header_end(buf, len);
    int major, minor, code;
    if (sscanf(buf, "HTTP/%d.%d %3d", &major, &minor, &code) != 3 || code < 100 || code > 999) {
        snprintf(errstr, errstr_size, "GET %s: %s", url,
                 len == 0 ? "connection closed without a response" : "not an HTTP response");
        goto done;
    }
    if (!body_at) {
        snprintf(errstr, errstr_size, "GET %s: connection closed inside the response headers",
                 url);
        goto done;
    }
    if (status)
        *status = code;
    if (body && body_size) {
        size_t blen = len - body_at;
        if (blen > body_size - 1)
            blen = body_size - 1;
        memcpy(body, buf + body_at, blen);
        body[blen] = '\0';
    }
    ret = 0;

done:
    free(buf);
    if (fd >= 0)
        close(fd);
    return ret;
}
