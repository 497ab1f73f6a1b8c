/* Tests src/actors/session/send_path.c through a session (session_harness.h): what a
 * client sees on its socket for SEND /app/chat.send and /app/chat.read. The nickname
 * and membership lookups, the record produced to Kafka, RECEIPT only after the ack
 * and always in the order the SENDs came whatever order Kafka acknowledges them in,
 * RATE_LIMITED past the window, flooding closing the session, and UNAVAILABLE when
 * the producer or the database refuses (a closed adapter's -ESHUTDOWN included) or
 * a delivery fails. */
#include "proto/event_codec.h"
#include "session_harness.h"

static const char chat_send[] = "SEND\ndestination:/app/chat.send\nreceipt:%s\n"
                                "content-type:application/json\n\n"
                                "{\"roomId\":42,\"content\":\"%s\"}";

/* Answers the lookups of a session's first SEND into room 42: its user's nickname,
 * then its membership. */
static void answer_lookups(void)
{
    struct fake_call *c = harness_pg(CN_SQL_USER_BY_ID);
    if (c)
        CHECK_STR(c->params[0], "7");
    harness_nickname(c, "alice");
    c = harness_pg(CN_SQL_ROOM_MEMBERSHIP);
    if (c) {
        CHECK_STR(c->params[0], "7");
        CHECK_STR(c->params[1], "42");
    }
    harness_membership(c, true, true);
}

/* The next record produced: to chat.messages, keyed by the room, decoding to a
 * ChatMessageEvent of user 7 (alice) with `content`. */
static struct fake_call *next_record(const char *content)
{
    struct fake_call *k = fake_next(FAKE_KIND_KAFKA, HARNESS_WAIT_MS);
    CHECK(k != NULL);
    if (!k)
        return NULL;
    CHECK_STR(k->topic, "chat.messages");
    CHECK_STR(k->key, "42");
    struct cn_chat_message_event ev;
    CHECK_EQ(cn_event_decode_chat_message(k->value, k->len, &ev), 0);
    CHECK_EQ(ev.room_id, 42);
    CHECK_EQ(ev.sender_id, 7);
    CHECK_MEM(ev.sender_nickname, ev.sender_nickname_len, "alice", 5);
    CHECK_MEM(ev.content, ev.content_len, content, strlen(content));
    return k;
}

static void test_send_is_receipted_once_kafka_acknowledged(void)
{
    struct harness h;
    harness_start(&h, harness_limits(10, 1000));
    cn_actor *s = harness_connect(&h, 100, 7);
    harness_send(s, chat_send, "m1", "hello");
    answer_lookups();
    struct fake_call *k = next_record("hello");
    CHECK_EQ(fake_ws_pending(100), 0); /* written nothing before the ack */
    if (k)
        fake_kafka_ack(k, 3, 1001);
    harness_expect_receipt(100, "m1");
    CHECK_EQ(atomic_load(&h.send.counters.accepted), 1);
    fake_ws_closed(s, CN_WS_CLOSE_PEER);
    harness_stop(&h);
    cn_actor_unref(s);
}

/* Three SENDs in a burst: one nickname and one membership query in all (the cache),
 * three records in order; Kafka acknowledges them last first, and the RECEIPTs still
 * come first first, because STOMP receipts are cumulative. */
static void test_receipts_stay_in_order_when_acks_do_not(void)
{
    struct harness h;
    harness_start(&h, harness_limits(10, 1000));
    cn_actor *s = harness_connect(&h, 110, 7);
    harness_send(s, chat_send, "r1", "one");
    harness_send(s, chat_send, "r2", "two");
    harness_send(s, chat_send, "r3", "three");
    answer_lookups();
    struct fake_call *k1 = next_record("one");
    struct fake_call *k2 = next_record("two");
    struct fake_call *k3 = next_record("three");
    if (k3)
        fake_kafka_ack(k3, 0, 12);
    if (k2)
        fake_kafka_ack(k2, 0, 11);
    if (k1)
        fake_kafka_ack(k1, 0, 10);
    harness_expect_receipt(110, "r1");
    harness_expect_receipt(110, "r2");
    harness_expect_receipt(110, "r3");
    fake_ws_closed(s, CN_WS_CLOSE_PEER);
    harness_stop(&h);
    CHECK_EQ(h.left_pg, 0); /* the burst cost one lookup of each kind */
    cn_actor_unref(s);
}

