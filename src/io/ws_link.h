/* The link between a WebSocket connection (owned by its I/O thread) and its
 * session actor (run by workers): the messages each side sends the other, and
 * the one piece of state they share.
 *
 * I/O thread -> session (cn_actor_send): CN_WS_IN_FRAME for every complete STOMP
 * frame, CN_WS_IN_PARSE_ERROR once when the parser fails (the transport reads
 * nothing more after it), CN_WS_IN_CLOSED once when the connection is gone,
 * whichever side closed it. After CLOSED the transport never sends again and has
 * dropped its reference to the actor.
 *
 * Session -> I/O thread (cn_ws_out_push): rendered bytes with LWS_PRE headroom,
 * addressed by connection id, appended to the connection's bounded outbound
 * queue; a message may ask to close the connection once it (and everything
 * before it) has been written. Messages for a connection that is gone, or sent
 * after the server closed, are freed unsent.
 *
 * Shared: struct cn_ws_rx counts received bytes (heart-beats included, which the
 * parser swallows), so the session can tell a silent client from a live one
 * without a message per heart-beat. Reference counted: the transport and the
 * session each hold one. */
#ifndef CN_IO_WS_LINK_H
#define CN_IO_WS_LINK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "actors/runtime/runtime.h"
#include "io/conn_guard.h"
#include "io/ws_counters.h"
#include "proto/prom_histogram.h"
#include "proto/stomp_frame.h"
#include "proto/stomp_parser.h"

struct cn_http_server;

/* Headroom in front of every outbound frame, for the WebSocket header the transport
 * writes there (libwebsockets' LWS_PRE in this build; ws_transport.c checks they
 * agree at compile time). */
#define CN_WS_PRE 16

/* Message types the session actor receives from the transport. */
enum {
    CN_WS_IN_FRAME = 0x5700,
    CN_WS_IN_PARSE_ERROR,
    CN_WS_IN_CLOSED,
};

/* The type of struct cn_ws_out on the I/O thread's inbox (set by cn_ws_out_push). */
#define CN_WS_OUT_MSG 0x5780

struct cn_ws_rx {
    atomic_uint refs;
    /* Incremented (relaxed) by the I/O thread per received chunk; read (relaxed)
     * by the session's heart-beat timer: only "did it change" matters. */
    atomic_uint_fast64_t chunks;
};

/* Where a session's output goes. Plain data, copied into the session. */
struct cn_ws_peer {
    struct cn_http_server *server;
    uint32_t thread;
    uint64_t conn_id;
    struct cn_ws_rx *rx; /* one reference, given to the session */
    /* The highest STOMP version the connection may speak, from the WebSocket
     * subprotocol chosen at the upgrade: 12, 11 or 10 (v12.stomp ...); 12 when the
     * client named none. The transport and the session both apply
     * cn_stomp_version_pick to CONNECT's accept-version with it, so both know when
     * the connection speaks 1.0 (no header escaping) without a message between them. */
    int stomp_max_minor;
    /* The client's address as the server saw it ("" when unknown), for the admin's
     * session listing. */
    char client_addr[64];
};

/* Opens the session actor of a new connection. Takes peer->rx (one reference) and
 * returns one actor reference, which the transport keeps until the connection
 * closes. Called on the I/O thread; must not block. */
typedef cn_actor *(*cn_ws_open_fn)(void *ctx, const struct cn_ws_peer *peer);

/* The WebSocket part of the server configuration. open_session NULL disables /ws. */
struct cn_ws_config {
    struct cn_stomp_limits limits; /* per-connection parser limits */
    size_t max_outbound;           /* bytes queued per connection; 0 = 1 MiB */
    int slow_close_s;              /* how long a slow consumer gets to read its ERROR; 0 = 2 */
    /* Dead peers (ws.* keys): a WebSocket PING after ping_interval_s without
     * anything received, a close when pong_timeout_s more pass without an answer;
     * TCP keepalive after tcp_keepalive_s idle. 0 = libwebsockets' defaults (ping)
     * or off (keepalive). */
    int ping_interval_s;
    int pong_timeout_s;
    int tcp_keepalive_s;
    cn_ws_open_fn open_session;
    void *open_ctx;
    struct cn_ws_counters *counters; /* borrowed; required with open_session */
    struct cn_conn_guard *guard;     /* borrowed; NULL: no node limits */
};

struct cn_ws_in_frame {
    cn_msg hdr;
    struct cn_stomp_frame *frame; /* cn_stomp_frame_clone; freed with the message */
};

struct cn_ws_in_error {
    cn_msg hdr;
    int code; /* negative enum cn_stomp_error */
};

struct cn_ws_in_closed {
    cn_msg hdr;
    int reason; /* enum cn_ws_close_reason as the transport saw it */
};

/* Outbound bytes: `len` bytes at data + CN_WS_PRE. One allocation. */
struct cn_ws_out {
    cn_msg hdr;
    uint64_t conn_id;
    struct cn_ws_out *qnext; /* the connection's queue, I/O thread only */
    size_t len;
    bool close_after; /* close once this has been written */
    /* Ephemeral (typing): refused when the connection's queue is already over half
     * its bound, so under pressure these go first and chat messages keep the room. */
    bool droppable;
    int close_reason; /* enum cn_ws_close_reason, when close_after */
    /* A live room message: the time (cn_now_ns) its room handed it out, and the
     * histogram (borrowed, outlives the server) the write adds its latency to; 0/NULL
     * for every other frame. */
    uint64_t born_ns;
    struct cn_prom_histo *latency;
    unsigned char data[];
};

/* Makes an outbound message with room for `len` bytes after CN_WS_PRE headroom
 * (data + CN_WS_PRE is where the frame goes). Cannot fail (OOM aborts). */
struct cn_ws_out *cn_ws_out_new(uint64_t conn_id, size_t len);

/* Hands `out` (taken) to the I/O thread of `peer` (borrowed), or frees it when the
 * server is closed (cn_http_server_close). Any thread, until the server is freed,
 * which happens after the actor runtime has shut down. */
void cn_ws_out_push(const struct cn_ws_peer *peer, struct cn_ws_out *out);

/* Drops one reference to rx; the last frees it. NULL is a no-op. Any thread. */
void cn_ws_rx_unref(struct cn_ws_rx *rx);

#endif
