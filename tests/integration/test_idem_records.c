/* tests/integration/test_idem_records.c — the idempotency record (consumer/idem.c) against the
 * real local Redis, called directly (issue #7; DESIGN.md "The idempotency record"):
 *   - acquire of an absent record → ACQUIRED, with every field and the TTL;
 *   - done → DUPLICATE; done with another fingerprint → MISMATCH;
 *   - running under another owner's live lease → BUSY with its lease_until; an expired lease →
 *     ACQUIRED with a new token, and the old holder is fenced out of every write;
 *   - mark_call points the thread's field of the owner's running hash at the call's token; the
 *     acquisition that takes over a running record counts `unfinished` only for the call that was
 *     in progress (not for records acquired or queued with it), once; unfinished ≥
 *     crash.max.attempts → CRASH_LOOP; the running hash has the records' TTL;
 *   - every write (release, renew, completion) is fenced by the token and refreshes the TTL;
 *   - idempotency.key.source fields make the record key; a resend with a new id but the same
 *     fields maps to the same record;
 *   - found while writing this suite: key-source values containing the separator, longer than 512 bytes, or reading like the
 *     hashed form of a long one.
 * Keys use a unique prefix, deleted at the end of each test (and swept after a failed one). */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "effects.h"
#include "event.h"
#include "fleet.h"
#include "idem.h"
#include "idemtest.h"
#include "testutil.h"

#define TTL_MS 600000
#define LEASE_MS 30000
#define GROUP "g1"

static evf_redis_t *R;
static char P[96];

static void setup(void) {
    char pattern[128];
    evf_test_unique(P, sizeof(P), "evft-idem");
    snprintf(pattern, sizeof(pattern), "%s:*", P);
    evf_fleet_track_keys(pattern);
    R = evf_fleet_redis();
}

static void teardown(void) {
    evf_itest_del_prefix(R, P);
    evf_redis_destroy(R);
    R = NULL;
}

