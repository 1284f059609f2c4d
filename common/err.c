/* common/err.c — names for evf_err_t and evf_class_t. */
#include "err.h"

#include <string.h>

static const char *err_names[EVF_ERR__CNT] = {
    "ok", "invalid", "not-found", "full", "timeout", "transport", "fenced", "state", "nomem",
};

static const char *class_names[EVF_CLASS__CNT] = {
    "transient", "permanent", "timeout",   "decode",
    "unroutable", "max-age",  "too-large", "crash-loop",
    "fingerprint-mismatch",
};

const char *evf_err_name(evf_err_t err) {
    return (unsigned)err < EVF_ERR__CNT ? err_names[err] : "unknown";
}

const char *evf_class_name(evf_class_t cls) {
    return (unsigned)cls < EVF_CLASS__CNT ? class_names[cls] : "unknown";
}

int evf_class_parse(const char *name, evf_class_t *out) {
    for (int i = 0; i < EVF_CLASS__CNT; i++) {
        if (!strcmp(name, class_names[i])) {
            *out = (evf_class_t)i;
            return 0;
        }
    }
    return -1;
}
