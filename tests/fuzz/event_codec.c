/* libFuzzer target for src/proto/event_codec.c: both decoders see the input; whatever
 * decodes must re-encode and decode to the same values. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/event_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    struct cn_chat_message_event c, c2;
    if (cn_event_decode_chat_message(buf, size, &c) == 0) {
        size_t n;
        char *enc = cn_event_encode_chat_message(&c, &n);
        if (cn_event_decode_chat_message(enc, n, &c2) != 0 ||
            strcmp(c.message_key, c2.message_key) || c.room_id != c2.room_id ||
            c.sender_id != c2.sender_id || c.type != c2.type || c.sent_at_ms != c2.sent_at_ms ||
            c.content_len != c2.content_len || memcmp(c.content, c2.content, c.content_len) ||
            c.sender_nickname_len != c2.sender_nickname_len ||
            memcmp(c.sender_nickname, c2.sender_nickname, c.sender_nickname_len))
            abort();
        free(enc);
    }
    struct cn_read_receipt_event r, r2;
    if (cn_event_decode_read_receipt(buf, size, &r) == 0) {
        size_t n;
        char *enc = cn_event_encode_read_receipt(&r, &n);
        if (cn_event_decode_read_receipt(enc, n, &r2) != 0 || memcmp(&r, &r2, sizeof r) != 0)
            abort();
        free(enc);
    }
    return 0;
}
