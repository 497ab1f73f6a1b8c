/* The HTTP/WebSocket front door; see http_server.h.
 *
 * Each I/O thread owns one lws context with one vhost that does not listen by
 * itself. The thread's SO_REUSEPORT socket is adopted into that vhost as a raw
 * file descriptor; when it is readable, the thread accepts and hands each new
 * socket to lws with lws_adopt_socket_vhost, which serves it as HTTP or upgrades
 * it to WebSocket on /ws (ws_transport.c takes those connections over). Other
 * threads talk to an I/O thread only through its atomic `state` and its inbox,
 * plus lws_cancel_service, which wakes its poll loop.
 *
 * Closing while actors still push: cn_http_server_close joins the I/O threads, whose
 * contexts die with them, while actors may still call cn_http_reply or
 * cn_ws_out_push (until the runtime has shut down). Those find `closed` and drop
 * their message; one that raced past the check lands in an inbox that stays valid
 * until cn_http_server_free, and its wake-up, the one thing that touches a context,
 * is fenced: a waker announces itself in `wakers` before it looks at `closed`, and
 * close sets `closed` before it waits for `wakers` to reach zero (both seq_cst, so
 * one of the two sees the other). */
/* Before libwebsockets.h, which declares lws_uv_getloop only when uv.h came first. */
#include <uv.h>

#include "http_server.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "actors/runtime/inbox.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/u64map.h"
#include "base/xmalloc.h"
#include "io/http_chunked.h"
#include "io/http_linger.h"
#include "io/http_metrics.h"
#include "io/http_options.h"
#include "io/http_status.h"
#include "io/listen_socket.h"
#include "io/tls_certs.h"
#include "io/ws_transport.h"

enum io_state { IO_RUNNING = 0, IO_STOP_ACCEPTING, IO_EXIT };

struct io_thread {
    struct cn_http_server *srv;
    int index;
    int listen_fd; /* owned until adopted by lws, then lws closes it */
    struct lws_context *ctx;
    /* The thread's libuv loop, ours ("foreign" to lws): lws joins it, and we run
     * it and close it after lws has let go of it. */
    uv_loop_t loop;
    bool loop_ready;
    /* A copy of ctx that lws sets to NULL once the context is freed
     * (info.pcontext): with a foreign loop, freeing takes a second
     * lws_context_destroy after the loop has run the closes. */
    struct lws_context *ctx_alive;
    struct lws_vhost *vh;
    struct lws *listen_wsi; /* I/O thread only */
    pthread_t thread;
    bool thread_started;
    /* Written by other threads with release, read by the I/O thread with
     * acquire after lws_cancel_service wakes it. */
    atomic_int state;
    /* Deferred answers from actors; drained by this thread on every wake-up. */
    cn_inbox replies;
    /* Deferred requests waiting for their answer: id -> wsi. I/O thread only. */
    struct cn_u64map waiting;
    uint64_t next_id;
    struct cn__ws_thread *ws;        /* WebSocket connections; I/O thread only */
    struct cn_http_lingerer *linger; /* connections closing slowly; I/O thread only */
    lws_retry_bo_t retry;            /* the vhost's ping policy; lives as long as the vhost */
    /* This thread's copy of `protocols`: the WebSocket upgrade renames entries of
     * it for a moment (ws_transport.c), so no two threads may share one. */
    struct lws_protocols protocols[6];
    /* cn_http_server_close_sessions: asked (release, by the stopping thread) and
     * done (release, by this thread once it will never send to an actor again). */
    atomic_bool ws_close_asked, ws_close_done;
    /* Threads inside wake_io_thread; seq_cst, paired with the server's `closed`. */
    atomic_uint wakers;
    /* Release store by cn_http_server_close once its own lws_cancel_service has
     * returned, acquire load by this thread before it destroys its context. */
    atomic_bool exit_woken;
    /* TLS: the vhost's SSL_CTX (lws hands it over while creating the vhost), and
     * the certificate generation this thread installed (release by this thread,
     * acquire by the reloader), with the outcome in tls_ok. */
    void *ssl_ctx;
    atomic_uint tls_applied;
    atomic_bool tls_ok;
};

/* A deferred answer on its way to the I/O thread. */
struct reply_msg {
    cn_msg hdr;
    uint64_t id;
    struct cn_http_response resp;
};

static void reply_msg_free(cn_msg *m)
{
    struct reply_msg *r = (struct reply_msg *)m;
    free(r->resp.body);
    free(r);
}

struct cn_http_server {
    struct cn_http_server_config cfg;
    struct io_thread *threads;
    int n;
    /* Counters: relaxed, they publish nothing but themselves. */
    atomic_uint_fast64_t accepted, requests, r4xx, r5xx, dropped, pending;
    struct cn_http_metrics *metrics; /* by route, method and status class */
    /* Set (seq_cst) by cn_http_server_close: answers are dropped from then on. */
    atomic_bool closed;
    bool joined; /* owner thread: cn_http_server_close has joined the I/O threads */
    bool tls;    /* http.tls_cert_file and http.tls_key_file are set */
    /* The certificate to install, generation tls_gen: replaced by a reload under
     * tls_mu, read by each I/O thread under tls_mu as it installs it. reload_mu
     * serialises reloads. */
    pthread_mutex_t tls_mu, reload_mu;
    struct cn_tls_certs *certs;
    atomic_uint tls_gen;
    /* Given to every TLS vhost as its client context, so that libwebsockets makes
     * none (it would leak all but one of them: tls_certs.h). Freed after the
     * contexts. */
    void *client_ssl_ctx;
};

/* Per connection, reset at the start of every request on a keep-alive connection.
 * Held as the wsi's opaque user data rather than lws's per-session data, which lws
 * frees by itself between the requests of a keep-alive connection (without
 * telling us, so what the struct points to would leak). Freed on close. */
struct http_pss {
    int kind; /* 0; a WebSocket connection's state starts with another value */
    char method[8];
    char path[512];
    char query[1024];
    char *authorization;
    char *content_type;
    char client_addr[64];
    char *body;
    size_t body_len;
    bool body_too_large;
    bool head;       /* a HEAD request: answered as GET, without the body */
    bool keep_alive; /* the client keeps the connection for another request */
    bool chunked;    /* the body comes chunked: decoded by `chunk` */
    struct cn_chunked chunk;
    uint8_t *out; /* LWS_PRE headroom + response headers and body */
    size_t out_len;
    bool responding;
    bool responded;      /* this transaction has its answer; later body bytes are ignored */
    bool close_after;    /* the connection cannot carry another request: close after the answer */
    bool linger;         /* the client may still be sending: a lingering close (http_linger.h) */
    uint64_t waiting_id; /* non-zero while a deferred answer is awaited */
    uint64_t start_ns;   /* the request line arrived (monotonic): the duration metric */
    const char *route;   /* the handler's route template (static), for a deferred answer */
    char *origin;        /* the Origin header, or NULL (http_origin.h) */
    uint8_t origin_verdict;
    bool preflight; /* OPTIONS with an Origin: answered here (CORS) */
};

static struct io_thread *thread_of(struct lws *wsi);

/* The thread whose vhost create_context is creating (set on the starting thread
 * around lws_create_vhost), for the SSL_CTX lws hands over meanwhile. */