static long long wall_ms(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static evf_idem_t *idem_new(const char *owner, int64_t lease_ms, int crash_max,
                            const char *key_source) {
    char err[256] = "";
    evf_idem_conf_t c = {.prefix = P,
                         .group = GROUP,
                         .owner = owner,
                         .key_source = key_source,
                         .ttl_ms = TTL_MS,
                         .lease_ms = lease_ms,
                         .crash_max = crash_max};
    evf_idem_t *idem = evf_idem_new(&c, err, sizeof(err));
    ck_assert_msg(idem, "evf_idem_new: %s", err);
    return idem;
}

/* "<prefix>:g1:<id>", in a ring of static buffers. */
static const char *RK(const char *id) {
    static char bufs[64][200];
    static int next;
    char *b = bufs[next++ % 64];
    snprintf(b, sizeof(bufs[0]), "%s:%s:%s", P, GROUP, id);
    return b;
}

static const char *status_name(evf_idem_status_t s) {
    static const char *const names[] = {"ACQUIRED", "DUPLICATE", "BUSY", "CRASH_LOOP",
                                        "MISMATCH"};
    return (unsigned)s < 5 ? names[s] : "?";
}

/* Acquire one record; req keeps the token. */
static evf_idem_status_t acquire(evf_idem_t *idem, const char *rec, const char *fp,
                                 evf_idem_req_t *req) {
    memset(req, 0, sizeof(*req));
    req->record_key = rec;
    req->fp = fp;
    ck_assert_int_eq(evf_idem_acquire_batch(idem, R, 0, req, 1), EVF_OK);
    return req->status;
}

static void expect_acquire(evf_idem_t *idem, const char *rec, const char *fp,
                           evf_idem_req_t *req, evf_idem_status_t want, const char *what) {
    evf_idem_status_t got = acquire(idem, rec, fp, req);
    ck_assert_msg(got == want, "%s: acquire of %s answered %s, want %s", what, rec,
                  status_name(got), status_name(want));
}

static char *field(const char *rec, const char *name) {
    return evf_itest_str(R, "HGET %s %s", rec, name);
}

static void expect_field(const char *rec, const char *name, const char *want) {
    char *v = field(rec, name);
    ck_assert_msg(v && !strcmp(v, want), "%s %s is '%s', want '%s'", rec, name,
                  v ? v : "(absent)", want);
    free(v);
}

static long long field_ll(const char *rec, const char *name) {
    char *v = field(rec, name);
    ck_assert_msg(v != NULL, "%s has no field %s", rec, name);
    long long n = atoll(v);
    free(v);
    return n;
}

static void expect_pttl_near(const char *rec, long long want) {
    long long pttl = evf_itest_int(R, "PTTL %s", rec);
    ck_assert_msg(pttl > want - 10000 && pttl <= want, "%s PTTL %lld, want ~%lld", rec, pttl,
                  want);
}

/* Complete req's record the way the pipeline does (no effects). */
static evf_fx_status_t complete(evf_idem_req_t *req) {
    evf_fx_t *fx = evf_fx_new(1);
    evf_fx_commit_t it = {.fx = fx,
                          .record_key = req->record_key,
                          .token = req->token,
                          .fp = req->fp,
                          .ttl_ms = TTL_MS};
    evf_fx_status_t st;
    char reasons[1][128];
    ck_assert_int_eq(evf_fx_apply_batch(R, &it, 1, &st, reasons), EVF_OK);
    evf_fx_destroy(fx);
    return st;
}

/* Thread 0 of idem's owner is about to call the processor for req. */
static void mark(evf_idem_t *idem, const evf_idem_req_t *req) {
    ck_assert_int_eq(evf_idem_mark_call(idem, R, 0, req), EVF_OK);
    evf_idem_drain(R);
}

/* The running hash of the process that handed out token: "<prefix>:g1:running:<owner>:<first
 * 16 hex digits of the token>". */
static const char *RUNK(const char *owner, const char *token) {
    static char buf[200];
    snprintf(buf, sizeof(buf), "%s:%s:running:%s:%.16s", P, GROUP, owner, token);
    return buf;
}

static void wait_past_lease(const char *rec) {
    long long lease = field_ll(rec, "lease_until");
    while (wall_ms() <= lease + 20)
        usleep(20 * 1000);
}

static int is_hex32(const char *s) {
    if (strlen(s) != 32)
        return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return 1;
}

/* ------------------------------------------------------------------------------------------ */

START_TEST(acquire_absent_creates_the_record) {
    evf_idem_t *idem = idem_new("owner-a", LEASE_MS, 3, NULL);
    evf_idem_req_t req;
    const char *rec = RK("ev-1");
    long long before = wall_ms();
    expect_acquire(idem, rec, "fp-1", &req, EVF_IDEM_ACQUIRED, "absent record");
    long long after = wall_ms();
    ck_assert_msg(is_hex32(req.token), "token '%s' is not 32 hex digits", req.token);
    ck_assert_int_eq(req.unfinished, 0);
    expect_field(rec, "state", "running");
    expect_field(rec, "owner", "owner-a");
    expect_field(rec, "token", req.token);
    expect_field(rec, "unfinished", "0");
    expect_field(rec, "fp", "fp-1");
    long long lease = field_ll(rec, "lease_until"), updated = field_ll(rec, "updated");
    ck_assert_msg(lease >= before + LEASE_MS && lease <= after + LEASE_MS,
                  "lease_until %lld not now + %d (%lld..%lld)", lease, LEASE_MS, before, after);
    ck_assert_msg(updated >= before && updated <= after, "updated %lld not now", updated);
    ck_assert_int_eq(req.lease_until, lease);
    ck_assert_int_eq(evf_itest_int(R, "HLEN %s", rec), 7);
    expect_pttl_near(rec, TTL_MS);

    /* Two acquisitions never share a token. */
    evf_idem_req_t other;
    expect_acquire(idem, RK("ev-2"), "fp-1", &other, EVF_IDEM_ACQUIRED, "second record");
    ck_assert_str_ne(other.token, req.token);
    evf_idem_destroy(idem);
}
END_TEST

START_TEST(done_is_duplicate_and_other_fingerprint_mismatch) {
    evf_idem_t *a = idem_new("owner-a", LEASE_MS, 3, NULL),
               *b = idem_new("owner-b", LEASE_MS, 3, NULL);
    evf_idem_req_t req, again;
    const char *rec = RK("ev-done");
    expect_acquire(a, rec, "fp-1", &req, EVF_IDEM_ACQUIRED, "first delivery");
    ck_assert_int_eq(complete(&req), EVF_FX_APPLIED);
    expect_field(rec, "state", "done");

    expect_acquire(b, rec, "fp-1", &again, EVF_IDEM_DUPLICATE, "redelivery, same fingerprint");
    ck_assert_str_eq(again.token, "");
    expect_acquire(a, rec, "fp-1", &again, EVF_IDEM_DUPLICATE, "redelivery to the same owner");
    expect_acquire(b, rec, "fp-2", &again, EVF_IDEM_MISMATCH, "same key, other fingerprint");
    ck_assert_str_eq(again.token, "");
    /* Neither answer changed the record. */
    expect_field(rec, "state", "done");
    expect_field(rec, "token", req.token);
    expect_field(rec, "fp", "fp-1");
    expect_field(rec, "owner", "owner-a");
    evf_idem_destroy(a);
    evf_idem_destroy(b);
}
END_TEST

START_TEST(live_lease_busy_expired_lease_taken_over) {
    evf_idem_t *a = idem_new("owner-a", 1000, 3, NULL);
    evf_idem_t *b = idem_new("owner-b", LEASE_MS, 3, NULL);
    evf_idem_req_t ra, rb;
    const char *rec = RK("ev-lease");
    expect_acquire(a, rec, "fp", &ra, EVF_IDEM_ACQUIRED, "owner a");
    long long lease = field_ll(rec, "lease_until");
    expect_acquire(b, rec, "fp", &rb, EVF_IDEM_BUSY, "owner b under a's live lease");
    ck_assert_int_eq(rb.lease_until, lease);
    ck_assert_str_eq(rb.token, "");
    expect_field(rec, "owner", "owner-a");
    expect_field(rec, "token", ra.token);

    while (wall_ms() <= lease + 50)
        usleep(50 * 1000);
    expect_acquire(b, rec, "fp", &rb, EVF_IDEM_ACQUIRED, "owner b after a's lease expired");
    ck_assert_str_ne(rb.token, ra.token);
    expect_field(rec, "owner", "owner-b");
    expect_field(rec, "token", rb.token);
    ck_assert_int_gt(field_ll(rec, "lease_until"), wall_ms() + LEASE_MS - 10000);

    /* The old holder (a paused worker waking up) is fenced out of everything. */
    int fenced = 0;
    evf_idem_req_t *pa = &ra;
    ck_assert_int_eq(evf_idem_release_batch(a, R, &pa, 1, &fenced), EVF_OK);
    ck_assert_int_eq(fenced, 1);
    ck_assert_int_eq(complete(&ra), EVF_FX_FENCED);
    expect_field(rec, "state", "running");
    expect_field(rec, "token", rb.token);
    ck_assert_int_eq(complete(&rb), EVF_FX_APPLIED);
    expect_acquire(a, rec, "fp", &ra, EVF_IDEM_DUPLICATE, "owner a asks again");
    evf_idem_destroy(a);
    evf_idem_destroy(b);
}
END_TEST

START_TEST(call_pointer_counts_only_the_running_call) {
    evf_idem_t *idem = idem_new("owner-a", 300, 3, NULL);
    const char *k1 = RK("ev-s1"), *k2 = RK("ev-s2"), *k3 = RK("ev-s3");
    evf_idem_req_t reqs[3] = {{.record_key = k1, .fp = "fp"},
                              {.record_key = k2, .fp = "fp"},
                              {.record_key = k3, .fp = "fp"}};
    ck_assert_int_eq(evf_idem_acquire_batch(idem, R, 0, reqs, 3), EVF_OK);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(reqs[i].status, EVF_IDEM_ACQUIRED);
    /* The running hash exists (field cleared) with the records' TTL before the first call. */
    char *v = evf_itest_str(R, "HGET %s 0", RUNK("owner-a", reqs[0].token));
    ck_assert_msg(v && !strcmp(v, ""), "running hash field 0 is '%s', want ''", v ? v : "(absent)");
    free(v);
    expect_pttl_near(RUNK("owner-a", reqs[0].token), TTL_MS);

    /* k1's call, then k2's call starts, and the worker "dies" in it (k3 queued behind). */
    mark(idem, &reqs[0]);
    v = evf_itest_str(R, "HGET %s 0", RUNK("owner-a", reqs[0].token));
    ck_assert_str_eq(v ? v : "(absent)", reqs[0].token);
    free(v);
    mark(idem, &reqs[1]);
    v = evf_itest_str(R, "HGET %s 0", RUNK("owner-a", reqs[0].token));
    ck_assert_str_eq(v ? v : "(absent)", reqs[1].token);
    free(v);
    expect_field(k2, "unfinished", "0"); /* counted by the acquisition that takes it over */
    wait_past_lease(k3);

    /* Another worker takes all three over: only k2's call was in progress. */
    evf_idem_t *b = idem_new("owner-b", LEASE_MS, 3, NULL);
    evf_idem_req_t again[3] = {{.record_key = k1, .fp = "fp"},
                               {.record_key = k2, .fp = "fp"},
                               {.record_key = k3, .fp = "fp"}};
    ck_assert_int_eq(evf_idem_acquire_batch(b, R, 0, again, 3), EVF_OK);
    const int want[3] = {0, 1, 0};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(again[i].status, EVF_IDEM_ACQUIRED);
        ck_assert_msg(again[i].unfinished == want[i], "%s: unfinished %d, want %d",
                      again[i].record_key, again[i].unfinished, want[i]);
    }
    expect_field(k1, "unfinished", "0");
    expect_field(k2, "unfinished", "1");
    expect_field(k3, "unfinished", "0");
    /* The pointer was used up: a later takeover does not count the same call again. */
    ck_assert_int_eq(evf_itest_int(R, "HEXISTS %s 0", RUNK("owner-a", reqs[0].token)), 0);

    /* Retry: released, the count kept; a release or completion counts nothing. */
    int fenced[1] = {-1};
    evf_idem_req_t *p2 = &again[1];
    evf_itest_ok(R, "PEXPIRE %s 5000", k2);
    ck_assert_int_eq(evf_idem_release_batch(b, R, &p2, 1, fenced), EVF_OK);
    ck_assert_int_eq(fenced[0], 0);
    expect_field(k2, "state", "released");
    expect_field(k2, "unfinished", "1");
    expect_field(k2, "lease_until", "0");
    expect_pttl_near(k2, TTL_MS);
    /* A released record is acquired again by anyone, its count kept, its old pointer ignored. */
    mark(b, &again[1]);
    evf_idem_req_t third;
    expect_acquire(idem, k2, "fp", &third, EVF_IDEM_ACQUIRED, "released record");
    ck_assert_int_eq(third.unfinished, 1);
    ck_assert_str_ne(third.token, again[1].token);
    expect_field(k2, "owner", "owner-a");
    ck_assert_int_eq(complete(&third), EVF_FX_APPLIED);
    expect_field(k2, "unfinished", "1");
    expect_field(k2, "state", "done");
    evf_idem_destroy(idem);
    evf_idem_destroy(b);
}
END_TEST

