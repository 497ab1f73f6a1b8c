/* WebSocket framing for chat-bench's client side (RFC 6455), bytes in, bytes out.
 *
 * The load generator speaks WebSocket itself over non-blocking sockets so that one
 * thread can drive thousands of sessions with epoll and no per-connection library
 * state; the server side of the product uses libwebsockets. Pure: no I/O, no
 * globals. */
#ifndef CN_BENCH_WS_FRAME_H
#define CN_BENCH_WS_FRAME_H

#include <stddef.h>
#include <stdint.h>

enum {
    WS_OP_CONT = 0,
    WS_OP_TEXT = 1,
    WS_OP_BINARY = 2,
    WS_OP_CLOSE = 8,
    WS_OP_PING = 9,
    WS_OP_PONG = 10
};

/* Longest header a client frame needs: 2 + 8 (length) + 4 (mask). */
#define WS_CLIENT_HDR_MAX 14

/* Writes the header of a final client frame with opcode `op` carrying `len` bytes into
 * `out` (at least WS_CLIENT_HDR_MAX bytes) and returns its size. The mask key is zero:
 * RFC 6455 wants an unpredictable key to protect intermediaries that cache, and there
 * are none on loopback; a zero key leaves the payload as it is, which saves the
 * generator an XOR pass over every byte. Cannot fail. */
size_t ws_client_header(uint8_t *out, int op, size_t len);

struct ws_frame_view {
    int op;
    int fin;
    const uint8_t *payload; /* borrowed from the input */
    size_t len;
};

/* Reads one server frame (unmasked) from `buf`. Returns the bytes it took, 0 when the
 * frame is not complete yet, or -1 when the frame is malformed (masked, reserved bits,
 * a 64-bit length over 2^31). */
long ws_server_frame(const uint8_t *buf, size_t n, struct ws_frame_view *f);

#endif
