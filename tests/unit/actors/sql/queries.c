/* Tests the statements compiled in from src/actors/sql/queries.sql (src/actors/sql/queries.h):
 * every id has a non-empty single statement, its name is the enum's name in lower case, the
 * parameter count matches the $n in the text, and lookups by name round-trip. */
#include "check.h"
#include "actors/sql/queries.h"

#include <ctype.h>

/* The enum's names, spelled out: a shuffled mapping or a renamed statement shows here. */
static const struct {
    enum cn_sql_id id;
    const char *name;
    int nparams;
} expected[] = {
    {CN_SQL_USER_SIGNUP, "user_signup", 4},
    {CN_SQL_USER_BY_EMAIL, "user_by_email", 1},
    {CN_SQL_USER_BY_ID, "user_by_id", 1},
    {CN_SQL_DIRECT_ROOM_OPEN, "direct_room_open", 3},
    {CN_SQL_GROUP_ROOM_CREATE, "group_room_create", 4},
    {CN_SQL_ROOM_JOIN, "room_join", 2},
    {CN_SQL_ROOM_LEAVE, "room_leave", 2},
    {CN_SQL_MY_ROOMS, "my_rooms", 1},
    {CN_SQL_ROOM_DETAIL, "room_detail", 2},
    {CN_SQL_ROOM_HISTORY, "room_history", 4},
    {CN_SQL_READ_RECEIPT_CHECK, "read_receipt_check", 4},
    {CN_SQL_READ_RECEIPTS_APPLY, "read_receipts_apply", 3},
    {CN_SQL_ROOM_MEMBERSHIP, "room_membership", 2},
    {CN_SQL_ROOM_MEMBER_IDS, "room_member_ids", 1},
    {CN_SQL_ROOM_MEMBER_IDS_MANY, "room_member_ids_many", 1},
    {CN_SQL_MESSAGES_INSERT_BATCH, "messages_insert_batch", 8},
    {CN_SQL_ROOM_MESSAGES_AFTER_OFFSET, "room_messages_after_offset", 4},
    {CN_SQL_PRESENCE_ONLINE, "presence_online", 1},
    {CN_SQL_PRESENCE_OFFLINE, "presence_offline", 1},
    {CN_SQL_PRESENCE_ONLINE_PAGE, "presence_online_page", 2},
    {CN_SQL_LOGIN_FAILURE_RECORD, "login_failure_record", 4},
    {CN_SQL_LOGIN_SESSION_START, "login_session_start", 4},
    {CN_SQL_REFRESH_TOKEN_ROTATE, "refresh_token_rotate", 3},
    {CN_SQL_REFRESH_TOKEN_REVOKE, "refresh_token_revoke", 1},
    {CN_SQL_ROOM_INVITE_CREATE, "room_invite_create", 5},
    {CN_SQL_ROOM_INVITES_LIST, "room_invites_list", 2},
    {CN_SQL_ROOM_INVITE_REVOKE, "room_invite_revoke", 3},
    {CN_SQL_ROOM_INVITE_JOIN, "room_invite_join", 2},
    {CN_SQL_ROOM_MEMBERS_ADD, "room_members_add", 3},
    {CN_SQL_ROOM_MEMBER_REMOVE, "room_member_remove", 3},
    {CN_SQL_ROOM_CLOSE, "room_close", 2},
    {CN_SQL_PUBLIC_ROOMS_SEARCH, "public_rooms_search", 4},
    {CN_SQL_USERS_SEARCH, "users_search", 4},
    {CN_SQL_USER_BLOCK, "user_block", 2},
    {CN_SQL_USER_UNBLOCK, "user_unblock", 2},
    {CN_SQL_USERS_BLOCKED, "users_blocked", 1},
    {CN_SQL_ADMIN_USER_FIND, "admin_user_find", 1},
    {CN_SQL_ADMIN_USER_NICKNAMES, "admin_user_nicknames", 1},
};

static void test_every_id_is_listed_once(void)
{
    CHECK_EQ(sizeof expected / sizeof expected[0], CN_SQL__COUNT);
    int seen[CN_SQL__COUNT] = {0};
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        CHECK((unsigned)expected[i].id < CN_SQL__COUNT);
        if ((unsigned)expected[i].id < CN_SQL__COUNT)
            seen[expected[i].id]++;
    }
    for (int i = 0; i < CN_SQL__COUNT; i++)
        CHECK_EQ(seen[i], 1);
}