START_TEST(unfinished_reaching_crash_max_is_crash_loop) {
    /* Each "crash": the call started and the worker died, the lease ran out. */
    evf_idem_t *idem = idem_new("owner-a", 300, 2, NULL);
    evf_idem_req_t req;
    const char *rec = RK("ev-crash");
    for (int run = 0; run < 2; run++) {
        /* A restarted worker: same owner (worker.id), another process. */
        evf_idem_destroy(idem);
        idem = idem_new("owner-a", 300, 2, NULL);
        expect_acquire(idem, rec, "fp", &req, EVF_IDEM_ACQUIRED, "run before crash.max");
        ck_assert_int_eq(req.unfinished, run);
        ck_assert_int_eq(field_ll(rec, "unfinished"), run);
        mark(idem, &req);
        wait_past_lease(rec);
    }
    evf_idem_destroy(idem);
    idem = idem_new("owner-a", 300, 2, NULL);
    expect_acquire(idem, rec, "fp", &req, EVF_IDEM_CRASH_LOOP, "unfinished == crash.max");
    ck_assert_int_eq(req.unfinished, 2);
    ck_assert_str_eq(req.token, "");
    expect_field(rec, "unfinished", "2");
    expect_pttl_near(rec, TTL_MS);
    /* Asked again (a replay): the same answer, the crash not counted twice. */
    expect_acquire(idem, rec, "fp", &req, EVF_IDEM_CRASH_LOOP, "crash loop, asked again");
    ck_assert_int_eq(req.unfinished, 2);

    /* Released (not expired) records are judged the same way. */
    const char *rec2 = RK("ev-crash2");
    evf_itest_ok(R, "HSET %s state released unfinished 5 lease_until 0 token x", rec2);
    expect_acquire(idem, rec2, "fp", &req, EVF_IDEM_CRASH_LOOP, "released, unfinished > max");
    /* A record done is a duplicate whatever its count. */
    evf_itest_ok(R, "HSET %s state done", rec2);
    expect_acquire(idem, rec2, "fp", &req, EVF_IDEM_DUPLICATE, "done, unfinished > max");
    evf_idem_destroy(idem);
}
END_TEST

