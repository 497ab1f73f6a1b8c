/* Per-user session counts; see user_sessions.h. The map's values are the counts
 * themselves (cast to pointers), so a user costs one slot and no allocation. */
#include "actors/session/user_sessions.h"

#include <pthread.h>
#include <stdlib.h>

#include "base/u64map.h"
#include "base/xmalloc.h"

struct cn_user_sessions {
    pthread_mutex_t mu;
    struct cn_u64map counts; /* user id -> (uintptr_t) open sessions, > 0 */
    unsigned max;
};

struct cn_user_sessions *cn_user_sessions_new(unsigned max_per_user)
{
    struct cn_user_sessions *u = cn_xcalloc(1, sizeof *u);
    pthread_mutex_init(&u->mu, NULL);
    cn_u64map_init(&u->counts);
    u->max = max_per_user;
    return u;
}

void cn_user_sessions_free(struct cn_user_sessions *u)
{
    if (!u)
        return;
    cn_u64map_free(&u->counts);
    pthread_mutex_destroy(&u->mu);
    free(u);
}

int cn_user_sessions_acquire(struct cn_user_sessions *u, int64_t user_id)
{
    if (!u)
        return 0;
    pthread_mutex_lock(&u->mu);
    uintptr_t n = (uintptr_t)cn_u64map_get(&u->counts, (uint64_t)user_id);
    int rc = -1;
    if (!u->max || n < u->max) {
        cn_u64map_put(&u->counts, (uint64_t)user_id, (void *)(n + 1));
        rc = 0;
    }
    pthread_mutex_unlock(&u->mu);
    return rc;
}

void cn_user_sessions_release(struct cn_user_sessions *u, int64_t user_id)
{
    if (!u)
        return;
    pthread_mutex_lock(&u->mu);
    uintptr_t n = (uintptr_t)cn_u64map_get(&u->counts, (uint64_t)user_id);
    if (n <= 1)
        cn_u64map_del(&u->counts, (uint64_t)user_id);
    else
        cn_u64map_put(&u->counts, (uint64_t)user_id, (void *)(n - 1));
    pthread_mutex_unlock(&u->mu);
}

unsigned cn_user_sessions_limit(const struct cn_user_sessions *u)
{
    return u ? u->max : 0;
}
