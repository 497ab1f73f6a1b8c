/* Origins, CORS and the browser safety headers; see http_origin.h. */
#include "http_origin.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"
#include "base/xmalloc.h"

enum { MAX_ORIGINS = 64, MAX_ORIGIN_LEN = 255 };

struct cn_http_origins {
    bool any;                /* `*` */
    char *list[MAX_ORIGINS]; /* lower case, no trailing '/' */
    size_t count;
};

/* img-src allows data: for the inline favicon of index.html; connect-src ws:/wss: since
 * 'self' does not cover WebSocket URLs in every browser still in use. */
const char cn_http_csp[] = "default-src 'self'; script-src 'self'; style-src 'self'; "
                           "img-src 'self' data:; connect-src 'self' ws: wss:; "
                           "frame-ancestors 'none'; base-uri 'none'; object-src 'none'; "
                           "form-action 'self'";

static int bad(char *err, size_t errlen, const char *what, size_t len, const char *item)
{
    snprintf(err, errlen, "http.allowed_origins: '%.*s' %s", (int)(len > 80 ? 80 : len), item,
             what);
    return -1;
}

/* An origin is scheme://host[:port] with scheme http or https and nothing after. */
static int check_origin(const char *s, size_t len, char *err, size_t errlen)
{
    size_t skip;
    if (len > 7 && strncasecmp(s, "http://", 7) == 0)
        skip = 7;
    else if (len > 8 && strncasecmp(s, "https://", 8) == 0)
        skip = 8;
    else
        return bad(err, errlen, "is not an http:// or https:// origin (or *)", len, s);
    if (len > MAX_ORIGIN_LEN)
        return bad(err, errlen, "is too long", len, s);
    for (size_t i = skip; i < len; i++) {
        char c = s[i];
        if (c == '/' || c == '?' || c == '#' || c == '@' || c == '*' || (unsigned char)c <= ' ')
            return bad(err, errlen, "must be scheme://host[:port] with no path", len, s);
    }
    if (s[skip] == ':')
        return bad(err, errlen, "has no host", len, s);
    return 0;
}

struct cn_http_origins *cn_http_origins_parse(const char *list, char *err, size_t errlen)
{
    struct cn_http_origins *o = cn_xcalloc(1, sizeof *o);
    const char *p = list ? list : "";
    while (*p) {
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        size_t len = strcspn(p, ", \t");
        /* A trailing '/' is what people paste from the address bar; the Origin has none. */
        size_t keep = len > 1 && p[len - 1] == '/' ? len - 1 : len;
        if (keep == 1 && p[0] == '*') {
            o->any = true;
        } else if (check_origin(p, keep, err, errlen) != 0) {
            cn_http_origins_free(o);
            return NULL;
        } else if (o->count == MAX_ORIGINS) {
            snprintf(err, errlen, "http.allowed_origins: more than %d origins", MAX_ORIGINS);
            cn_http_origins_free(o);
            return NULL;
        } else {
            char *e = cn_xmalloc(keep + 1);
            for (size_t i = 0; i < keep; i++)
                e[i] = (char)((p[i] >= 'A' && p[i] <= 'Z') ? p[i] + 32 : p[i]);
            e[keep] = '\0';
            o->list[o->count++] = e;
        }
        p += len;
    }
    return o;
}

void cn_http_origins_free(struct cn_http_origins *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < o->count; i++)
        free(o->list[i]);
    free(o);
}

/* Same origin: the Origin's host[:port] is the Host header. Browsers leave the default
 * port out of the Origin; a Host header may carry it. */
static bool same_origin(const char *origin, const char *host)
{
    if (!host || !*host)
        return false;
    const char *auth;
    const char *def_port;
    if (strncasecmp(origin, "http://", 7) == 0)
        auth = origin + 7, def_port = ":80";
    else if (strncasecmp(origin, "https://", 8) == 0)
        auth = origin + 8, def_port = ":443";
    else
        return false;
    size_t alen = strlen(auth);
    if (alen && auth[alen - 1] == '/')
        alen--;
    size_t hlen = strlen(host);
    if (alen == hlen && strncasecmp(auth, host, alen) == 0)
        return true;
    /* "example.com" against "example.com:80" (port left out of the Origin only). */
    size_t dlen = strlen(def_port);
    return hlen == alen + dlen && strncasecmp(auth, host, alen) == 0 &&
           strcmp(host + alen, def_port) == 0;
}

