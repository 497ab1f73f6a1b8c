/* The HTTP/WebSocket front door: N I/O threads, each with its own libwebsockets
 * context and its own SO_REUSEPORT listening socket on the shared port. Accepted
 * sockets are adopted by the owning thread's context, so a connection (`wsi`)
 * is only ever touched by the thread that accepted it.
 *
 * Requests are answered by one handler function that the server calls on the
 * I/O thread; it must not block. A handler that needs the database answers
 * later: it marks the response deferred, hands the `cn_http_later` it was given
 * to an actor, and the actor calls cn_http_reply from its worker. The reply
 * travels through the I/O thread's inbox (one lws_cancel_service per burst) and
 * is dropped quietly if the client went away meanwhile.
 *
 * WebSocket upgrades on /ws (subprotocols v12.stomp, v11.stomp, or none) are
 * handed to ws_transport.c, which opens a session actor per connection through
 * cn_http_server_config.ws; sessions answer through cn_ws_out_push (ws_link.h).
 *
 * Shutdown, in this order: cn_http_server_stop_accepting, cn_http_server_close_sessions
 * (sessions are told, the I/O threads stop sending to actors), cn_http_server_close
 * (the I/O threads end, every connection closes; answers from actors are dropped from
 * then on), and once the actor runtime has shut down, cn_http_server_free.
 *
 * Memory: the server owns its threads, contexts and connections; close destroys
 * them, free the rest. The handler context is borrowed until close. */
#ifndef CN_IO_HTTP_SERVER_H
#define CN_IO_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/http_origin.h"
#include "io/trusted_proxies.h"
#include "io/ws_link.h"

struct cn_http_server;

struct cn_http_request {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* without the query string */
    const char *query;  /* after '?', or "" */
    const char *body;   /* NULL for bodiless requests */
    size_t body_len;
    const char *authorization; /* the Authorization header, or NULL */
    const char *content_type;  /* the Content-Type header, or NULL */
    /* The TCP peer's address as text ("127.0.0.1", "::1"), or "" when unknown.
     * Per-address limits key on it; a proxy in front makes it the proxy's. */
    const char *client_addr;
};

/* What a handler fills in. `body` is taken by the server (freed with free()). */
struct cn_http_response {
    int status;
    const char *content_type;  /* static string */
    const char *cache_control; /* static string; NULL: no-store */
    char *body;
    size_t body_len;
    bool deferred;     /* set by the handler: the answer comes later via cn_http_reply */
    int retry_after_s; /* > 0: a Retry-After header with these seconds (429, 503) */
    const char *allow; /* static string; non-NULL: an Allow header (OPTIONS, 405) */
    bool static_file;  /* a web client file: it gets the CSP and frame headers (http_origin.h) */
    /* The route template for the request metrics (http_metrics.h), a static string such
     * as "/api/rooms/{roomId}"; NULL: "other". A deferred answer keeps the one the
     * handler set when it deferred. */
    const char *route;
};

/* Where a deferred answer goes. Plain data: copy it freely; use it once. */
struct cn_http_later {
    struct cn_http_server *server;
    uint32_t thread;
    uint64_t id;
};

/* Handles one request on the I/O thread (borrowed: req lives for the call only).
 * Either fills resp, or sets resp->deferred and arranges for exactly one
 * cn_http_reply(later, ...) from any thread. */
typedef void (*cn_http_handler_fn)(void *ctx, const struct cn_http_request *req,
                                   struct cn_http_response *resp,
                                   const struct cn_http_later *later);

struct cn_http_server_config {
    const char *host;
    int port;
    int io_threads;
    size_t max_body; /* request bodies above this get 413 */
    /* Request headers (request line included) above this get 431; 0: 16 KiB.
     * libwebsockets' own header buffer is twice this: beyond it, it drops the
     * connection without an answer (logged at WARN). */
    size_t max_header_bytes;
    int request_timeout_s; /* a deferred request unanswered this long is closed */
    cn_http_handler_fn handler;
    void *handler_ctx;
    struct cn_ws_config ws; /* STOMP over WebSocket at /ws; all zero disables it */
    /* http.allowed_origins, borrowed until close; NULL: same origin and no Origin only. */
    const struct cn_http_origins *origins;
    /* http.tls_cert_file / http.tls_key_file, borrowed until free; NULL or "": plain
     * HTTP. Both set: HTTPS and WSS on the same port, TLS 1.2 and newer. */
    const char *tls_cert_file, *tls_key_file;
    /* http.trusted_proxies, borrowed until free; NULL: X-Forwarded-For is ignored. */
    const struct cn_trusted_proxies *trusted_proxies;
};

