/* Error codes of the STOMP codec and their client-safe texts.
 *
 * Every STOMP function reports failure as one of these negative codes. The texts are
 * static, contain nothing from the peer, and may be sent verbatim in an ERROR frame's
 * `message` header. Limit errors name the limit that was exceeded. */
#ifndef CN_PROTO_STOMP_ERROR_H
#define CN_PROTO_STOMP_ERROR_H

enum cn_stomp_error {
    CN_STOMP_E_FRAME_TOO_LARGE = -1,    /* frame-size limit */
    CN_STOMP_E_TOO_MANY_HEADERS = -2,   /* header-count limit */
    CN_STOMP_E_LINE_TOO_LONG = -3,      /* header-line limit */
    CN_STOMP_E_BAD_COMMAND = -4,        /* not a STOMP 1.2 command */
    CN_STOMP_E_BAD_HEADER = -5,         /* no ':' or an empty header name */
    CN_STOMP_E_BAD_ESCAPE = -6,         /* an escape other than \r \n \c \\ */
    CN_STOMP_E_BAD_CONTENT_LENGTH = -7, /* not a decimal number */
    CN_STOMP_E_MISSING_NUL = -8,        /* content-length bytes not followed by NUL */
    CN_STOMP_E_BODY_NOT_ALLOWED = -9,   /* a body on a frame other than SEND/MESSAGE/ERROR */
    CN_STOMP_E_BAD_EOL = -10,           /* a CR that is not followed by LF between frames */
    CN_STOMP_E_BAD_HEARTBEAT = -11,     /* heart-beat header is not "cx,cy" */
    CN_STOMP_E_NO_SPACE = -12,          /* writer: the caller's buffer is too small */
};

/* The static text for a code; "unknown error" for anything else. Cannot fail. */
const char *cn_stomp_strerror(int code);

#endif
