/* common/log.h — one logging macro: level-checked before formatting, text on a TTY, JSON lines
 * otherwise. Never pass secrets or whole payloads to it. Thread-safe (one write(2) per line). */
#ifndef EVF_LOG_H
#define EVF_LOG_H

#include <stdarg.h>

typedef enum {
    EVF_LOG_DEBUG = 0,
    EVF_LOG_INFO = 1,
    EVF_LOG_WARN = 2,
    EVF_LOG_ERROR = 3,
    EVF_LOG_OFF = 4,
} evf_log_level_t;

typedef enum {
    EVF_LOG_FORMAT_AUTO = 0, /* text when stderr is a TTY, JSON lines otherwise */
    EVF_LOG_FORMAT_TEXT,
    EVF_LOG_FORMAT_JSON,
} evf_log_format_t;

extern volatile int evf_log_min_level;

/** @brief Set the level and format; `program` and `instance` go on every line (copied). */
void evf_log_init(const char *program, const char *instance, evf_log_level_t level,
                  evf_log_format_t format);
/** @returns 0 and sets *out, or -1 if name is not debug|info|warn|error|off. */
int evf_log_level_parse(const char *name, evf_log_level_t *out);
/** @returns 0 and sets *out, or -1 if name is not auto|text|json. */
int evf_log_format_parse(const char *name, evf_log_format_t *out);

void evf_log_write(evf_log_level_t level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void evf_log_vwrite(evf_log_level_t level, const char *component, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* EVF_LOG(EVF_LOG_INFO, "worker", "joined group %s", group) — formats nothing below the level. */
#define EVF_LOG(level, component, ...)                                                             \
    do {                                                                                           \
        if ((int)(level) >= evf_log_min_level)                                                     \
            evf_log_write((level), (component), __VA_ARGS__);                                      \
    } while (0)

#define EVF_DBG(c, ...) EVF_LOG(EVF_LOG_DEBUG, c, __VA_ARGS__)
#define EVF_INFO(c, ...) EVF_LOG(EVF_LOG_INFO, c, __VA_ARGS__)
#define EVF_WARN(c, ...) EVF_LOG(EVF_LOG_WARN, c, __VA_ARGS__)
#define EVF_ERR(c, ...) EVF_LOG(EVF_LOG_ERROR, c, __VA_ARGS__)

#endif
