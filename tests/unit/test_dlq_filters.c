/* tests/unit/test_dlq_filters.c — evfleet-dlq's pure parts: the command-line filters (parsing
 * times, durations, offset ranges, positions, globs; matching letters), the group of a
 * dead-letter topic, replay targets and their refusals, the ledger key and a letter's status. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deadletter.h"
#include "reader.h"
#include "replay.h"

#define NOW 1777629600000LL /* 2026-05-01T10:00:00Z */

START_TEST(test_durations) {
    int64_t ms = -1;
    ck_assert_int_eq(evf_dlq_parse_duration("500ms", &ms), 0);
    ck_assert_int_eq(ms, 500);
    ck_assert_int_eq(evf_dlq_parse_duration("45s", &ms), 0);
    ck_assert_int_eq(ms, 45000);
    ck_assert_int_eq(evf_dlq_parse_duration("90m", &ms), 0);
    ck_assert_int_eq(ms, 90 * 60000);
    ck_assert_int_eq(evf_dlq_parse_duration("2h", &ms), 0);
    ck_assert_int_eq(ms, 2 * 3600000);
    ck_assert_int_eq(evf_dlq_parse_duration("1h30m", &ms), 0);
    ck_assert_int_eq(ms, 5400000);
    ck_assert_int_eq(evf_dlq_parse_duration("1d", &ms), 0);
    ck_assert_int_eq(ms, 86400000);
    ck_assert_int_eq(evf_dlq_parse_duration("2w", &ms), 0);
    ck_assert_int_eq(ms, 14LL * 86400000);
    ck_assert_int_eq(evf_dlq_parse_duration("0s", &ms), 0);
    ck_assert_int_eq(ms, 0);

    ck_assert_int_eq(evf_dlq_parse_duration("", &ms), -1);
    ck_assert_int_eq(evf_dlq_parse_duration("5", &ms), -1);   /* no unit */
    ck_assert_int_eq(evf_dlq_parse_duration("5x", &ms), -1);  /* unknown unit */
    ck_assert_int_eq(evf_dlq_parse_duration("h", &ms), -1);   /* no number */
    ck_assert_int_eq(evf_dlq_parse_duration("-2h", &ms), -1); /* negative */
    ck_assert_int_eq(evf_dlq_parse_duration("2 h", &ms), -1);
    ck_assert_int_eq(evf_dlq_parse_duration("99999999999999999999w", &ms), -1);
    ck_assert_int_eq(evf_dlq_parse_duration("9999999999999w", &ms), -1); /* overflows ms */
}
END_TEST

START_TEST(test_times) {
    char err[256];
    int64_t ms = 0;
    ck_assert_int_eq(evf_dlq_parse_time("2026-05-01T10:00:00Z", NOW, &ms, err, sizeof(err)), 0);
    ck_assert_int_eq(ms, 1777629600000LL);
    ck_assert_int_eq(evf_dlq_parse_time("2026-05-01t10:00:00z", NOW, &ms, err, sizeof(err)), 0);
    ck_assert_int_eq(ms, 1777629600000LL);
    ck_assert_int_eq(evf_dlq_parse_time("2026-05-01 10:00:00.25Z", NOW, &ms, err, sizeof(err)),
                     0);
    ck_assert_int_eq(ms, 1777629600250LL);
    ck_assert_int_eq(
        evf_dlq_parse_time("2026-05-01T12:00:00.123456+02:00", NOW, &ms, err, sizeof(err)), 0);
    ck_assert_int_eq(ms, 1777629600123LL);
    ck_assert_int_eq(evf_dlq_parse_time("2026-05-01T05:30:00-04:30", NOW, &ms, err, sizeof(err)),
                     0);
    ck_assert_int_eq(ms, 1777629600000LL);
    ck_assert_int_eq(evf_dlq_parse_time("2026-05-01", NOW, &ms, err, sizeof(err)), 0);
    ck_assert_int_eq(ms, 1777593600000LL);
    ck_assert_int_eq(evf_dlq_parse_time("2024-02-29T23:59:59Z", NOW, &ms, err, sizeof(err)), 0);
    ck_assert_int_eq(ms, 1709251199000LL);
    /* relative: that long before now */
    ck_assert_int_eq(evf_dlq_parse_time("2h", NOW, &ms, err, sizeof(err)), 0);
    ck_assert_int_eq(ms, NOW - 7200000);
    ck_assert_int_eq(evf_dlq_parse_time("15m", NOW, &ms, err, sizeof(err)), 0);
    ck_assert_int_eq(ms, NOW - 900000);

    static const char *const bad[] = {
        "",     "yesterday",           "2026-05-01T10:00:00",  /* no zone */
        "2026-5-1", "2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z", "2026-05-01T24:00:00Z",
        "2026-05-01T10:00Z",           "2026-05-01T10:00:00.Z", "2026-05-01T10:00:00+2:00",
        "2026-05-01T10:00:00Zjunk",   "1777629600000",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        ck_assert_msg(evf_dlq_parse_time(bad[i], NOW, &ms, err, sizeof(err)) == -1,
                      "'%s' accepted", bad[i]);
        ck_assert_msg(strstr(err, "RFC 3339"), "no reason for '%s': %s", bad[i], err);
    }
}
END_TEST

