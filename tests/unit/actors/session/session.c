/* Tests src/actors/session/session*.c: the STOMP session actor on the real runtime,
 * against the fake database and socket and a room-hooks double (session_harness.h).
 * CONNECT with a good and a bad token, a frame before CONNECT, SUBSCRIBE to a room
 * (the membership query, the room told, the RECEIPT only once the room joined, the
 * frames behind it held back), refusals of non-members with and without
 * /user/queue/errors, UNSUBSCRIBE and the close telling the rooms. */
#include "session_harness.h"

#include "actors/rest/known_users.h"

static void test_connect_with_a_valid_token_is_connected(void)
{
    struct harness h;
    harness_start(&h, harness_limits(10, 1000));
    cn_actor *s = harness_open(&h, 1);
    char *token = harness_token(7);
    harness_send(s,
                 "CONNECT\naccept-version:1.1,1.2\nhost:chat\nheart-beat:0,0\n"
                 "Authorization:Bearer %s\n\n",
                 token);
    free(token);
    bool close_after = true;
    struct cn_stomp_frame *f = harness_next(1, &close_after, NULL);
    CHECK(f != NULL);
    if (f) {
        CHECK_EQ(f->command, CN_STOMP_CONNECTED);
        CHECK_STR(cn_stomp_frame_get(f, "version", NULL), "1.2");
        CHECK_STR(cn_stomp_frame_get(f, "user-name", NULL), "7");
        /* heart-beat:0,0 declined both directions: 0 both ways (STOMP 1.2) */
        CHECK_STR(cn_stomp_frame_get(f, "heart-beat", NULL), "0,0");
        CHECK(cn_stomp_frame_get(f, "session", NULL) != NULL);
    }
    CHECK(!close_after);
    free(f);
    fake_ws_closed(s, CN_WS_CLOSE_PEER);
    harness_stop(&h);
    cn_actor_unref(s);
}

/* A token signed with another key, a garbage token and no token at all: each is
 * ERROR, then the connection closes for an authentication failure. */
static void test_connect_with_a_bad_token_is_error_and_close(void)
{
    const struct cn_jwt_config other = {(const uint8_t *)"another-key-of-thirty-two-bytes!", 32,
                                        "chat-node", "chat-node"};
    char *foreign = cn_jwt_issue(&other, 7, (int64_t)time(NULL), 3600);
    /* The right key, another audience: a token for another service. */
    const struct cn_jwt_config billing = {harness_jwt.key, harness_jwt.key_len, "chat-node",
                                          "billing"};
    char *elsewhere = cn_jwt_issue(&billing, 7, (int64_t)time(NULL), 3600);
    const char *auth[] = {foreign, elsewhere, "not.a.token", NULL};
    for (int i = 0; i < 4; i++) {
        struct harness h;
        harness_start(&h, harness_limits(10, 1000));
        uint64_t conn = 10 + (uint64_t)i;
        cn_actor *s = harness_open(&h, conn);
        if (auth[i])
            harness_send(s, "CONNECT\naccept-version:1.2\nhost:chat\nAuthorization:Bearer %s\n\n",
                         auth[i]);
        else
            harness_send(s, "CONNECT\naccept-version:1.2\nhost:chat\n\n");
        bool close_after = false;
        int reason = -1;
        struct cn_stomp_frame *f = harness_next(conn, &close_after, &reason);
        CHECK(f != NULL);
        if (f) {
            CHECK_EQ(f->command, CN_STOMP_ERROR);
            const char *msg = cn_stomp_frame_get(f, "message", NULL);
            CHECK(msg && strncmp(msg, "authentication", 14) == 0);
            if (auth[i] == elsewhere)
                CHECK_STR(msg, "authentication failed: wrong audience");
        }
        CHECK(close_after);
        CHECK_EQ(reason, CN_WS_CLOSE_AUTH);
        free(f);
        /* Nothing opened: a SUBSCRIBE now is not even answered. */
        harness_send(s, "SUBSCRIBE\nid:a\ndestination:/topic/room.1\nreceipt:r\n\n");
        fake_ws_closed(s, CN_WS_CLOSE_PEER);
        harness_stop(&h);
        CHECK_EQ(h.left_pg, 0);
        cn_actor_unref(s);
    }
    free(foreign);
    free(elsewhere);
}

