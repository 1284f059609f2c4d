/* common/http.h — a tiny HTTP server for GET endpoints (health, readiness, metrics, status) on
 * libmicrohttpd, and a minimal blocking HTTP/1.0 GET client (the worker's `--probe URL`, tests).
 *
 * The server runs one internal thread (epoll when available) that calls the handler for every
 * GET or HEAD request; any other method gets 405 without calling it. At most 64 connections, each
 * closed after 10 s idle. */
#ifndef EVF_HTTP_H
#define EVF_HTTP_H

#include <stddef.h>

typedef struct evf_http_s evf_http_t;

/* What the handler fills in. The server presets status 200, a text/plain content type and no
 * body. */
typedef struct evf_http_response_s {
    int status;               /* HTTP status code */
    const char *content_type; /* copied after the handler returns: a literal is fine */
    char *body;               /* malloc'd; the server takes ownership and frees it (NULL: empty) */
    size_t body_len;          /* bytes of body; 0 with a non-NULL body means strlen(body) */
} evf_http_response_t;

/**
 * Serves one request: method is "GET" or "HEAD" (for HEAD the server drops the body), path the
 * request path without the query string ("/metrics"). Fill resp; an unknown path is status 404.
 * Runs on the server's thread, one request at a time.
 * @returns 0 to send resp, non-zero to send 500 instead (resp->body is still freed).
 */
typedef int(evf_http_handler_t)(void *opaque, const char *method, const char *path,
                                evf_http_response_t *resp);

#define EVF_HTTP_MAX_CONNECTIONS 64
#define EVF_HTTP_TIMEOUT_S 10

/**
 * @brief Listen on exactly `listen` and serve requests with handler(opaque, …) until
 * evf_http_stop().
 *
 * listen is `host:port`: an IPv4 literal ("127.0.0.1:9464", "0.0.0.0:9464"), a bracketed IPv6
 * literal ("[::1]:9464", "[::]:9464") or a name resolved to its first address ("localhost:9464");
 * port 0 takes any free port (see evf_http_port()).
 * @returns the server, or NULL with the reason, naming the address, in errstr (bad address,
 * address in use, …).
 */
evf_http_t *evf_http_start(const char *listen, evf_http_handler_t *handler, void *opaque,
                           char *errstr, size_t errstr_size);

/** @returns the port the server is bound to (the one the system chose for port 0); -1 if NULL. */
int evf_http_port(const evf_http_t *http);

/**
 * @brief Stop serving: closes the listen socket and all connections, waits for the server thread
 * (and so for a handler call in progress) to finish, then frees. NULL-safe.
 */
void evf_http_stop(evf_http_t *http);

/**
 * @brief Blocking HTTP/1.0 GET of url (`http://host[:port][/path]`, host an IPv4 literal, a
 * bracketed IPv6 literal or a name; port 80 by default; no https), all of it — resolving,
 * connecting, sending, reading to the end — within timeout_ms (≤ 0: 5000).
 * The body is written NUL-terminated into body (truncated to body_size-1 bytes; body may be NULL
 * when body_size is 0).
 * @returns 0 with the response's status code in *status (whatever it is), or -1 with the reason
 * (naming the URL) in errstr when no HTTP response was read.
 */
int evf_http_get(const char *url, int timeout_ms, int *status, char *body, size_t body_size,
                 char *errstr, size_t errstr_size);

#endif
