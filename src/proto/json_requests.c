/* JSON request decoders (see json_requests.h). Every decoder follows one shape: parse
 * the object, then one validating getter per field, each of which names its field in
 * the error. The messages are literals so that no peer byte ever reaches an error. */
#include "proto/json_requests.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unictype.h>
#include <unistr.h>

#include "proto/common_passwords.h"
#include "proto/display_name.h"
#include "proto/utf8.h"

size_t cn_json_error_format(const struct cn_json_error *e, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s: %s", e->field ? e->field : "body",
                     e->message ? e->message : "invalid");
    return n < 0 ? 0 : (size_t)n;
}

static int fail(struct cn_json_error *err, int code, const char *field, const char *msg)
{
    err->field = field;
    err->message = msg;
    return code;
}

/* Parses a body that must be one JSON object. Returns it (new reference) or NULL with
 * *err filled. An empty body is accepted only when allow_empty, as NULL with no error. */
static json_t *load_object(const char *body, size_t len, bool allow_empty,
                           struct cn_json_error *err, int *rc)
{
    *rc = 0;
    if (len == 0 && allow_empty)
        return NULL;
    if (len > CN_JSON_MAX_BODY) {
        *rc = fail(err, CN_JSON_E_SYNTAX, "body", "must be at most 65536 bytes");
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!root) {
        *rc = fail(err, CN_JSON_E_SYNTAX, "body",
                   "must be valid JSON in UTF-8 without duplicate keys");
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        *rc = fail(err, CN_JSON_E_SYNTAX, "body", "must be a JSON object");
        return NULL;
    }
    return root;
}

/* A field that must be a positive JSON integer (not a float, not a string). An absent
 * or null field is an error unless optional (then *out = 0). */
static int get_id(json_t *obj, const char *field, bool optional, int64_t *out,
                  struct cn_json_error *err)
{
    json_t *v = json_object_get(obj, field);
    if (!v || json_is_null(v)) {
        if (optional) {
            *out = 0;
            return 0;
        }
        return fail(err, CN_JSON_E_INVALID, field, "is required");
    }
    if (!json_is_integer(v) || json_integer_value(v) <= 0)
        return fail(err, CN_JSON_E_INVALID, field, "must be a positive integer");
    *out = json_integer_value(v);
    return 0;
}

/* True when the string has a character other than Unicode white space in ASCII or
 * NBSP; enough to catch "   " and "\n\t" bodies. */
static bool has_non_space(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v')
            continue;
        if (c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] == 0xA0) {
            i++;
            continue;
        }
        return true;
    }
    return false;
}

/* A string field of min..max characters. `range_msg` is the static text for a length
 * outside the range. Absent or null: "is required", or *out = NULL when optional. */
static int get_string(json_t *obj, const char *field, bool optional, long min, long max,
                      const char *range_msg, const char **out, size_t *len_out,
                      struct cn_json_error *err)
{
    json_t *v = json_object_get(obj, field);
    if (!v || json_is_null(v)) {
        if (optional) {
            *out = NULL;
            *len_out = 0;
            return 0;
        }
        return fail(err, CN_JSON_E_INVALID, field, "is required");
    }
    if (!json_is_string(v))
        return fail(err, CN_JSON_E_INVALID, field, "must be a string");
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    /* jansson already refused invalid UTF-8 and NUL; counting re-checks cheaply. */
    long chars = cn_utf8_count(s, n);
    if (chars < 0 || memchr(s, '\0', n))
        return fail(err, CN_JSON_E_INVALID, field, "must be valid UTF-8");
    if (chars < min || chars > max)
        return fail(err, CN_JSON_E_INVALID, field, range_msg);
    *out = s;
    *len_out = n;
    return 0;
}

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        int rc__ = (expr);                                                                         \
        if (rc__ < 0)                                                                              \
            goto fail;                                                                             \
    } while (0)

