/* Tests a session's membership revocation (CN_SESSION_REVOKE, session_subs.c) and the
 * SEND path's membership cache bounds (send_path.c) through a session
 * (session_harness.h): what the client sees on its socket, what the room hooks are
 * told, and which lookups reach the database. A revoked subscription gets its last
 * MESSAGE and ends; a SEND after the revocation asks PostgreSQL again, subscribed or
 * not; a SUBSCRIBE or a SEND whose membership check was out when the revocation came
 * is never taken as a membership that outlives it; the cache expires after
 * member_ttl_ms and goes whole on cn_send_path_forget_all. */
#include "proto/event_codec.h"
#include "session_harness.h"

static const char chat_send[] = "SEND\ndestination:/app/chat.send\nreceipt:%s\n"
                                "content-type:application/json\n\n"
                                "{\"roomId\":%d,\"content\":\"%s\"}";

static void revoke(cn_actor *s, int64_t room, const char *kind, int64_t at_ms)
{
    struct cn_session_revoke *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    cn_msg_init(&r->hdr, CN_SESSION_REVOKE, NULL);
    r->room_id = room;
    r->at_ms = at_ms;
    snprintf(r->kind, sizeof r->kind, "%s", kind);
    cn_actor_send(s, &r->hdr);
}

/* The next record produced is to chat.messages with `content`; acknowledged. */
static void ack_record(const char *content)
{
    struct fake_call *k = fake_next(FAKE_KIND_KAFKA, HARNESS_WAIT_MS);
    CHECK(k != NULL);
    if (!k)
        return;
    struct cn_chat_message_event ev;
    CHECK_EQ(cn_event_decode_chat_message(k->value, k->len, &ev), 0);
    CHECK_MEM(ev.content, ev.content_len, content, strlen(content));
    fake_kafka_ack(k, 0, 1);
}

/* A first SEND into `room`: nickname and membership looked up, produced, receipted. */
static void first_send(cn_actor *s, uint64_t conn, int room, const char *receipt)
{
    harness_send(s, chat_send, receipt, room, "first");
    harness_nickname(harness_pg(CN_SQL_USER_BY_ID), "alice");
    harness_membership(harness_pg(CN_SQL_ROOM_MEMBERSHIP), true, true);
    ack_record("first");
    harness_expect_receipt(conn, receipt);
}

/* A SEND into `room` that must ask PostgreSQL (the cache no longer answers); answered
 * "not a member": NOT_MEMBER, nothing produced. */
static void send_is_checked_and_refused(cn_actor *s, uint64_t conn, int room, const char *receipt)
{
    harness_send(s, chat_send, receipt, room, "after");
    harness_membership(harness_pg(CN_SQL_ROOM_MEMBERSHIP), true, false);
    harness_expect_app_error(conn, "e", "NOT_MEMBER", receipt);
}

/* A subscribed session: the revocation's MESSAGE goes out on the subscription (as the
 * room's leave event would), the room is told the subscription ended, the next SEND is
 * checked again and refused, typing is refused, the id is still known to UNSUBSCRIBE,
 * and a second revocation or a late leave event of the room writes nothing more. */
static void test_revocation_ends_the_subscription_and_the_cached_membership(void)
{
    struct harness h;
    harness_start(&h, harness_limits(10, 1000));
    cn_actor *s = harness_connect(&h, 300, 7);
    harness_subscribe_errors(s, 300, "e");
    harness_send(s, "SUBSCRIBE\nid:s1\ndestination:/topic/room.42\nreceipt:r1\n\n");
    harness_membership(harness_pg(CN_SQL_ROOM_MEMBERSHIP), true, true);
    struct room_call rc = {0};
    CHECK(room_next(&rc, HARNESS_WAIT_MS));
    cn_session_joined(s, rc.key);
    harness_expect_receipt(300, "r1");
    first_send(s, 300, 42, "m1");

    revoke(s, 42, "leave", 1700000000123);
    struct cn_stomp_frame *f = harness_expect(300, CN_STOMP_MESSAGE);
    if (f) {
        CHECK_STR(cn_stomp_frame_get(f, "subscription", NULL), "s1");
        CHECK_STR(cn_stomp_frame_get(f, "destination", NULL), "/topic/room.42");
        CHECK_STR(cn_stomp_frame_get(f, "message-id", NULL), "leave-42-7-1700000000123");
        CHECK_STR(cn_stomp_frame_get(f, "x-event", NULL), "leave");
        CHECK_STR(f->body, "{\"type\":\"LEAVE\",\"roomId\":42,\"userId\":7}");
    }
    free(f);
    struct room_call uc = {0};
    CHECK(room_next(&uc, HARNESS_WAIT_MS));
    CHECK(!uc.subscribed);
    CHECK_EQ(uc.key, rc.key);

    send_is_checked_and_refused(s, 300, 42, "m2");
    harness_send(s, "SEND\ndestination:/app/chat.typing\nreceipt:t1\n\n{\"roomId\":42}");
    harness_expect_app_error(300, "e", "NOT_SUBSCRIBED", "t1");

    /* Again, and the room's own leave event arriving late: nothing written for either
     * (the RECEIPT of the UNSUBSCRIBE is the next frame). */
    revoke(s, 42, "leave", 1700000000999);
    struct cn_stomp_message_fields mf = {.destination = "/topic/room.42",
                                         .message_id = "leave-42-7-1700000000124",
                                         .content_type = "application/json",
                                         .body = "{}",
                                         .body_len = 2};
    struct cn_ws_shared_msg *late = cn_ws_shared_msg_new(&mf);
    late->revoke_user = 7;
    cn_session_deliver(s, rc.key, late);
    harness_send(s, "UNSUBSCRIBE\nid:s1\nreceipt:u1\n\n");
    harness_expect_receipt(300, "u1");
    CHECK_EQ(room_pending(), 0); /* nobody told the room twice */
    fake_ws_closed(s, CN_WS_CLOSE_PEER);
    harness_stop(&h);
    cn_actor_unref(s);
}