/* Two SENDs per minute: the third is RATE_LIMITED on /user/queue/errors (the
 * session stays), answered after the two before it, and never reaches Kafka. */
static void test_sends_past_the_rate_are_rate_limited(void)
{
    struct harness h;
    harness_start(&h, harness_limits(2, 60000));
    cn_actor *s = harness_connect(&h, 120, 7);
    harness_subscribe_errors(s, 120, "e");
    harness_send(s, chat_send, "r1", "one");
    harness_send(s, chat_send, "r2", "two");
    harness_send(s, chat_send, "r3", "three");
    answer_lookups();
    struct fake_call *k1 = next_record("one");
    struct fake_call *k2 = next_record("two");
    if (k1)
        fake_kafka_ack(k1, 0, 1);
    if (k2)
        fake_kafka_ack(k2, 0, 2);
    harness_expect_receipt(120, "r1");
    harness_expect_receipt(120, "r2");
    harness_expect_app_error(120, "e", "RATE_LIMITED", "r3");
    CHECK_EQ(atomic_load(&h.send.counters.rate_limited), 1);
    fake_ws_closed(s, CN_WS_CLOSE_PEER);
    harness_stop(&h);
    CHECK_EQ(h.left_kafka, 0);
    cn_actor_unref(s);
}

/* Flooding: with flood_refusals = 2, the second refusal within the window ends the
 * session with ERROR (receipt-id of that SEND) and a close. */
static void test_sustained_flooding_closes_the_session(void)
{
    struct harness h;
    struct cn_send_limits limits = harness_limits(1, 60000);
    limits.flood_refusals = 2;
    limits.flood_window_ms = 60000;
    harness_start(&h, limits);
    cn_actor *s = harness_connect(&h, 130, 7);
    harness_subscribe_errors(s, 130, "e");
    harness_send(s, chat_send, "r1", "one");
    harness_send(s, chat_send, "r2", "two");
    harness_send(s, chat_send, "r3", "three");
    answer_lookups();
    struct fake_call *k = next_record("one");
    if (k)
        fake_kafka_ack(k, 0, 1);
    harness_expect_receipt(130, "r1");
    harness_expect_app_error(130, "e", "RATE_LIMITED", "r2");
    bool close_after = false;
    struct cn_stomp_frame *f = harness_next(130, &close_after, NULL);
    CHECK(f != NULL);
    if (f) {
        CHECK_EQ(f->command, CN_STOMP_ERROR);
        CHECK_STR(cn_stomp_frame_get(f, "receipt-id", NULL), "r3");
    }
    CHECK(close_after);
    free(f);
    CHECK_EQ(atomic_load(&h.send.counters.flood_closes), 1);
    fake_ws_closed(s, CN_WS_CLOSE_PEER);
    harness_stop(&h);
    cn_actor_unref(s);
}

/* The producer refuses: closed (-ESHUTDOWN, as after its close at shutdown) or its
 * queue full (-EAGAIN). Either is UNAVAILABLE, with a text saying which. */