START_TEST(every_write_is_fenced) {
    evf_idem_t *idem = idem_new("owner-a", LEASE_MS, 3, NULL);
    evf_idem_req_t req;
    const char *rec = RK("ev-fence");
    expect_acquire(idem, rec, "fp", &req, EVF_IDEM_ACQUIRED, "owner a");
    mark(idem, &req);
    evf_itest_ok(R, "PEXPIRE %s 50000", rec);
    char *before = evf_itest_str(R, "HGET %s lease_until", rec);

    evf_idem_req_t wrong = req;
    snprintf(wrong.token, sizeof(wrong.token), "00000000000000000000000000000000");
    /* renew with a wrong token: refused (lease 0 returned), nothing changes. */
    evf_idem_req_t *pw = &wrong;
    ck_assert_int_eq(evf_idem_renew_batch(idem, R, &pw, 1), EVF_OK);
    ck_assert_int_eq(wrong.lease_until, 0);
    expect_field(rec, "lease_until", before);
    /* release with a wrong token: refused, nothing changes. */
    int fenced = 0;
    ck_assert_int_eq(evf_idem_release_batch(idem, R, &pw, 1, &fenced), EVF_OK);
    ck_assert_int_eq(fenced, 1);
    expect_field(rec, "state", "running");
    /* completion with a wrong token: fenced. */
    ck_assert_int_eq(complete(&wrong), EVF_FX_FENCED);
    expect_field(rec, "state", "running");
    expect_field(rec, "token", req.token);
    long long pttl = evf_itest_int(R, "PTTL %s", rec);
    ck_assert_msg(pttl <= 50000, "a refused write refreshed the TTL (%lld)", pttl);
    /* The holder renews: a later lease_until and the TTL refreshed. */
    long long t0 = wall_ms();
    evf_idem_req_t *pr = &req;
    ck_assert_int_eq(evf_idem_renew_batch(idem, R, &pr, 1), EVF_OK);
    ck_assert_int_ge(req.lease_until, t0 + LEASE_MS);
    ck_assert_int_eq(field_ll(rec, "lease_until"), req.lease_until);
    expect_pttl_near(rec, TTL_MS);
    /* The holder still completes. */
    ck_assert_int_eq(complete(&req), EVF_FX_APPLIED);
    expect_field(rec, "unfinished", "0");
    expect_field(rec, "state", "done");
    /* A done record is not renewed. */
    ck_assert_int_eq(evf_idem_renew_batch(idem, R, &pr, 1), EVF_OK);
    ck_assert_int_eq(req.lease_until, 0);
    free(before);
    evf_idem_destroy(idem);
}
END_TEST

