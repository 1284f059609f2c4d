/* common/log.c — see log.h. */
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

volatile int evf_log_min_level = EVF_LOG_INFO;
static int log_json = -1; /* -1: not decided yet (auto) */
static char log_program[64] = "evfleet";
static char log_instance[96] = "";

static const char *level_names[] = {"debug", "info", "warn", "error", "off"};

void evf_log_init(const char *program, const char *instance, evf_log_level_t level,
                  evf_log_format_t format) {
    if (program)
        snprintf(log_program, sizeof(log_program), "%s", program);
    if (instance)
        snprintf(log_instance, sizeof(log_instance), "%s", instance);
    evf_log_min_level = (int)level;
    if (format == EVF_LOG_FORMAT_TEXT)
        log_json = 0;
    else if (format == EVF_LOG_FORMAT_JSON)
        log_json = 1;
    else
        log_json = isatty(STDERR_FILENO) ? 0 : 1;
}

int evf_log_level_parse(const char *name, evf_log_level_t *out) {
    for (int i = 0; i <= EVF_LOG_OFF; i++) {
        if (!strcasecmp(name, level_names[i])) {
            *out = (evf_log_level_t)i;
            return 0;
        }
    }
    if (!strcasecmp(name, "warning")) {
        *out = EVF_LOG_WARN;
        return 0;
    }
    return -1;
}

int evf_log_format_parse(const char *name, evf_log_format_t *out) {
    if (!strcasecmp(name, "auto"))
        *out = EVF_LOG_FORMAT_AUTO;
    else if (!strcasecmp(name, "text"))
        *out = EVF_LOG_FORMAT_TEXT;
    else if (!strcasecmp(name, "json"))
        *out = EVF_LOG_FORMAT_JSON;
    else
        return -1;
    return 0;
}

/* Appends s to buf as the inside of a JSON string; returns the new length (capped at cap-1). */
static size_t json_escape(char *buf, size_t len, size_t cap, const char *s) {
    static const char hex[] = "0123456789abcdef";
    for (; *s && len + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[len++] = '\\';
            buf[len++] = (char)c;
        } else if (c == '\n') {
            buf[len++] = '\\';
            buf[len++] = 'n';
        } else if (c < 0x20) {
            memcpy(buf + len, "\\u00", 4);
            len += 4;
            buf[len++] = hex[c >> 4];
            buf[len++] = hex[c & 15];
        } else {
            buf[len++] = (char)c;
        }
    }
    buf[len] = '\0';
    return len;
}

void evf_log_vwrite(evf_log_level_t level, const char *component, const char *fmt, va_list ap) {
    char msg[2048], line[4608];
    struct timeval tv;
    struct tm tm;
    size_t n;

    if (log_json < 0)
        log_json = isatty(STDERR_FILENO) ? 0 : 1;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    if (level > EVF_LOG_ERROR)
        level = EVF_LOG_ERROR;

    if (log_json) {
        n = (size_t)snprintf(line, sizeof(line),
                             "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\","
                             "\"program\":\"",
                             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                             tm.tm_sec, (long)(tv.tv_usec / 1000), level_names[level]);
        n = json_escape(line, n, sizeof(line), log_program);
        if (log_instance[0]) {
            n += (size_t)snprintf(line + n, sizeof(line) - n, "\",\"instance\":\"");
            n = json_escape(line, n, sizeof(line), log_instance);
        }
        n += (size_t)snprintf(line + n, sizeof(line) - n, "\",\"component\":\"");
        n = json_escape(line, n, sizeof(line), component ? component : "");
        n += (size_t)snprintf(line + n, sizeof(line) - n, "\",\"msg\":\"");
        n = json_escape(line, n, sizeof(line), msg);
        if (n + 3 < sizeof(line)) {
            memcpy(line + n, "\"}\n", 4);
            n += 3;
        }
    } else {
        int w = snprintf(line, sizeof(line), "%02d:%02d:%02d.%03ld %-5s %s: %s\n", tm.tm_hour,
                         tm.tm_min, tm.tm_sec, (long)(tv.tv_usec / 1000), level_names[level],
                         component ? component : log_program, msg);
        n = w < 0 ? 0 : (size_t)w;
        if (n >= sizeof(line)) {
            n = sizeof(line) - 1;
            line[n - 1] = '\n';
        }
    }
    /* One write per line so lines from several threads never interleave. */
    ssize_t r = write(STDERR_FILENO, line, n);
    (void)r;
}

void evf_log_write(evf_log_level_t level, const char *component, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    evf_log_vwrite(level, component, fmt, ap);
    va_end(ap);
}