int cn_json_decode_send(const char *body, size_t len, struct cn_send_request *out,
                        struct cn_json_error *err)
{
    int rc;
    memset(out, 0, sizeof *out);
    json_t *root = load_object(body, len, false, err, &rc);
    if (!root)
        return rc;
    out->root = root;
    TRY(rc = get_id(root, "roomId", false, &out->room_id, err));
    TRY(rc = get_string(root, "content", false, 1, CN_CONTENT_MAX_CHARS,
                        "must be 1..4000 characters", &out->content, &out->content_len, err));
    if (!has_non_space(out->content, out->content_len)) {
        rc = fail(err, CN_JSON_E_INVALID, "content", "must not be blank");
        goto fail;
    }
    const char *type;
    size_t type_len;
    TRY(rc = get_string(root, "type", true, 1, 16, "must be one of TEXT, IMAGE, FILE, SYSTEM",
                        &type, &type_len, err));
    out->type = CN_MSG_TEXT;
    if (type && cn_message_type_parse(type, type_len, &out->type) < 0) {
        rc = fail(err, CN_JSON_E_INVALID, "type", "must be one of TEXT, IMAGE, FILE, SYSTEM");
        goto fail;
    }
    const char *key;
    size_t key_len;
    TRY(rc = get_string(root, "messageKey", true, 0, 64, "must be a UUID", &key, &key_len, err));
    if (key) {
        if (cn_uuid_canonical(key, key_len, out->message_key) < 0) {
            rc = fail(err, CN_JSON_E_INVALID, "messageKey", "must be a UUID");
            goto fail;
        }
        out->has_message_key = true;
    }
    return 0;
fail:
    cn_send_request_clear(out);
    return rc;
}

void cn_send_request_clear(struct cn_send_request *r)
{
    json_decref(r->root);
    memset(r, 0, sizeof *r);
}

int cn_json_decode_typing(const char *body, size_t len, int64_t *room_id, struct cn_json_error *err)
{
    int rc;
    json_t *root = load_object(body, len, false, err, &rc);
    if (!root)
        return rc;
    rc = get_id(root, "roomId", false, room_id, err);
    json_decref(root);
    return rc;
}

/* A field that must be a non-negative JSON integer (a message position: Kafka
 * offsets start at 0). Absent or null: *present = false. */
static int get_position(json_t *obj, const char *field, bool *present, int64_t *out,
                        struct cn_json_error *err)
{
    json_t *v = json_object_get(obj, field);
    *present = false;
    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return fail(err, CN_JSON_E_INVALID, field, "must be a non-negative integer");
    *present = true;
    *out = json_integer_value(v);
    return 0;
}

/* messageId and position of a read: at most one (or, when `required`, exactly one).
 * *t is zeroed on failure. */
static int get_read_target(json_t *root, bool required, struct cn_read_target *t,
                           struct cn_json_error *err)
{
    memset(t, 0, sizeof *t);
    int rc = get_id(root, "messageId", true, &t->message_id, err);
    if (rc == 0)
        rc = get_position(root, "position", &t->has_position, &t->position, err);
    if (rc == 0 && t->message_id > 0 && t->has_position)
        rc = fail(err, CN_JSON_E_INVALID, "position", "cannot be given together with messageId");
    else if (rc == 0 && required && t->message_id == 0 && !t->has_position)
        rc = fail(err, CN_JSON_E_INVALID, "messageId", "is required (or position)");
    if (rc != 0)
        memset(t, 0, sizeof *t); /* never half a request */
    return rc;
}

int cn_json_decode_read_receipt(const char *body, size_t len, int64_t *room_id,
                                struct cn_read_target *target, struct cn_json_error *err)
{
    int rc;
    *room_id = 0;
    memset(target, 0, sizeof *target);
    json_t *root = load_object(body, len, false, err, &rc);
    if (!root)
        return rc;
    rc = get_id(root, "roomId", false, room_id, err);
    if (rc == 0)
        rc = get_read_target(root, true, target, err);
    json_decref(root);
    if (rc != 0)
        *room_id = 0; /* never half a request */
    return rc;
}

int cn_json_decode_refresh(const char *body, size_t len, struct cn_refresh_request *out,
                           struct cn_json_error *err)
{
    int rc;
    memset(out, 0, sizeof *out);
    json_t *root = load_object(body, len, false, err, &rc);
    if (!root)
        return rc;
    out->root = root;
    TRY(rc = get_string(root, "accessToken", false, 1, CN_TOKEN_MAX_BYTES,
                        "must be 1..4096 characters", &out->access_token, &out->access_token_len,
                        err));
    /* A JWT is three base64url parts joined by dots: refuse anything else early. */
    for (size_t i = 0; i < out->access_token_len; i++) {
        char c = out->access_token[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == '=')) {
            rc = fail(err, CN_JSON_E_INVALID, "accessToken", "must be a JWT");
            goto fail;
        }
    }
    return 0;