/* A session that never subscribed to the room: the revocation writes nothing, and the
 * next SEND to the room asks PostgreSQL; a revocation of another room leaves this
 * room's cached membership alone. */
static void test_revocation_reaches_an_unsubscribed_session(void)
{
    struct harness h;
    harness_start(&h, harness_limits(10, 1000));
    cn_actor *s = harness_connect(&h, 310, 7);
    harness_subscribe_errors(s, 310, "e");
    first_send(s, 310, 42, "m1");
    revoke(s, 43, "removed", 1);
    harness_send(s, chat_send, "m2", 42, "cached");
    ack_record("cached"); /* no lookup: still cached */
    harness_expect_receipt(310, "m2");
    CHECK_EQ(fake_pending(FAKE_KIND_PG), 0);
    revoke(s, 42, "removed", 2);
    send_is_checked_and_refused(s, 310, 42, "m3");
    fake_ws_closed(s, CN_WS_CLOSE_PEER);
    harness_stop(&h);
    CHECK_EQ(h.left_pg, 0);
    cn_actor_unref(s);
}

/* The revocation comes while the SUBSCRIBE's room_membership is out: that answer may
 * predate it, so even "member" is NOT_MEMBER and the room is never told. */
static void test_a_subscribe_being_checked_is_refused(void)
{
    struct harness h;
    harness_start(&h, harness_limits(10, 1000));
    cn_actor *s = harness_connect(&h, 320, 7);
    harness_subscribe_errors(s, 320, "e");
    harness_send(s, "SUBSCRIBE\nid:s1\ndestination:/topic/room.42\nreceipt:r1\n\n");
    struct fake_call *c = harness_pg(CN_SQL_ROOM_MEMBERSHIP);
    revoke(s, 42, "leave", 1);
    /* Both come from this thread, so the session handles the revocation first. */
    harness_membership(c, true, true);
    harness_expect_app_error(320, "e", "NOT_MEMBER", "r1");
    CHECK_EQ(room_pending(), 0);
    /* Another room's SUBSCRIBE is not affected. */
    harness_send(s, "SUBSCRIBE\nid:s2\ndestination:/topic/room.43\nreceipt:r2\n\n");
    harness_membership(harness_pg(CN_SQL_ROOM_MEMBERSHIP), true, true);
    struct room_call rc = {0};
    CHECK(room_next(&rc, HARNESS_WAIT_MS));
    CHECK_EQ(rc.room_id, 43);
    cn_session_joined(s, rc.key);
    harness_expect_receipt(320, "r2");
    fake_ws_closed(s, CN_WS_CLOSE_PEER);
    harness_stop(&h);
    cn_actor_unref(s);
}

/* The revocation comes while a SEND's room_membership is out: that SEND came before it
 * and is answered by the reply, but a "member" read then is not cached: the next SEND
 * asks again. */