START_TEST(batch_answers_each_record) {
    evf_idem_t *a = idem_new("owner-a", LEASE_MS, 2, NULL);
    evf_idem_t *b = idem_new("owner-b", LEASE_MS, 2, NULL);
    evf_idem_req_t held, done;
    expect_acquire(a, RK("held"), "fp", &held, EVF_IDEM_ACQUIRED, "setup");
    expect_acquire(a, RK("done"), "fp", &done, EVF_IDEM_ACQUIRED, "setup");
    ck_assert_int_eq(complete(&done), EVF_FX_APPLIED);
    evf_itest_ok(R, "HSET %s state released unfinished 2 lease_until 0 token t", RK("crashy"));
    evf_idem_req_t reqs[5] = {
        {.record_key = RK("new"), .fp = "fp"},      {.record_key = RK("held"), .fp = "fp"},
        {.record_key = RK("done"), .fp = "fp"},     {.record_key = RK("done"), .fp = "other"},
        {.record_key = RK("crashy"), .fp = "fp"},
    };
    ck_assert_int_eq(evf_idem_acquire_batch(b, R, 0, reqs, 5), EVF_OK);
    const evf_idem_status_t want[5] = {EVF_IDEM_ACQUIRED, EVF_IDEM_BUSY, EVF_IDEM_DUPLICATE,
                                       EVF_IDEM_MISMATCH, EVF_IDEM_CRASH_LOOP};
    for (int i = 0; i < 5; i++)
        ck_assert_msg(reqs[i].status == want[i], "request %d (%s): %s, want %s", i,
                      reqs[i].record_key, status_name(reqs[i].status), status_name(want[i]));
    ck_assert_int_eq(reqs[1].lease_until, field_ll(RK("held"), "lease_until"));
    ck_assert_int_eq(reqs[4].unfinished, 2);

    /* The same id twice in one batch: the second sees the first's fresh lease. */
    evf_idem_req_t twice[2] = {{.record_key = RK("twice"), .fp = "fp"},
                               {.record_key = RK("twice"), .fp = "fp"}};
    ck_assert_int_eq(evf_idem_acquire_batch(b, R, 0, twice, 2), EVF_OK);
    ck_assert_int_eq(twice[0].status, EVF_IDEM_ACQUIRED);
    ck_assert_int_eq(twice[1].status, EVF_IDEM_BUSY);
    expect_field(RK("twice"), "token", twice[0].token);
    evf_idem_destroy(a);
    evf_idem_destroy(b);
}
END_TEST