fail:
    cn_refresh_request_clear(out);
    return rc;
}

void cn_refresh_request_clear(struct cn_refresh_request *r)
{
    json_decref(r->root);
    memset(r, 0, sizeof *r);
}

/* A pragmatic address check: local@domain, local 1..64 bytes, a dot inside the
 * domain, no spaces or control characters, no leading/trailing/double dots in the
 * domain. Delivery is what really validates an address. */
static bool email_valid(const char *s, size_t n)
{
    const char *at = memchr(s, '@', n);
    if (!at || at == s || at - s > 64 || memchr(at + 1, '@', n - (size_t)(at - s) - 1))
        return false;
    const char *dom = at + 1;
    size_t dn = n - (size_t)(dom - s);
    if (dn < 3 || dom[0] == '.' || dom[dn - 1] == '.' || !memchr(dom, '.', dn))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == 0x7f || c == '"' || c == ',' || c == ';' || c == '<' || c == '>' ||
            c == '(' || c == ')' || c == '[' || c == ']' || c == '\\')
            return false;
    }
    for (size_t i = 1; i < dn; i++)
        if (dom[i] == '.' && dom[i - 1] == '.')
            return false;
    return true;
}

/* True when s[0..n) (valid UTF-8) holds only Unicode white space. */
static bool only_space(const char *s, size_t n)
{
    const uint8_t *p = (const uint8_t *)s;
    for (size_t i = 0; i < n;) {
        ucs4_t uc;
        int k = u8_mbtouc(&uc, p + i, n - i);
        if (!uc_is_property_white_space(uc))
            return false;
        i += k > 0 ? (size_t)k : 1;
    }
    return true;
}

/* Sign-up's password rules (json_requests.h). */
static int check_new_password(const char *pw, size_t n, struct cn_json_error *err)
{
    long chars = cn_utf8_count(pw, n);
    if (chars < 0)
        return fail(err, CN_JSON_E_INVALID, "password", "must be valid UTF-8");
    if (chars < CN_PASSWORD_MIN_CHARS)
        return fail(err, CN_JSON_E_INVALID, "password", "must be at least 10 characters");
    if (chars > CN_PASSWORD_MAX_CHARS)
        return fail(err, CN_JSON_E_INVALID, "password", "must be at most 128 characters");
    if (only_space(pw, n))
        return fail(err, CN_JSON_E_INVALID, "password", "must not be only white space");
    if (cn_password_is_common(pw, n))
        return fail(err, CN_JSON_E_INVALID, "password", "is too common");
    return 0;
}

/* Sign-up's nickname: clean it, then bound the clean form. The raw value may be longer
 * than the limit by the white space trimming takes off, within reason. */
static int get_nickname(json_t *root, struct cn_auth_request *out, struct cn_json_error *err)
{
    const char *raw;
    size_t n;
    int rc = get_string(root, "nickname", false, 1, 4 * CN_NICKNAME_MAX_CHARS,
                        "must be 1..30 characters", &raw, &n, err);
    if (rc < 0)
        return rc;
    const char *why;
    if (cn_display_name_clean(raw, n, &out->nickname, &why) != 0)
        return fail(err, CN_JSON_E_INVALID, "nickname", why);
    long chars = cn_utf8_count(out->nickname, strlen(out->nickname));
    if (chars < 1 || chars > CN_NICKNAME_MAX_CHARS)
        return fail(err, CN_JSON_E_INVALID, "nickname", "must be 1..30 characters");
    out->nickname_key = cn_display_name_key(out->nickname, strlen(out->nickname));
    if (!out->nickname_key) /* defensive: a clean name is valid UTF-8 */
        return fail(err, CN_JSON_E_INVALID, "nickname", "must be valid UTF-8");
    return 0;
}

static int decode_auth(const char *body, size_t len, bool signup, struct cn_auth_request *out,
                       struct cn_json_error *err)
{
    int rc;
    memset(out, 0, sizeof *out);
    json_t *root = load_object(body, len, false, err, &rc);
    if (!root)
        return rc;
    out->root = root;
    size_t n;
    TRY(rc = get_string(root, "email", false, 3, CN_EMAIL_MAX_CHARS,
                        "must be a valid email address", &out->email, &n, err));
    if (!email_valid(out->email, n)) {
        rc = fail(err, CN_JSON_E_INVALID, "email", "must be a valid email address");
        goto fail;
    }
    if (signup) {
        /* Any length here: check_new_password says which bound was missed. */
        TRY(rc = get_string(root, "password", false, 0, CN_JSON_MAX_BODY, "is required",
                            &out->password, &out->password_len, err));
        TRY(rc = check_new_password(out->password, out->password_len, err));
        TRY(rc = get_nickname(root, out, err));
    } else {
        /* Login checks only presence and size: the stored hash decides the rest. */
        TRY(rc = get_string(root, "password", false, 1, CN_PASSWORD_MAX_CHARS,
                            "must be 1..128 characters", &out->password, &out->password_len, err));
    }
    return 0;
fail:
    cn_auth_request_clear(out);
    return rc;
}