static void test_a_membership_read_before_the_revocation_is_not_cached(void)
{
    struct harness h;
    harness_start(&h, harness_limits(10, 1000));
    cn_actor *s = harness_connect(&h, 330, 7);
    harness_subscribe_errors(s, 330, "e");
    harness_send(s, chat_send, "m1", 42, "first");
    harness_nickname(harness_pg(CN_SQL_USER_BY_ID), "alice");
    struct fake_call *c = harness_pg(CN_SQL_ROOM_MEMBERSHIP);
    revoke(s, 42, "leave", 1);
    /* This RECEIPT proves the session handled the revocation, so the forget is in the
     * SEND path's mailbox before the membership reply the test gives next. */
    harness_send(s, "SUBSCRIBE\nid:x\ndestination:/user/queue/errors\nreceipt:sync\n\n");
    harness_expect_receipt(330, "sync");
    harness_membership(c, true, true);
    ack_record("first");
    harness_expect_receipt(330, "m1");
    send_is_checked_and_refused(s, 330, 42, "m2");
    fake_ws_closed(s, CN_WS_CLOSE_PEER);
    harness_stop(&h);
    cn_actor_unref(s);
}

/* member_ttl_ms: a cached membership is asked again once it is older. */
static void test_a_cached_membership_expires(void)
{
    struct harness h;
    harness_start(&h, harness_limits(10, 1000));
    h.send.member_ttl_ms = 100;
    cn_actor *s = harness_connect(&h, 340, 7);
    harness_subscribe_errors(s, 340, "e");
    first_send(s, 340, 42, "m1");
    /* Time has to pass for an expiry: this wait is the thing under test. */
    struct timespec ts = {0, 150 * 1000000L};
    nanosleep(&ts, NULL);
    send_is_checked_and_refused(s, 340, 42, "m2");
    fake_ws_closed(s, CN_WS_CLOSE_PEER);
    harness_stop(&h);
    cn_actor_unref(s);
}

/* An expired membership whose lookup fails (PostgreSQL down) stands for another
 * member_ttl_ms: the SEND goes through and the next one asks nothing; a forgotten one
 * never stands: UNAVAILABLE. */
static void test_an_expired_membership_stands_while_the_database_is_down(void)
{
    struct harness h;
    harness_start(&h, harness_limits(10, 1000));
    h.send.member_ttl_ms = 100;
    cn_actor *s = harness_connect(&h, 345, 7);
    harness_subscribe_errors(s, 345, "e");
    first_send(s, 345, 42, "m1");
    /* Time has to pass for an expiry: this wait is the thing under test. */
    struct timespec ts = {0, 150 * 1000000L};
    nanosleep(&ts, NULL);
    harness_send(s, chat_send, "m2", 42, "during");
    fake_pg_error(harness_pg(CN_SQL_ROOM_MEMBERSHIP), "08001", "no connection");
    ack_record("during");
    harness_expect_receipt(345, "m2");
    harness_send(s, chat_send, "m3", 42, "during");
    ack_record("during"); /* no lookup: trusted for another ttl */
    harness_expect_receipt(345, "m3");
    revoke(s, 42, "leave", 0);
    harness_send(s, chat_send, "m4", 42, "after");
    fake_pg_error(harness_pg(CN_SQL_ROOM_MEMBERSHIP), "08001", "no connection");
    harness_expect_app_error(345, "e", "UNAVAILABLE", "m4");
    fake_ws_closed(s, CN_WS_CLOSE_PEER);
    harness_stop(&h);
    cn_actor_unref(s);
}

/* member_ttl_ms = 0: nothing is cached, every SEND asks. */
static void test_no_cache_asks_every_time(void)
{
    struct harness h;
    harness_start(&h, harness_limits(10, 1000));
    h.send.member_ttl_ms = 0;
    cn_actor *s = harness_connect(&h, 350, 7);
    harness_subscribe_errors(s, 350, "e");
    first_send(s, 350, 42, "m1");
    send_is_checked_and_refused(s, 350, 42, "m2");
    fake_ws_closed(s, CN_WS_CLOSE_PEER);
    harness_stop(&h);
    cn_actor_unref(s);
}

/* cn_send_path_forget_all (the node's revocation channel came back): every session's
 * cache goes at once, without a message to any of them. */
static void test_forget_all_drops_every_cache(void)
{
    struct harness h;
    harness_start(&h, harness_limits(10, 1000));
    cn_actor *s = harness_connect(&h, 360, 7);
    harness_subscribe_errors(s, 360, "e");
    first_send(s, 360, 42, "m1");
    cn_send_path_forget_all(&h.send);
    send_is_checked_and_refused(s, 360, 42, "m2");
    fake_ws_closed(s, CN_WS_CLOSE_PEER);
    harness_stop(&h);
    cn_actor_unref(s);
}

CN_TEST_MAIN(test_revocation_ends_the_subscription_and_the_cached_membership,
             test_revocation_reaches_an_unsubscribed_session,
             test_a_subscribe_being_checked_is_refused,
             test_a_membership_read_before_the_revocation_is_not_cached,
             test_a_cached_membership_expires,
             test_an_expired_membership_stands_while_the_database_is_down,
             test_no_cache_asks_every_time, test_forget_all_drops_every_cache)