static evf_event_t *s3_event(const char *id, const char *bucket, const char *key,
                             const char *sequencer) {
    evf_event_t *ev = evf_event_new();
    evf_event_set_str(&ev->id, id);
    ev->source = EVFLEET__V1__SOURCE__S3;
    evf_event_set_str(&ev->type, "s3:ObjectCreated:Put");
    Evfleet__V1__S3Object *s3 = evf_event_set_s3(ev);
    evf_event_set_str(&s3->bucket, bucket);
    evf_event_set_str(&s3->key, key);
    evf_event_set_str(&s3->sequencer, sequencer);
    s3->size = 42;
    char subject[1200];
    snprintf(subject, sizeof(subject), "%s/%s", bucket, key);
    evf_event_set_str(&ev->subject, subject);
    return ev;
}

START_TEST(key_source_fields_make_the_record_key) {
    char err[256], key1[512], key2[512], want[512];
    evf_idem_t *by_id = idem_new("owner-a", LEASE_MS, 3, NULL);
    evf_idem_t *s3 = idem_new("owner-a", LEASE_MS, 3, "s3.bucket, s3.key ,s3.sequencer");
    evf_event_t *e1 = s3_event("id-1", "photos", "2026/cat.jpg", "0055AED6DCD90281E5");
    evf_event_t *e2 = s3_event("id-2-resend", "photos", "2026/cat.jpg", "0055AED6DCD90281E5");
    evf_event_t *e3 = s3_event("id-3", "photos", "2026/cat.jpg", "0055AED6DCD90281E6");

    ck_assert_int_eq(evf_idem_record_key(by_id, e1, key1, sizeof(key1)), 0);
    snprintf(want, sizeof(want), "%s:%s:id-1", P, GROUP);
    ck_assert_str_eq(key1, want);

    ck_assert_int_eq(evf_idem_record_key(s3, e1, key1, sizeof(key1)), 0);
    snprintf(want, sizeof(want), "%s:%s:photos|2026/cat.jpg|0055AED6DCD90281E5", P, GROUP);
    ck_assert_str_eq(key1, want);
    ck_assert_int_eq(evf_idem_record_key(s3, e2, key2, sizeof(key2)), 0);
    ck_assert_str_eq(key2, key1);
    ck_assert_int_eq(evf_idem_record_key(s3, e3, key2, sizeof(key2)), 0);
    ck_assert_str_ne(key2, key1);

    /* The resend with a new id is a duplicate of the first. */
    char fp1[33], fp2[33];
    evf_event_fingerprint(e1, fp1);
    evf_event_fingerprint(e2, fp2);
    ck_assert_str_eq(fp1, fp2);
    evf_idem_req_t req;
    expect_acquire(s3, key1, fp1, &req, EVF_IDEM_ACQUIRED, "first id");
    ck_assert_int_eq(complete(&req), EVF_FX_APPLIED);
    ck_assert_int_eq(evf_idem_record_key(s3, e2, key2, sizeof(key2)), 0);
    expect_acquire(s3, key2, fp2, &req, EVF_IDEM_DUPLICATE, "resend with a new id");

    /* An event without the fields falls back to its id. */
    evf_event_t *iot = evf_itest_iot("iot-1", "dev", "temp", 1.0, 1000, NULL);
    ck_assert_int_eq(evf_idem_record_key(s3, iot, key1, sizeof(key1)), -1);
    snprintf(want, sizeof(want), "%s:%s:iot-1", P, GROUP);
    ck_assert_str_eq(key1, want);

    /* IoT fields, numbers included. */
    evf_idem_t *iotk = idem_new("owner-a", LEASE_MS, 3, "iot.device_id,iot.metric,time_ms");
    ck_assert_int_eq(evf_idem_record_key(iotk, iot, key1, sizeof(key1)), 0);
    snprintf(want, sizeof(want), "%s:%s:dev|temp|1000", P, GROUP);
    ck_assert_str_eq(key1, want);

    /* An unknown field is a configuration error naming it. */
    evf_idem_conf_t bad = {.prefix = P, .group = GROUP, .owner = "o", .key_source = "s3.bukket",
                           .ttl_ms = TTL_MS, .lease_ms = LEASE_MS, .crash_max = 3};
    ck_assert_ptr_null(evf_idem_new(&bad, err, sizeof(err)));
    ck_assert_msg(strstr(err, "s3.bukket"), "error does not name the field: %s", err);

    evf_event_free(e1);
    evf_event_free(e2);
    evf_event_free(e3);
    evf_event_free(iot);
    evf_idem_destroy(by_id);
    evf_idem_destroy(s3);
    evf_idem_destroy(iotk);
}
END_TEST