/* A token of a user the node has not seen: CONNECT waits for user_by_id (the frames
 * behind it wait too), then CONNECTED when the user is there, ERROR and close when not.
 * A user seen once connects without a lookup. */
static void test_connect_of_a_user_not_seen_yet_looks_the_user_up(void)
{
    struct harness h;
    harness_start(&h, harness_limits(10, 1000));
    struct cn_known_users *known = cn_known_users_new(0);
    h.deps.known_users = known;

    /* User 8 exists: the lookup, then CONNECTED, then the SUBSCRIBE held back. */
    cn_actor *s = harness_open(&h, 60);
    char *token = harness_token(8);
    harness_send(s, "CONNECT\naccept-version:1.2\nhost:chat\nAuthorization:Bearer %s\n\n", token);
    harness_send(s, "SUBSCRIBE\nid:e\ndestination:/user/queue/errors\nreceipt:r1\n\n");
    struct fake_call *c = harness_pg(CN_SQL_USER_BY_ID);
    CHECK(c && c->nparams == 1 && strcmp(c->params[0], "8") == 0);
    CHECK_EQ(fake_ws_pending(60), 0); /* nothing written before the answer */
    harness_nickname(c, "kim");
    struct cn_stomp_frame *f = harness_expect(60, CN_STOMP_CONNECTED);
    if (f)
        CHECK_STR(cn_stomp_frame_get(f, "user-name", NULL), "8");
    free(f);
    harness_expect_receipt(60, "r1");
    CHECK(cn_known_users_has(known, 8));

    /* Seen now: a second CONNECT of user 8 needs no lookup. */
    cn_actor *s2 = harness_open(&h, 61);
    harness_send(s2, "CONNECT\naccept-version:1.2\nhost:chat\nAuthorization:Bearer %s\n\n", token);
    free(harness_expect(61, CN_STOMP_CONNECTED));
    CHECK_EQ(fake_pending(FAKE_KIND_PG), 0);
    free(token);

    /* User 9 does not exist: ERROR, close for authentication, and nothing opened. */
    cn_actor *s3 = harness_open(&h, 62);
    token = harness_token(9);
    harness_send(s3, "CONNECT\naccept-version:1.2\nhost:chat\nAuthorization:Bearer %s\n\n", token);
    free(token);
    c = harness_pg(CN_SQL_USER_BY_ID);
    if (c)
        fake_pg_rows(c, 0, NULL, 0, NULL);
    bool close_after = false;
    int reason = -1;
    f = harness_next(62, &close_after, &reason);
    CHECK(f != NULL);
    if (f) {
        CHECK_EQ(f->command, CN_STOMP_ERROR);
        CHECK_STR(cn_stomp_frame_get(f, "message", NULL),
                  "authentication failed: the user of this token does not exist");
    }
    free(f);
    CHECK(close_after);
    CHECK_EQ(reason, CN_WS_CLOSE_AUTH);
    CHECK(!cn_known_users_has(known, 9));

    /* The database does not answer: ERROR too, the client may retry. */
    cn_actor *s4 = harness_open(&h, 63);
    token = harness_token(10);
    harness_send(s4, "CONNECT\naccept-version:1.2\nhost:chat\nAuthorization:Bearer %s\n\n", token);
    free(token);
    c = harness_pg(CN_SQL_USER_BY_ID);
    if (c)
        fake_pg_error(c, "08006", "connection lost");
    f = harness_expect(63, CN_STOMP_ERROR);
    if (f)
        CHECK(strstr(cn_stomp_frame_get(f, "message", NULL), "unavailable") != NULL);
    free(f);

    cn_actor *all[] = {s, s2, s3, s4};
    for (int i = 0; i < 4; i++)
        fake_ws_closed(all[i], CN_WS_CLOSE_PEER);
    harness_stop(&h);
    CHECK_EQ(h.left_pg, 0);
    for (int i = 0; i < 4; i++)
        cn_actor_unref(all[i]);
    cn_known_users_free(known);
}

