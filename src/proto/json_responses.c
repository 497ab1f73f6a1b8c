/* REST response encoders (see json_responses.h). jansson's *_new functions return
 * NULL only when out of memory or for invalid UTF-8; checked() turns the former into
 * our one OOM policy and the builders map the latter to null. */
#include "proto/json_responses.h"

#include <string.h>

#include "base/xmalloc.h"

static json_t *checked(json_t *v)
{
    if (!v)
        cn_oom(0);
    return v;
}

static void set(json_t *obj, const char *key, json_t *v)
{
    if (json_object_set_new(obj, key, v) != 0)
        cn_oom(0);
}

/* A string, or null when s is NULL or not valid UTF-8. */
static json_t *str_n(const char *s, size_t n)
{
    if (!s)
        return json_null();
    json_t *v = json_stringn(s, n);
    return v ? v : json_null();
}

static json_t *str(const char *s)
{
    return s ? str_n(s, strlen(s)) : json_null();
}

static json_t *integer(int64_t v)
{
    return checked(json_integer(v));
}

static json_t *time_ms(int64_t ms)
{
    char buf[25];
    size_t n = cn_format_time_ms(ms, buf);
    return checked(json_stringn(buf, n));
}

json_t *cn_json_user(const struct cn_user *u)
{
    json_t *o = checked(json_object());
    set(o, "id", integer(u->id));
    set(o, "email", str(u->email));
    set(o, "nickname", str(u->nickname));
    set(o, "status", str(u->status));
    set(o, "lastSeenAt", u->last_seen_at_ms < 0 ? json_null() : time_ms(u->last_seen_at_ms));
    return o;
}

json_t *cn_json_message(const struct cn_message *m)
{
    json_t *o = checked(json_object());
    if (m->id > 0)
        set(o, "id", integer(m->id));
    set(o, "messageKey", str(m->message_key));
    set(o, "roomId", integer(m->room_id));
    set(o, "senderId", integer(m->sender_id));
    set(o, "senderNickname", str_n(m->sender_nickname, m->sender_nickname_len));
    set(o, "content", str_n(m->content, m->content_len));
    set(o, "type", str(cn_message_type_name(m->type)));
    set(o, "createdAt", time_ms(m->created_at_ms));
    set(o, "position", integer(m->position));
    return o;
}

static json_t *time_or_null(int64_t ms)
{
    return ms < 0 ? json_null() : time_ms(ms);
}

json_t *cn_json_user_public(const struct cn_user *u)
{
    json_t *o = checked(json_object());
    set(o, "id", integer(u->id));
    set(o, "nickname", str(u->nickname));
    set(o, "status", str(u->status));
    set(o, "lastSeenAt", time_or_null(u->last_seen_at_ms));
    return o;
}

json_t *cn_json_room(const struct cn_room *r)
{
    json_t *o = checked(json_object());
    set(o, "id", integer(r->id));
    set(o, "name", str(r->name));
    set(o, "type", str(cn_room_type_name(r->type)));
    set(o, "visibility", str(cn_room_visibility_name(r->visibility)));
    set(o, "createdBy", integer(r->created_by));
    set(o, "createdAt", time_ms(r->created_at_ms));
    set(o, "memberCount", integer(r->member_count));
    set(o, "lastMessage", r->last_message ? cn_json_message(r->last_message) : json_null());
    set(o, "unreadCount", integer(r->unread_count));
    set(o, "peer", r->peer ? cn_json_user_public(r->peer) : json_null());
    return o;
}

json_t *cn_json_room_detail(const struct cn_room *r, const struct cn_user *members, size_t n)
{
    json_t *o = cn_json_room(r);
    json_t *a = checked(json_array());
    for (size_t i = 0; i < n; i++)
        if (json_array_append_new(a, cn_json_user(&members[i])) != 0)
            cn_oom(0);
    set(o, "members", a);
    return o;
}

json_t *cn_json_room_list(const struct cn_room *rooms, size_t n)
{
    json_t *a = checked(json_array());
    for (size_t i = 0; i < n; i++)
        if (json_array_append_new(a, cn_json_room(&rooms[i])) != 0)
            cn_oom(0);
    return a;
}

json_t *cn_json_history_page(const struct cn_message *msgs, size_t n, int64_t next_cursor,
                             bool has_next)
{
    json_t *o = checked(json_object());
    json_t *a = checked(json_array());
    for (size_t i = 0; i < n; i++)
        if (json_array_append_new(a, cn_json_message(&msgs[i])) != 0)
            cn_oom(0);
    set(o, "messages", a);
    set(o, "nextCursor", next_cursor > 0 ? integer(next_cursor) : json_null());
    set(o, "hasNext", json_boolean(has_next));
    return o;
}

