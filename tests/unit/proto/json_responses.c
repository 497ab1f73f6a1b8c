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
    struct cn_room r = {42, "team", CN_ROOM_GROUP, 7, 0, 3, &msg, 2};
    check_json(cn_json_room(&r),
               "{\"id\":42,\"name\":\"team\",\"type\":\"GROUP\",\"createdBy\":7,\"createdAt\":"
               "\"1970-01-01T00:00:00.000Z\",\"memberCount\":3,\"lastMessage\":" MSG_JSON
               ",\"unreadCount\":2}");
    struct cn_room d = {43, NULL, CN_ROOM_DIRECT, 7, 86400000, 2, NULL, 0};
    static const char d_json[] =
        "{\"id\":43,\"name\":null,\"type\":\"DIRECT\",\"createdBy\":7,\"createdAt\":"
        "\"1970-01-02T00:00:00.000Z\",\"memberCount\":2,\"lastMessage\":null,\"unreadCount\":0";
    char want[1024];
    snprintf(want, sizeof want, "%s,\"members\":[" USER_JSON "," USER_JSON "]}", d_json);
    struct cn_user members[2] = {kim, kim};
    check_json(cn_json_room_detail(&d, members, 2), want);
    snprintf(want, sizeof want, "[%s}]", d_json);
    check_json(cn_json_room_list(&d, 1), want);
    check_json(cn_json_room_list(NULL, 0), "[]");
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

CN_TEST_MAIN(test_user_and_login, test_message_and_history, test_rooms, test_error_and_invalid_utf8)
