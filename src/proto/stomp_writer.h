/* Serializer for the frames a STOMP server sends: CONNECTED, MESSAGE, RECEIPT, ERROR.
 *
 * Every function writes into a caller buffer after `headroom` bytes that it leaves
 * untouched (the WebSocket layer's LWS_PRE, 16 on our libwebsockets build: pass it in,
 * this layer does not include libwebsockets). Functions return the frame's length
 * (headroom not included) or CN_STOMP_E_NO_SPACE when `cap` is too small; the
 * buffer's contents are then unspecified. Header values are escaped as STOMP 1.2 says
 * (never for CONNECTED). Frames that may carry a body always carry content-length.
 *
 * Broadcast MESSAGEs are rendered in two parts so that fan-out costs one memcpy per
 * recipient: cn_stomp_message_shared_render() once per message writes everything after
 * the subscription header (destination, message-id, content headers, the blank line,
 * body and NUL) into an immutable buffer, and cn_stomp_message_render() per recipient
 * writes "MESSAGE\nsubscription:<id>\n[ack:<id>\n]" and copies the shared part behind
 * it. The session escapes its subscription id once, at SUBSCRIBE time. */
#ifndef CN_PROTO_STOMP_WRITER_H
#define CN_PROTO_STOMP_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "proto/stomp_error.h"
#include "proto/stomp_frame.h"

/* A frame under construction. Fields are private; use the functions. */
struct cn_stomp_writer {
    char *buf;
    size_t cap;
    size_t pos; /* keeps counting past cap so the needed size is known */
    size_t start;
    enum cn_stomp_command cmd;
    bool raw; /* STOMP 1.0: values written as they are (cn_stomp_writer_set_raw) */
};

/* Starts a frame of command `cmd` at buf + headroom. Borrows `buf` until finish. */
void cn_stomp_writer_init(struct cn_stomp_writer *w, char *buf, size_t cap, size_t headroom,
                          enum cn_stomp_command cmd);

/* STOMP 1.0, which has no escaping (and an ERROR before any version is agreed):
 * the headers appended after this call are written as they are, except that CR
 * and LF become spaces. */
void cn_stomp_writer_set_raw(struct cn_stomp_writer *w);

/* Appends a header; the value (vlen bytes) and name are escaped unless the command
 * is CONNECTED. Cannot fail: overflow is reported by finish. */
void cn_stomp_writer_header(struct cn_stomp_writer *w, const char *name, const char *value,
                            size_t vlen);

/* Appends content-length (for SEND, MESSAGE and ERROR), the blank line, the body and
 * the NUL. Returns the frame length, CN_STOMP_E_NO_SPACE (the needed length is then
 * cn_stomp_writer_needed()), or CN_STOMP_E_BODY_NOT_ALLOWED for a non-empty body on a
 * command that may not carry one. */
long cn_stomp_writer_finish(struct cn_stomp_writer *w, const char *body, size_t body_len);

/* Bytes the frame needs (headroom excluded), valid after finish even on overflow. */
size_t cn_stomp_writer_needed(const struct cn_stomp_writer *w);

/* CONNECTED with version, heart-beat "sx,sy" and optional session and server (NULL
 * omits them). */
long cn_stomp_write_connected(char *buf, size_t cap, size_t headroom, const char *version,
                              unsigned sx, unsigned sy, const char *session, const char *server);

/* RECEIPT with receipt-id. */
long cn_stomp_write_receipt(char *buf, size_t cap, size_t headroom, const char *receipt_id);

/* ERROR with a `message` header (required), `receipt-id` when receipt_id is not NULL,
 * and an optional text/plain body (body may be NULL when body_len is 0). */
long cn_stomp_write_error(char *buf, size_t cap, size_t headroom, const char *message,
                          const char *receipt_id, const char *body, size_t body_len);

/* What a broadcast MESSAGE shares between all recipients. Everything is borrowed. */
struct cn_stomp_message_fields {
    const char *destination;             /* required */
    const char *message_id;              /* required */
    const char *content_type;            /* NULL omits it */
    const struct cn_stomp_header *extra; /* pass-through headers (e.g. from SEND), or NULL */
    unsigned nextra;
    const char *body;
    size_t body_len;
};

/* Renders the shared tail of a MESSAGE into buf (no headroom: it is never sent on its
 * own). Returns its length or CN_STOMP_E_NO_SPACE. */
long cn_stomp_message_shared_render(char *buf, size_t cap, const struct cn_stomp_message_fields *m);

/* Same, into a new exact-size allocation the caller frees with free(). Cannot fail. */
char *cn_stomp_message_shared_new(const struct cn_stomp_message_fields *m, size_t *len_out);

#define CN_STOMP__MSG_HEAD     "MESSAGE\nsubscription:"
#define CN_STOMP__MSG_HEAD_LEN (sizeof CN_STOMP__MSG_HEAD - 1)

/* Bytes cn_stomp_message_render needs after the headroom. */
static inline size_t cn_stomp_message_size(size_t sub_len, size_t ack_len, size_t shared_len)
{
    return CN_STOMP__MSG_HEAD_LEN + sub_len + 1 + (ack_len ? 4 + ack_len + 1 : 0) + shared_len;
}

/* Per recipient: writes MESSAGE, the subscription header (sub_escaped: already
 * escaped with cn_stomp_escape), an ack header when ack_len > 0 (ack_escaped, also
 * escaped) and the shared tail, at buf + headroom. Returns the frame length or
 * CN_STOMP_E_NO_SPACE. Inline because it is the fan-out loop's whole body. */
static inline long cn_stomp_message_render(char *buf, size_t cap, size_t headroom,
                                           const char *sub_escaped, size_t sub_len,
                                           const char *ack_escaped, size_t ack_len,
                                           const char *shared, size_t shared_len)
{
    size_t n = cn_stomp_message_size(sub_len, ack_len, shared_len);
    if (headroom > cap || n > cap - headroom)
        return CN_STOMP_E_NO_SPACE;
    char *p = buf + headroom;
    memcpy(p, CN_STOMP__MSG_HEAD, CN_STOMP__MSG_HEAD_LEN);
    p += CN_STOMP__MSG_HEAD_LEN;
    memcpy(p, sub_escaped, sub_len);
    p += sub_len;
    *p++ = '\n';
    if (ack_len) {
        memcpy(p, "ack:", 4);
        memcpy(p + 4, ack_escaped, ack_len);
        p += 4 + ack_len;
        *p++ = '\n';
    }
    memcpy(p, shared, shared_len);
    return (long)n;
}

#endif