/* ---- found by this suite ---- */

/* Joining the values with '|' makes two different field tuples one key. */
START_TEST(key_source_values_containing_the_separator) {
    char k1[512], k2[512];
    evf_idem_t *idem = idem_new("owner-a", LEASE_MS, 3, "iot.device_id,iot.metric");
    evf_event_t *a = evf_itest_iot("id-a", "dev|temp", "x", 1.0, 1000, NULL);
    evf_event_t *b = evf_itest_iot("id-b", "dev", "temp|x", 1.0, 1000, NULL);
    ck_assert_int_eq(evf_idem_record_key(idem, a, k1, sizeof(k1)), 0);
    ck_assert_int_eq(evf_idem_record_key(idem, b, k2, sizeof(k2)), 0);
    ck_assert_msg(strcmp(k1, k2) != 0,
                  "device 'dev|temp' metric 'x' and device 'dev' metric 'temp|x' share the record "
                  "key '%s': the second event is skipped as a duplicate (or dead-lettered as a "
                  "fingerprint mismatch)",
                  k1);
    evf_event_free(a);
    evf_event_free(b);
    evf_idem_destroy(idem);
}
END_TEST

/* S3 object keys are up to 1024 bytes: such an event must still get its key-source record key
 * (a resend with a new id must be a duplicate), not silently fall back to the event id. */
START_TEST(key_source_long_values) {
    char objkey[1025], k1[4096], k2[4096];
    memset(objkey, 'k', 1024);
    objkey[1024] = '\0';
    evf_idem_t *idem = idem_new("owner-a", LEASE_MS, 3, "s3.bucket,s3.key,s3.sequencer");
    evf_event_t *e1 = s3_event("id-long-1", "photos", objkey, "0055AED6DCD90281E5");
    evf_event_t *e2 = s3_event("id-long-2", "photos", objkey, "0055AED6DCD90281E5");
    int rc1 = evf_idem_record_key(idem, e1, k1, sizeof(k1));
    int rc2 = evf_idem_record_key(idem, e2, k2, sizeof(k2));
    ck_assert_msg(rc1 == 0 && rc2 == 0 && !strcmp(k1, k2),
                  "a 1024-byte S3 key: record keys '%.60s…' (%d) and '%.60s…' (%d) — the fields "
                  "did not fit evf_idem_record_key's 512-byte value buffer, so the key fell back "
                  "to the event id and a resend with a new id is processed again",
                  k1, rc1, k2, rc2);
    evf_event_free(e1);
    evf_event_free(e2);
    evf_idem_destroy(idem);
}
END_TEST

/* A key part too long for the record key is replaced by "sha256:<hex>" of it: a short value
 * that reads like that must not land on the same record. */
/* An event id that reads like a running hash's name ("running:<owner>:<process>") must not
 * land on one: the acquisition would write record fields into it. */
START_TEST(event_id_never_names_a_running_hash) {
    evf_idem_t *idem = idem_new("owner-a", LEASE_MS, 3, NULL);
    evf_idem_req_t req = {.record_key = RK("warm"), .fp = "fp"};
    ck_assert_int_eq(evf_idem_acquire_batch(idem, R, 0, &req, 1), EVF_OK);
    const char *runk = RUNK("owner-a", req.token);
    char id[200], key[300];
    snprintf(id, sizeof(id), "%s", runk + strlen(P) + strlen(GROUP) + 2); /* "running:…" */
    evf_event_t *ev = evf_event_new();
    evf_event_set_str(&ev->id, id);
    ck_assert_int_eq(evf_idem_record_key(idem, ev, key, sizeof(key)), 0);
    ck_assert_msg(strcmp(key, runk) != 0, "event id '%s' names the running hash %s", id, runk);
    evf_event_free(ev);
    evf_idem_destroy(idem);
}
END_TEST