static _Thread_local struct io_thread *creating_thread;

/* Set by lws_log_emit when lws gives up on a request's headers (its buffer is
 * full); the close of that connection, which follows on the same thread before lws
 * parses anything else, logs it with the peer's address. */
static _Thread_local bool header_overflow;

/* lws's header buffer: twice the limit (see cn_http_server_config.max_header_bytes). */
static size_t header_buffer_bytes(const struct cn_http_server_config *cfg)
{
    return 2 * cfg->max_header_bytes + 1024;
}

static void forget_waiting(struct io_thread *t, struct http_pss *pss)
{
    if (!pss->waiting_id)
        return;
    cn_u64map_del(&t->waiting, pss->waiting_id);
    pss->waiting_id = 0;
    atomic_fetch_sub_explicit(&t->srv->pending, 1, memory_order_relaxed);
}

static void pss_reset(struct lws *wsi, struct http_pss *pss)
{
    forget_waiting(thread_of(wsi), pss);
    free(pss->authorization);
    free(pss->content_type);
    free(pss->origin);
    free(pss->body);
    free(pss->out);
    /* The peer's address outlives the request: a connection that fails between two
     * requests (headers too large for lws) is logged with it. */
    char addr[sizeof pss->client_addr];
    memcpy(addr, pss->client_addr, sizeof addr);
    memset(pss, 0, sizeof *pss);
    memcpy(pss->client_addr, addr, sizeof addr);
}

static struct io_thread *thread_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

void cn__http_client_addr(struct lws *wsi, char *out, size_t outlen)
{
    char peer[64];
    if (!lws_get_peer_simple(wsi, peer, sizeof peer))
        peer[0] = '\0';
    const struct cn_trusted_proxies *tp = thread_of(wsi)->srv->cfg.trusted_proxies;
    char xff[1024];
    /* An absent (or longer than 1 KiB) header: the peer it is. */
    if (!tp || lws_hdr_copy(wsi, xff, sizeof xff, WSI_TOKEN_X_FORWARDED_FOR) <= 0) {
        snprintf(out, outlen, "%s", peer);
        return;
    }
    cn_trusted_proxies_client_addr(tp, peer, xff, out, outlen);
}

static const char *json_ctype = "application/json";

static char *error_json(const char *code, const char *message, size_t *len)
{
    char *b = cn_xmalloc(256);
    int n = snprintf(b, 256, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, message);
    *len = (size_t)n;
    return b;
}

/* The browser safety and CORS headers (http_origin.h). Returns non-zero when they do
 * not fit. */
static int add_safety_headers(struct lws *wsi, const struct http_pss *pss,
                              const struct cn_http_response *resp, uint8_t **p, uint8_t *end)
{
    struct cn_http_extra_header h[CN_HTTP_EXTRA_HEADERS_MAX];
    enum cn_http_answer_kind kind = pss->preflight      ? CN_ANSWER_PREFLIGHT
                                    : resp->static_file ? CN_ANSWER_STATIC
                                                        : CN_ANSWER_API;
    size_t n =
        cn_http_origin_headers(kind, pss->origin, (enum cn_origin_verdict)pss->origin_verdict, h);
    for (size_t i = 0; i < n; i++)
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)h[i].name,
                                        (const unsigned char *)h[i].value, (int)strlen(h[i].value),
                                        p, end))
            return -1;
    return 0;
}

/* Renders the status line and headers, and queues them with the body for the
 * writeable callback, which sends both in one write: three small writes per answer
 * cost a third of the I/O thread's time (docs/PERFORMANCE.md, REST). Takes
 * resp->body. Returns -1 when the connection must close. */
static int respond(struct lws *wsi, struct http_pss *pss, struct cn_http_response *resp)
{
    struct io_thread *t = thread_of(wsi);
    if (resp->status >= 500)
        atomic_fetch_add_explicit(&t->srv->r5xx, 1, memory_order_relaxed);
    else if (resp->status >= 400)
        atomic_fetch_add_explicit(&t->srv->r4xx, 1, memory_order_relaxed);
    uint64_t now = cn_now_ns();
    cn_http_metrics_observe(t->srv->metrics, resp->route ? resp->route : pss->route,
                            pss->method[0] ? pss->method : NULL, resp->status,
                            pss->start_ns && now > pss->start_ns ? now - pss->start_ns : 0);

    uint8_t hdr[LWS_PRE + 2048];
    uint8_t *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof hdr - 1;
    const char *cache = resp->cache_control ? resp->cache_control : "no-store";
    /* The status line is ours: lws leaves the reason phrase empty for most codes. */
    char status[64], retry[16], clen[24];
    int status_len = snprintf(status, sizeof status, "HTTP/1.1 %d %s", resp->status,
                              cn_http_reason(resp->status));
    int retry_len =
        resp->retry_after_s > 0 ? snprintf(retry, sizeof retry, "%d", resp->retry_after_s) : 0;
    int clen_len = snprintf(clen, sizeof clen, "%zu", resp->body_len);
    /* 1xx and 204 carry no Content-Length (RFC 9110, 8.6); HEAD names the GET's. */
    bool no_length = resp->status < 200 || resp->status == 204;
    bool closing = pss->close_after || pss->linger || !pss->keep_alive;
    const char *conn = closing ? "close" : "keep-alive";
    if (lws_add_http_header_by_name(wsi, NULL, (const unsigned char *)status, status_len, &p,
                                    end) ||
        (resp->content_type &&
         lws_add_http_header_by_name(
             wsi, (const unsigned char *)"content-type:", (const unsigned char *)resp->content_type,
             (int)strlen(resp->content_type), &p, end)) ||
        (!no_length &&
         lws_add_http_header_by_name(wsi, (const unsigned char *)"content-length:",
                                     (const unsigned char *)clen, clen_len, &p, end)) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"connection:",
                                    (const unsigned char *)conn, (int)strlen(conn), &p, end) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                    (const unsigned char *)cache, (int)strlen(cache), &p, end) ||
        (retry_len > 0 &&
         lws_add_http_header_by_name(wsi, (const unsigned char *)"retry-after:",
                                     (const unsigned char *)retry, retry_len, &p, end)) ||
        (resp->allow && lws_add_http_header_by_name(wsi, (const unsigned char *)"allow:",
                                                    (const unsigned char *)resp->allow,
                                                    (int)strlen(resp->allow), &p, end)) ||
        add_safety_headers(wsi, pss, resp, &p, end) || lws_finalize_http_header(wsi, &p, end)) {
        free(resp->body);
        return -1;
    }
    size_t hlen = (size_t)(p - start);
    size_t blen = pss->head || no_length ? 0 : resp->body_len;
    pss->out = cn_xmalloc(LWS_PRE + hlen + blen + 1);
    memcpy(pss->out + LWS_PRE, start, hlen);
    if (blen)
        memcpy(pss->out + LWS_PRE + hlen, resp->body, blen);
    pss->out_len = hlen + blen;
    pss->responding = true;
    pss->responded = true;
    free(resp->body);
    lws_callback_on_writable(wsi);
    return 0;
}

/* Answers a request the server itself refuses (the client's fault: malformed, too
 * large), logged at WARN with the peer's address. The connection closes after the
 * answer, slowly (http_linger.h), as the client may still be sending. */
