/* The REST API of DESIGN.md "Contracts" (/api/...), served by the HTTP front door.
 *
 * The router runs on the I/O thread and does only what costs microseconds: match
 * the path and method, check the bearer token (HMAC), decode and validate the JSON
 * body. Everything that waits (PostgreSQL, Redis, password hashing) happens in a
 * request actor spawned per request, which answers through cn_http_reply and then
 * stops. So no I/O thread ever waits on the database.
 *
 * Memory: the dependencies are borrowed and must outlive every request actor (the
 * node stops the adapters, then the runtime, before freeing them). */
#ifndef CN_ACTORS_REST_REST_H
#define CN_ACTORS_REST_REST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "actors/runtime/runtime.h"
#include "io/http_server.h"
#include "proto/jwt.h"

struct cn_pg_pool;
struct cn_redis;
struct cn_hasher;
struct cn_token_cache;
struct cn_send_path;
struct cn_abuse_limits;
struct cn_membership;
struct cn_user_events;
struct cn_known_users;

/* The per-account login back-off ([auth] login_backoff_*; queries.sql
 * login_failure_record): after `after` consecutive failures of one email, its logins are
 * refused for base_s, then 2 * base_s, ... at most max_s seconds. */
struct cn_login_backoff {
    int after;
    int base_s;
    int max_s;
};

/* Counters for /metrics; relaxed atomics (they publish nothing else). */
struct cn_rest_counters {
    _Atomic uint64_t requests;
    _Atomic uint64_t cache_hits;
    _Atomic uint64_t cache_misses;
};

struct cn_rest_deps {
    cn_runtime *rt;
    struct cn_pg_pool *pg;
    struct cn_redis *redis; /* NULL: no cache (also when cache.rooms_enabled is false) */
    struct cn_hasher *hasher;
    struct cn_jwt_config jwt; /* access tokens: key, iss, aud (strings borrowed) */
    int64_t token_ttl_s;
    int64_t refresh_ttl_s; /* refresh tokens ([auth] refresh_ttl_s) */
    struct cn_login_backoff login_backoff;
    int rooms_cache_ttl_s;
    struct cn_rest_counters *counters;
    /* One verified-token cache per I/O thread, indexed by cn_http_later.thread: each
     * is touched only by its thread. NULL (or a thread past the count) verifies every
     * token in full. Owned by the caller. */
    struct cn_token_cache **token_caches;
    unsigned token_cache_count;
    /* The SEND path: its producer, for POST /read's ReadReceiptEvent.
     * NULL: reads are answered 503. */
    struct cn_send_path *send;
    /* Room events (POST /leave's leave event on room:{id}), whatever the cache
     * setting. NULL: none are published. */
    struct cn_redis *events;
    /* Per-address and per-user budgets (sign-ups, failed logins, room creations,
     * invitations, user searches). NULL: none. */
    struct cn_abuse_limits *abuse;
    /* Membership revocations (rest_revoke.h: leave, removal, a closed room) go to every
     * node through it. NULL: only PostgreSQL changes, sessions are not told. */
    struct cn_membership *membership;
    /* Per-user live events (ROOM_ADDED, ROOM_REMOVED, MEMBERS_CHANGED) after a change of
     * memberships, published after the room lists are dropped (rest_user_events.h).
     * NULL: none. */
    struct cn_user_events *user_events;
    /* Users seen to exist: a signed token of a user not in it costs one user_by_id
     * before its request runs (401 when the user is gone). NULL: no check. */
    struct cn_known_users *known_users;
};

/* Handles req when its path starts with /api/: fills resp or defers it (see
 * cn_http_handler_fn). Returns false, touching nothing, for other paths. */
bool cn_rest_handle(const struct cn_rest_deps *deps, const struct cn_http_request *req,
                    struct cn_http_response *resp, const struct cn_http_later *later);

#endif
