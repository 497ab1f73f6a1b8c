/* Tests src/proto/json_requests.c: every decoder's happy path and a table of invalid
 * bodies with the exact field and message each must report. */
#include "check.h"
#include "proto/json_requests.h"

#include <sodium.h>

#define S(lit) lit, sizeof(lit) - 1

static void check_err(const struct cn_json_error *e, const char *want)
{
    char buf[128];
    cn_json_error_format(e, buf, sizeof buf);
    CHECK_STR(buf, want);
}

static void test_send_ok(void)
{
    struct cn_send_request r;
    struct cn_json_error e = {0};
    CHECK_EQ(
        cn_json_decode_send(S("{\"roomId\":42,\"content\":\"héllo 👋\",\"extra\":[1,{}]}"), &r, &e),
        0);
    CHECK_EQ(r.room_id, 42);
    CHECK_STR(r.content, "héllo 👋");
    CHECK_EQ(r.content_len, strlen("héllo 👋"));
    CHECK_EQ(r.type, CN_MSG_TEXT);
    CHECK(!r.has_message_key);
    cn_send_request_clear(&r);

    CHECK_EQ(cn_json_decode_send(S("{\"roomId\":1,\"content\":\"x\",\"type\":\"IMAGE\","
                                   "\"messageKey\":\"7F1C6D0E-3A8B-4F7E-9C2D-1B5E8A9F0C3D\"}"),
                                 &r, &e),
             0);
    CHECK_EQ(r.type, CN_MSG_IMAGE);
    CHECK(r.has_message_key);
    CHECK_STR(r.message_key, "7f1c6d0e-3a8b-4f7e-9c2d-1b5e8a9f0c3d");
    cn_send_request_clear(&r);

    /* null optional fields are absent; 4000 characters of 4 bytes each is fine */
    char *big = malloc(4000 * 4 + 64);
    int n = sprintf(big, "{\"roomId\":3,\"type\":null,\"messageKey\":null,\"content\":\"");
    for (int i = 0; i < 4000; i++)
        n += sprintf(big + n, "😀");
    n += sprintf(big + n, "\"}");
    CHECK_EQ(cn_json_decode_send(big, (size_t)n, &r, &e), 0);
    CHECK_EQ(r.content_len, 16000);
    cn_send_request_clear(&r);
    free(big);
}

struct bad {
    const char *body;
    size_t len;
    int code;
    const char *err;
};

