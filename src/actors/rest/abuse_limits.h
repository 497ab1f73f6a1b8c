/* Budgets for the requests people could abuse: sign-ups and failed logins per
 * client address, room creations, invitations and user searches per user.
 *
 * Each kind has a rule "at most `limit` per `window_s` seconds per key" (limit 0:
 * unlimited, the rule is off). The count is a sliding window approximated from two
 * fixed windows (the previous window's count weighted by how much of it still
 * overlaps), which needs three numbers per key instead of a timestamp per attempt.
 * A refusal says how many seconds until an attempt would be admitted: the
 * Retry-After of the 429.
 *
 * The budgets are per node: N nodes admit up to N times a rule across the cluster
 * (a cluster-wide count would put a Redis round trip in front of every request;
 * the per-account login back-off, which matters most, is kept in PostgreSQL and is
 * cluster-wide).
 *
 * Keys are hashed with a keyed SipHash (random key per process), so a client cannot
 * choose keys that collide. The table is bounded (max_keys): when it is full, stale
 * keys are swept; if it is still full, new keys are refused until some expire, so a
 * flood of distinct addresses cannot grow memory.
 *
 * Threads: any (one mutex; each call holds it for a hash lookup).
 * Memory: owns its table; the program owns the struct. */
#ifndef CN_ACTORS_REST_ABUSE_LIMITS_H
#define CN_ACTORS_REST_ABUSE_LIMITS_H

#include <stddef.h>
#include <stdint.h>

enum cn_abuse_kind {
    CN_ABUSE_SIGNUP,        /* per client address */
    CN_ABUSE_LOGIN_FAILURE, /* failed logins per client address */
    CN_ABUSE_ROOM_CREATE,   /* per user */
    CN_ABUSE_INVITE,        /* per user */
    CN_ABUSE_USER_SEARCH,   /* per user */
    CN_ABUSE_KINDS
};

struct cn_abuse_rule {
    uint32_t limit;    /* attempts admitted per window; 0 = unlimited */
    uint32_t window_s; /* >= 1 */
};

struct cn_abuse_limits;

/* rules: one per kind, copied. max_keys 0 = 65,536. Cannot fail. */
struct cn_abuse_limits *cn_abuse_limits_new(const struct cn_abuse_rule rules[CN_ABUSE_KINDS],
                                            size_t max_keys);
/* NULL: no-op. */
void cn_abuse_limits_free(struct cn_abuse_limits *l);

/* Whether one more attempt of `kind` by `key` would be admitted at now_ms, without
 * counting it: 0, or the seconds to wait (>= 1). NULL l or an unlimited kind: 0. */
uint32_t cn_abuse_check(struct cn_abuse_limits *l, enum cn_abuse_kind kind, const char *key,
                        int64_t now_ms);
/* Counts one attempt (for counts decided after the fact, like a failed login). */
void cn_abuse_note(struct cn_abuse_limits *l, enum cn_abuse_kind kind, const char *key,
                   int64_t now_ms);
/* check, then note when admitted: 0 (counted) or the seconds to wait (not counted). */
uint32_t cn_abuse_take(struct cn_abuse_limits *l, enum cn_abuse_kind kind, const char *key,
                       int64_t now_ms);

/* The rule in force for kind (what `chat-admin limits` and the docs show). */
struct cn_abuse_rule cn_abuse_rule_of(const struct cn_abuse_limits *l, enum cn_abuse_kind kind);

#endif