static void test_names_match(void)
{
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        CHECK_STR(cn_sql_name(expected[i].id), expected[i].name);
        CHECK_EQ(cn_sql_find(expected[i].name), expected[i].id);
    }
    CHECK_EQ(cn_sql_find("no_such_statement"), -1);
    CHECK_EQ(cn_sql_find(NULL), -1);
    CHECK(cn_sql_name(CN_SQL__COUNT) == NULL);
    CHECK(cn_sql(CN_SQL__COUNT) == NULL);
    CHECK_EQ(cn_sql_param_count(CN_SQL__COUNT), -1);
}

/* Non-blank, one statement (no ';' left), no full-line comment kept, no trailing blank. */
static void test_texts_are_single_statements(void)
{
    for (int i = 0; i < CN_SQL__COUNT; i++) {
        const char *sql = cn_sql((enum cn_sql_id)i);
        CHECK(sql != NULL);
        if (!sql)
            continue;
        size_t n = strlen(sql);
        CHECK(n > 10);
        int nonblank = 0;
        for (size_t k = 0; k < n; k++)
            nonblank += !isspace((unsigned char)sql[k]);
        CHECK(nonblank > 10);
        CHECK(strchr(sql, ';') == NULL);
        CHECK(n > 0 && !isspace((unsigned char)sql[n - 1]));
        CHECK(strncmp(sql, "--", 2) != 0);
        CHECK(strstr(sql, "\n--") == NULL);
        CHECK(strstr(sql, "-- name:") == NULL);
    }
}

/* The parameter count is the highest $n, and every $1..$n is used. */
static void test_param_counts(void)
{
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        const char *sql = cn_sql(expected[i].id);
        CHECK_EQ(cn_sql_param_count(expected[i].id), expected[i].nparams);
        if (!sql)
            continue;
        for (int p = 1; p <= expected[i].nparams; p++) {
            char ref[16];
            snprintf(ref, sizeof ref, "$%d", p);
            int found = 0;
            for (const char *s = strstr(sql, ref); s && !found; s = strstr(s + 1, ref))
                found = !isdigit((unsigned char)s[strlen(ref)]);
            if (!found)
                fprintf(stderr, "%s: $%d unused\n", expected[i].name, p);
            CHECK(found);
        }
    }
}

/* Spot checks that the text is the statement named (not a neighbour's). */
static void test_texts_belong_to_their_names(void)
{
    CHECK(strstr(cn_sql(CN_SQL_USER_SIGNUP), "INSERT INTO users") != NULL);
    CHECK(strstr(cn_sql(CN_SQL_USER_SIGNUP), "nickname_key") != NULL);
    CHECK(strstr(cn_sql(CN_SQL_USER_BY_EMAIL), "password_hash") != NULL);
    CHECK(strstr(cn_sql(CN_SQL_USER_BY_EMAIL), "login_throttle") != NULL);
    CHECK(strstr(cn_sql(CN_SQL_LOGIN_FAILURE_RECORD), "INSERT INTO login_throttle") != NULL);
    CHECK(strstr(cn_sql(CN_SQL_LOGIN_SESSION_START), "INSERT INTO refresh_tokens") != NULL);
    CHECK(strstr(cn_sql(CN_SQL_REFRESH_TOKEN_ROTATE), "FOR UPDATE") != NULL);
    CHECK(strstr(cn_sql(CN_SQL_REFRESH_TOKEN_REVOKE), "revoked_at") != NULL);
    CHECK(strstr(cn_sql(CN_SQL_DIRECT_ROOM_OPEN), "direct_key") != NULL);
    CHECK(strstr(cn_sql(CN_SQL_MESSAGES_INSERT_BATCH),
                 "ON CONFLICT (room_id, sender_id, message_key) DO NOTHING") != NULL);
    CHECK(strstr(cn_sql(CN_SQL_MY_ROOMS), "LATERAL") != NULL);
    CHECK(strstr(cn_sql(CN_SQL_ROOM_MESSAGES_AFTER_OFFSET), "kafka_offset") != NULL);
}

CN_TEST_MAIN(test_every_id_is_listed_once, test_names_match, test_texts_are_single_statements,
             test_param_counts, test_texts_belong_to_their_names)