int cn_json_decode_signup(const char *body, size_t len, struct cn_auth_request *out,
                          struct cn_json_error *err)
{
    return decode_auth(body, len, true, out, err);
}

int cn_json_decode_login(const char *body, size_t len, struct cn_auth_request *out,
                         struct cn_json_error *err)
{
    return decode_auth(body, len, false, out, err);
}

void cn_auth_request_clear(struct cn_auth_request *r)
{
    json_decref(r->root);
    free(r->nickname);
    free(r->nickname_key);
    memset(r, 0, sizeof *r);
}

int cn_json_decode_refresh_token(const char *body, size_t len,
                                 char token[CN_REFRESH_TOKEN_CHARS + 1], struct cn_json_error *err)
{
    int rc;
    token[0] = '\0';
    json_t *root = load_object(body, len, false, err, &rc);
    if (!root)
        return rc;
    const char *t;
    size_t n;
    rc = get_string(root, "refreshToken", false, 1, CN_TOKEN_MAX_BYTES, "must be a refresh token",
                    &t, &n, err);
    if (rc == 0 && !cn_refresh_token_valid(t, n))
        rc = fail(err, CN_JSON_E_INVALID, "refreshToken", "must be a refresh token");
    if (rc == 0) {
        memcpy(token, t, n);
        token[n] = '\0';
    }
    json_decref(root);
    return rc;
}

int cn_json_decode_direct_room(const char *body, size_t len, int64_t *target_user_id,
                               struct cn_json_error *err)
{
    int rc;
    json_t *root = load_object(body, len, false, err, &rc);
    if (!root)
        return rc;
    rc = get_id(root, "targetUserId", false, target_user_id, err);
    json_decref(root);
    return rc;
}

/* A required array of positive integer ids, duplicates dropped (first order kept), at most
 * CN_GROUP_MAX_MEMBERS distinct ones, at least one unless allow_empty. */
static int get_id_array(json_t *obj, const char *field, bool allow_empty,
                        int64_t out[CN_GROUP_MAX_MEMBERS], size_t *n, struct cn_json_error *err)
{
    *n = 0;
    json_t *ids = json_object_get(obj, field);
    if (!ids || json_is_null(ids))
        return fail(err, CN_JSON_E_INVALID, field, "is required");
    if (!json_is_array(ids))
        return fail(err, CN_JSON_E_INVALID, field, "must be an array of positive integers");
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        if (!json_is_integer(v) || json_integer_value(v) <= 0) {
            *n = 0;
            return fail(err, CN_JSON_E_INVALID, field, "must be an array of positive integers");
        }
        int64_t id = json_integer_value(v);
        bool dup = false;
        for (size_t k = 0; k < *n && !dup; k++)
            dup = out[k] == id;
        if (dup)
            continue;
        if (*n == CN_GROUP_MAX_MEMBERS) {
            *n = 0;
            return fail(err, CN_JSON_E_INVALID, field, "must have at most 100 members");
        }
        out[(*n)++] = id;
    }
    if (*n == 0 && !allow_empty)
        return fail(err, CN_JSON_E_INVALID, field, "must list at least one id");
    return 0;
}

