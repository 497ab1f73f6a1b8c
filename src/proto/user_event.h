/* The per-user live events (docs/PROTOCOL.md, "Per-user events (/user/queue/events)"):
 * what a REST step that changed memberships tells every node on Redis Pub/Sub, and the
 * JSON body a STOMP session sends on /user/queue/events.
 *
 * On the node-wide channel CN_USER_EVENT_CHANNEL, one line of ASCII:
 *
 *     "uev <type> <room> <reason> <count> <users>"
 *
 * type: ROOM_ADDED, ROOM_REMOVED or MEMBERS_CHANGED; room: the room id (decimal, > 0);
 * reason: LEFT, REMOVED or CLOSED for ROOM_REMOVED, "-" otherwise; count: the room's
 * member count after the change (decimal) or "-" when unknown; users: the recipients'
 * ids, comma separated, 1..CN_USER_EVENT_MAX_USERS of them (a longer list goes out as
 * several lines, so that one line stays small and a node's work per line is bounded).
 *
 * Fixed-format text: no JSON parser on the receiving side, nothing a client sent is
 * in it. Pure codecs: no I/O, no globals. */
#ifndef CN_PROTO_USER_EVENT_H
#define CN_PROTO_USER_EVENT_H

#include <stddef.h>
#include <stdint.h>

#define CN_USER_EVENT_CHANNEL   "user_events"
#define CN_USER_EVENT_MAX_USERS 500
/* The JSON body: the longest type, reason and two 19-digit numbers fit. */
#define CN_USER_EVENT_JSON_MAX 128

enum cn_user_event_type {
    CN_UEV_ROOM_ADDED = 1,
    CN_UEV_ROOM_REMOVED,
    CN_UEV_MEMBERS_CHANGED,
};

enum cn_user_event_reason {
    CN_UEV_REASON_NONE = 0,
    CN_UEV_REASON_LEFT,
    CN_UEV_REASON_REMOVED,
    CN_UEV_REASON_CLOSED,
};

struct cn_user_event {
    enum cn_user_event_type type;
    int64_t room_id;
    enum cn_user_event_reason reason; /* NONE unless ROOM_REMOVED (which needs one) */
    int64_t member_count;             /* -1: unknown */
    /* The recipients, "1,2,3" borrowed from the parsed buffer (not terminated); decode
     * with cn_user_event_users. */
    const char *users;
    size_t users_len;
    size_t nusers;
};

/* Renders a line for users[0..n) (borrowed; 1..CN_USER_EVENT_MAX_USERS ids > 0) into
 * a new allocation (caller frees; NUL-terminated), setting *len_out. Returns NULL
 * (nothing allocated) for anything cn_user_event_parse would refuse. Pure. */
char *cn_user_event_render(const struct cn_user_event *ev, const int64_t *users, size_t n,
                           size_t *len_out);

/* Parses buf[0..len) (borrowed; out->users points into it). Returns 0, or -EINVAL for
 * anything that is not exactly such a line. Pure. */
int cn_user_event_parse(const char *buf, size_t len, struct cn_user_event *out);

/* Writes a parsed event's recipients into out[0..ev->nusers). Cannot fail. */
void cn_user_event_users(const struct cn_user_event *ev, int64_t *out);

/* The MESSAGE body for ev: {"type":"ROOM_ADDED","roomId":N}, plus "reason" for
 * ROOM_REMOVED and "memberCount" when known. Writes into out (at least
 * CN_USER_EVENT_JSON_MAX bytes, NUL-terminated) and returns the length. Pure. */
size_t cn_user_event_json(const struct cn_user_event *ev, char out[CN_USER_EVENT_JSON_MAX]);

/* "ROOM_ADDED" ... for a type, "LEFT" ... for a reason ("" for none or unknown). */
const char *cn_user_event_type_name(enum cn_user_event_type t);
const char *cn_user_event_reason_name(enum cn_user_event_reason r);

#endif