static void test_producer_refusal_is_unavailable(void)
{
    const int refusals[] = {-ESHUTDOWN, -EAGAIN};
    const char *texts[] = {"sending is unavailable", "the message queue is full"};
    for (int i = 0; i < 2; i++) {
        struct harness h;
        harness_start(&h, harness_limits(10, 1000));
        uint64_t conn = 140 + (uint64_t)i;
        cn_actor *s = harness_connect(&h, conn, 7);
        harness_subscribe_errors(s, conn, "e");
        fake_refuse(FAKE_KIND_KAFKA, refusals[i]);
        harness_send(s, chat_send, "r1", "hello");
        answer_lookups();
        struct cn_stomp_frame *f = harness_expect(conn, CN_STOMP_MESSAGE);
        if (f) {
            CHECK_STR(cn_stomp_frame_get(f, "receipt-id", NULL), "r1");
            CHECK(strstr(f->body, "\"code\":\"UNAVAILABLE\"") != NULL);
            CHECK(strstr(f->body, texts[i]) != NULL);
        }
        free(f);
        CHECK_EQ(atomic_load(&h.send.counters.failed), 1);
        fake_ws_closed(s, CN_WS_CLOSE_PEER);
        harness_stop(&h);
        cn_actor_unref(s);
    }
}

/* Kafka took the record but its delivery failed: UNAVAILABLE, never a RECEIPT. */
static void test_failed_delivery_is_unavailable(void)
{
    struct harness h;
    harness_start(&h, harness_limits(10, 1000));
    cn_actor *s = harness_connect(&h, 150, 7);
    harness_subscribe_errors(s, 150, "e");
    harness_send(s, chat_send, "r1", "hello");
    answer_lookups();
    struct fake_call *k = next_record("hello");
    if (k)
        fake_kafka_fail(k, "Local: Message timed out");
    harness_expect_app_error(150, "e", "UNAVAILABLE", "r1");
    fake_ws_closed(s, CN_WS_CLOSE_PEER);
    harness_stop(&h);
    cn_actor_unref(s);
}

/* The pool refuses (closed at shutdown: -ESHUTDOWN): UNAVAILABLE, nothing produced. */
static void test_database_refusal_is_unavailable(void)
{
    struct harness h;
    harness_start(&h, harness_limits(10, 1000));
    cn_actor *s = harness_connect(&h, 160, 7);
    harness_subscribe_errors(s, 160, "e");
    fake_refuse(FAKE_KIND_PG, -ESHUTDOWN);
    harness_send(s, chat_send, "r1", "hello");
    harness_expect_app_error(160, "e", "UNAVAILABLE", "r1");
    fake_ws_closed(s, CN_WS_CLOSE_PEER);
    harness_stop(&h);
    CHECK_EQ(h.left_kafka, 0);
    cn_actor_unref(s);
}

/* A SEND into a room the user is not in: NOT_MEMBER, nothing produced; the refusal
 * is not cached, so a later SEND asks again. */
static void test_send_as_non_member_is_refused(void)
{
    struct harness h;
    harness_start(&h, harness_limits(10, 1000));
    cn_actor *s = harness_connect(&h, 170, 7);
    harness_subscribe_errors(s, 170, "e");
    harness_send(s, chat_send, "r1", "hello");
    harness_nickname(harness_pg(CN_SQL_USER_BY_ID), "alice");
    harness_membership(harness_pg(CN_SQL_ROOM_MEMBERSHIP), true, false);
    harness_expect_app_error(170, "e", "NOT_MEMBER", "r1");
    harness_send(s, chat_send, "r2", "again");
    harness_membership(harness_pg(CN_SQL_ROOM_MEMBERSHIP), true, true);
    struct fake_call *k = next_record("again");
    if (k)
        fake_kafka_ack(k, 0, 5);
    harness_expect_receipt(170, "r2");
    fake_ws_closed(s, CN_WS_CLOSE_PEER);
    harness_stop(&h);
    cn_actor_unref(s);
}

/* SEND /app/chat.read takes the same road: read_receipt_check, a ReadReceiptEvent to
 * chat.read-receipts, RECEIPT after the ack. */