int cn_json_decode_group_room(const char *body, size_t len, struct cn_group_room_request *out,
                              struct cn_json_error *err)
{
    int rc;
    memset(out, 0, sizeof *out);
    json_t *root = load_object(body, len, false, err, &rc);
    if (!root)
        return rc;
    out->root = root;
    TRY(rc = get_string(root, "name", false, 1, CN_ROOM_NAME_MAX_CHARS, "must be 1..100 characters",
                        &out->name, &out->name_len, err));
    /* What members see: NFC, trimmed, no control, zero-width or bidi characters. */
    const char *why;
    if (cn_display_name_clean(out->name, out->name_len, &out->clean_name, &why) != 0) {
        rc = fail(err, CN_JSON_E_INVALID, "name", why);
        goto fail;
    }
    out->name = out->clean_name;
    out->name_len = strlen(out->clean_name);
    long chars = cn_utf8_count(out->name, out->name_len);
    if (chars < 1 || chars > CN_ROOM_NAME_MAX_CHARS) {
        rc = fail(err, CN_JSON_E_INVALID, "name", "must be 1..100 characters");
        goto fail;
    }
    TRY(rc = get_id_array(root, "memberIds", true, out->member_ids, &out->nmembers, err));
    const char *vis;
    size_t vis_len;
    TRY(rc = get_string(root, "visibility", true, 1, 16, "must be \"private\" or \"public\"", &vis,
                        &vis_len, err));
    out->visibility = CN_ROOM_PRIVATE;
    if (vis && cn_room_visibility_parse(vis, vis_len, &out->visibility) != 0) {
        rc = fail(err, CN_JSON_E_INVALID, "visibility", "must be \"private\" or \"public\"");
        goto fail;
    }
    return 0;
fail:
    cn_group_room_request_clear(out);
    return rc;
}

void cn_group_room_request_clear(struct cn_group_room_request *r)
{
    json_decref(r->root);
    r->root = NULL;
    free(r->clean_name);
    r->clean_name = NULL;
    r->name = NULL;
    r->name_len = 0;
    r->nmembers = 0;
}

/* An optional integer field within [min, max]; absent or null leaves *out as it is. */
static int get_bounded_int(json_t *obj, const char *field, long min, long max,
                           const char *range_msg, int *out, struct cn_json_error *err)
{
    json_t *v = json_object_get(obj, field);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return fail(err, CN_JSON_E_INVALID, field, range_msg);
    *out = (int)json_integer_value(v);
    return 0;
}

int cn_json_decode_invite_create(const char *body, size_t len, int *max_uses, int *expires_in_s,
                                 struct cn_json_error *err)
{
    int rc;
    *max_uses = CN_INVITE_DEFAULT_USES;
    *expires_in_s = CN_INVITE_DEFAULT_TTL_S;
    json_t *root = load_object(body, len, true, err, &rc);
    if (!root)
        return rc;
    rc = get_bounded_int(root, "maxUses", 1, CN_INVITE_MAX_USES, "must be an integer 1..1000",
                         max_uses, err);
    if (rc == 0)
        rc = get_bounded_int(root, "expiresInSeconds", CN_INVITE_MIN_TTL_S, CN_INVITE_MAX_TTL_S,
                             "must be an integer 60..2592000 (30 days)", expires_in_s, err);
    json_decref(root);
    return rc;
}

int cn_json_decode_invite_join(const char *body, size_t len, struct cn_invite_join_request *out,
                               struct cn_json_error *err)
{
    int rc;
    memset(out, 0, sizeof *out);
    json_t *root = load_object(body, len, false, err, &rc);
    if (!root)
        return rc;
    out->root = root;
    /* Only the shape is checked: a token of the wrong length or alphabet is simply one
     * that matches no invitation, and must get the same answer as any other. */
    rc = get_string(root, "inviteToken", false, 1, CN_INVITE_TOKEN_MAX_CHARS,
                    "must be 1..256 characters", &out->token, &out->token_len, err);
    if (rc != 0)
        cn_invite_join_request_clear(out);
    return rc;
}

void cn_invite_join_request_clear(struct cn_invite_join_request *r)
{
    json_decref(r->root);
    memset(r, 0, sizeof *r);
}

int cn_json_decode_members_add(const char *body, size_t len, int64_t user_ids[CN_GROUP_MAX_MEMBERS],
                               size_t *n, struct cn_json_error *err)
{
    int rc;
    *n = 0;
    json_t *root = load_object(body, len, false, err, &rc);
    if (!root)
        return rc;
    rc = get_id_array(root, "userIds", false, user_ids, n, err);
    json_decref(root);
    return rc;
}

int cn_json_decode_read(const char *body, size_t len, struct cn_read_target *target,
                        struct cn_json_error *err)
{
    int rc;
    memset(target, 0, sizeof *target);
    json_t *root = load_object(body, len, true, err, &rc);
    if (!root)
        return rc;
    rc = get_read_target(root, false, target, err);
    json_decref(root);
    return rc;
}
