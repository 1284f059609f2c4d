/* common/topics.c — see topics.h. */
#include "topics.h"

#include <stdio.h>
#include <string.h>

#define RETRY_INFIX ".retry."
#define DLQ_SUFFIX ".dlq"
#define REPLAY_SUFFIX ".replay"

static int group_char_ok(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

static size_t decimal_digits(int n) {
    size_t d = 1;
    while (n >= 10) {
        n /= 10;
        d++;
    }
    return d;
}

int evf_topics_group_valid(const char *group, size_t longest_source, int retry_levels,
                           char *errstr, size_t errstr_size) {
    if (!group || !*group) {
        snprintf(errstr, errstr_size, "group id is empty (it becomes part of topic names)");
        return -1;
    }
    for (const char *p = group; *p; p++) {
        if (!group_char_ok(*p)) {
            snprintf(errstr, errstr_size,
                     "group id '%s' has the character '%c' at position %zu: only [A-Za-z0-9._-] "
                     "may appear in topic names",
                     group, *p >= 0x20 && *p < 0x7f ? *p : '?', (size_t)(p - group));
            return -1;
        }
    }
    /* The longest derived suffix decides: ".retry.<n>", ".replay" or ".dlq". */
    size_t suffix = strlen(REPLAY_SUFFIX);
    if (retry_levels > 0) {
        size_t retry = strlen(RETRY_INFIX) + decimal_digits(retry_levels);
        if (retry > suffix)
            suffix = retry;
    }
    size_t glen = strlen(group);
    size_t longest = longest_source + 1 + glen + suffix;
    if (longest > EVF_TOPIC_NAME_MAX) {
        snprintf(errstr, errstr_size,
                 "group id '%.40s%s' is too long: derived topic names would be %zu characters, "
                 "Kafka allows %d (at most %zu characters for the group with a %zu-character "
                 "source topic)",
                 group, glen > 40 ? "…" : "", longest, EVF_TOPIC_NAME_MAX,
                 EVF_TOPIC_NAME_MAX > longest_source + 1 + suffix
                     ? (size_t)EVF_TOPIC_NAME_MAX - longest_source - 1 - suffix
                     : (size_t)0,
                 longest_source);
        return -1;
    }
    return 0;
}

/* Writes a formatted name; -1 when it does not fit in out or is too long for Kafka. */
static int name_result(int n, size_t out_size) {
    if (n < 0 || (size_t)n >= out_size || n > EVF_TOPIC_NAME_MAX)
        return -1;
    return n;
}

int evf_topic_retry(char *out, size_t out_size, const char *topic, const char *group, int n) {
    if (n < 1)
        return -1;
    return name_result(snprintf(out, out_size, "%s.%s" RETRY_INFIX "%d", topic, group, n),
                       out_size);
}

int evf_topic_dlq(char *out, size_t out_size, const char *topic, const char *group) {
    return name_result(snprintf(out, out_size, "%s.%s" DLQ_SUFFIX, topic, group), out_size);
}

int evf_topic_replay(char *out, size_t out_size, const char *topic, const char *group) {
    return name_result(snprintf(out, out_size, "%s.%s" REPLAY_SUFFIX, topic, group), out_size);
}

static int ends_with(const char *s, size_t len, const char *suffix, size_t *prefix_len) {
    size_t sl = strlen(suffix);
    if (len < sl || memcmp(s + len - sl, suffix, sl) != 0)
        return 0;
    *prefix_len = len - sl;
    return 1;
}

/* Parses the level of a ".retry.<n>" suffix ending s[0..len): 1…INT_MAX, no leading zeros.
 * @returns the length of the prefix before ".retry.", or -1 when s has no such suffix. */
static long retry_suffix(const char *s, size_t len, int *level) {
    size_t end = len, start = len;
    while (start > 0 && s[start - 1] >= '0' && s[start - 1] <= '9')
        start--;
    if (start == end || end - start > 9 || s[start] == '0')
        return -1;
    size_t infix = strlen(RETRY_INFIX);
    if (start < infix || memcmp(s + start - infix, RETRY_INFIX, infix) != 0)
        return -1;
    int v = 0;
    for (size_t i = start; i < end; i++)
        v = v * 10 + (s[i] - '0');
    *level = v;
    return (long)(start - infix);
}

static void copy_source(char *out, size_t out_size, const char *topic, size_t len) {
    if (!out || out_size == 0)
        return;
    if (len >= out_size)
        len = out_size - 1;
    memcpy(out, topic, len);
    out[len] = '\0';
}

evf_topic_kind_t evf_topic_classify(const char *topic, const char *group, char *source_out,
                                    size_t source_size, int *n) {
    size_t len = strlen(topic), glen = strlen(group), rest;
    evf_topic_kind_t kind = EVF_TOPIC_SOURCE;
    int level = 0;
    long head;

    if (n)
        *n = 0;
    /* rest = the length of "<source>.<group>" once the kind's suffix is removed. */
    if ((head = retry_suffix(topic, len, &level)) >= 0) {
        rest = (size_t)head;
        kind = EVF_TOPIC_RETRY;
    } else if (ends_with(topic, len, DLQ_SUFFIX, &rest)) {
        kind = EVF_TOPIC_DLQ;
    } else if (ends_with(topic, len, REPLAY_SUFFIX, &rest)) {
        kind = EVF_TOPIC_REPLAY;
    }
    if (kind != EVF_TOPIC_SOURCE) {
        /* "<source>.<group>" with a non-empty source. */
        if (glen > 0 && rest >= glen + 2 && memcmp(topic + rest - glen, group, glen) == 0 &&
            topic[rest - glen - 1] == '.') {
            copy_source(source_out, source_size, topic, rest - glen - 1);
            if (n && kind == EVF_TOPIC_RETRY)
                *n = level;
            return kind;
        }
        kind = EVF_TOPIC_SOURCE;
    }
    copy_source(source_out, source_size, topic, len);
    return kind;
}

evf_topic_kind_t evf_topic_kind_any(const char *topic) {
    size_t len = strlen(topic), rest;
    int level;
    long head;

    /* Derived names are "<source>.<group><suffix>": something must come before the suffix. */
    if ((head = retry_suffix(topic, len, &level)) > 0)
        return EVF_TOPIC_RETRY;
    if (ends_with(topic, len, DLQ_SUFFIX, &rest) && rest > 0)
        return EVF_TOPIC_DLQ;
    if (ends_with(topic, len, REPLAY_SUFFIX, &rest) && rest > 0)
        return EVF_TOPIC_REPLAY;
    return EVF_TOPIC_SOURCE;
}