struct cn_http_server_stats {
    uint64_t connections_accepted;
    uint64_t requests;
    uint64_t responses_4xx;
    uint64_t responses_5xx;
    uint64_t replies_dropped; /* deferred answers whose client was gone */
};

struct cn_strbuf;

/* Binds every listening socket, then starts the threads. Returns NULL with a
 * reason in err (for example the port in use) and nothing left running. */
struct cn_http_server *cn_http_server_start(const struct cn_http_server_config *cfg, char *err,
                                            size_t errlen);

/* Answers a deferred request from any thread. Takes resp->body. If the client
 * has gone (or the request timed out, http.request_timeout), or the server is
 * closed, the answer is freed unsent (counted in replies_dropped). Any time until
 * cn_http_server_free. */
void cn_http_reply(const struct cn_http_later *later, struct cn_http_response *resp);

/* Fills resp with the standard JSON error body {"error":{"code","message"}}. Any
 * thread; cannot fail. */
void cn_http_error(struct cn_http_response *resp, int status, const char *code,
                   const char *message);

/* Re-reads http.tls_cert_file and http.tls_key_file and installs them on every I/O
 * thread for connections accepted from then on (open ones keep theirs). On success
 * returns 0 with the new certificate's subject and fingerprint in msg; on failure
 * (TLS off, a file missing or unreadable, a key that does not match, a thread that
 * did not confirm within 2 s) returns -1 with the reason in msg, and the old
 * certificate stays. Any thread but an I/O thread; reloads are serialised. */
int cn_http_server_tls_reload(struct cn_http_server *s, char *msg, size_t msglen);

/* Deferred requests that have not been answered yet, across all I/O threads. */
uint64_t cn_http_server_pending(struct cn_http_server *s);

/* Closes the listening sockets; connections already open go on. Any thread. */
void cn_http_server_stop_accepting(struct cn_http_server *s);

/* Closes every WebSocket connection (each session is told, reason shutdown) and
 * makes the I/O threads refuse new upgrades and stop sending to actors. Waits at
 * most timeout_ms for every I/O thread to confirm; returns false when one did
 * not (the runtime must then not be shut down under it). Any thread but an I/O
 * thread; call it before the actor runtime shuts down. */
bool cn_http_server_close_sessions(struct cn_http_server *s, uint64_t timeout_ms);

/* Copies the counters. Any thread. */
void cn_http_server_stats(struct cn_http_server *s, struct cn_http_server_stats *out);

/* Appends chat_http_requests_total and chat_http_request_duration_seconds by route,
 * method and status class (http_metrics.h). Any thread until cn_http_server_free. */
void cn_http_server_metrics_render(struct cn_http_server *s, struct cn_strbuf *b);

/* cn_http_server_close: stops accepting, ends the I/O threads (each destroys its
 * context: every connection closes, a deferred request still unanswered gets no
 * answer, a WebSocket still open tells its session and drops the actor reference),
 * and from then on drops whatever cn_http_reply and cn_ws_out_push bring. The memory
 * stays: actors may keep calling those two, any thread may read the stats and
 * cn_http_server_pending. Call it while the actor runtime runs (closing connections
 * tell their sessions). Owner thread, never an I/O thread; idempotent; NULL is a
 * no-op. Cannot fail.
 *
 * cn_http_server_free: frees everything, answers that arrived after the close
 * included. The caller makes sure no thread can call into the server any more (the
 * actor runtime has shut down). A server not closed yet is closed first, which is
 * right only while the runtime still runs (closing connections tell their sessions).
 * Owner thread; NULL is a no-op. Cannot fail. */
void cn_http_server_close(struct cn_http_server *s);
void cn_http_server_free(struct cn_http_server *s);

#endif