static void test_read_receipt_is_produced_then_receipted(void)
{
    struct harness h;
    harness_start(&h, harness_limits(10, 1000));
    cn_actor *s = harness_connect(&h, 180, 7);
    harness_send(s, "SEND\ndestination:/app/chat.read\nreceipt:rr\n\n"
                    "{\"roomId\":42,\"messageId\":501}");
    struct fake_call *c = harness_pg(CN_SQL_READ_RECEIPT_CHECK);
    if (c) {
        CHECK_EQ(c->nparams, 4);
        CHECK_STR(c->params[2], "501");
        CHECK(c->params[3] == NULL); /* no position */
        const char *names[] = {"outcome", "message_id"};
        const char *values[] = {"ok", "501"};
        fake_pg_rows(c, 2, names, 1, values);
    }
    struct fake_call *k = fake_next(FAKE_KIND_KAFKA, HARNESS_WAIT_MS);
    CHECK(k != NULL);
    if (k) {
        CHECK_STR(k->topic, "chat.read-receipts");
        struct cn_read_receipt_event ev;
        CHECK_EQ(cn_event_decode_read_receipt(k->value, k->len, &ev), 0);
        CHECK_EQ(ev.user_id, 7);
        CHECK_EQ(ev.message_id, 501);
        fake_kafka_ack(k, 1, 9);
    }
    harness_expect_receipt(180, "rr");
    fake_ws_closed(s, CN_WS_CLOSE_PEER);
    harness_stop(&h);
    cn_actor_unref(s);
}

/* SEND /app/chat.read by position (a live MESSAGE has no id): the check resolves it
 * and the event names the stored message; a position with no stored message is
 * MESSAGE_NOT_FOUND, in order with the rest. */
static void test_read_by_position_names_the_resolved_message(void)
{
    struct harness h;
    harness_start(&h, harness_limits(10, 1000));
    cn_actor *s = harness_connect(&h, 190, 7);
    harness_subscribe_errors(s, 190, "e");
    harness_send(s, "SEND\ndestination:/app/chat.read\nreceipt:p0\n\n"
                    "{\"roomId\":42,\"position\":0}");
    harness_send(s, "SEND\ndestination:/app/chat.read\nreceipt:p1\n\n"
                    "{\"roomId\":42,\"position\":77}");
    struct fake_call *c = harness_pg(CN_SQL_READ_RECEIPT_CHECK);
    if (c) {
        CHECK_EQ(c->nparams, 4);
        CHECK(c->params[2] == NULL);
        CHECK_STR(c->params[3], "0"); /* position 0 is a position, not "none" */
        const char *names[] = {"outcome", "message_id"};
        const char *values[] = {"ok", "612"};
        fake_pg_rows(c, 2, names, 1, values);
    }
    struct fake_call *k = fake_next(FAKE_KIND_KAFKA, HARNESS_WAIT_MS);
    CHECK(k != NULL);
    c = harness_pg(CN_SQL_READ_RECEIPT_CHECK);
    if (c) {
        CHECK_STR(c->params[3], "77");
        const char *names[] = {"outcome", "message_id"};
        const char *values[] = {"unknown_message", NULL};
        fake_pg_rows(c, 2, names, 1, values);
    }
    if (k) {
        struct cn_read_receipt_event ev;
        CHECK_EQ(cn_event_decode_read_receipt(k->value, k->len, &ev), 0);
        CHECK_EQ(ev.room_id, 42);
        CHECK_EQ(ev.message_id, 612);
        fake_kafka_ack(k, 1, 10);
    }
    harness_expect_receipt(190, "p0");
    harness_expect_app_error(190, "e", "MESSAGE_NOT_FOUND", "p1");
    fake_ws_closed(s, CN_WS_CLOSE_PEER);
    harness_stop(&h);
    cn_actor_unref(s);
}

CN_TEST_MAIN(test_send_is_receipted_once_kafka_acknowledged,
             test_receipts_stay_in_order_when_acks_do_not,
             test_sends_past_the_rate_are_rate_limited, test_sustained_flooding_closes_the_session,
             test_producer_refusal_is_unavailable, test_failed_delivery_is_unavailable,
             test_database_refusal_is_unavailable, test_send_as_non_member_is_refused,
             test_read_receipt_is_produced_then_receipted,
             test_read_by_position_names_the_resolved_message)
