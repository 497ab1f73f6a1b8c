/* Kafka events as JSON; see event_json.h. */
#include "proto/event_json.h"

#include "proto/event_codec.h"

json_t *cn_event_json(const char *buf, size_t len, const char **why)
{
    struct cn_chat_message_event m;
    int rc = cn_event_decode_chat_message(buf, len, &m);
    if (rc == 0)
        return json_pack("{s:s,s:i,s:s,s:I,s:I,s:s%,s:s%,s:s,s:I}", "kind", "ChatMessage", "v",
                         CN_EVENT_SCHEMA_VERSION, "messageKey", m.message_key, "roomId",
                         (json_int_t)m.room_id, "senderId", (json_int_t)m.sender_id,
                         "senderNickname", m.sender_nickname, m.sender_nickname_len, "content",
                         m.content, m.content_len, "type", cn_message_type_name(m.type), "sentAt",
                         (json_int_t)m.sent_at_ms);
    struct cn_read_receipt_event r;
    int rc2 = cn_event_decode_read_receipt(buf, len, &r);
    if (rc2 == 0)
        return json_pack("{s:s,s:i,s:I,s:I,s:I,s:I}", "kind", "ReadReceipt", "v",
                         CN_EVENT_SCHEMA_VERSION, "roomId", (json_int_t)r.room_id, "userId",
                         (json_int_t)r.user_id, "messageId", (json_int_t)r.message_id, "readAt",
                         (json_int_t)r.read_at_ms);
    /* The reason of the decoder whose kind it claims to be, when it claims one. */
    *why = cn_event_strerror(rc != CN_EVENT_E_KIND ? rc : rc2);
    return NULL;
}
