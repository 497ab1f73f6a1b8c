/* Texts of the STOMP codec's error codes (see stomp_error.h). */
#include "proto/stomp_error.h"

const char *cn_stomp_strerror(int code)
{
    switch ((enum cn_stomp_error)code) {
    case CN_STOMP_E_FRAME_TOO_LARGE:
        return "frame too large (frame-size limit)";
    case CN_STOMP_E_TOO_MANY_HEADERS:
        return "too many headers (header-count limit)";
    case CN_STOMP_E_LINE_TOO_LONG:
        return "header line too long (header-line limit)";
    case CN_STOMP_E_BAD_COMMAND:
        return "unknown command";
    case CN_STOMP_E_BAD_HEADER:
        return "malformed header line";
    case CN_STOMP_E_BAD_ESCAPE:
        return "undefined escape sequence in header";
    case CN_STOMP_E_BAD_CONTENT_LENGTH:
        return "invalid content-length";
    case CN_STOMP_E_MISSING_NUL:
        return "frame body not terminated by NUL";
    case CN_STOMP_E_BODY_NOT_ALLOWED:
        return "this frame must not have a body";
    case CN_STOMP_E_BAD_EOL:
        return "CR not followed by LF";
    case CN_STOMP_E_BAD_HEARTBEAT:
        return "invalid heart-beat header";
    case CN_STOMP_E_NO_SPACE:
        return "output buffer too small";
    }
    return "unknown error";
}
