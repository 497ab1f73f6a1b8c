/* A decoder for `Transfer-Encoding: chunked` request bodies (RFC 9112, section 7.1).
 * libwebsockets 4.1 hands a chunked body to the server as it came, chunk-size lines
 * and all, so http_server.c feeds those bytes here as they arrive.
 *
 * Strict: sizes are hex, lines end in CRLF, chunk extensions and trailer fields are
 * skipped (bounded). The decoded body is bounded by `max`: the first chunk that would
 * take it past the bound ends decoding with CN_CHUNKED_TOO_LARGE, before its bytes
 * are stored.
 *
 * Memory: the decoder owns nothing; the decoded bytes go to the caller's buffer
 * (*body, grown with realloc, NUL-terminated, the caller frees it). */
#ifndef CN_IO_HTTP_CHUNKED_H
#define CN_IO_HTTP_CHUNKED_H

#include <stddef.h>
#include <stdint.h>

enum cn_chunked_result {
    CN_CHUNKED_MORE,      /* needs more input */
    CN_CHUNKED_DONE,      /* the last chunk and the trailer section were read */
    CN_CHUNKED_BAD,       /* not chunked encoding: the request is malformed (400) */
    CN_CHUNKED_TOO_LARGE, /* the body would pass max (413) */
};

struct cn_chunked {
    int state;
    uint64_t remain; /* data bytes left in the current chunk */
    unsigned digits; /* hex digits of the current size line */
    size_t line;     /* bytes of the current extension or trailer line */
    size_t trailer;  /* bytes of the trailer section so far */
    size_t max;      /* largest decoded body */
    int result;      /* sticky once not MORE */
};

void cn_chunked_init(struct cn_chunked *c, size_t max);

/* Decodes len bytes of in, appending body bytes to *body / *body_len. Returns MORE
 * until the body ends; a result other than MORE is sticky (later calls return it and
 * consume nothing). *used (may be NULL) says how many bytes of in were consumed: after
 * DONE, the rest of in belongs to whatever follows the body. */
enum cn_chunked_result cn_chunked_feed(struct cn_chunked *c, const char *in, size_t len,
                                       char **body, size_t *body_len, size_t *used);

#endif