START_TEST(hashed_key_part_distinct_from_a_literal_one) {
    char objkey[1201], k1[1024], k2[1024], head[256];
    memset(objkey, 'k', 1200);
    objkey[1200] = '\0';
    evf_idem_t *idem = idem_new("owner-a", LEASE_MS, 3, "s3.key");
    evf_event_t *e1 = s3_event("id-h1", "photos", objkey, "01");
    ck_assert_int_eq(evf_idem_record_key(idem, e1, k1, sizeof(k1)), 0);
    snprintf(head, sizeof(head), "%s:%s:", P, GROUP);
    ck_assert_msg(!strncmp(k1, head, strlen(head)), "record key %s", k1);
    /* Another object whose key is literally the first one's key part. */
    evf_event_t *e2 = s3_event("id-h2", "photos", k1 + strlen(head), "01");
    ck_assert_int_eq(evf_idem_record_key(idem, e2, k2, sizeof(k2)), 0);
    ck_assert_msg(strcmp(k1, k2) != 0,
                  "the object named '%s' shares the record key of a 1200-byte object key: one "
                  "of them is skipped as a duplicate",
                  e2->s3->key);
    evf_event_free(e1);
    evf_event_free(e2);
    evf_idem_destroy(idem);
}
END_TEST

/* After a Redis restart (no scripts, no data) the first batch still works: the acquisition
 * loads its script again, creates the running hash with its TTL, and the call pointer lands. */
START_TEST(call_pointer_after_a_redis_restart) {
    evf_itest_redis_t srv;
    evf_itest_redis_init(&srv, NULL);
    evf_itest_redis_start(&srv);
    evf_redis_t *r = evf_itest_connect(srv.url, NULL);
    evf_idem_t *idem = idem_new("owner-a", LEASE_MS, 3, NULL);
    evf_idem_req_t warm = {.record_key = RK("before-restart"), .fp = "fp"};
    ck_assert_int_eq(evf_idem_acquire_batch(idem, r, 0, &warm, 1), EVF_OK);

    evf_itest_redis_kill(&srv);
    evf_itest_redis_start(&srv);
    evf_redis_disconnect(r);

    evf_idem_req_t req = {.record_key = RK("after-restart"), .fp = "fp"};
    ck_assert_int_eq(evf_idem_acquire_batch(idem, r, 0, &req, 1), EVF_OK);
    ck_assert_int_eq(req.status, EVF_IDEM_ACQUIRED);
    ck_assert_int_eq(evf_idem_mark_call(idem, r, 0, &req), EVF_OK);
    evf_idem_drain(r);
    redisReply *u = evf_redis_cmd(r, "HGET %s 0", RUNK("owner-a", req.token));
    ck_assert_ptr_nonnull(u);
    char got[64];
    snprintf(got, sizeof(got), "%s", u->type == REDIS_REPLY_STRING ? u->str : "(absent)");
    freeReplyObject(u);
    u = evf_redis_cmd(r, "PTTL %s", RUNK("owner-a", req.token));
    ck_assert_ptr_nonnull(u);
    long long pttl = u->type == REDIS_REPLY_INTEGER ? u->integer : -3;
    freeReplyObject(u);
    evf_idem_destroy(idem);
    evf_redis_destroy(r);
    evf_itest_redis_cleanup(&srv);
    ck_assert_msg(!strcmp(got, req.token), "call pointer after the restart '%s', want %s", got,
                  req.token);
    ck_assert_msg(pttl > TTL_MS - 10000 && pttl <= TTL_MS, "running hash PTTL %lld", pttl);
}
END_TEST

static Suite *idem_records_suite(void) {
    Suite *s = suite_create("idem_records");
    TCase *tc = tcase_create("records");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, acquire_absent_creates_the_record);
    tcase_add_test(tc, done_is_duplicate_and_other_fingerprint_mismatch);
    tcase_add_test(tc, live_lease_busy_expired_lease_taken_over);
    tcase_add_test(tc, call_pointer_counts_only_the_running_call);
    tcase_add_test(tc, unfinished_reaching_crash_max_is_crash_loop);
    tcase_add_test(tc, every_write_is_fenced);
    tcase_add_test(tc, batch_answers_each_record);
    tcase_add_test(tc, key_source_fields_make_the_record_key);
    suite_add_tcase(s, tc);

    TCase *found = tcase_create("found");
    tcase_add_checked_fixture(found, setup, teardown);
    tcase_set_timeout(found, 60);
    tcase_add_test(found, key_source_values_containing_the_separator);
    tcase_add_test(found, key_source_long_values);
    tcase_add_test(found, hashed_key_part_distinct_from_a_literal_one);
    tcase_add_test(found, event_id_never_names_a_running_hash);
    tcase_add_test(found, call_pointer_after_a_redis_restart);
    suite_add_tcase(s, found);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(idem_records_suite());
    evf_fleet_session_begin();
    evf_itest_session_begin();
    srunner_run_all(sr, CK_NORMAL);
    evf_itest_session_end();
    evf_fleet_session_end();
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