enum cn_origin_verdict cn_http_origin_check(const struct cn_http_origins *o, const char *origin,
                                            const char *host)
{
    if (!origin)
        return CN_ORIGIN_NONE;
    if (same_origin(origin, host))
        return CN_ORIGIN_SAME;
    if (o && o->any)
        return CN_ORIGIN_ALLOWED;
    size_t len = strlen(origin);
    if (len && origin[len - 1] == '/')
        len--;
    for (size_t i = 0; o && i < o->count; i++)
        if (strlen(o->list[i]) == len && strncasecmp(o->list[i], origin, len) == 0)
            return CN_ORIGIN_ALLOWED;
    return CN_ORIGIN_DENIED;
}

size_t cn_http_origin_headers(enum cn_http_answer_kind kind, const char *origin,
                              enum cn_origin_verdict verdict,
                              struct cn_http_extra_header out[CN_HTTP_EXTRA_HEADERS_MAX])
{
    size_t n = 0;
    out[n++] = (struct cn_http_extra_header){"x-content-type-options:", "nosniff"};
    if (kind == CN_ANSWER_STATIC) {
        out[n++] = (struct cn_http_extra_header){"content-security-policy:", cn_http_csp};
        out[n++] = (struct cn_http_extra_header){"x-frame-options:", "DENY"};
        out[n++] = (struct cn_http_extra_header){"referrer-policy:", "no-referrer"};
    }
    if (verdict == CN_ORIGIN_ALLOWED && origin) {
        out[n++] = (struct cn_http_extra_header){"access-control-allow-origin:", origin};
        if (kind == CN_ANSWER_PREFLIGHT) {
            out[n++] = (struct cn_http_extra_header){"access-control-allow-methods:",
                                                     "GET, POST, PUT, PATCH, DELETE, OPTIONS"};
            out[n++] = (struct cn_http_extra_header){"access-control-allow-headers:",
                                                     "Authorization, Content-Type"};
            out[n++] = (struct cn_http_extra_header){"access-control-max-age:", "600"};
        } else {
            /* Lets scripts read Retry-After of a 429 or 503. */
            out[n++] =
                (struct cn_http_extra_header){"access-control-expose-headers:", "Retry-After"};
        }
    }
    /* Answers depend on the Origin whenever one may be echoed: caches must key on it. */
    out[n++] = (struct cn_http_extra_header){"vary:", "Origin"};
    return n;
}

static char *header(struct lws *wsi, enum lws_token_indexes token, char *buf, int size)
{
    int len = lws_hdr_total_length(wsi, token);
    if (len <= 0 || len >= size || lws_hdr_copy(wsi, buf, size, token) < 0)
        return NULL;
    return buf;
}

int cn__http_origin_confirm_upgrade(const struct cn_http_origins *o, struct lws *wsi)
{
    char origin[MAX_ORIGIN_LEN + 2], host[MAX_ORIGIN_LEN + 2];
    bool has_origin = lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) > 0;
    const char *ov = header(wsi, WSI_TOKEN_ORIGIN, origin, sizeof origin);
    const char *hv = header(wsi, WSI_TOKEN_HOST, host, sizeof host);
    /* An Origin too long to be one of ours is someone else's. */
    enum cn_origin_verdict v =
        has_origin && !ov ? CN_ORIGIN_DENIED : cn_http_origin_check(o, ov, hv);
    if (v != CN_ORIGIN_DENIED)
        return 0;
    char peer[64] = "";
    lws_get_peer_simple(wsi, peer, sizeof peer);
    CN_WARN("http", "WebSocket upgrade from %s refused: Origin %.100s is not allowed", peer,
            ov ? ov : "(too long)");
    static const char body[] =
        "{\"error\":{\"code\":\"ORIGIN_NOT_ALLOWED\",\"message\":\"this Origin may not open a "
        "WebSocket here (http.allowed_origins)\"}}";
    char resp[LWS_PRE + 512];
    int n = snprintf(resp + LWS_PRE, sizeof resp - LWS_PRE,
                     "HTTP/1.1 403 Forbidden\r\n"
                     "content-type: application/json\r\n"
                     "content-length: %zu\r\n"
                     "cache-control: no-store\r\n"
                     "x-content-type-options: nosniff\r\n"
                     "vary: Origin\r\n"
                     "connection: close\r\n"
                     "\r\n%s",
                     sizeof body - 1, body);
    if (lws_write(wsi, (unsigned char *)resp + LWS_PRE, (size_t)n, LWS_WRITE_HTTP_HEADERS) != n)
        return -1;
    return 1;
}
