/* Chunked body decoding; see http_chunked.h. */
#include "http_chunked.h"

#include <string.h>

#include "base/xmalloc.h"

enum {
    S_SIZE,       /* hex digits of a chunk size */
    S_EXT,        /* after ';': a chunk extension, skipped to CR */
    S_SIZE_LF,    /* CR seen after the size line */
    S_DATA,       /* chunk data */
    S_DATA_CR,    /* the CR after chunk data */
    S_DATA_LF,    /* the LF after chunk data */
    S_TRAILER,    /* start of a trailer line (or the final CRLF) */
    S_TRAILER_LN, /* inside a trailer field, skipped to CR */
    S_TRAILER_LF, /* CR seen after a trailer field */
    S_END_LF,     /* CR seen on the empty line that ends the body */
};

/* A chunk-extension or a trailer field longer than this is not a client we serve. */
enum { MAX_LINE = 4096, MAX_TRAILER = 8192 };

void cn_chunked_init(struct cn_chunked *c, size_t max)
{
    memset(c, 0, sizeof *c);
    c->max = max;
    c->state = S_SIZE;
    c->result = CN_CHUNKED_MORE;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static enum cn_chunked_result fail(struct cn_chunked *c, enum cn_chunked_result r)
{
    c->result = r;
    return r;
}

enum cn_chunked_result cn_chunked_feed(struct cn_chunked *c, const char *in, size_t len,
                                       char **body, size_t *body_len, size_t *used)
{
    size_t i = 0;
    if (used)
        *used = 0;
    if (c->result != CN_CHUNKED_MORE)
        return (enum cn_chunked_result)c->result;
    while (i < len) {
        char ch = in[i];
        switch (c->state) {
        case S_SIZE: {
            int v = hexval(ch);
            if (v >= 0) {
                /* 15 digits cannot overflow; any size that large is over max anyway. */
                if (++c->digits > 15)
                    return fail(c, CN_CHUNKED_TOO_LARGE);
                c->remain = c->remain * 16 + (uint64_t)v;
                i++;
                break;
            }
            if (c->digits == 0)
                return fail(c, CN_CHUNKED_BAD);
            if (c->remain > c->max - *body_len)
                return fail(c, CN_CHUNKED_TOO_LARGE);
            if (ch == ';' || ch == ' ' || ch == '\t') {
                c->state = S_EXT;
                c->line = 0;
            } else if (ch == '\r') {
                c->state = S_SIZE_LF;
            } else {
                return fail(c, CN_CHUNKED_BAD);
            }
            i++;
            break;
        }
        case S_EXT:
            if (ch == '\r')
                c->state = S_SIZE_LF;
            else if (ch == '\n' || ++c->line > MAX_LINE)
                return fail(c, CN_CHUNKED_BAD);
            i++;
            break;
        case S_SIZE_LF:
            if (ch != '\n')
                return fail(c, CN_CHUNKED_BAD);
            i++;
            c->digits = 0;
            if (c->remain == 0) {
                c->state = S_TRAILER;
                c->trailer = 0;
            } else {
                c->state = S_DATA;
            }
            break;
        case S_DATA: {
            size_t n = len - i;
            if ((uint64_t)n > c->remain)
                n = (size_t)c->remain;
            *body = cn_xrealloc(*body, *body_len + n + 1);
            memcpy(*body + *body_len, in + i, n);
            *body_len += n;
            (*body)[*body_len] = '\0';
            c->remain -= n;
            i += n;
            if (c->remain == 0)
                c->state = S_DATA_CR;
            break;
        }
        case S_DATA_CR:
            if (ch != '\r')
                return fail(c, CN_CHUNKED_BAD);
            c->state = S_DATA_LF;
            i++;
            break;
        case S_DATA_LF:
            if (ch != '\n')
                return fail(c, CN_CHUNKED_BAD);
            c->state = S_SIZE;
            i++;
            break;
        case S_TRAILER:
            if (ch == '\r') {
                c->state = S_END_LF;
            } else {
                c->state = S_TRAILER_LN;
                c->line = 0;
                continue; /* the same byte starts the field */
            }
            i++;
            break;
        case S_TRAILER_LN:
            if (ch == '\r')
                c->state = S_TRAILER_LF;
            else if (ch == '\n' || ++c->line > MAX_LINE)
                return fail(c, CN_CHUNKED_BAD);
            if (++c->trailer > MAX_TRAILER)
                return fail(c, CN_CHUNKED_BAD);
            i++;
            break;
        case S_TRAILER_LF:
            if (ch != '\n')
                return fail(c, CN_CHUNKED_BAD);
            c->state = S_TRAILER;
            i++;
            break;
        case S_END_LF:
            if (ch != '\n')
                return fail(c, CN_CHUNKED_BAD);
            i++;
            if (used)
                *used = i;
            return fail(c, CN_CHUNKED_DONE);
        }
    }
    if (used)
        *used = i;
    return CN_CHUNKED_MORE;
}
