/* common/redis_url.c — see redis_url.h.
 *
 * The user information ends at the LAST '@' of the URL, so a password with an unescaped '@' or
 * '/' still parses (host, port and db never contain '@'). Error messages never quote any part of
 * the URL: whatever the user wrote may be a misplaced password. */
#include "redis_url.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define REDIS_DB_MAX 100000

static int hexval(int c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes src[0..len) into out. @returns 0, -1 on a bad escape or NUL, -2 if too long. */
static int pct_decode(const char *src, size_t len, char *out, size_t out_size) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)src[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= len)
                return -1;
            hi = hexval((unsigned char)src[i + 1]);
            lo = hexval((unsigned char)src[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = hi * 16 + lo;
            if (c == 0)
                return -1;
            i += 2;
        }
        if (n + 1 >= out_size)
            return -2;
        out[n++] = (char)c;
    }
    out[n] = '\0';
    return 0;
}

/* Parses all of s[0..len) as a decimal number in [min, max]. @returns 0 or -1. */
static int parse_num(const char *s, size_t len, long min, long max, int *out) {
    long v = 0;
    if (len == 0 || len > 9)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < min || v > max)
        return -1;
    *out = (int)v;
    return 0;
}

static int host_char_ok(int c) {
    return isalnum(c) || c == '.' || c == '-' || c == '_';
}

static int v6_char_ok(int c) {
    /* hex digits and ':', '.' for a trailing IPv4 part, '%' and a zone name for link-local. */
    return isalnum(c) || c == ':' || c == '.' || c == '%' || c == '_' || c == '-';
}

int evf_redis_url_parse(const char *url, evf_redis_url_t *out, char *errstr, size_t errstr_size) {
    const char *rest, *at, *hostpart, *hostend, *p;
    const char *host, *portstr = NULL;
    size_t hostlen, portlen = 0;

    memset(out, 0, sizeof(*out));
    out->port = 6379;
    out->db = 0;

    if (!strncasecmp(url, "rediss://", 9)) {
        snprintf(errstr, errstr_size,
                 "rediss:// (TLS) is not supported: hiredis 0.14 has no TLS; use a TLS proxy such "
                 "as stunnel, or plain redis:// on a private network");
        return -1;
    }
    if (strncasecmp(url, "redis://", 8)) {
        const char *sep = strstr(url, "://");
        size_t slen = sep ? (size_t)(sep - url) : 0;
        int scheme_ok = slen > 0 && slen <= 16;
        for (size_t i = 0; scheme_ok && i < slen; i++)
            if (!isalnum((unsigned char)url[i]) && url[i] != '+' && url[i] != '-' && url[i] != '.')
                scheme_ok = 0;
        if (scheme_ok)
            snprintf(errstr, errstr_size,
                     "unsupported scheme '%.*s://' (only "
                     "redis://[user[:password]@]host[:port][/db])",
                     (int)slen, url);
        else
            snprintf(errstr, errstr_size,
                     "not a Redis URL: expected redis://[user[:password]@]host[:port][/db]");
        return -1;
    }
    rest = url + 8;

    at = strrchr(rest, '@');
    if (at) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        size_t ulen = colon ? (size_t)(colon - rest) : (size_t)(at - rest);
        int r = pct_decode(rest, ulen, out->user, sizeof(out->user));
        if (r) {
            snprintf(errstr, errstr_size, r == -1 ? "bad percent-escape in the user name"
                                                  : "user name too long");
            goto fail;
        }
        if (colon) {
            r = pct_decode(colon + 1, (size_t)(at - colon - 1), out->password,
                           sizeof(out->password));
            if (r) {
                snprintf(errstr, errstr_size,
                         r == -1 ? "bad percent-escape in the password" : "password too long");
                goto fail;
            }
        }
        hostpart = at + 1;
    } else {
        hostpart = rest;
    }

    /* host[:port] up to '/' or the end. */
    hostend = hostpart + strcspn(hostpart, "/?#");
    if (*hostend == '?' || *hostend == '#') {
        snprintf(errstr, errstr_size, "query parameters and fragments are not supported");
        goto fail;
    }

    if (*hostpart == '[') {
        const char *close = memchr(hostpart, ']', (size_t)(hostend - hostpart));
        if (!close) {
            snprintf(errstr, errstr_size, "IPv6 address without a closing ']'");
            goto fail;
        }
        host = hostpart + 1;
        hostlen = (size_t)(close - host);
        for (size_t i = 0; i < hostlen; i++) {
            if (!v6_char_ok((unsigned char)host[i])) {
                snprintf(errstr, errstr_size, "invalid character in the IPv6 address");
                goto fail;
            }
        }
        if (hostlen && !memchr(host, ':', hostlen)) {
            snprintf(errstr, errstr_size, "not an IPv6 address between '[' and ']'");
            goto fail;
        }
        p = close + 1;
        if (p < hostend) {
            if (*p != ':') {
                snprintf(errstr, errstr_size, "unexpected text after ']' (expected ':port')");
                goto fail;
            }
            portstr = p + 1;
            portlen = (size_t)(hostend - portstr);
        }
    } else {
        const char *colon = memchr(hostpart, ':', (size_t)(hostend - hostpart));
        host = hostpart;
        hostlen = colon ? (size_t)(colon - hostpart) : (size_t)(hostend - hostpart);
        if (colon) {
            portstr = colon + 1;
            portlen = (size_t)(hostend - portstr);
            if (memchr(portstr, ':', portlen)) {
                snprintf(errstr, errstr_size,
                         "an IPv6 address must be written in brackets: [::1]:6379");
                goto fail;
            }
        }
        for (size_t i = 0; i < hostlen; i++) {
            if (!host_char_ok((unsigned char)host[i])) {
                snprintf(errstr, errstr_size, "invalid character in the host name");
                goto fail;
            }
        }
    }
    if (hostlen == 0) {
        snprintf(errstr, errstr_size, "empty host");
        goto fail;
    }
    if (hostlen >= sizeof(out->host)) {
        snprintf(errstr, errstr_size, "host name too long");
        goto fail;
    }
    memcpy(out->host, host, hostlen);
    out->host[hostlen] = '\0';

    if (portstr && parse_num(portstr, portlen, 1, 65535, &out->port)) {
        snprintf(errstr, errstr_size, "port must be a number between 1 and 65535");
        goto fail;
    }

    if (*hostend == '/') {
        const char *db = hostend + 1;
        size_t dblen = strlen(db);
        if (dblen && parse_num(db, dblen, 0, REDIS_DB_MAX, &out->db)) {
            snprintf(errstr, errstr_size, "database must be a number between 0 and %d",
                     REDIS_DB_MAX);
            goto fail;
        }
    }
    return 0;

fail:
    /* Never leave a half-parsed password behind in the caller's struct. */
    memset(out, 0, sizeof(*out));
    return -1;
}

void evf_redis_url_redact(const char *url, char *out, size_t out_size) {
    const char *sep, *rest, *at, *colon;

    if (out_size == 0)
        return;
    sep = strstr(url, "://");
    rest = sep ? sep + 3 : url;
    at = strrchr(rest, '@');
    colon = at ? memchr(rest, ':', (size_t)(at - rest)) : NULL;
    if (!colon) {
        snprintf(out, out_size, "%s", url);
        return;
    }
    snprintf(out, out_size, "%.*s***%s", (int)(colon + 1 - url), url, at);
}