static void test_send_rejects(void)
{
    static const struct bad bad[] = {
        {S(""), CN_JSON_E_SYNTAX, "body: must be valid JSON in UTF-8 without duplicate keys"},
        {S("{"), CN_JSON_E_SYNTAX, "body: must be valid JSON in UTF-8 without duplicate keys"},
        {S("[1]"), CN_JSON_E_SYNTAX, "body: must be a JSON object"},
        {S("\"x\""), CN_JSON_E_SYNTAX, "body: must be a JSON object"},
        {S("{\"roomId\":1,\"roomId\":2,\"content\":\"x\"}"), CN_JSON_E_SYNTAX,
         "body: must be valid JSON in UTF-8 without duplicate keys"},
        {S("{\"roomId\":1,\"content\":\"\xff\"}"), CN_JSON_E_SYNTAX,
         "body: must be valid JSON in UTF-8 without duplicate keys"},
        {S("{\"roomId\":1,\"content\":\"\xc0\xaf\"}"), CN_JSON_E_SYNTAX, /* overlong '/' */
         "body: must be valid JSON in UTF-8 without duplicate keys"},
        {S("{\"roomId\":1,\"content\":\"\xed\xa0\x80\"}"), CN_JSON_E_SYNTAX, /* surrogate */
         "body: must be valid JSON in UTF-8 without duplicate keys"},
        {S("{\"roomId\":1,\"content\":\"\\ud800\"}"), CN_JSON_E_SYNTAX,
         "body: must be valid JSON in UTF-8 without duplicate keys"},
        {S("{\"roomId\":1,\"content\":\"a\\u0000b\"}"), CN_JSON_E_SYNTAX,
         "body: must be valid JSON in UTF-8 without duplicate keys"},
        {S("{\"content\":\"x\"}"), CN_JSON_E_INVALID, "roomId: is required"},
        {S("{\"roomId\":null,\"content\":\"x\"}"), CN_JSON_E_INVALID, "roomId: is required"},
        {S("{\"roomId\":0,\"content\":\"x\"}"), CN_JSON_E_INVALID,
         "roomId: must be a positive integer"},
        {S("{\"roomId\":-5,\"content\":\"x\"}"), CN_JSON_E_INVALID,
         "roomId: must be a positive integer"},
        {S("{\"roomId\":1.5,\"content\":\"x\"}"), CN_JSON_E_INVALID,
         "roomId: must be a positive integer"},
        {S("{\"roomId\":\"1\",\"content\":\"x\"}"), CN_JSON_E_INVALID,
         "roomId: must be a positive integer"},
        {S("{\"roomId\":1}"), CN_JSON_E_INVALID, "content: is required"},
        {S("{\"roomId\":1,\"content\":\"\"}"), CN_JSON_E_INVALID,
         "content: must be 1..4000 characters"},
        {S("{\"roomId\":1,\"content\":\" \\n\\t \"}"), CN_JSON_E_INVALID,
         "content: must not be blank"},
        {S("{\"roomId\":1,\"content\":5}"), CN_JSON_E_INVALID, "content: must be a string"},
        {S("{\"roomId\":1,\"content\":\"x\",\"type\":\"text\"}"), CN_JSON_E_INVALID,
         "type: must be one of TEXT, IMAGE, FILE, SYSTEM"},
        {S("{\"roomId\":1,\"content\":\"x\",\"type\":\"\"}"), CN_JSON_E_INVALID,
         "type: must be one of TEXT, IMAGE, FILE, SYSTEM"},
        {S("{\"roomId\":1,\"content\":\"x\",\"messageKey\":\"abc\"}"), CN_JSON_E_INVALID,
         "messageKey: must be a UUID"},
        {S("{\"roomId\":1,\"content\":\"x\",\"messageKey\":\"7f1c6d0e-3a8b-4f7e-9c2d-1b5e8a9f0c3"
           "g\"}"),
         CN_JSON_E_INVALID, "messageKey: must be a UUID"},
        {S("{\"roomId\":1,\"content\":\"x\",\"messageKey\":7}"), CN_JSON_E_INVALID,
         "messageKey: must be a string"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct cn_send_request r;
        struct cn_json_error e = {0};
        int rc = cn_json_decode_send(bad[i].body, bad[i].len, &r, &e);
        if (rc != bad[i].code)
            fprintf(stderr, "  entry %zu\n", i);
        CHECK_EQ(rc, bad[i].code);
        check_err(&e, bad[i].err);
        CHECK(r.root == NULL);
        cn_send_request_clear(&r);
    }
    /* 4001 characters */
    char big[4100];
    int n = sprintf(big, "{\"roomId\":1,\"content\":\"");
    memset(big + n, 'a', 4001);
    n += 4001;
    n += sprintf(big + n, "\"}");
    struct cn_send_request r;
    struct cn_json_error e;
    CHECK_EQ(cn_json_decode_send(big, (size_t)n, &r, &e), CN_JSON_E_INVALID);
    check_err(&e, "content: must be 1..4000 characters");
    /* over the body size limit */
    char *huge = calloc(1, CN_JSON_MAX_BODY + 1);
    CHECK_EQ(cn_json_decode_send(huge, CN_JSON_MAX_BODY + 1, &r, &e), CN_JSON_E_SYNTAX);
    check_err(&e, "body: must be at most 65536 bytes");
    free(huge);
}

static void test_typing_refresh_direct_read(void)
{
    struct cn_json_error e;
    int64_t id = -1;
    CHECK_EQ(cn_json_decode_typing(S("{\"roomId\":9}"), &id, &e), 0);
    CHECK_EQ(id, 9);
    CHECK_EQ(cn_json_decode_typing(S("{}"), &id, &e), CN_JSON_E_INVALID);
    check_err(&e, "roomId: is required");

    struct cn_refresh_request rr;
    CHECK_EQ(cn_json_decode_refresh(S("{\"accessToken\":\"eyJ.eyJzdWIi.sig-_\"}"), &rr, &e), 0);
    CHECK_STR(rr.access_token, "eyJ.eyJzdWIi.sig-_");
    cn_refresh_request_clear(&rr);
    CHECK_EQ(cn_json_decode_refresh(S("{\"accessToken\":\"a b\"}"), &rr, &e), CN_JSON_E_INVALID);
    check_err(&e, "accessToken: must be a JWT");
    CHECK_EQ(cn_json_decode_refresh(S("{}"), &rr, &e), CN_JSON_E_INVALID);
    check_err(&e, "accessToken: is required");

    CHECK_EQ(cn_json_decode_direct_room(S("{\"targetUserId\":77}"), &id, &e), 0);
    CHECK_EQ(id, 77);
    CHECK_EQ(cn_json_decode_direct_room(S("{\"targetUserId\":true}"), &id, &e), CN_JSON_E_INVALID);
    check_err(&e, "targetUserId: must be a positive integer");

    /* POST /api/rooms/{id}/read: nothing (the latest), a messageId or a position. */
    struct cn_read_target t;
    CHECK_EQ(cn_json_decode_read("", 0, &t, &e), 0);
    CHECK(t.message_id == 0 && !t.has_position);
    CHECK_EQ(cn_json_decode_read(S("{}"), &t, &e), 0);
    CHECK(t.message_id == 0 && !t.has_position);
    CHECK_EQ(cn_json_decode_read(S("{\"messageId\":123}"), &t, &e), 0);
    CHECK(t.message_id == 123 && !t.has_position);
    CHECK_EQ(cn_json_decode_read(S("{\"messageId\":-1}"), &t, &e), CN_JSON_E_INVALID);
    check_err(&e, "messageId: must be a positive integer");
    CHECK_EQ(cn_json_decode_read(S("{\"position\":0}"), &t, &e), 0); /* offsets start at 0 */
    CHECK(t.message_id == 0 && t.has_position && t.position == 0);
    CHECK_EQ(cn_json_decode_read(S("{\"position\":9007199254740993}"), &t, &e), 0);
    CHECK(t.has_position && t.position == 9007199254740993LL);
    CHECK_EQ(cn_json_decode_read(S("{\"position\":null,\"messageId\":4}"), &t, &e), 0);
    CHECK(t.message_id == 4 && !t.has_position);
    static const char *const bad_positions[] = {"-1", "\"5\"", "1.5", "true", "[]"};
    for (size_t i = 0; i < sizeof bad_positions / sizeof bad_positions[0]; i++) {
        char body[64];
        int n = snprintf(body, sizeof body, "{\"position\":%s}", bad_positions[i]);
        CHECK_EQ(cn_json_decode_read(body, (size_t)n, &t, &e), CN_JSON_E_INVALID);
        check_err(&e, "position: must be a non-negative integer");
        CHECK(t.message_id == 0 && !t.has_position && t.position == 0);
    }
    CHECK_EQ(cn_json_decode_read(S("{\"messageId\":3,\"position\":7}"), &t, &e), CN_JSON_E_INVALID);
    check_err(&e, "position: cannot be given together with messageId");
    CHECK(t.message_id == 0 && !t.has_position);

    /* SEND /app/chat.read: roomId and exactly one of messageId and position. */
    int64_t room;
    CHECK_EQ(cn_json_decode_read_receipt(S("{\"roomId\":5,\"messageId\":9}"), &room, &t, &e), 0);
    CHECK_EQ(room, 5);
    CHECK(t.message_id == 9 && !t.has_position);
    CHECK_EQ(cn_json_decode_read_receipt(S("{\"roomId\":5,\"position\":0}"), &room, &t, &e), 0);
    CHECK_EQ(room, 5);
    CHECK(t.message_id == 0 && t.has_position && t.position == 0);
    CHECK_EQ(cn_json_decode_read_receipt(S("{\"roomId\":5}"), &room, &t, &e), CN_JSON_E_INVALID);
    check_err(&e, "messageId: is required (or position)");
    CHECK(t.message_id == 0 && !t.has_position);
    CHECK_EQ(room, 0);
    CHECK_EQ(cn_json_decode_read_receipt(S("{\"roomId\":5,\"messageId\":9,\"position\":1}"), &room,
                                         &t, &e),
             CN_JSON_E_INVALID);
    check_err(&e, "position: cannot be given together with messageId");
    CHECK_EQ(room, 0);
    CHECK_EQ(cn_json_decode_read_receipt(S("{\"roomId\":5,\"position\":-3}"), &room, &t, &e),
             CN_JSON_E_INVALID);
    check_err(&e, "position: must be a non-negative integer");
    CHECK_EQ(cn_json_decode_read_receipt(S("{\"messageId\":9}"), &room, &t, &e), CN_JSON_E_INVALID);
    check_err(&e, "roomId: is required");
    CHECK_EQ(cn_json_decode_read_receipt(S("{\"roomId\":5,\"messageId\":\"9\"}"), &room, &t, &e),
             CN_JSON_E_INVALID);
    check_err(&e, "messageId: must be a positive integer");
    CHECK(cn_json_decode_read_receipt("", 0, &room, &t, &e) != 0);
    CHECK(cn_json_decode_read_receipt(S("{\"roomId\":5,"), &room, &t, &e) != 0);
}

static void test_signup_login(void)
{
    struct cn_auth_request a;
    struct cn_json_error e;
    CHECK_EQ(cn_json_decode_signup(S("{\"email\":\"kim@example.com\",\"password\":\"s3cret-pw-42\","
                                     "\"nickname\":\"  Kim \"}"),
                                   &a, &e),
             0);
    CHECK_STR(a.email, "kim@example.com");
    CHECK_STR(a.password, "s3cret-pw-42");
    CHECK_STR(a.nickname, "Kim"); /* trimmed */
    CHECK_STR(a.nickname_key, "kim");
    cn_auth_request_clear(&a);
    CHECK(a.nickname == NULL && a.nickname_key == NULL);
    CHECK_EQ(cn_json_decode_login(S("{\"email\":\"kim@example.com\",\"password\":\"x\"}"), &a, &e),
             0);
    CHECK(a.nickname == NULL);
    cn_auth_request_clear(&a);

    static const struct bad bad[] = {
        {S("{\"password\":\"tr0ub4dor-x\",\"nickname\":\"k\"}"), CN_JSON_E_INVALID,
         "email: is required"},
        {S("{\"email\":\"kim\",\"password\":\"tr0ub4dor-x\",\"nickname\":\"k\"}"),
         CN_JSON_E_INVALID, "email: must be a valid email address"},
        {S("{\"email\":\"a@b@c.d\",\"password\":\"tr0ub4dor-x\",\"nickname\":\"k\"}"),
         CN_JSON_E_INVALID, "email: must be a valid email address"},
        {S("{\"email\":\"a b@c.de\",\"password\":\"tr0ub4dor-x\",\"nickname\":\"k\"}"),
         CN_JSON_E_INVALID, "email: must be a valid email address"},
        {S("{\"email\":\"ab@cde\",\"password\":\"tr0ub4dor-x\",\"nickname\":\"k\"}"),
         CN_JSON_E_INVALID, "email: must be a valid email address"},
        {S("{\"email\":\"ab@c..de\",\"password\":\"tr0ub4dor-x\",\"nickname\":\"k\"}"),
         CN_JSON_E_INVALID, "email: must be a valid email address"},
        {S("{\"email\":\"a@b.co\",\"nickname\":\"k\"}"), CN_JSON_E_INVALID,
         "password: is required"},
        {S("{\"email\":\"a@b.co\",\"password\":\"tr0ub4dor-x\"}"), CN_JSON_E_INVALID,
         "nickname: is required"},
        {S("{\"email\":\"a@b.co\",\"password\":\"tr0ub4dor-x\",\"nickname\":\"\"}"),
         CN_JSON_E_INVALID, "nickname: must be 1..30 characters"},
        {S("{\"email\":\"a@b.co\",\"password\":\"tr0ub4dor-x\",\"nickname\":"
           "\"0123456789012345678901234567890\"}"),
         CN_JSON_E_INVALID, "nickname: must be 1..30 characters"},
        {S("{\"email\":\"a@b.co\",\"password\":\"tr0ub4dor-x\",\"nickname\":\"a\\nb\"}"),
         CN_JSON_E_INVALID, "nickname: must not contain control characters"},
        {S("{\"email\":\"a@b.co\",\"password\":\"tr0ub4dor-x\",\"nickname\":\"   \\t\"}"),
         CN_JSON_E_INVALID, "nickname: must not be blank"},
        /* zero-width space, right-to-left override */
        {S("{\"email\":\"a@b.co\",\"password\":\"tr0ub4dor-x\",\"nickname\":\"ad\\u200bmin\"}"),
         CN_JSON_E_INVALID,
         "nickname: must not contain invisible formatting characters (zero-width, "
         "bidirectional or line separators)"},
        {S("{\"email\":\"a@b.co\",\"password\":\"tr0ub4dor-x\",\"nickname\":\"\\u202egpj.exe\"}"),
         CN_JSON_E_INVALID,
         "nickname: must not contain invisible formatting characters (zero-width, "
         "bidirectional or line separators)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_EQ(cn_json_decode_signup(bad[i].body, bad[i].len, &a, &e), bad[i].code);
        check_err(&e, bad[i].err);
        CHECK(a.nickname == NULL && a.root == NULL);
        cn_auth_request_clear(&a);
    }
    /* 30 characters of 3 bytes each is a valid nickname */
    char body[256];
    int n = sprintf(body, "{\"email\":\"a@b.co\",\"password\":\"tr0ub4dor-x\",\"nickname\":\"");
    for (int i = 0; i < 30; i++)
        n += sprintf(body + n, "한");
    n += sprintf(body + n, "\"}");
    CHECK_EQ(cn_json_decode_signup(body, (size_t)n, &a, &e), 0);
    cn_auth_request_clear(&a);
    /* ... and 30 after trimming, even with white space around them */
    n = sprintf(body, "{\"email\":\"a@b.co\",\"password\":\"tr0ub4dor-x\",\"nickname\":\"  ");
    for (int i = 0; i < 30; i++)
        n += sprintf(body + n, "x");
    n += sprintf(body + n, "  \"}");
    CHECK_EQ(cn_json_decode_signup(body, (size_t)n, &a, &e), 0);
    CHECK_EQ(strlen(a.nickname), 30);
    cn_auth_request_clear(&a);
    /* NFC: a decomposed e + combining acute is stored precomposed; the key folds case. */
    CHECK_EQ(cn_json_decode_signup(S("{\"email\":\"a@b.co\",\"password\":\"tr0ub4dor-x\","
                                     "\"nickname\":\"Rene\\u0301\"}"),
                                   &a, &e),
             0);
    CHECK_STR(a.nickname, "Ren\xc3\xa9");
    CHECK_STR(a.nickname_key, "ren\xc3\xa9");
    cn_auth_request_clear(&a);
    CHECK_EQ(cn_json_decode_login(S("{\"email\":\"a@b.co\",\"password\":\"\"}"), &a, &e),
             CN_JSON_E_INVALID);
    check_err(&e, "password: must be 1..128 characters");
    /* Login does not apply sign-up's password rules: old passwords still log in. */
    CHECK_EQ(cn_json_decode_login(S("{\"email\":\"a@b.co\",\"password\":\"password\"}"), &a, &e),
             0);
    cn_auth_request_clear(&a);
}

static void test_signup_password_rules(void)
{
    struct cn_auth_request a;
    struct cn_json_error e;
    static const struct {
        const char *password; /* as JSON string content */
        const char *err;      /* NULL: accepted */
    } cases[] = {
        {"", "password: must be at least 10 characters"},
        {"short", "password: must be at least 10 characters"},
        {"123456789", "password: must be at least 10 characters"},
        {"\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9", /* 9 characters, 18 bytes */
         "password: must be at least 10 characters"},
        {"\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9", NULL}, /* 10 */
        {"          ", "password: must not be only white space"},
        {"\\t\\t\\t\\t\\t\\n\\n\\n\\n\\n", "password: must not be only white space"},
        {"\\u3000\\u3000\\u3000\\u3000\\u3000\\u3000\\u3000\\u3000\\u3000\\u3000",
         "password: must not be only white space"},
        {"1234567890", "password: is too common"},
        {"basketball", "password: is too common"},
        {"BasketBall", "password: is too common"}, /* case does not help */
        {"CHRISTOPHER", "password: is too common"},
        {"basketball!", NULL},
        {"tr0ub4dor-3f9a", NULL},
        {"correct horse battery staple", NULL},
        {"  padded with spaces  ", NULL}, /* spaces inside a password are fine */
    };
    char body[1024];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int n = snprintf(body, sizeof body,
                         "{\"email\":\"a@b.co\",\"password\":\"%s\",\"nickname\":\"k\"}",
                         cases[i].password);
        int rc = cn_json_decode_signup(body, (size_t)n, &a, &e);
        if (!cases[i].err) {
            if (rc != 0)
                fprintf(stderr, "case %zu (%s) refused\n", i, cases[i].password);
            CHECK_EQ(rc, 0);
        } else {
            CHECK_EQ(rc, CN_JSON_E_INVALID);
            if (rc == CN_JSON_E_INVALID)
                check_err(&e, cases[i].err);
        }
        cn_auth_request_clear(&a);
    }
    /* 128 characters is the most */
    char pw[200];
    memset(pw, 'q', 128);
    pw[128] = '\0';
    int n = snprintf(body, sizeof body,
                     "{\"email\":\"a@b.co\",\"password\":\"%s\",\"nickname\":\"k\"}", pw);
    CHECK_EQ(cn_json_decode_signup(body, (size_t)n, &a, &e), 0);
    cn_auth_request_clear(&a);
    pw[128] = 'q';
    pw[129] = '\0';
    n = snprintf(body, sizeof body, "{\"email\":\"a@b.co\",\"password\":\"%s\",\"nickname\":\"k\"}",
                 pw);
    CHECK_EQ(cn_json_decode_signup(body, (size_t)n, &a, &e), CN_JSON_E_INVALID);
    check_err(&e, "password: must be at most 128 characters");
    cn_auth_request_clear(&a);
}

static void test_refresh_token_body(void)
{
    CHECK(sodium_init() >= 0);
    struct cn_json_error e;
    char tok[CN_REFRESH_TOKEN_CHARS + 1];
    char fresh[CN_REFRESH_TOKEN_CHARS + 1], hash[CN_REFRESH_HASH_HEX + 1];
    cn_refresh_token_new(fresh, hash);
    char body[128];
    int n = snprintf(body, sizeof body, "{\"refreshToken\":\"%s\"}", fresh);
    CHECK_EQ(cn_json_decode_refresh_token(body, (size_t)n, tok, &e), 0);
    CHECK_STR(tok, fresh);
    static const struct bad bad[] = {
        {S("{}"), CN_JSON_E_INVALID, "refreshToken: is required"},
        {S("{\"refreshToken\":7}"), CN_JSON_E_INVALID, "refreshToken: must be a string"},
        {S("{\"refreshToken\":\"\"}"), CN_JSON_E_INVALID, "refreshToken: must be a refresh token"},
        {S("{\"refreshToken\":\"abc\"}"), CN_JSON_E_INVALID,
         "refreshToken: must be a refresh token"},
        /* 43 characters, one outside base64url */
        {S("{\"refreshToken\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+\"}"), CN_JSON_E_INVALID,
         "refreshToken: must be a refresh token"},
        {S("{\"refreshToken\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}"),
         CN_JSON_E_INVALID, "refreshToken: must be a refresh token"}, /* 44 */
        {S("[]"), CN_JSON_E_SYNTAX, "body: must be a JSON object"},
        {S(""), CN_JSON_E_SYNTAX, "body: must be valid JSON in UTF-8 without duplicate keys"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_EQ(cn_json_decode_refresh_token(bad[i].body, bad[i].len, tok, &e), bad[i].code);
        check_err(&e, bad[i].err);
        CHECK_STR(tok, "");
    }
}

static void test_group_room(void)
{
    struct cn_group_room_request g;
    struct cn_json_error e;
    CHECK_EQ(cn_json_decode_group_room(S("{\"name\":\"team\",\"memberIds\":[3,1,3,2,1]}"), &g, &e),
             0);
    CHECK_STR(g.name, "team");
    CHECK_EQ(g.nmembers, 3);
    CHECK(g.member_ids[0] == 3 && g.member_ids[1] == 1 && g.member_ids[2] == 2);
    cn_group_room_request_clear(&g);
    CHECK_EQ(g.visibility, CN_ROOM_PRIVATE); /* the default */
    cn_group_room_request_clear(&g);
    CHECK_EQ(cn_json_decode_group_room(S("{\"name\":\"solo\",\"memberIds\":[]}"), &g, &e), 0);
    CHECK_EQ(g.nmembers, 0);
    cn_group_room_request_clear(&g);
    CHECK_EQ(cn_json_decode_group_room(
                 S("{\"name\":\"p\",\"memberIds\":[],\"visibility\":\"public\"}"), &g, &e),
             0);
    CHECK_EQ(g.visibility, CN_ROOM_PUBLIC);
    cn_group_room_request_clear(&g);
    CHECK_EQ(cn_json_decode_group_room(
                 S("{\"name\":\"p\",\"memberIds\":[],\"visibility\":\"private\"}"), &g, &e),
             0);
    CHECK_EQ(g.visibility, CN_ROOM_PRIVATE);
    cn_group_room_request_clear(&g);
    CHECK_EQ(cn_json_decode_group_room(S("{\"name\":\"p\",\"memberIds\":[],\"visibility\":null}"),
                                       &g, &e),
             0);
    CHECK_EQ(g.visibility, CN_ROOM_PRIVATE);
    cn_group_room_request_clear(&g);

    static const struct bad bad[] = {
        {S("{\"memberIds\":[1]}"), CN_JSON_E_INVALID, "name: is required"},
        {S("{\"name\":\"\",\"memberIds\":[1]}"), CN_JSON_E_INVALID,
         "name: must be 1..100 characters"},
        {S("{\"name\":\"  \",\"memberIds\":[1]}"), CN_JSON_E_INVALID, "name: must not be blank"},
        {S("{\"name\":\"a\\u0007b\",\"memberIds\":[1]}"), CN_JSON_E_INVALID,
         "name: must not contain control characters"},
        {S("{\"name\":\"evil\\u202egnp.exe\",\"memberIds\":[1]}"), CN_JSON_E_INVALID,
         "name: must not contain invisible formatting characters (zero-width, bidirectional or "
         "line separators)"},
        {S("{\"name\":\"x\"}"), CN_JSON_E_INVALID, "memberIds: is required"},
        {S("{\"name\":\"x\",\"memberIds\":{}}"), CN_JSON_E_INVALID,
         "memberIds: must be an array of positive integers"},
        {S("{\"name\":\"x\",\"memberIds\":[1,0]}"), CN_JSON_E_INVALID,
         "memberIds: must be an array of positive integers"},
        {S("{\"name\":\"x\",\"memberIds\":[1,\"2\"]}"), CN_JSON_E_INVALID,
         "memberIds: must be an array of positive integers"},
        {S("{\"name\":\"x\",\"memberIds\":[],\"visibility\":\"Public\"}"), CN_JSON_E_INVALID,
         "visibility: must be \"private\" or \"public\""},
        {S("{\"name\":\"x\",\"memberIds\":[],\"visibility\":\"secret\"}"), CN_JSON_E_INVALID,
         "visibility: must be \"private\" or \"public\""},
        {S("{\"name\":\"x\",\"memberIds\":[],\"visibility\":\"\"}"), CN_JSON_E_INVALID,
         "visibility: must be \"private\" or \"public\""},
        {S("{\"name\":\"x\",\"memberIds\":[],\"visibility\":true}"), CN_JSON_E_INVALID,
         "visibility: must be a string"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_EQ(cn_json_decode_group_room(bad[i].body, bad[i].len, &g, &e), bad[i].code);
        check_err(&e, bad[i].err);
        CHECK(g.root == NULL);
    }
    /* 100 distinct members fit, 101 do not */
    char body[2048];
    for (int count = 100; count <= 101; count++) {
        int n = sprintf(body, "{\"name\":\"big\",\"memberIds\":[");
        for (int i = 1; i <= count; i++)
            n += sprintf(body + n, "%s%d", i > 1 ? "," : "", i);
        n += sprintf(body + n, "]}");
        int rc = cn_json_decode_group_room(body, (size_t)n, &g, &e);
        CHECK_EQ(rc, count == 100 ? 0 : CN_JSON_E_INVALID);
        if (rc < 0)
            check_err(&e, "memberIds: must have at most 100 members");
        cn_group_room_request_clear(&g);
    }
}

static void test_invites_and_members(void)
{
    struct cn_json_error e;
    int uses = 0, ttl = 0;
    CHECK_EQ(cn_json_decode_invite_create("", 0, &uses, &ttl, &e), 0);
    CHECK_EQ(uses, CN_INVITE_DEFAULT_USES);
    CHECK_EQ(ttl, CN_INVITE_DEFAULT_TTL_S);
    CHECK_EQ(cn_json_decode_invite_create(S("{}"), &uses, &ttl, &e), 0);
    CHECK_EQ(uses, CN_INVITE_DEFAULT_USES);
    CHECK_EQ(
        cn_json_decode_invite_create(S("{\"maxUses\":1,\"expiresInSeconds\":60}"), &uses, &ttl, &e),
        0);
    CHECK_EQ(uses, 1);
    CHECK_EQ(ttl, 60);
    CHECK_EQ(cn_json_decode_invite_create(S("{\"maxUses\":1000,\"expiresInSeconds\":2592000}"),
                                          &uses, &ttl, &e),
             0);
    CHECK_EQ(uses, 1000);
    CHECK_EQ(ttl, 2592000);
    static const struct bad bad[] = {
        {S("{\"maxUses\":0}"), CN_JSON_E_INVALID, "maxUses: must be an integer 1..1000"},
        {S("{\"maxUses\":1001}"), CN_JSON_E_INVALID, "maxUses: must be an integer 1..1000"},
        {S("{\"maxUses\":2.5}"), CN_JSON_E_INVALID, "maxUses: must be an integer 1..1000"},
        {S("{\"expiresInSeconds\":59}"), CN_JSON_E_INVALID,
         "expiresInSeconds: must be an integer 60..2592000 (30 days)"},
        {S("{\"expiresInSeconds\":2592001}"), CN_JSON_E_INVALID,
         "expiresInSeconds: must be an integer 60..2592000 (30 days)"},
        {S("[]"), CN_JSON_E_SYNTAX, "body: must be a JSON object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_EQ(cn_json_decode_invite_create(bad[i].body, bad[i].len, &uses, &ttl, &e),
                 bad[i].code);
        check_err(&e, bad[i].err);
    }

    struct cn_invite_join_request j;
    CHECK_EQ(cn_json_decode_invite_join(S("{\"inviteToken\":\"abc-_9\"}"), &j, &e), 0);
    CHECK_MEM(j.token, j.token_len, "abc-_9", 6);
    cn_invite_join_request_clear(&j);
    /* Any string is a token as far as the decoder goes: the lookup refuses it. */
    CHECK_EQ(cn_json_decode_invite_join(S("{\"inviteToken\":\"not a token!\"}"), &j, &e), 0);
    cn_invite_join_request_clear(&j);
    static const struct bad bad_join[] = {
        {S("{}"), CN_JSON_E_INVALID, "inviteToken: is required"},
        {S("{\"inviteToken\":\"\"}"), CN_JSON_E_INVALID, "inviteToken: must be 1..256 characters"},
        {S("{\"inviteToken\":7}"), CN_JSON_E_INVALID, "inviteToken: must be a string"},
        {S(""), CN_JSON_E_SYNTAX, "body: must be valid JSON in UTF-8 without duplicate keys"},
    };
    for (size_t i = 0; i < sizeof bad_join / sizeof bad_join[0]; i++) {
        CHECK_EQ(cn_json_decode_invite_join(bad_join[i].body, bad_join[i].len, &j, &e),
                 bad_join[i].code);
        check_err(&e, bad_join[i].err);
        CHECK(j.root == NULL);
    }

    int64_t ids[CN_GROUP_MAX_MEMBERS];
    size_t n = 9;
    CHECK_EQ(cn_json_decode_members_add(S("{\"userIds\":[5,4,5]}"), ids, &n, &e), 0);
    CHECK_EQ(n, 2);
    CHECK(ids[0] == 5 && ids[1] == 4);
    static const struct bad bad_add[] = {
        {S("{\"userIds\":[]}"), CN_JSON_E_INVALID, "userIds: must list at least one id"},
        {S("{}"), CN_JSON_E_INVALID, "userIds: is required"},
        {S("{\"userIds\":[-1]}"), CN_JSON_E_INVALID,
         "userIds: must be an array of positive integers"},
    };
    for (size_t i = 0; i < sizeof bad_add / sizeof bad_add[0]; i++) {
        CHECK_EQ(cn_json_decode_members_add(bad_add[i].body, bad_add[i].len, ids, &n, &e),
                 bad_add[i].code);
        check_err(&e, bad_add[i].err);
        CHECK_EQ(n, 0);
    }
}

CN_TEST_MAIN(test_signup_password_rules, test_refresh_token_body, test_send_ok, test_send_rejects,
             test_typing_refresh_direct_read, test_signup_login, test_group_room,
             test_invites_and_members)