START_TEST(test_format_time) {
    char out[40];
    ck_assert_str_eq(evf_dlq_format_time(1777629600123LL, 0, out, sizeof(out)),
                     "2026-05-01T10:00:00Z");
    ck_assert_str_eq(evf_dlq_format_time(1777629600123LL, 1, out, sizeof(out)),
                     "2026-05-01T10:00:00.123Z");
    ck_assert_str_eq(evf_dlq_format_time(-1, 1, out, sizeof(out)), "-");
    /* what it writes reads back */
    int64_t ms = 0;
    char err[256];
    evf_dlq_format_time(1709251199042LL, 1, out, sizeof(out));
    ck_assert_int_eq(evf_dlq_parse_time(out, 0, &ms, err, sizeof(err)), 0);
    ck_assert_int_eq(ms, 1709251199042LL);
}
END_TEST

START_TEST(test_offset_ranges_and_positions) {
    char err[256];
    int64_t lo = -1, hi = -1, off = -1;
    int32_t p = -1;
    ck_assert_int_eq(evf_dlq_parse_offset_range("5-10", &lo, &hi, err, sizeof(err)), 0);
    ck_assert_int_eq(lo, 5);
    ck_assert_int_eq(hi, 10);
    ck_assert_int_eq(evf_dlq_parse_offset_range("5-", &lo, &hi, err, sizeof(err)), 0);
    ck_assert_int_eq(lo, 5);
    ck_assert_int_eq(hi, INT64_MAX);
    ck_assert_int_eq(evf_dlq_parse_offset_range("7", &lo, &hi, err, sizeof(err)), 0);
    ck_assert_int_eq(lo, 7);
    ck_assert_int_eq(hi, 7);
    ck_assert_int_eq(evf_dlq_parse_offset_range("0-0", &lo, &hi, err, sizeof(err)), 0);
    ck_assert_int_eq(evf_dlq_parse_offset_range("10-5", &lo, &hi, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "ends before"));
    ck_assert_int_eq(evf_dlq_parse_offset_range("-5", &lo, &hi, err, sizeof(err)), -1);
    ck_assert_int_eq(evf_dlq_parse_offset_range("a-b", &lo, &hi, err, sizeof(err)), -1);
    ck_assert_int_eq(evf_dlq_parse_offset_range("", &lo, &hi, err, sizeof(err)), -1);
    ck_assert_int_eq(evf_dlq_parse_offset_range("1-2-3", &lo, &hi, err, sizeof(err)), -1);

    ck_assert_int_eq(evf_dlq_parse_position("3:42", &p, &off), 0);
    ck_assert_int_eq(p, 3);
    ck_assert_int_eq(off, 42);
    ck_assert_int_eq(evf_dlq_parse_position("0:0", &p, &off), 0);
    ck_assert_int_eq(evf_dlq_parse_position("3:", &p, &off), -1);
    ck_assert_int_eq(evf_dlq_parse_position(":4", &p, &off), -1);
    ck_assert_int_eq(evf_dlq_parse_position("x:1", &p, &off), -1);
    ck_assert_int_eq(evf_dlq_parse_position("42", &p, &off), -1);
    ck_assert_int_eq(evf_dlq_parse_position("1:-1", &p, &off), -1);
    ck_assert_int_eq(evf_dlq_parse_position("4294967296:1", &p, &off), -1);
}
END_TEST