static void test_a_frame_before_connect_is_a_protocol_error(void)
{
    struct harness h;
    harness_start(&h, harness_limits(10, 1000));
    cn_actor *s = harness_open(&h, 20);
    harness_send(s, "SUBSCRIBE\nid:a\ndestination:/topic/room.1\nreceipt:r9\n\n");
    bool close_after = false;
    int reason = -1;
    struct cn_stomp_frame *f = harness_next(20, &close_after, &reason);
    CHECK(f != NULL);
    if (f) {
        CHECK_EQ(f->command, CN_STOMP_ERROR);
        CHECK_STR(cn_stomp_frame_get(f, "receipt-id", NULL), "r9");
    }
    CHECK(close_after);
    CHECK_EQ(reason, CN_WS_CLOSE_PROTOCOL);
    free(f);
    fake_ws_closed(s, CN_WS_CLOSE_PEER);
    harness_stop(&h);
    cn_actor_unref(s);
}

/* A member's SUBSCRIBE: one room_membership query for (user, room); the room is told
 * of the subscription; deliveries flow at once, but the RECEIPT (and every frame
 * sent after the SUBSCRIBE) waits until the room says the subscription is live. */
static void test_subscribe_as_member_receipt_after_join(void)
{
    struct harness h;
    harness_start(&h, harness_limits(10, 1000));
    cn_actor *s = harness_connect(&h, 30, 7);
    harness_send(s, "SUBSCRIBE\nid:s1\ndestination:/topic/room.42\nreceipt:r1\n\n");
    harness_send(s, "ACK\nid:m-0\nreceipt:r2\n\n"); /* held back behind the SUBSCRIBE */

    struct fake_call *c = harness_pg(CN_SQL_ROOM_MEMBERSHIP);
    if (c) {
        CHECK_EQ(c->nparams, 2);
        CHECK_STR(c->params[0], "7");
        CHECK_STR(c->params[1], "42");
    }
    harness_membership(c, true, true);

    struct room_call rc = {0};
    CHECK(room_next(&rc, HARNESS_WAIT_MS));
    CHECK(rc.subscribed);
    CHECK_EQ(rc.room_id, 42);
    CHECK_EQ(rc.resume_after, -1);

    /* The room delivers before it confirms the join: the MESSAGE goes out, and it
     * is the next thing written, so no RECEIPT went before it. */
    struct cn_stomp_message_fields mf = {.destination = "/topic/room.42",
                                         .message_id = "m-1",
                                         .content_type = "application/json",
                                         .body = "{}",
                                         .body_len = 2};
    cn_session_deliver(s, rc.key, cn_ws_shared_msg_new(&mf));
    struct cn_stomp_frame *f = harness_expect(30, CN_STOMP_MESSAGE);
    if (f) {
        CHECK_STR(cn_stomp_frame_get(f, "subscription", NULL), "s1");
        CHECK_STR(cn_stomp_frame_get(f, "destination", NULL), "/topic/room.42");
        CHECK_STR(cn_stomp_frame_get(f, "message-id", NULL), "m-1");
        CHECK_STR(f->body, "{}");
    }
    free(f);

    cn_session_joined(s, rc.key);
    harness_expect_receipt(30, "r1");
    harness_expect_receipt(30, "r2"); /* the held-back ACK, after the SUBSCRIBE's */

    fake_ws_closed(s, CN_WS_CLOSE_PEER);
    /* The close ends the subscription: the room is told. */
    struct room_call uc = {0};
    CHECK(room_next(&uc, HARNESS_WAIT_MS));
    CHECK(!uc.subscribed);
    CHECK_EQ(uc.room_id, 42);
    CHECK_EQ(uc.key, rc.key);
    harness_stop(&h);
    cn_actor_unref(s);
}

/* A non-member subscribed to /user/queue/errors gets NOT_MEMBER there, with the
 * SUBSCRIBE's receipt-id, and the connection stays open; the room is never told. */
