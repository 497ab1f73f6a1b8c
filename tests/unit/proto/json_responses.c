/* Tests src/proto/json_responses.c: exact JSON of every response shape. */
#include "check.h"
#include "proto/json_responses.h"

static void check_json(json_t *v, const char *want)
{
    char *s = cn_json_dump(v, NULL);
    CHECK_STR(s, want);
    free(s);
}

static const struct cn_user kim = {7, "kim@example.com", "Kim", "ONLINE", 1700000000123};
static const struct cn_message msg = {.id = 501,
                                      .message_key = "7f1c6d0e-3a8b-4f7e-9c2d-1b5e8a9f0c3d",
                                      .room_id = 42,
                                      .sender_id = 7,
                                      .sender_nickname = "Kim",
                                      .sender_nickname_len = 3,
                                      .content = "hi \"there\"",
                                      .content_len = 10,
                                      .type = CN_MSG_TEXT,
                                      .created_at_ms = 1700000000123,
                                      .position = 17};

#define MSG_JSON                                                                                   \
    "{\"id\":501,\"messageKey\":\"7f1c6d0e-3a8b-4f7e-9c2d-1b5e8a9f0c3d\",\"roomId\":42,"           \
    "\"senderId\":7,\"senderNickname\":\"Kim\",\"content\":\"hi "                                  \
    "\\\"there\\\"\",\"type\":\"TEXT\","                                                           \
    "\"createdAt\":\"2023-11-14T22:13:20.123Z\",\"position\":17}"
#define USER_JSON                                                                                  \
    "{\"id\":7,\"email\":\"kim@example.com\",\"nickname\":\"Kim\",\"status\":\"ONLINE\","          \
    "\"lastSeenAt\":\"2023-11-14T22:13:20.123Z\"}"

static void test_user_and_login(void)
{
    check_json(cn_json_user(&kim), USER_JSON);
    struct cn_user never = kim;
    never.last_seen_at_ms = -1;
    never.status = "OFFLINE";
    check_json(cn_json_user(&never),
               "{\"id\":7,\"email\":\"kim@example.com\",\"nickname\":\"Kim\",\"status\":"
               "\"OFFLINE\",\"lastSeenAt\":null}");
    check_json(cn_json_login("tok.en.x", 3600, "r3fr3sh", 1700000000123LL, &kim),
               "{\"accessToken\":\"tok.en.x\",\"tokenType\":\"Bearer\",\"expiresIn\":3600,"
               "\"refreshToken\":\"r3fr3sh\",\"refreshExpiresAt\":\"2023-11-14T22:13:20.123Z\","
               "\"user\":" USER_JSON "}");
}

static void test_message_and_history(void)
{
    check_json(cn_json_message(&msg), MSG_JSON);
    struct cn_message live = msg;
    live.id = 0;
    char *s = cn_json_dump(cn_json_message(&live), NULL);
    CHECK(strncmp(s, "{\"messageKey\":", 14) == 0);
    free(s);
    struct cn_message two[2] = {msg, msg};
    check_json(cn_json_history_page(two, 2, 500, true),
               "{\"messages\":[" MSG_JSON "," MSG_JSON "],\"nextCursor\":500,\"hasNext\":true}");
    check_json(cn_json_history_page(NULL, 0, 0, false),
               "{\"messages\":[],\"nextCursor\":null,\"hasNext\":false}");
}

static void test_rooms(void)
{
    struct cn_room r = {42, "team", CN_ROOM_GROUP, 7, 0, 3, &msg, 2, CN_ROOM_PUBLIC, NULL};
    check_json(cn_json_room(&r),
               "{\"id\":42,\"name\":\"team\",\"type\":\"GROUP\",\"visibility\":\"public\","
               "\"createdBy\":7,\"createdAt\":"
               "\"1970-01-01T00:00:00.000Z\",\"memberCount\":3,\"lastMessage\":" MSG_JSON
               ",\"unreadCount\":2,\"peer\":null}");
    struct cn_room d = {43, "Kim", CN_ROOM_DIRECT, 7, 86400000, 2, NULL, 0, CN_ROOM_PRIVATE, &kim};
    static const char d_json[] =
        "{\"id\":43,\"name\":\"Kim\",\"type\":\"DIRECT\",\"visibility\":\"private\","
        "\"createdBy\":7,\"createdAt\":"
        "\"1970-01-02T00:00:00.000Z\",\"memberCount\":2,\"lastMessage\":null,\"unreadCount\":0,"
        "\"peer\":{\"id\":7,\"nickname\":\"Kim\",\"status\":\"ONLINE\",\"lastSeenAt\":"
        "\"2023-11-14T22:13:20.123Z\"}";
    char want[1024];
    snprintf(want, sizeof want, "%s,\"members\":[" USER_JSON "," USER_JSON "]}", d_json);
    struct cn_user members[2] = {kim, kim};
    check_json(cn_json_room_detail(&d, members, 2), want);
    snprintf(want, sizeof want, "[%s}]", d_json);
    check_json(cn_json_room_list(&d, 1), want);
    check_json(cn_json_room_list(NULL, 0), "[]");
}