START_TEST(test_globs) {
    ck_assert(evf_dlq_glob_match("s3:*", "s3:ObjectCreated:Put"));
    ck_assert(evf_dlq_glob_match("*Put", "s3:ObjectCreated:Put"));
    ck_assert(evf_dlq_glob_match("s3:*:Put", "s3:ObjectCreated:Put"));
    ck_assert(evf_dlq_glob_match("*", ""));
    ck_assert(evf_dlq_glob_match("a*b*c", "aXbYbZc"));
    ck_assert(evf_dlq_glob_match("iot:telemetry", "iot:telemetry"));
    ck_assert(!evf_dlq_glob_match("iot:telemetry", "iot:telemetryx"));
    ck_assert(!evf_dlq_glob_match("s3:*", "stream:INSERT"));
    ck_assert(!evf_dlq_glob_match("a*b*c", "aXbYbZ"));
    ck_assert(!evf_dlq_glob_match("", "x"));
    ck_assert(evf_dlq_glob_match("", ""));
}
END_TEST

/* A decoded-looking letter: partition 2 offset 10, permanent in chaos, from events.s3. */
static evf_dlq_letter_t *letter(void) {
    evf_dlq_letter_t *l = evf_dlq_letter_new();
    l->partition = 2;
    l->offset = 10;
    l->timestamp = NOW - 60000;
    l->failed_at = NOW - 3600000; /* an hour ago */
    snprintf(l->cls, sizeof(l->cls), "permanent");
    snprintf(l->processor, sizeof(l->processor), "chaos");
    snprintf(l->original_topic, sizeof(l->original_topic), "events.s3");
    evf_dlq_letter_set(&l->id, "e-1");
    evf_dlq_letter_set(&l->type, "s3:ObjectCreated:Put");
    return l;
}

static int add(evf_dlq_filter_t *f, const char *name, const char *value) {
    char err[512];
    return evf_dlq_filter_add(f, name, value, NOW, err, sizeof(err));
}

START_TEST(test_filter_parse) {
    evf_dlq_filter_t f;
    char err[512];
    evf_dlq_filter_init(&f);
    ck_assert(!evf_dlq_filter_active(&f));
    ck_assert_int_eq(add(&f, "class", "permanent, crash-loop"), 0);
    ck_assert_int_eq(add(&f, "class", "decode"), 0);
    ck_assert_uint_eq(f.classes.n, 3);
    ck_assert_str_eq(f.classes.v[1], "crash-loop");
    ck_assert(evf_dlq_filter_active(&f));

    ck_assert_int_eq(evf_dlq_filter_add(&f, "class", "bogus", NOW, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "--class: 'bogus' is not an error class"));
    ck_assert_ptr_nonnull(strstr(err, "fingerprint-mismatch"));
    ck_assert_int_eq(evf_dlq_filter_add(&f, "id", "a,,b", NOW, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "--id: empty value"));
    ck_assert_int_eq(evf_dlq_filter_add(&f, "partition", "1,x", NOW, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "--partition: 'x'"));
    ck_assert_int_eq(evf_dlq_filter_add(&f, "since", "soon", NOW, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "--since: 'soon'"));
    ck_assert_int_eq(evf_dlq_filter_add(&f, "offset-range", "9-1", NOW, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "--offset-range:"));
    ck_assert_int_eq(evf_dlq_filter_add(&f, "colour", "red", NOW, err, sizeof(err)), -1);

    ck_assert_int_eq(add(&f, "partition", "0, 3"), 0);
    ck_assert_int_eq(add(&f, "partition", "5"), 0);
    ck_assert_uint_eq(f.n_partitions, 3);
    ck_assert(evf_dlq_filter_partition(&f, 3));
    ck_assert(evf_dlq_filter_partition(&f, 5));
    ck_assert(!evf_dlq_filter_partition(&f, 1));
    ck_assert_int_eq(add(&f, "since", "2h"), 0);
    ck_assert_int_eq(f.since_ms, NOW - 7200000);
    ck_assert_int_eq(add(&f, "until", "2026-05-01T09:00:00Z"), 0);
    ck_assert_int_eq(f.until_ms, NOW - 3600000);
    evf_dlq_filter_clear(&f);
    ck_assert(!evf_dlq_filter_active(&f));
    ck_assert(evf_dlq_filter_partition(&f, 1));
    ck_assert(evf_dlq_filter_partition(NULL, 7));
}
END_TEST

