/* examples/content_type_guard.c — an example processor plugin: refuses S3 objects whose content
 * type is forbidden or that are too large, and records the content type of every object it lets
 * through.
 *
 * Settings (processor.<name>.<setting>):
 *   forbidden  comma-separated content types, compared case-insensitively and without parameters
 *              ("text/html; charset=utf-8" is "text/html"),
 *              e.g. application/x-msdownload,application/x-sh
 *   max.size   the largest object size in bytes, 0 (default) = no limit
 *
 * For an S3 create event (type containing "ObjectCreated"): a forbidden content type or a size
 * above max.size fails the event (EVF_PROC_FAIL: dead-lettered with the reason); else it queues
 * HSET <prefix>:ctguard:<bucket> <key> <content type>. An S3 remove event ("ObjectRemoved") queues
 * HDEL of that field. Other events pass untouched.
 *
 * It uses only the ABI header and the C library, so it builds outside the tree (see README.md):
 *   cc -shared -fPIC -O2 -I<evfleet>/include -I<evfleet>/build/gen content_type_guard.c \
 *      -o content_type_guard.so */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "evfleet/processor.h"

typedef struct {
    char **forbidden; /* lower-case, without parameters */
    size_t n_forbidden;
    long long max_size; /* 0: no limit */
} ctg_state_t;

static void ctg_destroy(void *state) {
    ctg_state_t *st = state;
    if (!st)
        return;
    for (size_t i = 0; i < st->n_forbidden; i++)
        free(st->forbidden[i]);
    free(st->forbidden);
    free(st);
}

/* The media type of a Content-Type value: up to ';', trimmed, lower-cased, into out. */
static void media_type(const char *value, char *out, size_t out_size) {
    while (*value == ' ' || *value == '\t')
        value++;
    size_t n = 0;
    while (value[n] && value[n] != ';')
        n++;
    while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
        n--;
    if (n >= out_size)
        n = out_size - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)value[i]);
    out[n] = '\0';
}

static int parse_forbidden(ctg_state_t *st, const char *list) {
    for (size_t i = 0; i < st->n_forbidden; i++)
        free(st->forbidden[i]);
    st->n_forbidden = 0;
    const char *p = list;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char item[256], type[256];
        if (len >= sizeof(item))
            return -1;
        memcpy(item, p, len);
        item[len] = '\0';
        media_type(item, type, sizeof(type));
        if (type[0]) {
            char **grown = realloc(st->forbidden, (st->n_forbidden + 1) * sizeof(char *));
            if (!grown)
                abort();
            st->forbidden = grown;
            if (!(st->forbidden[st->n_forbidden++] = strdup(type)))
                abort();
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return 0;
}

static int ctg_init(void **state, const evf_proc_setting_t *settings, size_t n_settings,
                    char *errstr, size_t errstr_size) {
    ctg_state_t *st = calloc(1, sizeof(*st));
    if (!st)
        abort();
    for (size_t i = 0; i < n_settings; i++) {
        const char *name = settings[i].name, *value = settings[i].value;
        if (!strcmp(name, "forbidden")) {
            if (parse_forbidden(st, value)) {
                snprintf(errstr, errstr_size, "setting 'forbidden': a content type is too long");
                goto fail;
            }
        } else if (!strcmp(name, "max.size")) {
            char *end = NULL;
            errno = 0;
            st->max_size = strtoll(value, &end, 10);
            if (end == value || *end || errno || st->max_size < 0) {
                snprintf(errstr, errstr_size, "setting 'max.size': '%s' is not a byte count",
                         value);
                goto fail;
            }
        } else {
            snprintf(errstr, errstr_size,
                     "setting '%s': unknown setting (known: forbidden, max.size)", name);
            goto fail;
        }
    }
    *state = st;
    return 0;
fail:
    ctg_destroy(st);
    return -1;
}

static evf_proc_result_t ctg_process(void *state, const evf_proc_event_t *ev,
                                     evf_proc_ctx_t *ctx) {
    const ctg_state_t *st = state;
    if (ev->detail_case != EVFLEET__V1__EVENT__DETAIL_S3 || !ev->s3)
        return EVF_PROC_OK;
    const Evfleet__V1__S3Object *s3 = ev->s3;
    int created = strstr(ev->type, "ObjectCreated") != NULL;
    int removed = strstr(ev->type, "ObjectRemoved") != NULL;
    if (!created && !removed)
        return EVF_PROC_OK;
    if (!*s3->bucket || !*s3->key) {
        evf_ctx_reason(ctx, "content_type_guard: event %s has no bucket or key", ev->id);
        return EVF_PROC_FAIL;
    }

    char key[1200];
    int n = snprintf(key, sizeof(key), "%s:ctguard:%s",
                     ctx->key_prefix && *ctx->key_prefix ? ctx->key_prefix : "evf",
                     s3->bucket);
    if (n < 0 || (size_t)n >= sizeof(key)) {
        evf_ctx_reason(ctx, "content_type_guard: bucket name too long");
        return EVF_PROC_FAIL;
    }
    if (removed) {
        if (evf_ctx_effect(ctx, 0, EVF_FX_HDEL, key, s3->key, NULL) < 0) {
            evf_ctx_reason(ctx, "content_type_guard: effect refused");
            return EVF_PROC_FAIL;
        }
        return EVF_PROC_OK;
    }

    char type[256];
    media_type(s3->content_type, type, sizeof(type));
    for (size_t i = 0; i < st->n_forbidden; i++) {
        if (!strcmp(type, st->forbidden[i])) {
            evf_ctx_reason(ctx, "content_type_guard: %s/%s has forbidden content type %s",
                           s3->bucket, s3->key, type);
            return EVF_PROC_FAIL;
        }
    }
    if (st->max_size > 0 && s3->size > st->max_size) {
        evf_ctx_reason(ctx, "content_type_guard: %s/%s is %lld bytes, over max.size %lld",
                       s3->bucket, s3->key, (long long)s3->size, st->max_size);
        return EVF_PROC_FAIL;
    }
    if (evf_ctx_effect(ctx, 0, EVF_FX_HSET, key, s3->key, s3->content_type) < 0) {
        evf_ctx_reason(ctx, "content_type_guard: effect refused");
        return EVF_PROC_FAIL;
    }
    return EVF_PROC_OK;
}

static const evf_processor_t ctg_processor = {
    .abi_version = EVF_PROCESSOR_ABI_VERSION,
    .name = "content_type_guard",
    .concurrent = 1,
    .init = ctg_init,
    .process = ctg_process,
    .destroy = ctg_destroy,
};

/* The one symbol the worker looks up. */
const evf_processor_t *evf_processor_entry(void);
const evf_processor_t *evf_processor_entry(void) {
    return &ctg_processor;
}
