/* tests/fuzz/fuzz_redis_url.c — `redis.url` values: evf_redis_url_parse and
 * evf_redis_url_redact. Seeds: tests/fuzz/corpus/redis_url/.
 *
 * Properties: no crash or undefined behaviour; a parsed URL has a non-empty host, a port in
 * 1..65535 and a db in 0..100000, every field NUL-terminated inside its array; a refusal has a
 * reason, leaves no user or password in the struct and never quotes the password (checked for
 * passwords holding a `~`, which no fixed error text contains); the redacted form never shows the
 * password and parses to the same user, host, port and db with the password `***`. */
#include "fuzz_common.h"

#include <string.h>
#include <strings.h>

#include "redis_url.h"

/* The raw password text of a redis:// URL (between the first ':' of the user information and
 * the last '@'), or NULL. */
static const char *url_raw_password(const char *url, size_t *len) {
    if (strncasecmp(url, "redis://", 8))
        return NULL;
    const char *rest = url + 8, *at = strrchr(rest, '@');
    if (!at)
        return NULL;
    const char *colon = memchr(rest, ':', (size_t)(at - rest));
    if (!colon)
        return NULL;
    *len = (size_t)(at - colon - 1);
    return colon + 1;
}

void evf_fuzz_redis_url(const uint8_t *data, size_t size) {
    char *url = evf_fuzz_strndup(data, size);
    evf_redis_url_t u, again;
    char err[512] = "";
    size_t pwlen = 0;
    const char *pw = url_raw_password(url, &pwlen);
    char *pwcopy = pw ? evf_fuzz_strndup((const uint8_t *)pw, pwlen) : NULL;
    int marked = pwcopy && pwlen >= 3 && strchr(pwcopy, '~');

    memset(&u, 0xa5, sizeof u);
    if (evf_redis_url_parse(url, &u, err, sizeof err) == 0) {
        EVF_FUZZ_CHECK(memchr(u.host, 0, sizeof u.host) && memchr(u.user, 0, sizeof u.user) &&
                           memchr(u.password, 0, sizeof u.password),
                       "a field is not NUL-terminated");
        EVF_FUZZ_CHECK(u.host[0] != '\0', "empty host accepted");
        EVF_FUZZ_CHECK(u.port >= 1 && u.port <= 65535, "port %d", u.port);
        EVF_FUZZ_CHECK(u.db >= 0 && u.db <= 100000, "db %d", u.db);

        size_t cap = strlen(url) + 8;
        char *red = malloc(cap);
        if (!red)
            abort();
        evf_redis_url_redact(url, red, cap);
        if (pw) {
            EVF_FUZZ_CHECK(strstr(red, ":***@") != NULL, "redacted URL without ***: %s", red);
            /* The user name before it is shown as it is, and may hold the same text. */
            if (marked)
                EVF_FUZZ_CHECK(!strstr(red + (pw - url), pwcopy),
                               "redacted URL shows the password");
        } else {
            EVF_FUZZ_CHECK(!strcmp(red, url), "a URL without a password was changed");
        }
        memset(&again, 0, sizeof again);
        char err2[512] = "";
        EVF_FUZZ_CHECK(evf_redis_url_parse(red, &again, err2, sizeof err2) == 0,
                       "the redacted URL does not parse: %s", err2);
        EVF_FUZZ_CHECK(!strcmp(again.user, u.user) && !strcmp(again.host, u.host) &&
                           again.port == u.port && again.db == u.db,
                       "the redacted URL names another server");
        EVF_FUZZ_CHECK(!strcmp(again.password, pw ? "***" : ""), "redacted password '%s'",
                       again.password);
        free(red);
    } else {
        EVF_FUZZ_CHECK(err[0] != '\0', "refused without a reason");
        EVF_FUZZ_CHECK(memchr(u.password, 0, sizeof u.password) && !u.password[0] &&
                           memchr(u.user, 0, sizeof u.user) && !u.user[0],
                       "a refused URL left a (half-parsed) user or password in the struct");
        if (marked)
            EVF_FUZZ_CHECK(!strstr(err, pwcopy), "the error quotes the password: %s", err);
    }

    /* Small output buffers: always terminated, never overrun. */
    for (size_t n = 0; n < 12; n++) {
        char small[13];
        memset(small, 'x', sizeof small);
        evf_redis_url_redact(url, small, n);
        EVF_FUZZ_CHECK(small[n] == 'x', "redact wrote past %zu bytes", n);
        if (n)
            EVF_FUZZ_CHECK(memchr(small, 0, n) != NULL, "redact into %zu bytes unterminated", n);
    }
    free(pwcopy);
    free(url);
}

EVF_FUZZ_TARGET(evf_fuzz_redis_url)
