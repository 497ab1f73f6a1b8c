/* Tests src/proto/event_json.c: both event kinds come out as JSON with every field
 * under its msgpack name, and bytes that are no event give NULL and the decoder's
 * reason. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "proto/event_codec.h"
#include "proto/event_json.h"

static void test_chat_message(void)
{
    struct cn_chat_message_event e = {.room_id = 7,
                                      .sender_id = 42,
                                      .sender_nickname = "ann\xc3\xa9",
                                      .sender_nickname_len = 5,
                                      .content = "hi \"there\"",
                                      .content_len = 10,
                                      .type = CN_MSG_TEXT,
                                      .sent_at_ms = 1764626400123};
    strcpy(e.message_key, "0f8fad5b-d9cb-469f-a165-70867728950e");
    size_t len;
    char *buf = cn_event_encode_chat_message(&e, &len);
    const char *why = NULL;
    json_t *j = cn_event_json(buf, len, &why);
    CHECK(j != NULL);
    char *text = json_dumps(j, JSON_COMPACT);
    CHECK_STR(text, "{\"kind\":\"ChatMessage\",\"v\":1,"
                    "\"messageKey\":\"0f8fad5b-d9cb-469f-a165-70867728950e\",\"roomId\":7,"
                    "\"senderId\":42,\"senderNickname\":\"ann\xc3\xa9\",\"content\":\"hi "
                    "\\\"there\\\"\",\"type\":\"TEXT\",\"sentAt\":1764626400123}");
    free(text);
    json_decref(j);
    free(buf);
}

static void test_read_receipt(void)
{
    struct cn_read_receipt_event e = {
        .room_id = 7, .user_id = 8, .message_id = 9, .read_at_ms = 10};
    size_t len;
    char *buf = cn_event_encode_read_receipt(&e, &len);
    const char *why = NULL;
    json_t *j = cn_event_json(buf, len, &why);
    char *text = json_dumps(j, JSON_COMPACT);
    CHECK_STR(text, "{\"kind\":\"ReadReceipt\",\"v\":1,\"roomId\":7,\"userId\":8,"
                    "\"messageId\":9,\"readAt\":10}");
    free(text);
    json_decref(j);
    free(buf);
}

static void test_not_an_event(void)
{
    const char *why = NULL;
    CHECK(cn_event_json("\xc1 junk", 6, &why) == NULL);
    CHECK_STR(why, cn_event_strerror(CN_EVENT_E_NOT_MAP));
    why = NULL;
    /* {"kind":"Other"}: neither kind; the reason names the kind. */
    CHECK(cn_event_json("\x81\xa4kind\xa5Other", 12, &why) == NULL);
    CHECK_STR(why, cn_event_strerror(CN_EVENT_E_KIND));
}

CN_TEST_MAIN(test_chat_message, test_read_receipt, test_not_an_event)
