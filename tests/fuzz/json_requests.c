/* libFuzzer target for src/proto/json_requests.c and message_body.c.
 *
 * Every decoder sees the input; decoded requests are checked against their contracts
 * (lengths, ranges). When the input is valid UTF-8 it is also used as message content
 * and the hand-written body encoder must match jansson byte for byte. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/display_name.h"
#include "proto/json_requests.h"
#include "proto/json_responses.h"
#include "proto/message_body.h"
#include "proto/utf8.h"

static void check_error(int rc, const struct cn_json_error *e)
{
    if (rc >= 0)
        return;
    if (rc != CN_JSON_E_SYNTAX && rc != CN_JSON_E_INVALID)
        abort();
    if (!e->field || !e->message)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    struct cn_json_error e;
    int rc;

    struct cn_send_request s;
    rc = cn_json_decode_send(body, size, &s, &e);
    check_error(rc, &e);
    if (rc == 0) {
        long chars = cn_utf8_count(s.content, s.content_len);
        if (s.room_id <= 0 || chars < 1 || chars > CN_CONTENT_MAX_CHARS ||
            (s.has_message_key && strlen(s.message_key) != CN_UUID_STR_LEN))
            abort();
    }
    cn_send_request_clear(&s);

    int64_t id;
    check_error(cn_json_decode_typing(body, size, &id, &e), &e);
    check_error(cn_json_decode_direct_room(body, size, &id, &e), &e);
    struct cn_read_target t;
    rc = cn_json_decode_read(body, size, &t, &e);
    check_error(rc, &e);
    if (t.message_id < 0 || t.position < 0 || (t.message_id > 0 && t.has_position) ||
        (rc != 0 && (t.message_id != 0 || t.has_position)))
        abort(); /* at most one of the two; nothing on failure */
    int64_t room;
    rc = cn_json_decode_read_receipt(body, size, &room, &t, &e);
    check_error(rc, &e);
    if (rc == 0 ? room <= 0 || (t.message_id > 0) == t.has_position || t.position < 0
                : room != 0 || t.message_id != 0 || t.has_position)
        abort(); /* the room and exactly one of the two on success; nothing on failure */

    struct cn_refresh_request r;
    check_error(cn_json_decode_refresh(body, size, &r, &e), &e);
    cn_refresh_request_clear(&r);

    struct cn_auth_request a;
    rc = cn_json_decode_signup(body, size, &a, &e);
    check_error(rc, &e);
    if (rc == 0) {
        /* A clean nickname is clean: cleaning it again changes nothing. */
        long chars = cn_utf8_count(a.nickname, strlen(a.nickname));
        char *again = NULL;
        const char *why;
        if (chars < 1 || chars > CN_NICKNAME_MAX_CHARS || !a.nickname_key ||
            cn_display_name_clean(a.nickname, strlen(a.nickname), &again, &why) != 0 ||
            strcmp(again, a.nickname) != 0 || a.password_len < CN_PASSWORD_MIN_CHARS)
            abort();
        free(again);
    }
    cn_auth_request_clear(&a);
    char token[CN_REFRESH_TOKEN_CHARS + 1];
    rc = cn_json_decode_refresh_token(body, size, token, &e);
    check_error(rc, &e);
    if (rc == 0 ? strlen(token) != CN_REFRESH_TOKEN_CHARS : token[0] != '\0')
        abort();
    check_error(cn_json_decode_login(body, size, &a, &e), &e);
    cn_auth_request_clear(&a);

    struct cn_group_room_request g;
    rc = cn_json_decode_group_room(body, size, &g, &e);
    check_error(rc, &e);
    if (rc == 0 && g.nmembers > CN_GROUP_MAX_MEMBERS)
        abort();
    cn_group_room_request_clear(&g);

    if (size <= 4096 && cn_utf8_count(body, size) >= 0) {
        struct cn_message m = {.id = (int64_t)size,
                               .message_key = "k",
                               .room_id = 1,
                               .sender_id = 2,
                               .sender_nickname = body,
                               .sender_nickname_len = size < 30 ? size : 0,
                               .content = body,
                               .content_len = size,
                               .created_at_ms = (int64_t)size * 977,
                               .position = -(int64_t)size};
        size_t cap = cn_message_body_max_len(&m);
        char *buf = malloc(cap);
        long n = cn_message_body_render(buf, cap, &m);
        size_t jn;
        char *j = cn_json_dump(cn_json_message(&m), &jn);
        if (n < 0 || (size_t)n != jn || memcmp(buf, j, jn) != 0)
            abort();
        free(j);
        free(buf);
    }
    return 0;
}
