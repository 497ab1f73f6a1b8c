/* Tests src/actors/session/session_directory.c: listings and their filters, rooms counted from the
 * wrapped hooks, kick by id and by user, drain in batches with bounded hints, close;
 * revocations reach exactly the named users' sessions (the per-user index stays right as
 * sessions close in any order), or every session for a closed room. */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "check.h"
#include "actors/session/session_directory.h"

/* What one fake session actor was told. */
struct told {
    atomic_int kicks, drains, revokes;
    atomic_llong last_revoked_room;
    atomic_llong last_hint;
    char reason[64];
};

static void behaviour(cn_actor *self, void *state, cn_msg *m)
{
    (void)self;
    struct told *t = state;
    if (m->type == CN_SESSION_KICK) {
        const struct cn_session_kick *k = (const struct cn_session_kick *)m;
        if (k->reconnect_after_ms < 0) {
            strncpy(t->reason, k->reason, sizeof t->reason - 1);
            atomic_fetch_add(&t->kicks, 1);
        } else {
            atomic_store(&t->last_hint, k->reconnect_after_ms);
            atomic_fetch_add(&t->drains, 1);
        }
    } else if (m->type == CN_SESSION_REVOKE) {
        const struct cn_session_revoke *r = (const struct cn_session_revoke *)m;
        atomic_store(&t->last_revoked_room, r->room_id);
        atomic_fetch_add(&t->revokes, 1);
    }
    cn_msg_free(m);
}

static bool wait_for(atomic_int *v, int want)
{
    uint64_t deadline = cn_now_ms() + 5000;
    while (atomic_load(v) < want && cn_now_ms() < deadline) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return atomic_load(v) >= want;
}

static int inner_subs;
static void inner_subscribed(void *ctx, int64_t room, cn_actor *s, uint64_t key, int64_t after)
{
    (void)ctx, (void)room, (void)s, (void)key, (void)after;
    inner_subs++;
}
static void inner_unsubscribed(void *ctx, int64_t room, cn_actor *s, uint64_t key)
{
    (void)ctx, (void)room, (void)s, (void)key;
    inner_subs--;
}

static void test_directory(void)
{
    cn_runtime_config rc = {.workers = 1};
    cn_runtime *rt = cn_runtime_new(&rc);
    CHECK_EQ(cn_runtime_start(rt), 0);
    static struct told told[3];
    cn_actor *a[3];
    for (int i = 0; i < 3; i++)
        a[i] = cn_actor_spawn(rt, behaviour, &told[i], NULL);

    struct cn_session_dir *d = cn_session_dir_new();
    struct cn_session_room_hooks inner = {NULL, inner_subscribed, inner_unsubscribed};
    const struct cn_session_room_hooks *h = cn_session_dir_room_hooks(d, &inner);
    cn_session_dir_opened(d, a[0], "a0", 10, NULL);
    cn_session_dir_opened(d, a[1], "a1", 10, NULL);
    cn_session_dir_opened(d, a[2], "a2", 20, NULL);
    CHECK_EQ(cn_session_dir_count(d), 3);
    h->subscribed(h->ctx, 5, a[0], 1, -1);
    h->subscribed(h->ctx, 5, a[0], 2, -1);
    h->subscribed(h->ctx, 5, a[1], 1, -1);
    h->subscribed(h->ctx, 7, a[2], 1, 3);
    CHECK_EQ(inner_subs, 4); /* the room registry still hears of every subscription */

    struct cn_session_info *list;
    size_t n = cn_session_dir_list(d, 10, 0, &list);
    CHECK_EQ(n, 2);
    for (size_t i = 0; i < n; i++)
        CHECK_EQ(list[i].user_id, 10);
    cn_session_dir_list_free(list, n);
    n = cn_session_dir_list(d, 0, 7, &list);
    CHECK_EQ(n, 1);
    CHECK_STR(list[0].id, "a2");
    CHECK_EQ(list[0].nrooms, 1);
    CHECK_EQ(list[0].rooms[0], 7);
    CHECK(list[0].connected_wall_ms > 0);
    cn_session_dir_list_free(list, n);
    n = cn_session_dir_list(d, 20, 5, &list);
    CHECK_EQ(n, 0);
    cn_session_dir_list_free(list, n);

    struct cn_room_info *rooms;
    n = cn_session_dir_rooms(d, 0, &rooms);
    CHECK_EQ(n, 2);
    CHECK_EQ(rooms[0].room_id, 5);
    CHECK_EQ(rooms[0].sessions, 2);
    CHECK_EQ(rooms[0].subscriptions, 3);
    CHECK_EQ(rooms[1].room_id, 7);
    CHECK_EQ(rooms[1].subscriptions, 1);
    free(rooms);
    h->unsubscribed(h->ctx, 5, a[0], 1);
    CHECK_EQ(inner_subs, 3);
    n = cn_session_dir_rooms(d, 1, &rooms);
    CHECK_EQ(n, 1);
    CHECK_EQ(rooms[0].subscriptions, 2);
    CHECK_EQ(rooms[0].sessions, 2);
    free(rooms);

    CHECK_EQ(cn_session_dir_kick(d, "a1", 0, "spam"), 1);
    CHECK(wait_for(&told[1].kicks, 1));
    CHECK_STR(told[1].reason, "spam");
    CHECK_EQ(cn_session_dir_kick(d, "nope", 0, ""), 0);
    CHECK_EQ(cn_session_dir_kick(d, NULL, 10, ""), 2);
    CHECK(wait_for(&told[0].kicks, 1));
    CHECK(wait_for(&told[1].kicks, 2));
    CHECK_EQ(atomic_load(&told[2].kicks), 0);

    /* Drain: batches of 2, each session told once, hints within the jitter. */
    CHECK_EQ(cn_session_dir_drain(d, 2, 100), 2);
    CHECK_EQ(cn_session_dir_drain(d, 2, 100), 1);
    CHECK_EQ(cn_session_dir_drain(d, 2, 100), 0);
    for (int i = 0; i < 3; i++) {
        CHECK(wait_for(&told[i].drains, 1));
        CHECK_EQ(atomic_load(&told[i].drains), 1);
        CHECK(atomic_load(&told[i].last_hint) >= 0 && atomic_load(&told[i].last_hint) <= 100);
    }

    cn_session_dir_closed(d, a[0]);
    cn_session_dir_closed(d, a[0]); /* twice: no-op */
    CHECK_EQ(cn_session_dir_count(d), 2);
    h->subscribed(h->ctx, 9, a[0], 3, -1); /* a closed session is not listed again */
    n = cn_session_dir_list(d, 0, 9, &list);
    CHECK_EQ(n, 0);
    cn_session_dir_list_free(list, n);
    cn_session_dir_free(d);
    for (int i = 0; i < 3; i++)
        cn_actor_unref(a[i]);
    cn_runtime_shutdown(rt);
}

