/* Tests src/actors/session/user_sessions.c: a user gets at most the limit of slots, given back
 * ones are reusable, users do not share slots, 0 means no limit. */
#include <pthread.h>

#include "check.h"
#include "actors/session/user_sessions.h"

static void test_limit_per_user_and_release(void)
{
    struct cn_user_sessions *u = cn_user_sessions_new(2);
    CHECK(cn_user_sessions_limit(u) == 2);
    CHECK(cn_user_sessions_acquire(u, 7) == 0);
    CHECK(cn_user_sessions_acquire(u, 7) == 0);
    CHECK(cn_user_sessions_acquire(u, 7) == -1);
    CHECK(cn_user_sessions_acquire(u, 8) == 0); /* another user: own slots */
    cn_user_sessions_release(u, 7);
    CHECK(cn_user_sessions_acquire(u, 7) == 0);
    CHECK(cn_user_sessions_acquire(u, 7) == -1);
    cn_user_sessions_release(u, 7);
    cn_user_sessions_release(u, 7);
    cn_user_sessions_release(u, 8);
    /* Everything given back: the user starts from zero again. */
    CHECK(cn_user_sessions_acquire(u, 7) == 0);
    CHECK(cn_user_sessions_acquire(u, 7) == 0);
    CHECK(cn_user_sessions_acquire(u, 7) == -1);
    cn_user_sessions_free(u);
}

static void test_zero_is_no_limit_and_null_is_a_no_op(void)
{
    struct cn_user_sessions *u = cn_user_sessions_new(0);
    for (int i = 0; i < 1000; i++)
        CHECK(cn_user_sessions_acquire(u, 1) == 0);
    cn_user_sessions_free(u);
    CHECK(cn_user_sessions_acquire(NULL, 1) == 0);
    cn_user_sessions_release(NULL, 1);
    cn_user_sessions_free(NULL);
}

struct racer {
    struct cn_user_sessions *u;
    int got;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    for (int i = 0; i < 100; i++)
        if (cn_user_sessions_acquire(r->u, 42) == 0)
            r->got++;
    return NULL;
}

static void test_concurrent_acquires_never_pass_the_limit(void)
{
    struct cn_user_sessions *u = cn_user_sessions_new(10);
    struct racer rs[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        rs[i] = (struct racer){u, 0};
        pthread_create(&th[i], NULL, race, &rs[i]);
    }
    int total = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        total += rs[i].got;
    }
    CHECK(total == 10);
    cn_user_sessions_free(u);
}

CN_TEST_MAIN(test_limit_per_user_and_release, test_zero_is_no_limit_and_null_is_a_no_op,
             test_concurrent_acquires_never_pass_the_limit)
