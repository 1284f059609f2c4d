/* common/redis_url.h — parse `redis://[user:password@]host:port/db` (password percent-decoded;
 * `rediss://` refused: hiredis 0.14 has no TLS; `unix:///path.sock` and `redis+unix` not supported). */
#ifndef EVF_REDIS_URL_H
#define EVF_REDIS_URL_H

#include <stddef.h>

typedef struct {
    char user[128];     /* empty: no ACL user (AUTH with the password only) */
    char password[512]; /* empty: no AUTH */
    char host[256];     /* a name, an IPv4 address, or an IPv6 address without brackets */
    int port;           /* default 6379 */
    int db;             /* default 0 */
} evf_redis_url_t;

/** @returns 0 with out filled, or -1 with the reason in errstr (never containing the password). */
int evf_redis_url_parse(const char *url, evf_redis_url_t *out, char *errstr, size_t errstr_size);

/** @brief Write url with any password replaced by `***` (for logs and --check-config). */
void evf_redis_url_redact(const char *url, char *out, size_t out_size);

#endif
