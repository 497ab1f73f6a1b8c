/* STOMP 1.2 frames as the parser yields them: a command, decoded headers and a body.
 *
 * Everything here is a view: the pointers borrow from whoever produced the frame
 * (the parser's buffer, or the single allocation of cn_stomp_frame_clone). Header
 * names and values are decoded (escapes resolved) and NUL-terminated; the body is
 * NUL-terminated too, but may itself contain NUL bytes when the frame carried a
 * content-length, so always use body_len. */
#ifndef CN_PROTO_STOMP_FRAME_H
#define CN_PROTO_STOMP_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Every command of the specification, client and server side. */
enum cn_stomp_command {
    CN_STOMP_CONNECT = 1,
    CN_STOMP_STOMP,
    CN_STOMP_SEND,
    CN_STOMP_SUBSCRIBE,
    CN_STOMP_UNSUBSCRIBE,
    CN_STOMP_ACK,
    CN_STOMP_NACK,
    CN_STOMP_BEGIN,
    CN_STOMP_COMMIT,
    CN_STOMP_ABORT,
    CN_STOMP_DISCONNECT,
    CN_STOMP_CONNECTED,
    CN_STOMP_MESSAGE,
    CN_STOMP_RECEIPT,
    CN_STOMP_ERROR,
};

struct cn_stomp_header {
    const char *name;  /* decoded, NUL-terminated */
    const char *value; /* decoded, NUL-terminated; may be "" */
    uint32_t name_len;
    uint32_t value_len;
};

struct cn_stomp_frame {
    enum cn_stomp_command command;
    uint32_t nheaders;
    /* In wire order, repeats included; lookups return the first (the spec's rule). */
    const struct cn_stomp_header *headers;
    const char *body; /* never NULL; NUL-terminated; "" when there is no body */
    size_t body_len;
    bool has_content_length;
};

/* The wire name of a command ("SEND"), or "?" for a value outside the enum. */
const char *cn_stomp_command_name(enum cn_stomp_command cmd);

/* Maps a command name of `len` bytes (case-sensitive, as the spec says) to its enum,
 * or returns 0 when it is not a STOMP 1.2 command. */
enum cn_stomp_command cn_stomp_command_parse(const char *name, size_t len);

/* True for the commands that may carry a body: SEND, MESSAGE and ERROR. */
bool cn_stomp_command_allows_body(enum cn_stomp_command cmd);

/* True for CONNECT, STOMP and CONNECTED, whose headers are not escaped (spec, "Value
 * Encoding"). */
bool cn_stomp_command_is_raw(enum cn_stomp_command cmd);

/* The value of the first header called `name`, or NULL. Borrowed from the frame.
 * `len_out` may be NULL. */
const char *cn_stomp_frame_get(const struct cn_stomp_frame *f, const char *name, size_t *len_out);

/* Copies a frame into one allocation that holds the struct, the header array, every
 * string and the body, so the copy outlives the parser (e.g. to hand it to an actor).
 * Cannot fail (OOM aborts). The caller frees the result with free(). */
struct cn_stomp_frame *cn_stomp_frame_clone(const struct cn_stomp_frame *f);

#endif