static int client_fault(struct lws *wsi, struct http_pss *pss, int status, const char *code,
                        const char *message)
{
    CN_WARN("http", "%s: %s %s: %d %s (%s)", pss->client_addr[0] ? pss->client_addr : "?",
            pss->method[0] ? pss->method : "-", pss->path[0] ? pss->path : "-", status,
            cn_http_reason(status), message);
    atomic_fetch_add_explicit(&thread_of(wsi)->srv->requests, 1, memory_order_relaxed);
    pss->linger = true;
    struct cn_http_response resp = {.status = status, .content_type = json_ctype};
    resp.body = error_json(code, message, &resp.body_len);
    return respond(wsi, pss, &resp);
}

/* A CORS preflight: 204 with the Access-Control-* headers for an allowed Origin (the
 * node's own included), 403 otherwise. */
static void answer_preflight(struct http_pss *pss, struct cn_http_response *resp)
{
    if (pss->origin_verdict == CN_ORIGIN_DENIED) {
        resp->status = 403;
        resp->content_type = json_ctype;
        resp->body =
            error_json("ORIGIN_NOT_ALLOWED", "this Origin may not use the API", &resp->body_len);
        return;
    }
    pss->origin_verdict = CN_ORIGIN_ALLOWED;
    resp->status = 204;
}

static int dispatch(struct lws *wsi, struct http_pss *pss)
{
    struct io_thread *t = thread_of(wsi);
    struct cn_http_response resp = {0};
    /* lws may report the end of a request twice (an empty POST body is both
     * "Content-Length: 0" in LWS_CALLBACK_HTTP and a BODY_COMPLETION): one answer. */
    if (pss->responded || pss->waiting_id)
        return 0;
    if (pss->body_too_large) {
        /* The rest of the body may still be on its way: the connection cannot
         * carry another request, and closes slowly so the client sees this. */
        return client_fault(wsi, pss, 413, "PAYLOAD_TOO_LARGE", "request body is too large");
    }
    atomic_fetch_add_explicit(&t->srv->requests, 1, memory_order_relaxed);
    if (pss->preflight) {
        answer_preflight(pss, &resp);
    } else if (strcmp(pss->method, "OPTIONS") == 0) {
        struct cn_http_request req = {.method = pss->method,
                                      .path = pss->path,
                                      .query = pss->query,
                                      .client_addr = pss->client_addr};
        cn_http_options_answer(&req, &resp);
    } else {
        /* HEAD is GET without the body (RFC 9110, 9.3.2): respond() drops it. */
        struct cn_http_request req = {pss->head ? "GET" : pss->method,
                                      pss->path,
                                      pss->query,
                                      pss->body,
                                      pss->body_len,
                                      pss->authorization,
                                      pss->content_type,
                                      pss->client_addr};
        struct cn_http_later later = {t->srv, (uint32_t)t->index,
                                      ((uint64_t)(t->index + 1) << 48) | ++t->next_id};
        t->srv->cfg.handler(t->srv->cfg.handler_ctx, &req, &resp, &later);
        if (resp.deferred) {
            pss->route = resp.route;
            pss->waiting_id = later.id;
            cn_u64map_put(&t->waiting, later.id, wsi);
            atomic_fetch_add_explicit(&t->srv->pending, 1, memory_order_relaxed);
            /* A handler that never answers must not pin the connection forever. */
            lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, t->srv->cfg.request_timeout_s);
            return 0;
        }
    }
    return respond(wsi, pss, &resp);
}

static const struct {
    enum lws_token_indexes token;
    const char *method;
    bool has_body;
} methods[] = {
    {WSI_TOKEN_GET_URI, "GET", false},         {WSI_TOKEN_POST_URI, "POST", true},
    {WSI_TOKEN_PUT_URI, "PUT", true},          {WSI_TOKEN_PATCH_URI, "PATCH", true},
    {WSI_TOKEN_DELETE_URI, "DELETE", false},   {WSI_TOKEN_HEAD_URI, "HEAD", false},
    {WSI_TOKEN_OPTIONS_URI, "OPTIONS", false},
};

/* Copies a header of at most 8 KiB, or returns NULL when absent or longer. */
static char *copy_header(struct lws *wsi, enum lws_token_indexes token)
{
    int len = lws_hdr_total_length(wsi, token);
    if (len <= 0 || len > 8192)
        return NULL;
    char *v = cn_xmalloc((size_t)len + 1);
    if (lws_hdr_copy(wsi, v, len + 1, token) < 0) {
        free(v);
        return NULL;
    }
    return v;
}

/* The bytes of the request line and headers lws kept: the sum of the headers it
 * knows (Host, Cookie, Authorization, ...). lws keeps headers it does not know in
 * the same buffer without a way to list them, so those count only against the
 * buffer's hard edge (twice the limit; see cn_http_server_config.max_header_bytes). */
static size_t header_bytes(struct lws *wsi)
{
    size_t n = 0;
    for (int tok = 0; tok < WSI_TOKEN_COUNT; tok++) {
        int len = lws_hdr_total_length(wsi, (enum lws_token_indexes)tok);
        if (len > 0)
            n += (size_t)len + 4; /* ": " and CRLF, roughly the name's share too */
    }
    return n;
}

/* Whether the header's comma-separated tokens include `want` (case-insensitive). */
static bool header_has_token(struct lws *wsi, enum lws_token_indexes token, const char *want)
{
    char v[256];
    if (lws_hdr_copy(wsi, v, sizeof v, token) <= 0)
        return false;
    size_t wl = strlen(want);
    for (char *p = v; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        char *e = p;
        while (*e && *e != ',')
            e++;
        char *t = e;
        while (t > p && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        if ((size_t)(t - p) == wl && strncasecmp(p, want, wl) == 0)
            return true;
        p = e;
    }
    return false;
}

/* HTTP/1.1 keeps the connection unless the client says close; HTTP/1.0 closes
 * unless the client asks for keep-alive. */
static bool wants_keep_alive(struct lws *wsi)
{
    char ver[16];
    bool http10 =
        lws_hdr_copy(wsi, ver, sizeof ver, WSI_TOKEN_HTTP) > 0 && strcmp(ver, "HTTP/1.0") == 0;
    if (header_has_token(wsi, WSI_TOKEN_CONNECTION, "close"))
        return false;
    return !http10 || header_has_token(wsi, WSI_TOKEN_CONNECTION, "keep-alive");
}

/* `Expect: 100-continue`: tell the client to send the body we are about to read
 * (curl otherwise waits a second before it sends a large or chunked body). */
static void send_continue(struct lws *wsi)
{
    char v[32];
    if (lws_hdr_copy(wsi, v, sizeof v, WSI_TOKEN_HTTP_EXPECT) <= 0 &&
        lws_hdr_custom_copy(wsi, v, sizeof v, "expect:", 7) <= 0)
        return;
    if (strcasecmp(v, "100-continue") != 0 || lws_partial_buffered(wsi))
        return;
    static const char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
    /* Nothing else is being written on this connection now, and 25 bytes fit any
     * socket buffer: a plain send cannot interleave with lws's writes. */
    cn_tls_raw_send(wsi, line, sizeof line - 1);
}

/* The Origin's verdict (http_origin.h); an Origin longer than any allowed one is
 * refused as such, and never echoed. */
static void judge_origin(struct lws *wsi, struct http_pss *pss)
{
    if (lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) <= 0) {
        pss->origin_verdict = CN_ORIGIN_NONE;
    } else if (lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) > 255) {
        pss->origin_verdict = CN_ORIGIN_DENIED;
    } else {
        pss->origin = copy_header(wsi, WSI_TOKEN_ORIGIN);
        char *host = copy_header(wsi, WSI_TOKEN_HOST);
        pss->origin_verdict =
            (uint8_t)cn_http_origin_check(thread_of(wsi)->srv->cfg.origins, pss->origin, host);
        free(host);
    }
    pss->preflight = strcmp(pss->method, "OPTIONS") == 0 && pss->origin_verdict != CN_ORIGIN_NONE;
}