static void test_search_invites_blocks(void)
{
    struct cn_public_room pr[2] = {{5, "Rust", 7, 0, 12, true}, {9, "rust club", 8, 0, 1, false}};
    check_json(cn_json_public_rooms_page(pr, 2, 9, true),
               "{\"rooms\":[{\"id\":5,\"name\":\"Rust\",\"type\":\"GROUP\",\"visibility\":"
               "\"public\",\"createdBy\":7,\"createdAt\":\"1970-01-01T00:00:00.000Z\","
               "\"memberCount\":12,\"isMember\":true},{\"id\":9,\"name\":\"rust club\",\"type\":"
               "\"GROUP\",\"visibility\":\"public\",\"createdBy\":8,\"createdAt\":"
               "\"1970-01-01T00:00:00.000Z\",\"memberCount\":1,\"isMember\":false}],"
               "\"nextCursor\":9,\"hasNext\":true}");
    check_json(cn_json_public_rooms_page(NULL, 0, 0, false),
               "{\"rooms\":[],\"nextCursor\":null,\"hasNext\":false}");

    struct cn_invite inv = {3, "tok_en", 42, 7, 0, 86400000, 25, 1};
    check_json(cn_json_invite(&inv),
               "{\"id\":3,\"token\":\"tok_en\",\"roomId\":42,\"createdBy\":7,\"createdAt\":"
               "\"1970-01-01T00:00:00.000Z\",\"expiresAt\":\"1970-01-02T00:00:00.000Z\","
               "\"maxUses\":25,\"uses\":1}");
    inv.token = NULL;
    check_json(cn_json_invite_list(&inv, 1),
               "[{\"id\":3,\"roomId\":42,\"createdBy\":7,\"createdAt\":"
               "\"1970-01-01T00:00:00.000Z\",\"expiresAt\":\"1970-01-02T00:00:00.000Z\","
               "\"maxUses\":25,\"uses\":1}]");

    /* A user search shows no email even when the struct has one. */
    check_json(cn_json_users_page(&kim, 1, 0, false),
               "{\"users\":[{\"id\":7,\"nickname\":\"Kim\",\"status\":\"ONLINE\"}],"
               "\"nextCursor\":null,\"hasNext\":false}");
    struct cn_blocked_user b = {7, "Kim", 86400000};
    check_json(cn_json_blocked_list(&b, 1),
               "[{\"id\":7,\"nickname\":\"Kim\",\"blockedAt\":\"1970-01-02T00:00:00.000Z\"}]");
    check_json(cn_json_user_public(&kim), "{\"id\":7,\"nickname\":\"Kim\",\"status\":\"ONLINE\","
                                          "\"lastSeenAt\":\"2023-11-14T22:13:20.123Z\"}");
}

static void test_error_and_invalid_utf8(void)
{
    check_json(cn_json_error_body("NOT_MEMBER", "not a member of this room"),
               "{\"error\":{\"code\":\"NOT_MEMBER\",\"message\":\"not a member of this room\"}}");
    struct cn_user bad = kim;
    bad.nickname = "\xff";
    char *s = cn_json_dump(cn_json_user(&bad), NULL);
    CHECK(strstr(s, "\"nickname\":null") != NULL);
    free(s);
}

CN_TEST_MAIN(test_user_and_login, test_message_and_history, test_rooms, test_search_invites_blocks,
             test_error_and_invalid_utf8)
