/* GET /api/rooms: the caller's rooms with last message and unread count, newest
 * activity first, in ONE SQL statement; cache-aside in Redis under rooms:{userId}
 * for rooms_cache_ttl_s. Writers that change what this returns (a new message, a
 * membership change, a read) delete the key; with Redis down the list comes
 * straight from PostgreSQL (the Redis adapter logs the outage once). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"
#include "io/pg_pool.h"
#include "actors/sql/queries.h"
#include "io/redis_client.h"
#include "actors/rest/rest_request.h"
#include "actors/rest/rest_rows.h"
#include "proto/json_responses.h"

enum { STEP_START = 0, STEP_CACHE, STEP_SQL };

static void key_of(const struct cn_rest_req *req, char key[32])
{
    snprintf(key, 32, "rooms:%lld", (long long)req->user_id);
}

static void query(struct cn_rest_req *req)
{
    req->step = STEP_SQL;
    rest_sql_ids(req, CN_SQL_MY_ROOMS, 1, &req->user_id);
}

static void render_and_answer(struct cn_rest_req *req, struct cn_pg_rows *res)
{
    int n = cn_pg_rows_count(res);
    struct cn_room *rooms = cn_xcalloc((size_t)n + 1, sizeof *rooms);
    struct cn_message *lms = cn_xcalloc((size_t)n + 1, sizeof *lms);
    struct cn_user *peers = cn_xcalloc((size_t)n + 1, sizeof *peers);
    for (int i = 0; i < n; i++)
        rest_row_room(res, i, &rooms[i], &lms[i], &peers[i]);
    size_t len;
    char *body = cn_json_dump(cn_json_room_list(rooms, (size_t)n), &len);
    free(rooms);
    free(lms);
    free(peers);
    struct cn_redis *redis = req->deps->redis;
    if (redis && cn_redis_is_up(redis)) {
        char key[32], ttl[16];
        key_of(req, key);
        snprintf(ttl, sizeof ttl, "%d", req->deps->rooms_cache_ttl_s);
        const char *argv[] = {"SET", key, body, "EX", ttl};
        size_t lens[] = {3, strlen(key), len, 2, strlen(ttl)};
        cn_redis_command(redis, NULL, 0, 0, 5, argv, lens);
    }
    rest_reply_body(req, 200, body, len);
}

void rest_my_rooms_step(struct cn_rest_req *req, cn_msg *m)
{
    switch (req->step) {
    case STEP_START: {
        struct cn_redis *redis = req->deps->redis;
        if (!redis || !cn_redis_is_up(redis)) {
            query(req);
            return;
        }
        char key[32];
        key_of(req, key);
        const char *argv[] = {"GET", key};
        size_t lens[] = {3, strlen(key)};
        req->step = STEP_CACHE;
        if (cn_redis_command(redis, req->self, REST_MSG_REDIS, 0, 2, argv, lens) != 0)
            query(req);
        return;
    }
    case STEP_CACHE: {
        struct cn_redis_reply *r = (struct cn_redis_reply *)m;
        size_t len = 0;
        const char *cached =
            cn_redis_kind(r->reply) == CN_REDIS_STRING ? cn_redis_str(r->reply, &len) : NULL;
        if (r->ok && cached) {
            rest_counters_cache(req, true);
            char *body = cn_xmalloc(len + 1);
            memcpy(body, cached, len);
            body[len] = '\0';
            rest_reply_body(req, 200, body, len);
        } else {
            rest_counters_cache(req, false);
            query(req);
        }
        cn_msg_free(m);
        return;
    }
    case STEP_SQL: {
        struct cn_pg_reply *r = (struct cn_pg_reply *)m;
        if (!r->ok)
            rest_reply_sql_error(req, r->sqlstate, r->error);
        else
            render_and_answer(req, r->rows);
        cn_msg_free(m);
        return;
    }
    }
}