static int on_http(struct lws *wsi, struct http_pss *pss)
{
    pss_reset(wsi, pss);
    pss->start_ns = cn_now_ns();
    bool has_body = false;
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        if (lws_hdr_total_length(wsi, methods[i].token) > 0) {
            snprintf(pss->method, sizeof pss->method, "%s", methods[i].method);
            if (lws_hdr_copy(wsi, pss->path, sizeof pss->path, methods[i].token) < 0)
                pss->path[0] = '\0';
            has_body = methods[i].has_body;
            break;
        }
    }
    pss->head = strcmp(pss->method, "HEAD") == 0;
    pss->keep_alive = wants_keep_alive(wsi);
    /* lws keeps each `k=v` of the query string as a fragment: join them with '&'. */
    size_t qlen = 0;
    for (int frag = 0; qlen + 1 < sizeof pss->query; frag++) {
        int n = lws_hdr_copy_fragment(wsi, pss->query + qlen, (int)(sizeof pss->query - qlen),
                                      WSI_TOKEN_HTTP_URI_ARGS, frag);
        if (n < 0)
            break;
        qlen += (size_t)n;
        if (qlen + 1 < sizeof pss->query)
            pss->query[qlen++] = '&';
    }
    pss->query[qlen ? qlen - 1 : 0] = '\0';
    cn__http_client_addr(wsi, pss->client_addr, sizeof pss->client_addr);
    const struct cn_http_server_config *cfg = &thread_of(wsi)->srv->cfg;
    if (header_bytes(wsi) > cfg->max_header_bytes)
        return client_fault(wsi, pss, 431, "HEADERS_TOO_LARGE", "request headers are too large");
    if (!pss->method[0])
        return client_fault(wsi, pss, 501, "NOT_IMPLEMENTED", "unsupported method");
    pss->authorization = copy_header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    pss->content_type = copy_header(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE);
    judge_origin(wsi, pss);

    char cl[24], te[64];
    bool has_cl = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0;
    bool has_te = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0;
    if (has_cl && has_te)
        /* Ambiguous framing, the stuff of request smuggling (RFC 9112, 6.3). */
        return client_fault(wsi, pss, 400, "BAD_REQUEST",
                            "both Content-Length and Transfer-Encoding");
    long long declared = -1;
    if (has_cl) {
        char *endp = NULL;
        int n = lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH);
        errno = 0;
        declared = n > 0 ? strtoll(cl, &endp, 10) : -1;
        if (n <= 0 || cl[0] < '0' || cl[0] > '9' || *endp || errno || declared < 0)
            return client_fault(wsi, pss, 400, "BAD_REQUEST", "invalid Content-Length");
    }
    if (has_te) {
        if (lws_hdr_copy(wsi, te, sizeof te, WSI_TOKEN_HTTP_TRANSFER_ENCODING) <= 0 ||
            strcasecmp(te, "chunked") != 0)
            return client_fault(wsi, pss, 501, "NOT_IMPLEMENTED",
                                "unsupported Transfer-Encoding (only chunked)");
        if (!has_body)
            return client_fault(wsi, pss, 400, "BAD_REQUEST", "a body on a bodiless method");
        /* lws 4.1 passes a chunked body on undecoded, as if it were 100 MiB long, and
         * then takes whatever follows for more body: decode it here, and close after
         * the answer. */
        pss->chunked = true;
        pss->close_after = true;
        cn_chunked_init(&pss->chunk, cfg->max_body);
        send_continue(wsi);
        return 0; /* the body follows in LWS_CALLBACK_HTTP_BODY */
    }
    if (!has_body)
        return dispatch(wsi, pss); /* a declared body is read and dropped by lws */
    if (declared > (long long)cfg->max_body) {
        /* Refuse before reading a byte of it: the size is only a claim. */
        pss->body_too_large = true;
        return dispatch(wsi, pss);
    }
    if (declared < 0) {
        /* No length and not chunked: no body (RFC 9112, 6.3). lws 4.1 waits for one
         * of 100 MiB instead, and would take the next request for it: answer now,
         * and close after the answer. */
        pss->close_after = true;
        return dispatch(wsi, pss);
    }
    if (declared == 0)
        return dispatch(wsi, pss);
    send_continue(wsi);
    return 0; /* the body follows in LWS_CALLBACK_HTTP_BODY */
}

static int on_body(struct lws *wsi, struct http_pss *pss, const void *in, size_t len)
{
    size_t max = thread_of(wsi)->srv->cfg.max_body;
    if (len == 0 || pss->responded || pss->waiting_id)
        return 0; /* lws reports an empty body as (NULL, 0); bytes after an answer go */
    if (pss->chunked) {
        switch (cn_chunked_feed(&pss->chunk, in, len, &pss->body, &pss->body_len, NULL)) {
        case CN_CHUNKED_MORE:
            return 0;
        case CN_CHUNKED_DONE:
            return dispatch(wsi, pss);
        case CN_CHUNKED_TOO_LARGE:
            pss->body_too_large = true;
            return dispatch(wsi, pss);
        case CN_CHUNKED_BAD:
            return client_fault(wsi, pss, 400, "BAD_REQUEST", "malformed chunked body");
        }
        return 0;
    }
    if (pss->body_too_large || pss->body_len + len > max) {
        pss->body_too_large = true;
        return 0;
    }
    pss->body = cn_xrealloc(pss->body, pss->body_len + len + 1);
    memcpy(pss->body + pss->body_len, in, len);
    pss->body_len += len;
    pss->body[pss->body_len] = '\0';
    return 0;
}

static int on_writeable(struct lws *wsi, struct http_pss *pss)
{
    if (!pss->responding)
        return 0;
    /* Headers and body go as LWS_WRITE_HTTP_HEADERS: lws sends them as they are
     * (HTTP/1.1 only: this server speaks no HTTP/2). */
    if (lws_write(wsi, pss->out + LWS_PRE, pss->out_len, LWS_WRITE_HTTP_HEADERS) !=
        (int)pss->out_len)
        return -1;
    free(pss->out);
    pss->out = NULL;
    pss->responding = false;
    if (pss->linger) {
        /* lws closes its descriptor when we return -1 (after shutting down our
         * sending side: the client reads the answer, then end of stream); the
         * duplicate drains what the client still sends, so it gets no reset. */
        int fd = fcntl(lws_get_socket_fd(wsi), F_DUPFD_CLOEXEC, 0);
        if (fd >= 0)
            cn_http_linger(thread_of(wsi)->linger, fd);
        return -1;
    }
    if (pss->close_after || !pss->keep_alive || lws_http_transaction_completed(wsi))
        return -1;
    return 0;
}