START_TEST(test_filter_match) {
    evf_dlq_filter_t f;
    evf_dlq_letter_t *l = letter();
    evf_dlq_filter_init(&f);
    ck_assert(evf_dlq_filter_match(&f, l));
    ck_assert(evf_dlq_filter_match(NULL, l));

    /* each filter alone */
    static const struct {
        const char *name, *yes, *no;
    } cases[] = {
        {"class", "crash-loop,permanent", "transient"},
        {"processor", "ledger,chaos", "ledger"},
        {"original-topic", "events.s3", "events.s3x"},
        {"type", "s3:*", "iot:*"},
        {"id", "e-0,e-1", "e-10"},
        {"partition", "2", "0,1"},
        {"offset-range", "10-20", "11-"},
        {"since", "2h", "30m"},
        {"until", "30m", "2h"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        evf_dlq_filter_clear(&f);
        ck_assert_int_eq(add(&f, cases[i].name, cases[i].yes), 0);
        ck_assert_msg(evf_dlq_filter_match(&f, l), "--%s %s should match", cases[i].name,
                      cases[i].yes);
        evf_dlq_filter_clear(&f);
        ck_assert_int_eq(add(&f, cases[i].name, cases[i].no), 0);
        ck_assert_msg(!evf_dlq_filter_match(&f, l), "--%s %s should not match", cases[i].name,
                      cases[i].no);
    }

    /* combined: all must match */
    evf_dlq_filter_clear(&f);
    ck_assert_int_eq(add(&f, "class", "permanent"), 0);
    ck_assert_int_eq(add(&f, "type", "s3:*"), 0);
    ck_assert(evf_dlq_filter_match(&f, l));
    ck_assert_int_eq(add(&f, "processor", "ledger"), 0);
    ck_assert(!evf_dlq_filter_match(&f, l));

    /* since is inclusive, until exclusive */
    evf_dlq_filter_clear(&f);
    f.since_ms = l->failed_at;
    ck_assert(evf_dlq_filter_match(&f, l));
    f.since_ms = 0;
    f.until_ms = l->failed_at;
    ck_assert(!evf_dlq_filter_match(&f, l));
    f.until_ms = l->failed_at + 1;
    ck_assert(evf_dlq_filter_match(&f, l));

    /* without evfleet.failed.at the message timestamp counts; with neither, no time matches */
    l->failed_at = -1;
    f.until_ms = 0;
    f.since_ms = l->timestamp;
    ck_assert(evf_dlq_filter_match(&f, l));
    l->timestamp = -1;
    ck_assert(!evf_dlq_filter_match(&f, l));

    /* an undecodable letter has no id or type: --id and --type never match it */
    evf_dlq_letter_t *u = evf_dlq_letter_new();
    u->partition = 0;
    u->offset = 3;
    snprintf(u->cls, sizeof(u->cls), "decode");
    evf_dlq_filter_clear(&f);
    ck_assert(evf_dlq_filter_match(&f, u));
    ck_assert_int_eq(add(&f, "type", "*"), 0);
    ck_assert(!evf_dlq_filter_match(&f, u));
    evf_dlq_filter_clear(&f);
    ck_assert_int_eq(add(&f, "class", "decode"), 0);
    ck_assert(evf_dlq_filter_match(&f, u));

    evf_dlq_letter_free(u);
    evf_dlq_letter_free(l);
    evf_dlq_filter_clear(&f);
}
END_TEST

START_TEST(test_group_of) {
    char g[256];
    ck_assert_int_eq(evf_dlq_group_of("events.s3.billing.dlq", "events.s3", g, sizeof(g)), 0);
    ck_assert_str_eq(g, "billing");
    /* dots on both sides: the original topic header says where the group starts */
    ck_assert_int_eq(evf_dlq_group_of("a.b.c.g.h.dlq", "a.b.c", g, sizeof(g)), 0);
    ck_assert_str_eq(g, "g.h");
    ck_assert_int_eq(evf_dlq_group_of("a.b.c.g.h.dlq", "a.b", g, sizeof(g)), 0);
    ck_assert_str_eq(g, "c.g.h");
    ck_assert_int_eq(evf_dlq_group_of("events.s3.billing.dlq", "events.iot", g, sizeof(g)), -1);
    ck_assert_int_eq(evf_dlq_group_of("events.s3..dlq", "events.s3", g, sizeof(g)), -1);
    ck_assert_int_eq(evf_dlq_group_of("events.s3.dlq", "events.s3", g, sizeof(g)), -1);
    ck_assert_int_eq(evf_dlq_group_of("events.s3.billing.replay", "events.s3", g, sizeof(g)),
                     -1);
    ck_assert_int_eq(evf_dlq_group_of("events.s3.billing.dlq", "", g, sizeof(g)), -1);
    ck_assert_int_eq(evf_dlq_group_of("events.s3.billing.dlq", "events.s3", g, 4), -1);
}
END_TEST

START_TEST(test_to_parse) {
    char topic[EVF_TOPIC_NAME_MAX + 1], err[512];
    evf_dlq_to_t to;
    ck_assert_int_eq(evf_dlq_to_parse("inbox", &to, topic, sizeof(topic), err, sizeof(err)), 0);
    ck_assert_int_eq(to, EVF_DLQ_TO_INBOX);
    ck_assert_int_eq(evf_dlq_to_parse("source", &to, topic, sizeof(topic), err, sizeof(err)), 0);
    ck_assert_int_eq(to, EVF_DLQ_TO_SOURCE);
    ck_assert_int_eq(evf_dlq_to_parse("quarantine.s3", &to, topic, sizeof(topic), err,
                                      sizeof(err)),
                     0);
    ck_assert_int_eq(to, EVF_DLQ_TO_TOPIC);
    ck_assert_str_eq(topic, "quarantine.s3");
    /* another group's inbox is a topic like any other */
    ck_assert_int_eq(evf_dlq_to_parse("events.s3.other.replay", &to, topic, sizeof(topic), err,
                                      sizeof(err)),
                     0);
    ck_assert_int_eq(to, EVF_DLQ_TO_TOPIC);

    ck_assert_int_eq(evf_dlq_to_parse("events.s3.g.dlq", &to, topic, sizeof(topic), err,
                                      sizeof(err)),
                     -1);
    ck_assert_ptr_nonnull(strstr(err, "dead-letter"));
    ck_assert_int_eq(evf_dlq_to_parse("events.s3.g.retry.2", &to, topic, sizeof(topic), err,
                                      sizeof(err)),
                     -1);
    ck_assert_ptr_nonnull(strstr(err, "retry"));
    ck_assert_int_eq(evf_dlq_to_parse("", &to, topic, sizeof(topic), err, sizeof(err)), -1);
    ck_assert_int_eq(evf_dlq_to_parse("bad topic", &to, topic, sizeof(topic), err, sizeof(err)),
                     -1);
    ck_assert_int_eq(evf_dlq_to_parse("..", &to, topic, sizeof(topic), err, sizeof(err)), -1);
}
END_TEST

START_TEST(test_check_group) {
    char err[512];
    ck_assert_int_eq(evf_dlq_check_group("events.s3.billing.dlq", "billing", err, sizeof(err)),
                     0);
    ck_assert_int_eq(evf_dlq_check_group("a.b.g.h.dlq", "g.h", err, sizeof(err)), 0);
    ck_assert_int_eq(evf_dlq_check_group("events.s3.billing.dlq", "other", err, sizeof(err)),
                     -1);
    ck_assert_ptr_nonnull(strstr(err, "-g"));
    ck_assert_int_eq(evf_dlq_check_group("events.s3.xbilling.dlq", "billing", err, sizeof(err)),
                     -1);
    ck_assert_int_eq(evf_dlq_check_group("billing.dlq", "billing", err, sizeof(err)), -1);
    ck_assert_int_eq(evf_dlq_check_group("x.bad group.dlq", "bad group", err, sizeof(err)), -1);
}
END_TEST

START_TEST(test_targets) {
    char out[EVF_TOPIC_NAME_MAX + 1], why[512];
    evf_dlq_letter_t *l = letter();
    const char *dlq = "events.s3.billing.dlq";

    /* inbox: the group derived from the topic name and the original topic header */
    ck_assert_int_eq(
        evf_dlq_target(EVF_DLQ_TO_INBOX, NULL, NULL, dlq, l, out, sizeof(out), why, sizeof(why)),
        0);
    ck_assert_str_eq(out, "events.s3.billing.replay");
    ck_assert_int_eq(evf_dlq_target(EVF_DLQ_TO_INBOX, NULL, "billing", dlq, l, out, sizeof(out),
                                    why, sizeof(why)),
                     0);
    ck_assert_str_eq(out, "events.s3.billing.replay");
    ck_assert_int_eq(evf_dlq_target(EVF_DLQ_TO_SOURCE, NULL, NULL, dlq, l, out, sizeof(out), why,
                                    sizeof(why)),
                     0);
    ck_assert_str_eq(out, "events.s3");
    ck_assert_int_eq(evf_dlq_target(EVF_DLQ_TO_TOPIC, "quarantine", NULL, dlq, l, out,
                                    sizeof(out), why, sizeof(why)),
                     0);
    ck_assert_str_eq(out, "quarantine");

    /* dotted names */
    snprintf(l->original_topic, sizeof(l->original_topic), "org.events.s3");
    ck_assert_int_eq(evf_dlq_target(EVF_DLQ_TO_INBOX, NULL, NULL, "org.events.s3.team.a.dlq", l,
                                    out, sizeof(out), why, sizeof(why)),
                     0);
    ck_assert_str_eq(out, "org.events.s3.team.a.replay");

    /* a header that does not fit the topic name: the group cannot be told */
    ck_assert_int_eq(
        evf_dlq_target(EVF_DLQ_TO_INBOX, NULL, NULL, dlq, l, out, sizeof(out), why, sizeof(why)),
        -1);
    ck_assert_ptr_nonnull(strstr(why, "-g"));

    /* no original topic header: the source comes from the name when the group is known */
    l->original_topic[0] = '\0';
    ck_assert_int_eq(
        evf_dlq_target(EVF_DLQ_TO_INBOX, NULL, NULL, dlq, l, out, sizeof(out), why, sizeof(why)),
        -1);
    ck_assert_int_eq(evf_dlq_target(EVF_DLQ_TO_INBOX, NULL, "billing", dlq, l, out, sizeof(out),
                                    why, sizeof(why)),
                     0);
    ck_assert_str_eq(out, "events.s3.billing.replay");
    ck_assert_int_eq(evf_dlq_target(EVF_DLQ_TO_SOURCE, NULL, "billing", dlq, l, out, sizeof(out),
                                    why, sizeof(why)),
                     0);
    ck_assert_str_eq(out, "events.s3");

    /* fingerprint-mismatch: never to the inbox or the source; a named topic is fine */
    snprintf(l->original_topic, sizeof(l->original_topic), "events.s3");
    snprintf(l->cls, sizeof(l->cls), "fingerprint-mismatch");
    ck_assert_int_eq(
        evf_dlq_target(EVF_DLQ_TO_INBOX, NULL, NULL, dlq, l, out, sizeof(out), why, sizeof(why)),
        -1);
    ck_assert_ptr_nonnull(strstr(why, "fingerprint-mismatch"));
    ck_assert_int_eq(evf_dlq_target(EVF_DLQ_TO_SOURCE, NULL, NULL, dlq, l, out, sizeof(out), why,
                                    sizeof(why)),
                     -1);
    ck_assert_int_eq(evf_dlq_target(EVF_DLQ_TO_TOPIC, "quarantine", NULL, dlq, l, out,
                                    sizeof(out), why, sizeof(why)),
                     0);
    evf_dlq_letter_free(l);
}
END_TEST

START_TEST(test_ledger_key_and_status) {
    char key[512], small[16];
    ck_assert_int_eq(evf_dlq_ledger_key(key, sizeof(key), "evf", "events.s3.g.dlq", 3, 1234), 30);
    ck_assert_str_eq(key, "evf:dlq:events.s3.g.dlq:3:1234");
    ck_assert_int_eq(evf_dlq_ledger_key(small, sizeof(small), "evf", "events.s3.g.dlq", 3, 1), -1);

    evf_dlq_letter_t *l = letter();
    evf_ledger_entry_t e = {.state = EVF_LEDGER_NONE, .at = -1, .count = -1};
    ck_assert_int_eq(evf_dlq_status(l, NULL, 3), EVF_DLQ_PENDING);
    ck_assert_int_eq(evf_dlq_status(l, &e, 3), EVF_DLQ_PENDING);
    l->replay_count = 3;
    ck_assert_int_eq(evf_dlq_status(l, &e, 3), EVF_DLQ_PARKED);
    ck_assert_int_eq(evf_dlq_status(l, &e, 4), EVF_DLQ_PENDING);
    e.state = EVF_LEDGER_SENT;
    ck_assert_int_eq(evf_dlq_status(l, &e, 3), EVF_DLQ_REPLAYED);
    e.state = EVF_LEDGER_PURGED;
    ck_assert_int_eq(evf_dlq_status(l, &e, 3), EVF_DLQ_PURGED);
    e.state = EVF_LEDGER_SENDING;
    ck_assert_int_eq(evf_dlq_status(l, &e, 3), EVF_DLQ_SENDING);
    e.state = EVF_LEDGER_UNKNOWN;
    ck_assert_int_eq(evf_dlq_status(l, &e, 3), EVF_DLQ_UNKNOWN);
    ck_assert_str_eq(evf_dlq_status_name(EVF_DLQ_PARKED), "parked");
    ck_assert_str_eq(evf_dlq_status_name(EVF_DLQ_REPLAYED), "replayed");
    ck_assert_str_eq(evf_ledger_state_name(EVF_LEDGER_SENDING), "sending");
    ck_assert_str_eq(evf_ledger_state_name(EVF_LEDGER_SENT), "sent");
    ck_assert_str_eq(evf_ledger_state_name(EVF_LEDGER_PURGED), "purged");
    evf_dlq_letter_free(l);
}
END_TEST

static Suite *dlq_filters_suite(void) {
    Suite *s = suite_create("dlq_filters");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_durations);
    tcase_add_test(tc, test_times);
    tcase_add_test(tc, test_format_time);
    tcase_add_test(tc, test_offset_ranges_and_positions);
    tcase_add_test(tc, test_globs);
    tcase_add_test(tc, test_filter_parse);
    tcase_add_test(tc, test_filter_match);
    tcase_add_test(tc, test_group_of);
    tcase_add_test(tc, test_to_parse);
    tcase_add_test(tc, test_check_group);
    tcase_add_test(tc, test_targets);
    tcase_add_test(tc, test_ledger_key_and_status);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(dlq_filters_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
