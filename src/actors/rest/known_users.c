/* The set of user ids seen to exist; see known_users.h. */
#include "actors/rest/known_users.h"

#include <pthread.h>
#include <stdlib.h>

#include "base/u64map.h"
#include "base/xmalloc.h"

struct cn_known_users {
    pthread_mutex_t mu;
    size_t max;
    struct cn_u64map ids; /* id -> (void *)1 */
};

struct cn_known_users *cn_known_users_new(size_t max)
{
    struct cn_known_users *k = cn_xcalloc(1, sizeof *k);
    k->max = max ? max : 1000000;
    pthread_mutex_init(&k->mu, NULL);
    cn_u64map_init(&k->ids);
    return k;
}

void cn_known_users_free(struct cn_known_users *k)
{
    if (!k)
        return;
    cn_u64map_free(&k->ids);
    pthread_mutex_destroy(&k->mu);
    free(k);
}

bool cn_known_users_has(struct cn_known_users *k, int64_t user_id)
{
    if (!k)
        return true;
    if (user_id <= 0)
        return false;
    pthread_mutex_lock(&k->mu);
    bool found = cn_u64map_get(&k->ids, (uint64_t)user_id) != NULL;
    pthread_mutex_unlock(&k->mu);
    return found;
}

void cn_known_users_add(struct cn_known_users *k, int64_t user_id)
{
    if (!k || user_id <= 0)
        return;
    pthread_mutex_lock(&k->mu);
    if (k->ids.len >= k->max && !cn_u64map_get(&k->ids, (uint64_t)user_id)) {
        /* Full: start over rather than grow; each id costs one lookup to come back. */
        cn_u64map_free(&k->ids);
        cn_u64map_init(&k->ids);
    }
    cn_u64map_put(&k->ids, (uint64_t)user_id, (void *)1);
    pthread_mutex_unlock(&k->mu);
}