static void deliver_reply(void *ctx, cn_msg *m)
{
    struct io_thread *t = ctx;
    if (m->type == CN_WS_OUT_MSG) {
        cn__ws_deliver(t->ws, (struct cn_ws_out *)m);
        return;
    }
    struct reply_msg *r = (struct reply_msg *)m;
    struct lws *wsi = cn_u64map_get(&t->waiting, r->id);
    if (!wsi) {
        /* The client left or the request timed out: nobody to answer. */
        atomic_fetch_add_explicit(&t->srv->dropped, 1, memory_order_relaxed);
        cn_msg_free(m);
        return;
    }
    struct http_pss *pss = lws_get_opaque_user_data(wsi);
    forget_waiting(t, pss);
    lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
    struct cn_http_response resp = r->resp;
    r->resp.body = NULL; /* respond takes it */
    cn_msg_free(m);
    if (respond(wsi, pss, &resp) != 0)
        lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

/* A reload asked for a new certificate generation: install it on this thread's
 * SSL_CTX, between two connections (OpenSSL's SSL_CTX is not to be changed while
 * another thread creates connections from it; here nobody else does). */
static void apply_tls(struct io_thread *t)
{
    struct cn_http_server *s = t->srv;
    unsigned gen = atomic_load_explicit(&s->tls_gen, memory_order_acquire);
    if (!t->ssl_ctx || atomic_load_explicit(&t->tls_applied, memory_order_relaxed) == gen)
        return;
    char err[256];
    pthread_mutex_lock(&s->tls_mu);
    gen = atomic_load_explicit(&s->tls_gen, memory_order_relaxed);
    bool ok = cn_tls_certs_apply(s->certs, t->ssl_ctx, err, sizeof err) == 0;
    pthread_mutex_unlock(&s->tls_mu);
    if (!ok)
        CN_WARN("http", "I/O thread %d: TLS reload: %s", t->index, err);
    atomic_store_explicit(&t->tls_ok, ok, memory_order_relaxed);
    atomic_store_explicit(&t->tls_applied, gen, memory_order_release); /* pairs: reload */
}

static void on_cancelled(struct io_thread *t)
{
    if (t->srv->tls)
        apply_tls(t);
    /* Bounded, so a flood of answers cannot starve this thread's sockets; the
     * inbox wakes us again when more remain. */
    cn_inbox_drain(&t->replies, 256, deliver_reply, t);
    cn__ws_flush(t->ws);
    if (atomic_load_explicit(&t->ws_close_asked,
                             memory_order_acquire) && /* pairs: close_sessions */
        !atomic_load_explicit(&t->ws_close_done, memory_order_relaxed)) {
        cn__ws_close_all(t->ws);
        atomic_store_explicit(&t->ws_close_done, true,
                              memory_order_release); /* pairs: close_sessions */
    }
    int st = atomic_load_explicit(&t->state, memory_order_acquire); /* pairs: set_state */
    if (st >= IO_STOP_ACCEPTING && t->listen_wsi) {
        lws_set_timeout(t->listen_wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        t->listen_wsi = NULL;
    }
    if (st == IO_EXIT)
        uv_stop(&t->loop); /* io_main's uv_run returns */
}

static int http_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                   size_t len)
{
    if (reason == LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS) {
        /* While create_context creates the vhost, on its thread: `user` is the
         * vhost's SSL_CTX, where a reload installs new certificates. */
        if (creating_thread) {
            creating_thread->ssl_ctx = user;
            cn_tls_min_version(user);
        }
        return 0;
    }
    (void)user;
    void *opaque = lws_get_opaque_user_data(wsi);
    struct io_thread *io = thread_of(wsi);
    if (cn__ws_is_conn(opaque))
        return cn__ws_callback(io->ws, wsi, reason, in, len);
    struct http_pss *pss = opaque;
    int r;
    switch (reason) {
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        /* The Origin first: the subprotocol choice renames protocol entries, which
         * only an upgrade that goes ahead puts back. */
        if ((r = cn__http_origin_confirm_upgrade(io->srv->cfg.origins, wsi)) != 0)
            return r;
        return cn__ws_callback(io->ws, wsi, reason, in, len);
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return cn__ws_callback(io->ws, wsi, reason, in, len);
    case LWS_CALLBACK_ESTABLISHED:
        /* A keep-alive connection that answered REST requests before upgrading:
         * its HTTP state goes, the WebSocket state replaces it. */
        if (pss) {
            pss_reset(wsi, pss);
            free(pss);
            lws_set_opaque_user_data(wsi, NULL);
        }
        return cn__ws_callback(io->ws, wsi, reason, in, len);
    case LWS_CALLBACK_HTTP:
        if (!pss) {
            pss = cn_xcalloc(1, sizeof *pss);
            lws_set_opaque_user_data(wsi, pss);
        }
        return on_http(wsi, pss);
    case LWS_CALLBACK_HTTP_BODY:
        return pss ? on_body(wsi, pss, in, len) : -1;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return pss ? dispatch(wsi, pss) : -1;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return pss ? on_writeable(wsi, pss) : 0;
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_WSI_DESTROY:
        if (header_overflow) {
            header_overflow = false;
            CN_WARN("http",
                    "%s: request headers over %zu bytes (lws's buffer): connection dropped "
                    "without an answer",
                    pss && pss->client_addr[0] ? pss->client_addr : "?",
                    header_buffer_bytes(&io->srv->cfg));
        }
        /* NULL when the connection was already freed by the other of these two
         * callbacks. */
        if (pss) {
            pss_reset(wsi, pss);
            free(pss);
            lws_set_opaque_user_data(wsi, NULL);
        }
        return 0;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        /* Delivered once per protocol sharing this callback: drain once. */
        if (lws_get_protocol(wsi) && strcmp(lws_get_protocol(wsi)->name, "http") == 0)
            on_cancelled(lws_context_user(lws_get_context(wsi)));
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

/* The listening socket, adopted as a raw descriptor: readable means "accept". */
static int listen_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                     size_t len)
{
    (void)user, (void)in, (void)len;
    struct io_thread *t;
    switch (reason) {
    case LWS_CALLBACK_RAW_RX_FILE:
        t = thread_of(wsi);
        for (;;) {
            int fd = accept4(t->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EINTR || errno == ECONNABORTED)
                    continue;
                if (errno != EAGAIN && errno != EWOULDBLOCK)
                    CN_WARN("http", "accept: %s", strerror(errno));
                break; /* EMFILE and friends: retry on the next readiness */
            }
            /* Responses and STOMP frames go out as several small writes; without
             * NODELAY the last one waits for the peer's delayed ACK (40 ms each). */
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            cn_conn_guard_socket(fd, t->srv->cfg.ws.tcp_keepalive_s); /* conn_guard.h */
            atomic_fetch_add_explicit(&t->srv->accepted, 1, memory_order_relaxed);
            struct lws *conn = lws_adopt_socket_vhost(t->vh, fd);
            if (!conn) {
                CN_WARN("http", "could not adopt an accepted connection");
                continue;
            }
            /* The HTTP state from the start, so that a connection lws drops while
             * reading its first request's headers is logged with its peer. */
            struct http_pss *pss = cn_xcalloc(1, sizeof *pss);
            if (!lws_get_peer_simple(conn, pss->client_addr, sizeof pss->client_addr))
                pss->client_addr[0] = '\0';
            lws_set_opaque_user_data(conn, pss);
        }
        return 0;
    case LWS_CALLBACK_RAW_CLOSE_FILE:
        t = thread_of(wsi);
        if (t->listen_wsi == wsi)
            t->listen_wsi = NULL;
        return 0;
    default:
        return 0;
    }
}

enum { TX_PACKET = 64 * 1024 };

static const struct lws_protocols protocols[] = {
    /* protocols[0] serves HTTP and WebSocket upgrades without a subprotocol (what
     * many browser STOMP clients send); the STOMP subprotocols share its callback. */
    /* tx_packet_size: lws otherwise cuts every send at 4 KiB and copies the rest
     * aside for a later loop round; coalesced WebSocket writes are up to 16 KiB. */
    /* The STOMP entries' id is their version (12, 11, 10), and they follow "http"
     * in this order: ws_transport.c relies on both (CN_WS_PROTOCOLS). */
    {"http", http_cb, 0, 0, 0, NULL, TX_PACKET},
    {"v12.stomp", http_cb, 0, 0, 12, NULL, TX_PACKET},
    {"v11.stomp", http_cb, 0, 0, 11, NULL, TX_PACKET},
    {"v10.stomp", http_cb, 0, 0, 10, NULL, TX_PACKET},
    {"cn-listen", listen_cb, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* libwebsockets' own log lines, in our words. Client faults lws reports at its error
 * level are the client's doing, not the node's: WARN. Lines about what our own code
 * decided (a refused upgrade) or that lws recovers from: DEBUG. The first entry (lws's
 * header buffer is full) is logged at the close instead, with the peer's address. A line
 * not in the table: DEBUG when lws calls it a warning, WARN (as "libwebsockets: ...")
 * when it calls it an error. */
static const struct {
    const char *match;
    enum cn_log_level level;
    const char *words;
} lws_lines[] = {
    {"Ran out of header data space", CN_LOG_WARN, NULL},
    {"More hdr frags than we can deal with", CN_LOG_WARN,
     "client request refused: its headers come in too many pieces"},
    {"Unknown method", CN_LOG_WARN, "client request refused: unknown HTTP method"},
    {"Duplicated method", CN_LOG_WARN, "client request refused: two methods in one request line"},
    {"User code denied connection", CN_LOG_DEBUG,
     "connection refused by the node (a limit or check of the upgrade)"},
};

static void lws_log_emit(int level, const char *line)
{
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    if (strstr(line, lws_lines[0].match)) {
        header_overflow = true;
        return; /* logged at the close, with the peer (http_cb) */
    }
    for (size_t i = 1; i < sizeof lws_lines / sizeof lws_lines[0]; i++) {
        if (strstr(line, lws_lines[i].match)) {
            cn_log(lws_lines[i].level, "http", "%s", lws_lines[i].words);
            return;
        }
    }
    if (level == LLL_ERR)
        cn_log(CN_LOG_WARN, "http", "libwebsockets: %.*s", (int)n, line);
    else
        cn_log(CN_LOG_DEBUG, "http", "libwebsockets: %.*s", (int)n, line);
}

static void close_leftover(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* lws closes its libuv handles asynchronously: the first lws_context_destroy
 * starts the closes, the loop runs until they are done, a second one frees the
 * context, and only then can the loop be closed. */
static void destroy_context(struct io_thread *t)
{
    if (t->ctx_alive)
        lws_context_destroy(t->ctx_alive);
    if (!t->loop_ready)
        return;
    uv_run(&t->loop, UV_RUN_DEFAULT);
    if (t->ctx_alive)
        lws_context_destroy(t->ctx_alive);
    if (t->ctx_alive)
        CN_WARN("http", "I/O thread %d: lws did not finish destroying its context", t->index);
    if (uv_loop_close(&t->loop) == UV_EBUSY) {
        uv_walk(&t->loop, close_leftover, NULL);
        uv_run(&t->loop, UV_RUN_DEFAULT);
        if (uv_loop_close(&t->loop) != 0)
            CN_WARN("http", "I/O thread %d: its event loop still has handles", t->index);
    }
    t->loop_ready = false;
}

static void *io_main(void *arg)
{
    struct io_thread *t = arg;
    lws_sock_file_fd_type fd = {.filefd = t->listen_fd};
    t->listen_wsi =
        lws_adopt_descriptor_vhost(t->vh, LWS_ADOPT_RAW_FILE_DESC, fd, "cn-listen", NULL);
    if (!t->listen_wsi)
        CN_ERROR("http", "I/O thread %d could not watch its listening socket", t->index);
    while (atomic_load_explicit(&t->state, memory_order_acquire) != IO_EXIT)
        uv_run(&t->loop, UV_RUN_DEFAULT);
    /* The closer may still be inside its lws_cancel_service on our context. acquire
     * pairs with its release store after that call returned. */
    while (!atomic_load_explicit(&t->exit_woken, memory_order_acquire))
        sched_yield();
    cn_http_lingerer_close_all(t->linger); /* the loop runs the closes in destroy_context */
    destroy_context(t);
    /* lws_context_destroy closed every connection; the wake function must not
     * reach the destroyed context, and no answer can find a connection now. */
    return NULL;
}

static int create_context(struct io_thread *t, char *err, size_t errlen)
{
    t->linger = cn_http_lingerer_new(&t->loop);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    /* libuv (epoll) instead of lws's default poll(): poll() walks every
     * connection of the thread on each wake-up, which made it the node's
     * hottest function under fan-out (docs/PERFORMANCE.md). The loop is ours, so
     * lws installs no signal watchers (signals stay with main's sigwaitinfo). */
    int rc = uv_loop_init(&t->loop);
    if (rc != 0) {
        snprintf(err, errlen, "libuv loop creation failed: %s", uv_strerror(rc));
        return -1;
    }
    t->loop_ready = true;
    void *loops[1] = {&t->loop};
    info.foreign_loops = loops;
    info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_LIBUV |
                   LWS_SERVER_OPTION_UV_NO_SIGSEGV_SIGFPE_SPIN;
    if (t->srv->tls)
        info.options |=
            LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS;
    info.user = t;
    info.pcontext = &t->ctx_alive;
    /* Room for headers over the limit, so that they get 431 rather than lws's
     * drop (it has no answer for a full buffer); the drop stays beyond it. */
    info.max_http_header_data2 = (unsigned)header_buffer_bytes(&t->srv->cfg);
    t->ctx = lws_create_context(&info);
    t->ctx_alive = t->ctx;
    if (!t->ctx) {
        snprintf(err, errlen,
                 "libwebsockets context creation failed (is the libuv event "
                 "plugin, Debian's libwebsockets-evlib-uv, installed?)");
        destroy_context(t);
        return -1;
    }
    struct lws_context_creation_info vinfo;
    memset(&vinfo, 0, sizeof vinfo);
    vinfo.port = CONTEXT_PORT_NO_LISTEN;
    _Static_assert(sizeof t->protocols == sizeof protocols, "one copy of the protocol table");
    memcpy(t->protocols, protocols, sizeof protocols);
    vinfo.protocols = t->protocols;
    vinfo.vhost_name = "chat-node";
    if (t->srv->tls) {
        /* A server vhost that listens on nothing (NO_LISTEN alone would make the
         * certificate a client one): our accepted sockets are adopted into it and
         * lws does the handshake. HTTP/1.1 only: this server speaks no HTTP/2.
         * Ciphers: OpenSSL's defaults; versions: TLS 1.2 and newer (the SSL_CTX
         * minimum is set too, when lws hands it over). */
        vinfo.port = CONTEXT_PORT_NO_LISTEN_SERVER;
        /* The vhost never acts as a TLS client: no OS CA bundle, and the bare client
         * context below (provided_client_ssl_ctx) stands in for the one lws would make. */
        vinfo.options =
            LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS;
        vinfo.ssl_cert_filepath = t->srv->cfg.tls_cert_file;
        vinfo.ssl_private_key_filepath = t->srv->cfg.tls_key_file;
        vinfo.ssl_options_set =
            SSL_OP_NO_SSLv2 | SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1;
        vinfo.alpn = "http/1.1";
        /* Ours, so that lws creates no client SSL_CTX it would fail to free
         * (cn_tls_client_ctx_new). */
        vinfo.provided_client_ssl_ctx = t->srv->client_ssl_ctx;
    }
    /* Dead peers: a WebSocket PING after ws.ping_interval_s without proof of life,
     * the close after ws.pong_timeout_s more (ws_transport.c confirms life on received
     * data). TCP keepalive is set on each socket as it is accepted (conn_guard.h). */
    const struct cn_ws_config *wc = &t->srv->cfg.ws;
    if (wc->ping_interval_s > 0) {
        t->retry.secs_since_valid_ping = (uint16_t)wc->ping_interval_s;
        t->retry.secs_since_valid_hangup =
            (uint16_t)(wc->ping_interval_s + (wc->pong_timeout_s > 0 ? wc->pong_timeout_s : 30));
        vinfo.retry_and_idle_policy = &t->retry;
    }
    creating_thread = t;
    t->vh = lws_create_vhost(t->ctx, &vinfo);
    creating_thread = NULL;
    if (!t->vh || (t->srv->tls && !t->ssl_ctx)) {
        snprintf(err, errlen, "libwebsockets vhost creation failed%s",
                 t->vh ? " (no TLS context)" : "");
        destroy_context(t);
        t->ctx = NULL;
        return -1;
    }
    /* Exactly what cn_tls_certs_load checked, whatever the files hold by now. */
    if (t->srv->tls && cn_tls_certs_apply(t->srv->certs, t->ssl_ctx, err, errlen) != 0) {
        destroy_context(t);
        t->ctx = NULL;
        return -1;
    }
    return 0;
}

/* The inbox's wake function: runs on the pushing thread (an actor's worker) once
 * per burst, and on the I/O thread when a drain leaves work behind. */
static void wake_io_thread(void *arg)
{
    struct io_thread *t = arg;
    /* seq_cst increment, then seq_cst load of `closed`: pairs with the seq_cst store
     * of `closed` then loads of `wakers` in cn_http_server_close. */
    atomic_fetch_add_explicit(&t->wakers, 1, memory_order_seq_cst);
    if (!atomic_load_explicit(&t->srv->closed, memory_order_seq_cst))
        lws_cancel_service(t->ctx);
    /* release: our use of the context happens-before close seeing zero. */
    atomic_fetch_sub_explicit(&t->wakers, 1, memory_order_release);
}

/* Whether the server is closed, for the actors' calls: relaxed, a hint only (a
 * message that slips past it waits in the inbox until cn_http_server_free). */
static bool is_closed(const struct cn_http_server *s)
{
    return atomic_load_explicit(&s->closed, memory_order_relaxed);
}

void cn_ws_out_push(const struct cn_ws_peer *peer, struct cn_ws_out *out)
{
    if (is_closed(peer->server)) {
        cn_msg_free(&out->hdr);
        return;
    }
    out->hdr.type = CN_WS_OUT_MSG;
    cn_inbox_push(&peer->server->threads[peer->thread].replies, &out->hdr);
}

void cn_http_reply(const struct cn_http_later *later, struct cn_http_response *resp)
{
    if (is_closed(later->server)) {
        atomic_fetch_add_explicit(&later->server->dropped, 1, memory_order_relaxed);
        free(resp->body);
        resp->body = NULL;
        return;
    }
    struct io_thread *t = &later->server->threads[later->thread];
    struct reply_msg *r = cn_xmalloc(sizeof *r);
    cn_msg_init(&r->hdr, 0, reply_msg_free);
    r->id = later->id;
    r->resp = *resp;
    r->resp.deferred = false;
    resp->body = NULL;
    cn_inbox_push(&t->replies, &r->hdr);
}

uint64_t cn_http_server_pending(struct cn_http_server *s)
{
    return atomic_load_explicit(&s->pending, memory_order_relaxed);
}

static void set_state(struct cn_http_server *s, enum io_state st)
{
    for (int i = 0; i < s->n; i++) {
        struct io_thread *t = &s->threads[i];
        atomic_store_explicit(&t->state, st, memory_order_release); /* pairs: on_cancelled */
        if (t->ctx)
            lws_cancel_service(t->ctx);
    }
}

struct cn_http_server *cn_http_server_start(const struct cn_http_server_config *cfg, char *err,
                                            size_t errlen)
{
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
    struct cn_http_server *s = cn_xcalloc(1, sizeof *s);
    s->cfg = *cfg;
    s->metrics = cn_http_metrics_new();
    if (!s->cfg.max_header_bytes)
        s->cfg.max_header_bytes = 16384;
    pthread_mutex_init(&s->tls_mu, NULL);
    pthread_mutex_init(&s->reload_mu, NULL);
    s->tls =
        cfg->tls_cert_file && cfg->tls_cert_file[0] && cfg->tls_key_file && cfg->tls_key_file[0];
    if (s->tls) {
        /* Our own checks and words first: lws would only say "failed". */
        s->certs = cn_tls_certs_load(cfg->tls_cert_file, cfg->tls_key_file, err, errlen);
        s->client_ssl_ctx = s->certs ? cn_tls_client_ctx_new() : NULL;
        if (s->certs && !s->client_ssl_ctx)
            snprintf(err, errlen, "OpenSSL could not create a TLS context (out of memory)");
        if (!s->client_ssl_ctx) {
            cn_tls_certs_free(s->certs);
            pthread_mutex_destroy(&s->tls_mu);
            pthread_mutex_destroy(&s->reload_mu);
            cn_http_metrics_free(s->metrics);
            free(s);
            return NULL;
        }
    }
    s->n = cfg->io_threads;
    s->threads = cn_xcalloc((size_t)s->n, sizeof *s->threads);
    for (int i = 0; i < s->n; i++) {
        s->threads[i].listen_fd = -1;
        s->threads[i].srv = s;
        s->threads[i].index = i;
        cn_inbox_init(&s->threads[i].replies, wake_io_thread, &s->threads[i]);
        cn_u64map_init(&s->threads[i].waiting);
        s->threads[i].ws = cn__ws_thread_new(s, (uint32_t)i, &cfg->ws);
    }
    /* Bind every socket before starting any thread, so a port in use fails fast
     * and leaves nothing running. */
    for (int i = 0; i < s->n; i++) {
        struct io_thread *t = &s->threads[i];
        t->listen_fd = cn_listen_socket_open(cfg->host, cfg->port, 1024, err, errlen);
        if (t->listen_fd < 0 || create_context(t, err, errlen) != 0)
            goto fail;
    }
    for (int i = 0; i < s->n; i++) {
        struct io_thread *t = &s->threads[i];
        int rc = pthread_create(&t->thread, NULL, io_main, t);
        if (rc != 0) {
            snprintf(err, errlen, "cannot start I/O thread: %s", strerror(rc));
            goto fail;
        }
        t->thread_started = true;
    }
    return s;
fail:
    cn_http_server_free(s);
    return NULL;
}

void cn_http_server_stop_accepting(struct cn_http_server *s)
{
    set_state(s, IO_STOP_ACCEPTING);
}

bool cn_http_server_close_sessions(struct cn_http_server *s, uint64_t timeout_ms)
{
    for (int i = 0; i < s->n; i++) {
        struct io_thread *t = &s->threads[i];
        atomic_store_explicit(&t->ws_close_asked, true,
                              memory_order_release); /* pairs: on_cancelled */
        if (t->ctx)
            lws_cancel_service(t->ctx);
    }
    uint64_t deadline = cn_now_ms() + timeout_ms;
    for (int i = 0; i < s->n; i++) {
        struct io_thread *t = &s->threads[i];
        if (!t->thread_started)
            continue;
        /* acquire pairs with the I/O thread's release after cn__ws_close_all. */
        while (!atomic_load_explicit(&t->ws_close_done, memory_order_acquire)) {
            if (cn_now_ms() >= deadline)
                return false;
            struct timespec ts = {0, 2 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    return true;
}

void cn_http_server_stats(struct cn_http_server *s, struct cn_http_server_stats *out)
{
    out->connections_accepted = atomic_load_explicit(&s->accepted, memory_order_relaxed);
    out->requests = atomic_load_explicit(&s->requests, memory_order_relaxed);
    out->responses_4xx = atomic_load_explicit(&s->r4xx, memory_order_relaxed);
    out->responses_5xx = atomic_load_explicit(&s->r5xx, memory_order_relaxed);
    out->replies_dropped = atomic_load_explicit(&s->dropped, memory_order_relaxed);
}

void cn_http_server_metrics_render(struct cn_http_server *s, struct cn_strbuf *b)
{
    cn_http_metrics_render(s->metrics, b);
}

void cn_http_server_close(struct cn_http_server *s)
{
    if (!s || s->joined)
        return;
    s->joined = true;
    /* seq_cst store, then seq_cst loads of wakers: see the file comment. After the
     * wait no other thread touches a context. */
    atomic_store_explicit(&s->closed, true, memory_order_seq_cst);
    for (int i = 0; i < s->n; i++)
        while (atomic_load_explicit(&s->threads[i].wakers, memory_order_seq_cst) != 0)
            sched_yield(); /* a waker is inside lws_cancel_service: a few µs */
    set_state(s, IO_EXIT);
    for (int i = 0; i < s->n; i++) {
        struct io_thread *t = &s->threads[i];
        /* release: set_state's lws_cancel_service on this context has returned. */
        atomic_store_explicit(&t->exit_woken, true, memory_order_release);
        if (t->thread_started) {
            pthread_join(t->thread, NULL); /* the thread destroyed its context */
        } else {
            destroy_context(t); /* no thread: nobody else reads t->ctx */
            if (t->listen_fd >= 0)
                close(t->listen_fd);
        }
        t->ctx = NULL;
    }
}

void cn_http_server_free(struct cn_http_server *s)
{
    if (!s)
        return;
    cn_http_server_close(s);
    for (int i = 0; i < s->n; i++) {
        struct io_thread *t = &s->threads[i];
        cn_inbox_destroy(&t->replies); /* answers that came after the close */
        cn_u64map_free(&t->waiting);
        cn__ws_thread_free(t->ws);
        cn_http_lingerer_free(t->linger);
    }
    free(s->threads);
    cn_http_metrics_free(s->metrics);
    cn_tls_certs_free(s->certs);
    cn_tls_client_ctx_free(s->client_ssl_ctx); /* every context is destroyed by now */
    pthread_mutex_destroy(&s->tls_mu);
    pthread_mutex_destroy(&s->reload_mu);
    free(s);
}

int cn_http_server_tls_reload(struct cn_http_server *s, char *msg, size_t msglen)
{
    if (!s->tls) {
        snprintf(msg, msglen, "TLS is off (http.tls_cert_file and http.tls_key_file are unset)");
        return -1;
    }
    pthread_mutex_lock(&s->reload_mu);
    struct cn_tls_certs *c =
        cn_tls_certs_load(s->cfg.tls_cert_file, s->cfg.tls_key_file, msg, msglen);
    if (!c) {
        pthread_mutex_unlock(&s->reload_mu);
        return -1; /* the old certificate stays */
    }
    pthread_mutex_lock(&s->tls_mu);
    struct cn_tls_certs *old = s->certs;
    s->certs = c;
    unsigned gen = atomic_fetch_add_explicit(&s->tls_gen, 1, memory_order_release) + 1;
    pthread_mutex_unlock(&s->tls_mu);
    cn_tls_certs_free(old); /* every SSL_CTX holds its own references */
    for (int i = 0; i < s->n; i++)
        wake_io_thread(&s->threads[i]); /* safe against a concurrent close */
    uint64_t deadline = cn_now_ms() + 2000;
    int rc = 0;
    for (int i = 0; i < s->n && rc == 0; i++) {
        struct io_thread *t = &s->threads[i];
        if (!t->thread_started)
            continue;
        /* acquire pairs with apply_tls's release. */
        while (atomic_load_explicit(&t->tls_applied, memory_order_acquire) - gen > (1u << 31)) {
            if (cn_now_ms() >= deadline || atomic_load_explicit(&s->closed, memory_order_relaxed)) {
                snprintf(msg, msglen, "I/O thread %d did not take the new certificate within 2 s",
                         i);
                rc = -1;
                break;
            }
            struct timespec ts = {0, 2 * 1000000L};
            nanosleep(&ts, NULL);
        }
        if (rc == 0 && !atomic_load_explicit(&t->tls_ok, memory_order_relaxed)) {
            snprintf(msg, msglen,
                     "I/O thread %d could not install the new certificate (see its "
                     "WARN log line)",
                     i);
            rc = -1;
        }
    }
    if (rc == 0)
        cn_tls_certs_describe(c, msg, msglen);
    pthread_mutex_unlock(&s->reload_mu);
    return rc;
}

void cn_http_error(struct cn_http_response *resp, int status, const char *code, const char *message)
{
    json_t *body = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);
    resp->status = status;
    resp->content_type = "application/json";
    resp->body = json_dumps(body, JSON_COMPACT);
    if (!resp->body)
        cn_oom(0);
    resp->body_len = strlen(resp->body);
    json_decref(body);
}
