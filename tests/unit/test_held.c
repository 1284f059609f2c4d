/* tests/unit/test_held.c — the in-process set of held idempotency keys: one holder per key. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "held.h"

START_TEST(one_owner_per_key) {
    evf_held_t *h = evf_held_new();
    int a = 0, b = 0, ok[3];
    const char *k1[] = {"p:g:e1", "p:g:e2", "p:g:e1"};
    evf_held_claim(h, &a, k1, 3, ok);
    ck_assert_int_eq(ok[0], 1);
    ck_assert_int_eq(ok[1], 1);
    ck_assert_int_eq(ok[2], 1); /* the same owner twice: still its own */
    ck_assert_uint_eq(evf_held_count(h), 2);

    const char *k2[] = {"p:g:e2", "p:g:e3"};
    evf_held_claim(h, &b, k2, 2, ok);
    ck_assert_int_eq(ok[0], 0); /* a holds it */
    ck_assert_int_eq(ok[1], 1);
    evf_held_drop(h, &b, k1, 2); /* b holds neither: ignored */
    ck_assert_uint_eq(evf_held_count(h), 3);

    evf_held_drop(h, &a, k1, 3); /* e1 twice: the second is a no-op */
    ck_assert_uint_eq(evf_held_count(h), 1);
    evf_held_claim(h, &b, k2, 2, ok);
    ck_assert_int_eq(ok[0], 1); /* free now */
    ck_assert_int_eq(ok[1], 1);
    evf_held_drop(h, &b, k2, 2);
    ck_assert_uint_eq(evf_held_count(h), 0);
    evf_held_destroy(h);
}
END_TEST

/* Threads claim overlapping keys; a key is never held by two at once. */
enum { THREADS = 4, KEYS = 64, ROUNDS = 2000 };
static evf_held_t *shared;
static atomic_int holders[KEYS];
static atomic_int violations;
static char names[KEYS][32];

static void *claimer(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (int r = 0; r < ROUNDS; r++) {
        const char *keys[4];
        int idx[4], ok[4];
        for (int i = 0; i < 4; i++) {
            idx[i] = rand_r(&seed) % KEYS;
            keys[i] = names[idx[i]];
        }
        evf_held_claim(shared, arg, keys, 4, ok);
        int mine[4] = {0};
        for (int i = 0; i < 4; i++) {
            if (!ok[i])
                continue;
            int dup = 0;
            for (int j = 0; j < i; j++)
                dup |= ok[j] && idx[j] == idx[i];
            if (dup)
                continue;
            mine[i] = 1;
            if (atomic_fetch_add(&holders[idx[i]], 1) != 0)
                atomic_fetch_add(&violations, 1);
        }
        for (int i = 0; i < 4; i++)
            if (mine[i])
                atomic_fetch_sub(&holders[idx[i]], 1);
        evf_held_drop(shared, arg, keys, 4);
    }
    return NULL;
}

START_TEST(concurrent_claims_exclusive) {
    shared = evf_held_new();
    for (int i = 0; i < KEYS; i++)
        snprintf(names[i], sizeof(names[i]), "k%d", i);
    pthread_t t[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, claimer, (void *)(i + 1)), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_eq(atomic_load(&violations), 0);
    ck_assert_uint_eq(evf_held_count(shared), 0);
    evf_held_destroy(shared);
}
END_TEST

int main(void) {
    Suite *s = suite_create("held");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, one_owner_per_key);
    tcase_add_test(tc, concurrent_claims_exclusive);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