static void test_revoke_reaches_the_named_users_sessions(void)
{
    cn_runtime_config rc = {.workers = 1};
    cn_runtime *rt = cn_runtime_new(&rc);
    CHECK_EQ(cn_runtime_start(rt), 0);
    enum { N = 5 };
    static struct told told[N];
    memset(told, 0, sizeof told);
    /* Users: 10, 10, 10, 20, 30 (three sessions of one user: a list to unlink from). */
    static const int64_t user_of[N] = {10, 10, 10, 20, 30};
    cn_actor *a[N];
    struct cn_session_dir *d = cn_session_dir_new();
    for (int i = 0; i < N; i++) {
        a[i] = cn_actor_spawn(rt, behaviour, &told[i], NULL);
        char id[8];
        snprintf(id, sizeof id, "s%d", i);
        cn_session_dir_opened(d, a[i], id, user_of[i], NULL);
    }
    int64_t users[] = {10, 30, 99};
    CHECK_EQ(cn_session_dir_revoke(d, 42, users, 3, "leave", 1), 4);
    for (int i = 0; i < N; i++)
        if (user_of[i] != 20)
            CHECK(wait_for(&told[i].revokes, 1));
    /* The middle of user 10's list closes, then its head: the rest stays reachable. */
    cn_session_dir_closed(d, a[1]);
    CHECK_EQ(cn_session_dir_revoke(d, 43, users, 1, "removed", 2), 2);
    CHECK(wait_for(&told[0].revokes, 2));
    CHECK(wait_for(&told[2].revokes, 2));
    CHECK_EQ(atomic_load(&told[0].last_revoked_room), 43);
    cn_session_dir_closed(d, a[2]);
    cn_session_dir_closed(d, a[0]);
    CHECK_EQ(cn_session_dir_revoke(d, 44, users, 1, "removed", 3), 0);
    /* A closed room: every open session. */
    CHECK_EQ(cn_session_dir_revoke(d, 45, NULL, 0, "closed", 4), 2);
    CHECK(wait_for(&told[3].revokes, 1));
    CHECK(wait_for(&told[4].revokes, 2));
    CHECK_EQ(atomic_load(&told[3].last_revoked_room), 45);
    CHECK_EQ(atomic_load(&told[1].revokes), 1); /* closed before the second revocation */
    CHECK_EQ(cn_session_dir_revoke(NULL, 45, NULL, 0, "closed", 4), 0);
    cn_session_dir_free(d);
    for (int i = 0; i < N; i++)
        cn_actor_unref(a[i]);
    cn_runtime_shutdown(rt);
}

static void test_no_directory_is_a_no_op(void)
{
    /* The sessions call these unconditionally; a node without a directory passes NULL:
     * each must return without touching anything (a crash fails the test). */
    cn_session_dir_opened(NULL, NULL, "x", 1, NULL);
    cn_session_dir_closed(NULL, NULL);
    cn_session_dir_free(NULL);
}

CN_TEST_MAIN(test_directory, test_revoke_reaches_the_named_users_sessions,
             test_no_directory_is_a_no_op)
