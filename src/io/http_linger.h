/* Lingering close, as nginx does it: a connection the server ends while the client
 * may still be sending (a body over http.max_body, a malformed chunked body) is not
 * closed at once, because closing a socket with unread input makes the kernel send a
 * reset, and a client still writing its body (Node's fetch, Python's http.client,
 * browsers; anything that does not wait for `100 Continue`) then loses the answer
 * that was already on its way and reports EPIPE or ECONNRESET instead.
 *
 * http_server.c writes its answer, hands a duplicate of the socket here and lets
 * libwebsockets close its own descriptor (which shuts down the sending side: the
 * client sees the answer, then end of stream). The duplicate keeps the socket open
 * and reads and discards what the client still sends, until the client closes, or
 * it has been idle for LINGER_IDLE_MS, or LINGER_TOTAL_MS have passed, or
 * LINGER_MAX_BYTES were discarded, whichever comes first.
 *
 * One lingerer per I/O thread, on that thread's libuv loop; I/O thread only.
 * Memory: the lingerer owns the descriptors it was given and their handles. */
#ifndef CN_IO_HTTP_LINGER_H
#define CN_IO_HTTP_LINGER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

enum {
    CN_LINGER_IDLE_MS = 2000,
    CN_LINGER_TOTAL_MS = 10000,
};
#define CN_LINGER_MAX_BYTES ((uint64_t)64 * 1024 * 1024)

struct cn_http_lingerer;

struct cn_http_lingerer *cn_http_lingerer_new(uv_loop_t *loop);

/* Takes fd (a connected socket whose answer has been written): drains it within
 * the bounds above, then closes it. Falls back to a plain close when the loop
 * cannot watch it. */
void cn_http_linger(struct cn_http_lingerer *l, int fd);

/* Connections lingering now. */
size_t cn_http_lingerer_count(const struct cn_http_lingerer *l);

/* Starts closing every lingering connection; the loop must run afterwards for the
 * closes to finish (the I/O thread's destroy_context does). Idempotent. */
void cn_http_lingerer_close_all(struct cn_http_lingerer *l);

/* Frees the lingerer once the loop has run the closes; NULL is a no-op. */
void cn_http_lingerer_free(struct cn_http_lingerer *l);

#endif
