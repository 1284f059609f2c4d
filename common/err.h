/* common/err.h — the return type of every call that can fail (0 is success), and the one table of
 * failure classes that dead letters carry (DESIGN.md "Error classes"). */
#ifndef EVF_ERR_H
#define EVF_ERR_H

typedef enum {
    EVF_OK = 0,
    EVF_ERR_INVALID,    /* bad argument or input */
    EVF_ERR_NOT_FOUND,  /* no such key, topic, record */
    EVF_ERR_FULL,       /* queue or buffer full, try later */
    EVF_ERR_TIMEOUT,    /* gave up waiting */
    EVF_ERR_TRANSPORT,  /* Kafka or Redis unreachable or erroring */
    EVF_ERR_FENCED,     /* a Redis write refused: another worker owns the record now */
    EVF_ERR_STATE,      /* wrong state for this call (shutting down, not started) */
    EVF_ERR_NOMEM,
    EVF_ERR__CNT
} evf_err_t;

/** @returns a static name for err ("ok", "invalid", …). */
const char *evf_err_name(evf_err_t err);

/* Failure classes, in DESIGN.md order; names are the header values (`evfleet.error.class`). */
typedef enum {
    EVF_CLASS_TRANSIENT = 0,
    EVF_CLASS_PERMANENT,
    EVF_CLASS_TIMEOUT,
    EVF_CLASS_DECODE,
    EVF_CLASS_UNROUTABLE,
    EVF_CLASS_MAX_AGE,
    EVF_CLASS_TOO_LARGE,
    EVF_CLASS_CRASH_LOOP,
    EVF_CLASS_FINGERPRINT_MISMATCH,
    EVF_CLASS__CNT
} evf_class_t;

/** @returns the contract name of cls ("transient", "max-age", …). */
const char *evf_class_name(evf_class_t cls);
/** @returns 0 and sets *out when name is a class name, else -1. */
int evf_class_parse(const char *name, evf_class_t *out);

#endif
