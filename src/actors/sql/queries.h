/* The SQL statements of chat-node, by name: the text lives in src/actors/sql/queries.sql and is
 * compiled in at build time (src/actors/sql/gen_queries.cmake). Each statement's parameters and
 * result columns are documented next to it in queries.sql.
 *
 * This enum must list exactly the statements of queries.sql, as CN_SQL_<NAME IN UPPER
 * CASE>, in any order: the generated source uses designated initializers and asserts the
 * count, so a missing or extra entry fails the build. */
#ifndef CN_ACTORS_SQL_QUERIES_H
#define CN_ACTORS_SQL_QUERIES_H

enum cn_sql_id {
    CN_SQL_USER_SIGNUP,
    CN_SQL_USER_BY_EMAIL,
    CN_SQL_USER_BY_ID,
    CN_SQL_DIRECT_ROOM_OPEN,
    CN_SQL_GROUP_ROOM_CREATE,
    CN_SQL_ROOM_JOIN,
    CN_SQL_ROOM_LEAVE,
    CN_SQL_MY_ROOMS,
    CN_SQL_ROOM_DETAIL,
    CN_SQL_ROOM_HISTORY,
    CN_SQL_READ_RECEIPT_CHECK,
    CN_SQL_READ_RECEIPTS_APPLY,
    CN_SQL_ROOM_MEMBERSHIP,
    CN_SQL_ROOM_MEMBER_IDS,
    CN_SQL_ROOM_MEMBER_IDS_MANY,
    CN_SQL_MESSAGES_INSERT_BATCH,
    CN_SQL_ROOM_MESSAGES_AFTER_OFFSET,
    CN_SQL_PRESENCE_ONLINE,
    CN_SQL_PRESENCE_OFFLINE,
    CN_SQL_PRESENCE_ONLINE_PAGE,
    CN_SQL_LOGIN_FAILURE_RECORD,
    CN_SQL_LOGIN_SESSION_START,
    CN_SQL_REFRESH_TOKEN_ROTATE,
    CN_SQL_REFRESH_TOKEN_REVOKE,
    /* Room access (schema 0006): invitations, members, closing, searches, blocks. */
    CN_SQL_ROOM_INVITE_CREATE,
    CN_SQL_ROOM_INVITES_LIST,
    CN_SQL_ROOM_INVITE_REVOKE,
    CN_SQL_ROOM_INVITE_JOIN,
    CN_SQL_ROOM_MEMBERS_ADD,
    CN_SQL_ROOM_MEMBER_REMOVE,
    CN_SQL_ROOM_CLOSE,
    CN_SQL_PUBLIC_ROOMS_SEARCH,
    CN_SQL_USERS_SEARCH,
    CN_SQL_USER_BLOCK,
    CN_SQL_USER_UNBLOCK,
    CN_SQL_USERS_BLOCKED,
    CN_SQL_ADMIN_USER_FIND,
    CN_SQL_ADMIN_USER_NICKNAMES,
    CN_SQL__COUNT
};

/* The statement text (one statement, no trailing semicolon; parameters $1..$n in text
 * format, typed by casts in the text, so paramTypes may be NULL). NULL for an id out of
 * range. */
const char *cn_sql(enum cn_sql_id id);

/* The statement's name in queries.sql (lower case), also usable as the prepared
 * statement's name. NULL for an id out of range. */
const char *cn_sql_name(enum cn_sql_id id);

/* The number of parameters (the highest $n of the text); -1 for an id out of range. */
int cn_sql_param_count(enum cn_sql_id id);

/* The id of the statement with this name, or -1. */
int cn_sql_find(const char *name);

#endif
