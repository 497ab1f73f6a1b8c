/* The Kafka events (event_codec.h) as JSON, for people reading a dead letter
 * (chat-admin dlt show): the decoded fields under their msgpack names.
 *
 * Memory: returns a new JSON object the caller owns (json_decref); buf is borrowed. */
#ifndef CN_PROTO_EVENT_JSON_H
#define CN_PROTO_EVENT_JSON_H

#include <jansson.h>
#include <stddef.h>

/* Decodes buf[0..len) as a ChatMessage or a ReadReceipt event. Returns the event as
 * JSON, or NULL with *why (static text: the decoder's reason) when it is neither. */
json_t *cn_event_json(const char *buf, size_t len, const char **why);

#endif
