/* Invitations to a room: POST /api/rooms/{id}/invites (create), GET .../invites (the
 * active ones), DELETE .../invites/{inviteId} (revoke), POST /api/rooms/join
 * {"inviteToken"} (join with one).
 *
 * A token is 32 random bytes (libsodium's CSPRNG) in unpadded base64url: 43 characters,
 * 256 bits, so guessing one is hopeless and needs no budget of its own. Only its SHA-256
 * reaches PostgreSQL; the token itself is in the one answer that created the invitation
 * and nowhere else (not in the database, the logs, or the list). Every way a token can
 * fail (unknown, malformed, expired, used up, revoked, its room closed) gets the same 404,
 * so an answer says nothing about which. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/rest/rest_request.h"
#include "actors/rest/rest_rows.h"
#include "actors/rest/rest_user_events.h"
#include "actors/sql/queries.h"
#include "base/xmalloc.h"
#include "io/pg_pool.h"
#include "proto/json_responses.h"

enum { TOKEN_BYTES = 32 };

/* The SHA-256 of the token as 64 hex digits plus NUL (what the statements take). */
static void token_hash_hex(const char *token, size_t len,
                           char hex[2 * crypto_hash_sha256_BYTES + 1])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)token, len);
    sodium_bin2hex(hex, 2 * crypto_hash_sha256_BYTES + 1, h, sizeof h);
}

static void row_invite(const struct cn_pg_rows *rows, int i, struct cn_invite *inv)
{
    memset(inv, 0, sizeof *inv);
    inv->id = cn_pg_rows_i64(rows, i, "id");
    inv->room_id = cn_pg_rows_i64(rows, i, "room_id");
    inv->created_by = cn_pg_rows_i64(rows, i, "created_by");
    inv->created_at_ms = cn_pg_rows_i64(rows, i, "created_at_ms");
    inv->expires_at_ms = cn_pg_rows_i64(rows, i, "expires_at_ms");
    inv->max_uses = cn_pg_rows_i64(rows, i, "max_uses");
    inv->uses = cn_pg_rows_i64(rows, i, "uses");
}

void rest_invite_create_step(struct cn_rest_req *req, cn_msg *m)
{
    if (req->step == 0) {
        unsigned char raw[TOKEN_BYTES];
        randombytes_buf(raw, sizeof raw);
        size_t cap =
            sodium_base64_ENCODED_LEN(TOKEN_BYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        req->token = cn_xmalloc(cap);
        sodium_bin2base64(req->token, cap, raw, sizeof raw,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        sodium_memzero(raw, sizeof raw);
        req->token_len = strlen(req->token);
        char hex[2 * crypto_hash_sha256_BYTES + 1], uid[24], rid[24], uses[16], ttl[16];
        token_hash_hex(req->token, req->token_len, hex);
        snprintf(uid, sizeof uid, "%lld", (long long)req->user_id);
        snprintf(rid, sizeof rid, "%lld", (long long)req->room_id);
        snprintf(uses, sizeof uses, "%d", req->max_uses);
        snprintf(ttl, sizeof ttl, "%d", req->expires_in_s);
        const char *params[] = {uid, rid, hex, uses, ttl};
        req->step = 1;
        rest_sql(req, CN_SQL_ROOM_INVITE_CREATE, 5, params);
        return;
    }
    struct cn_pg_reply *r = rest_pg_ok(req, m);
    if (!r)
        return;
    const char *outcome = rest_outcome(r);
    if (strcmp(outcome, "ok") == 0) {
        struct cn_invite inv;
        row_invite(r->rows, 0, &inv);
        inv.token = req->token;
        rest_reply_json(req, 201, cn_json_invite(&inv));
    } else {
        rest_reply_room_refusal(req, outcome, "invitations are for group rooms");
    }
    cn_msg_free(m);
}

void rest_invite_list_step(struct cn_rest_req *req, cn_msg *m)
{
    if (req->step == 0) {
        req->step = 1;
        rest_sql_ids(req, CN_SQL_ROOM_INVITES_LIST, 2, (int64_t[]){req->user_id, req->room_id});
        return;
    }
    struct cn_pg_reply *r = rest_pg_ok(req, m);
    if (!r)
        return;
    const char *outcome = rest_outcome(r);
    if (strcmp(outcome, "ok") == 0) {
        int rows = cn_pg_rows_count(r->rows);
        struct cn_invite *invs = cn_xcalloc((size_t)rows + 1, sizeof *invs);
        size_t n = 0;
        for (int i = 0; i < rows; i++)
            if (cn_pg_rows_str(r->rows, i, "id")) /* the one row of an empty list is NULLs */
                row_invite(r->rows, i, &invs[n++]);
        json_t *v = cn_json_invite_list(invs, n);
        free(invs);
        rest_reply_json(req, 200, v);
    } else {
        rest_reply_room_refusal(req, outcome, "invitations are for group rooms");
    }
    cn_msg_free(m);
}

void rest_invite_revoke_step(struct cn_rest_req *req, cn_msg *m)
{
    if (req->step == 0) {
        req->step = 1;
        rest_sql_ids(req, CN_SQL_ROOM_INVITE_REVOKE, 3,
                     (int64_t[]){req->user_id, req->room_id, req->sub_id});
        return;
    }
    struct cn_pg_reply *r = rest_pg_ok(req, m);
    if (!r)
        return;
    const char *outcome = rest_outcome(r);
    if (strcmp(outcome, "ok") == 0) {
        rest_reply_done(req, "id", req->sub_id, "revoked");
    } else if (strcmp(outcome, "no_invite") == 0) {
        rest_reply_error(req, 404, "INVITE_NOT_FOUND", "inviteId: no such invitation in this room");
    } else {
        rest_reply_room_refusal(req, outcome, "invitations are for group rooms");
    }
    cn_msg_free(m);
}

/* POST /api/rooms/join: one statement that checks and uses the invitation and adds the
 * member; the member lists of the room's members are dropped (member count) when the
 * caller was not one already. */
void rest_invite_join_step(struct cn_rest_req *req, cn_msg *m)
{
    if (req->step == 0) {
        char hex[2 * crypto_hash_sha256_BYTES + 1], uid[24];
        token_hash_hex(req->token, req->token_len, hex);
        snprintf(uid, sizeof uid, "%lld", (long long)req->user_id);
        const char *params[] = {uid, hex};
        req->step = 1;
        rest_sql(req, CN_SQL_ROOM_INVITE_JOIN, 2, params);
        return;
    }
    struct cn_pg_reply *r = rest_pg_ok(req, m);
    if (!r)
        return;
    const char *outcome = rest_outcome(r);
    if (strcmp(outcome, "ok") == 0) {
        if (cn_pg_rows_bool(r->rows, 0, "joined")) {
            const char *before = cn_pg_rows_str(r->rows, 0, "member_ids");
            rest_cache_invalidate_text(req, before, req->user_id);
            rest_event_added(req, cn_pg_rows_i64(r->rows, 0, "id"), &req->user_id, 1, -1);
            /* The members before, and the joiner: the count after. */
            rest_event_members_text(req, cn_pg_rows_i64(r->rows, 0, "id"), before, req->user_id, -1,
                                    1);
        }
        rest_reply_room(req, 200, r->rows);
    } else {
        rest_reply_error(req, 404, "INVITE_NOT_FOUND",
                         "inviteToken: no such invitation (or it expired, was used up or was "
                         "revoked)");
    }
    cn_msg_free(m);
}