static void test_subscribe_as_non_member_with_errors_queue(void)
{
    struct harness h;
    harness_start(&h, harness_limits(10, 1000));
    cn_actor *s = harness_connect(&h, 40, 7);
    harness_subscribe_errors(s, 40, "e");
    harness_send(s, "SUBSCRIBE\nid:s1\ndestination:/topic/room.43\nreceipt:r1\n\n");
    harness_membership(harness_pg(CN_SQL_ROOM_MEMBERSHIP), true, false);
    harness_expect_app_error(40, "e", "NOT_MEMBER", "r1");

    /* Still open: an UNSUBSCRIBE of the errors queue is answered. */
    harness_send(s, "UNSUBSCRIBE\nid:e\nreceipt:r2\n\n");
    harness_expect_receipt(40, "r2");
    CHECK_EQ(room_pending(), 0);
    fake_ws_closed(s, CN_WS_CLOSE_PEER);
    harness_stop(&h);
    cn_actor_unref(s);
}

/* Without /user/queue/errors, the refusal is what STOMP requires: ERROR (with the
 * receipt-id) then close. An unknown room answers the same as a foreign one. */
static void test_subscribe_as_non_member_without_errors_queue(void)
{
    struct harness h;
    harness_start(&h, harness_limits(10, 1000));
    cn_actor *s = harness_connect(&h, 50, 7);
    harness_send(s, "SUBSCRIBE\nid:s1\ndestination:/topic/room.44\nreceipt:r1\n\n");
    harness_membership(harness_pg(CN_SQL_ROOM_MEMBERSHIP), false, false);
    bool close_after = false;
    int reason = -1;
    struct cn_stomp_frame *f = harness_next(50, &close_after, &reason);
    CHECK(f != NULL);
    if (f) {
        CHECK_EQ(f->command, CN_STOMP_ERROR);
        CHECK_STR(cn_stomp_frame_get(f, "receipt-id", NULL), "r1");
        CHECK(strstr(f->body, "\"code\":\"NOT_MEMBER\"") != NULL);
    }
    CHECK(close_after);
    CHECK_EQ(reason, CN_WS_CLOSE_APP_ERROR);
    free(f);
    CHECK_EQ(room_pending(), 0);
    fake_ws_closed(s, CN_WS_CLOSE_PEER);
    harness_stop(&h);
    cn_actor_unref(s);
}

/* UNSUBSCRIBE of a live room subscription tells the room and is receipted. */
static void test_unsubscribe_tells_the_room(void)
{
    struct harness h;
    harness_start(&h, harness_limits(10, 1000));
    cn_actor *s = harness_connect(&h, 60, 7);
    harness_send(s, "SUBSCRIBE\nid:s1\ndestination:/topic/room.45\nx-resume-after:17\n\n");
    harness_membership(harness_pg(CN_SQL_ROOM_MEMBERSHIP), true, true);
    struct room_call rc = {0};
    CHECK(room_next(&rc, HARNESS_WAIT_MS));
    CHECK_EQ(rc.resume_after, 17);
    cn_session_joined(s, rc.key);
    harness_send(s, "UNSUBSCRIBE\nid:s1\nreceipt:u1\n\n");
    harness_expect_receipt(60, "u1");
    struct room_call uc = {0};
    CHECK(room_next(&uc, HARNESS_WAIT_MS));
    CHECK(!uc.subscribed);
    CHECK_EQ(uc.key, rc.key);
    fake_ws_closed(s, CN_WS_CLOSE_PEER);
    harness_stop(&h);
    CHECK_EQ(room_pending(), 0); /* the close had nothing left to end */
    cn_actor_unref(s);
}

CN_TEST_MAIN(test_connect_with_a_valid_token_is_connected,
             test_connect_with_a_bad_token_is_error_and_close,
             test_connect_of_a_user_not_seen_yet_looks_the_user_up,
             test_a_frame_before_connect_is_a_protocol_error,
             test_subscribe_as_member_receipt_after_join,
             test_subscribe_as_non_member_with_errors_queue,
             test_subscribe_as_non_member_without_errors_queue, test_unsubscribe_tells_the_room)
