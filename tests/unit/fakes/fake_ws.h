/* A fake of the WebSocket link (io/ws_link.h) for the session actor's unit tests: it
 * defines cn_ws_out_new, cn_ws_out_push and cn_ws_rx_unref, so a test that lists
 * $<TARGET_OBJECTS:cn_fake_ws> among its sources links them instead of the real
 * transport's. The test plays the transport: it opens a session with a peer made
 * here, sends it frames as the I/O thread would (CN_WS_IN_FRAME, CN_WS_IN_CLOSED),
 * and reads back, in order, what the session wrote to its socket.
 *
 * Threads: sessions write on workers; the test takes the output with fake_ws_next,
 * which waits on a condition with a deadline. Memory: an output returned by
 * fake_ws_next is the test's (free it with cn_msg_free). */
#ifndef CN_TESTS_UNIT_FAKE_WS_H
#define CN_TESTS_UNIT_FAKE_WS_H

#include <stddef.h>
#include <stdint.h>

#include "actors/runtime/runtime.h"
#include "io/ws_link.h"

/* A peer for connection `conn_id` with a fresh rx holding one reference (the one
 * cn_ws_open_fn takes). */
struct cn_ws_peer fake_ws_peer(uint64_t conn_id);

/* Sends `session` (borrowed) one frame, parsed from `text` (a whole STOMP frame
 * with its NUL; len bytes) as the transport would. Aborts the test program when the
 * text is not exactly one frame. Returns cn_actor_send's result. */
int fake_ws_send(cn_actor *session, const char *text, size_t len);

/* Sends `session` (borrowed) the transport's CN_WS_IN_CLOSED with `reason`. */
int fake_ws_closed(cn_actor *session, int reason);

/* Takes the oldest output written to conn_id, waiting up to timeout_ms. NULL when
 * none came in time. */
struct cn_ws_out *fake_ws_next(uint64_t conn_id, int timeout_ms);

/* Outputs written to conn_id and not taken yet. */
size_t fake_ws_pending(uint64_t conn_id);

/* The frame of an output (parsed from its bytes; free() it), or NULL for one that
 * holds no frame (a heart-beat, a bare close). */
struct cn_stomp_frame *fake_ws_frame(const struct cn_ws_out *o);

/* Frees every output not taken (between tests; no session may be writing). */
void fake_ws_reset(void);

#endif