/* `{<key>:[...],nextCursor,hasNext}`: takes items. */
static json_t *page(const char *key, json_t *items, int64_t next_cursor, bool has_next)
{
    json_t *o = checked(json_object());
    set(o, key, items);
    set(o, "nextCursor", next_cursor > 0 ? integer(next_cursor) : json_null());
    set(o, "hasNext", json_boolean(has_next));
    return o;
}

static void append(json_t *a, json_t *v)
{
    if (json_array_append_new(a, v) != 0)
        cn_oom(0);
}

json_t *cn_json_public_rooms_page(const struct cn_public_room *rooms, size_t n, int64_t next_cursor,
                                  bool has_next)
{
    json_t *a = checked(json_array());
    for (size_t i = 0; i < n; i++) {
        const struct cn_public_room *r = &rooms[i];
        json_t *o = checked(json_object());
        set(o, "id", integer(r->id));
        set(o, "name", str(r->name));
        set(o, "type", str(cn_room_type_name(CN_ROOM_GROUP)));
        set(o, "visibility", str(cn_room_visibility_name(CN_ROOM_PUBLIC)));
        set(o, "createdBy", integer(r->created_by));
        set(o, "createdAt", time_ms(r->created_at_ms));
        set(o, "memberCount", integer(r->member_count));
        set(o, "isMember", json_boolean(r->is_member));
        append(a, o);
    }
    return page("rooms", a, next_cursor, has_next);
}

json_t *cn_json_invite(const struct cn_invite *inv)
{
    json_t *o = checked(json_object());
    set(o, "id", integer(inv->id));
    if (inv->token)
        set(o, "token", str(inv->token));
    set(o, "roomId", integer(inv->room_id));
    set(o, "createdBy", integer(inv->created_by));
    set(o, "createdAt", time_ms(inv->created_at_ms));
    set(o, "expiresAt", time_ms(inv->expires_at_ms));
    set(o, "maxUses", integer(inv->max_uses));
    set(o, "uses", integer(inv->uses));
    return o;
}

json_t *cn_json_invite_list(const struct cn_invite *invites, size_t n)
{
    json_t *a = checked(json_array());
    for (size_t i = 0; i < n; i++)
        append(a, cn_json_invite(&invites[i]));
    return a;
}

json_t *cn_json_users_page(const struct cn_user *users, size_t n, int64_t next_cursor,
                           bool has_next)
{
    json_t *a = checked(json_array());
    for (size_t i = 0; i < n; i++) {
        json_t *o = checked(json_object());
        set(o, "id", integer(users[i].id));
        set(o, "nickname", str(users[i].nickname));
        set(o, "status", str(users[i].status));
        append(a, o);
    }
    return page("users", a, next_cursor, has_next);
}

json_t *cn_json_blocked_list(const struct cn_blocked_user *users, size_t n)
{
    json_t *a = checked(json_array());
    for (size_t i = 0; i < n; i++) {
        json_t *o = checked(json_object());
        set(o, "id", integer(users[i].id));
        set(o, "nickname", str(users[i].nickname));
        set(o, "blockedAt", time_ms(users[i].blocked_at_ms));
        append(a, o);
    }
    return a;
}

json_t *cn_json_login(const char *access_token, int64_t expires_in_s, const char *refresh_token,
                      int64_t refresh_expires_at_ms, const struct cn_user *u)
{
    json_t *o = checked(json_object());
    set(o, "accessToken", str(access_token));
    set(o, "tokenType", str("Bearer"));
    set(o, "expiresIn", integer(expires_in_s));
    set(o, "refreshToken", str(refresh_token));
    set(o, "refreshExpiresAt", time_ms(refresh_expires_at_ms));
    set(o, "user", cn_json_user(u));
    return o;
}

json_t *cn_json_error_body(const char *code, const char *message)
{
    json_t *e = checked(json_object());
    set(e, "code", str(code));
    set(e, "message", str(message));
    json_t *o = checked(json_object());
    set(o, "error", e);
    return o;
}

char *cn_json_dump(json_t *v, size_t *len_out)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    json_decref(v);
    if (!s)
        cn_oom(0);
    if (len_out)
        *len_out = strlen(s);
    return s;
}
