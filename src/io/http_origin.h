/* Browser safety for the HTTP server: which Origins may use the node (http.allowed_origins)
 * and the headers that keep a browser from misusing its answers.
 *
 * An Origin is allowed when the request has none (native clients, curl), when it is the
 * node's own (its host:port equals the Host header: the web client served at /), when it
 * is on the list, or when the list is `*`. The WebSocket upgrade from any other Origin is
 * refused with 403; a CORS preflight (OPTIONS with an Origin) is answered 204 with the
 * Access-Control-* headers for an allowed Origin and 403 otherwise; answers to allowed
 * cross-origin requests carry Access-Control-Allow-Origin.
 *
 * Every answer carries X-Content-Type-Options: nosniff; the web client's files also a
 * Content-Security-Policy, X-Frame-Options and Referrer-Policy.
 *
 * Memory: cn_http_origins_parse returns a list that owns its strings; cn_http_origins_free
 * releases it. The checks only read it, from any number of I/O threads at once. The lws
 * glue (cn__http_origin_confirm_upgrade) runs on the I/O thread that owns the wsi. */
#ifndef CN_IO_HTTP_ORIGIN_H
#define CN_IO_HTTP_ORIGIN_H

#include <stdbool.h>
#include <stddef.h>

struct cn_http_origins;
struct lws;

/* Parses http.allowed_origins: origins (`https://chat.example.com`, `http://10.0.0.5:8080`)
 * separated by commas and/or spaces, or `*`; empty means the defaults only. Returns NULL
 * with a one-line reason in err for anything else (a path, another scheme, no host). */
struct cn_http_origins *cn_http_origins_parse(const char *list, char *err, size_t errlen);

void cn_http_origins_free(struct cn_http_origins *o);

enum cn_origin_verdict {
    CN_ORIGIN_NONE = 0, /* no Origin header: a native client */
    CN_ORIGIN_SAME,     /* the node's own origin */
    CN_ORIGIN_ALLOWED,  /* another origin on the list (or `*`): CORS headers go out */
    CN_ORIGIN_DENIED,
};

/* Judges an Origin header (NULL: absent) against the list (NULL: defaults only) and the
 * request's Host header (NULL: absent, so nothing is same-origin). */
enum cn_origin_verdict cn_http_origin_check(const struct cn_http_origins *o, const char *origin,
                                            const char *host);

/* What an answer is, for the headers it gets. */
enum cn_http_answer_kind {
    CN_ANSWER_API = 0, /* JSON and other program answers */
    CN_ANSWER_STATIC,  /* a file of the web client */
    CN_ANSWER_PREFLIGHT,
};

struct cn_http_extra_header {
    const char *name; /* with the trailing ':' lws wants, e.g. "vary:" */
    const char *value;
};

enum { CN_HTTP_EXTRA_HEADERS_MAX = 8 };

/* Fills out[] with the safety and CORS headers of an answer; returns how many. `origin`
 * (borrowed; it must outlive out) is echoed in Access-Control-Allow-Origin when the
 * verdict is CN_ORIGIN_ALLOWED. */
size_t cn_http_origin_headers(enum cn_http_answer_kind kind, const char *origin,
                              enum cn_origin_verdict verdict,
                              struct cn_http_extra_header out[CN_HTTP_EXTRA_HEADERS_MAX]);

/* The Content-Security-Policy of the web client's files. */
extern const char cn_http_csp[];

/* LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: returns 0 to let the upgrade go on, or 1 after it
 * wrote a 403 answer (lws then ends the transaction) when the Origin is not allowed. */
int cn__http_origin_confirm_upgrade(const struct cn_http_origins *o, struct lws *wsi);

#endif
