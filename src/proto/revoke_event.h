/* The membership revocation event and its acknowledgement: what nodes tell each other
 * on Redis Pub/Sub when memberships of a room end (a member left or was removed, the
 * room was closed), so that every node stops the affected STOMP sessions at once
 * (actors/membership/membership.h).
 *
 * On the node-wide channel CN_REVOKE_CHANNEL, one line of ASCII:
 *
 *     "revoke <id> <ack> <room> <kind> <atMs> <users>"
 *
 * id: the revocation's number at its origin (1..2^64-1, decimal); ack: the channel on
 * which each node acknowledges it (1..CN_REVOKE_ACK_MAX bytes of [A-Za-z0-9:._-]);
 * room: the room id (decimal, > 0); kind: 1..15 lower-case letters saying why
 * ("leave", "removed", "closed": the STOMP `x-event` a revoked subscription gets);
 * atMs: the origin's wall clock in ms (it names the event a client sees); users: the
 * ids whose membership ended, comma separated (1..CN_REVOKE_MAX_USERS of them), or "*"
 * for every member of the room.
 *
 * On the ack channel: "ack <id>".
 *
 * The text is fixed-format and short so that it needs no JSON parser and stays below
 * any Pub/Sub limit. Pure codecs: no I/O, no globals. */
#ifndef CN_PROTO_REVOKE_EVENT_H
#define CN_PROTO_REVOKE_EVENT_H

#include <stddef.h>
#include <stdint.h>

#define CN_REVOKE_CHANNEL   "membership"
#define CN_REVOKE_ACK_MAX   128
#define CN_REVOKE_KIND_MAX  15
#define CN_REVOKE_MAX_USERS 4096

struct cn_revoke_event {
    uint64_t id;
    char ack[CN_REVOKE_ACK_MAX + 1];
    int64_t room_id;
    char kind[CN_REVOKE_KIND_MAX + 1];
    int64_t at_ms;
    /* The users, "1,2,3" borrowed from the parsed buffer (not terminated); nusers 0
     * (and users_len 0) means every member of the room. Decode with
     * cn_revoke_event_users. */
    const char *users;
    size_t users_len;
    size_t nusers;
};

/* Parses buf[0..len) (borrowed; out->users points into it). Returns 0, or -EINVAL for
 * anything that is not exactly such a line (a trailing newline is refused too). Pure. */
int cn_revoke_event_parse(const char *buf, size_t len, struct cn_revoke_event *out);

/* Writes the ids of a parsed event's users into out[0..ev->nusers) (caller memory of
 * at least nusers entries). Cannot fail: parse checked them. */
void cn_revoke_event_users(const struct cn_revoke_event *ev, int64_t *out);

/* Renders an event into a new allocation (caller frees; NUL-terminated) and sets
 * *len_out. `users` (borrowed) holds n ids, n == 0 meaning every member. Returns NULL
 * (nothing allocated) for anything cn_revoke_event_parse would refuse: id 0, a bad ack
 * channel or kind, room_id or a user id <= 0, at_ms < 0, n > CN_REVOKE_MAX_USERS. */
char *cn_revoke_event_render(uint64_t id, const char *ack, int64_t room_id, const char *kind,
                             int64_t at_ms, const int64_t *users, size_t n, size_t *len_out);

/* "ack <id>": renders into out (at least 32 bytes; returns the length) and parses
 * (returns 0, or -EINVAL). Pure. */
size_t cn_revoke_ack_render(char out[32], uint64_t id);
int cn_revoke_ack_parse(const char *buf, size_t len, uint64_t *id);

/* Whether name is a valid ack channel (1..CN_REVOKE_ACK_MAX of [A-Za-z0-9:._-]). Pure. */
int cn_revoke_ack_channel_ok(const char *name, size_t len);

#endif
