/* Incremental STOMP 1.2 parser (see stomp_parser.h for the contract).
 *
 * How it works. Between frames the parser skips heart-beat EOLs. A frame is then
 * scanned where it lies: directly in the caller's chunk when nothing is buffered (the
 * common case: a whole frame per WebSocket message), or in the parser's buffer when
 * an earlier chunk ended mid-frame. The scan is resumable: it keeps offsets relative
 * to the frame start (the next line to process, where to keep looking for LF, the
 * header lines seen so far), so each byte is examined once however the frame is
 * split. When the scan has found the frame's end, the frame is copied into the
 * buffer (if it is not there already) and finished in place: names and values are
 * NUL-terminated and unescaped, which never makes them longer.
 *
 * Memory: the buffer never holds more than max_frame_size + 1 bytes, because any
 * incomplete frame that long has already failed a limit. In buffered mode the parser
 * appends at most that much of a chunk and hands back what followed the frame's NUL
 * through *consumed, so a later frame is never copied twice in a row. */
#include "proto/stomp_parser.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"
#include "proto/stomp_escape.h"

/* Where a header line lies in the frame, as offsets from the frame start. */
struct header_pos {
    uint32_t start; /* first byte of the name */
    uint32_t colon; /* the ':' between name and value */
    uint32_t end;   /* the CR or LF after the value */
    bool escaped;   /* contains a backslash and the command uses escaping */
};

struct cn_stomp_parser {
    struct cn_stomp_limits lim;
    int error; /* sticky: 0 or the first error */
    bool raw;  /* STOMP 1.0: backslashes are plain bytes (cn_stomp_parser_set_raw) */

    char *buf; /* the frame being assembled (offset 0 = its first byte) */
    size_t len, cap;
    bool yielded;    /* buf holds the frame yielded last time: drop it on the next call */
    bool pending_cr; /* a CR between frames ended the previous chunk */

    /* Resumable scan state, all relative to the frame start. */
    enum cn_stomp_command cmd; /* 0 until the command line is complete */
    bool in_body;
    size_t line;   /* start of the next unprocessed line */
    size_t search; /* where the search for LF (head) or NUL (body) resumes */
    size_t body_start;
    bool has_cl;
    size_t cl;
    uint32_t nheaders;
    struct header_pos *pos;          /* max_headers entries */
    struct cn_stomp_header *headers; /* max_headers entries, filled when a frame completes */
};

struct cn_stomp_limits cn_stomp_default_limits(void)
{
    return (struct cn_stomp_limits){CN_STOMP_DEFAULT_MAX_FRAME_SIZE, CN_STOMP_DEFAULT_MAX_HEADERS,
                                    CN_STOMP_DEFAULT_MAX_HEADER_LINE};
}

void cn_stomp_parser_set_raw(struct cn_stomp_parser *p, bool raw)
{
    p->raw = raw;
}

struct cn_stomp_parser *cn_stomp_parser_new(const struct cn_stomp_limits *limits)
{
    struct cn_stomp_parser *p = cn_xcalloc(1, sizeof *p);
    p->lim = cn_stomp_default_limits();
    if (limits) {
        if (limits->max_frame_size)
            p->lim.max_frame_size = limits->max_frame_size;
        if (limits->max_headers)
            p->lim.max_headers = limits->max_headers;
        if (limits->max_header_line)
            p->lim.max_header_line = limits->max_header_line;
    }
    p->pos = cn_xmalloc(p->lim.max_headers * sizeof *p->pos);
    p->headers = cn_xmalloc(p->lim.max_headers * sizeof *p->headers);
    return p;
}

void cn_stomp_parser_free(struct cn_stomp_parser *p)
{
    if (!p)
        return;
    free(p->buf);
    free(p->pos);
    free(p->headers);
    free(p);
}

static void reset_frame_state(struct cn_stomp_parser *p)
{
    p->len = 0;
    p->cmd = 0;
    p->in_body = false;
    p->line = p->search = p->body_start = 0;
    p->has_cl = false;
    p->cl = 0;
    p->nheaders = 0;
}

static void reserve(struct cn_stomp_parser *p, size_t need)
{
    if (need <= p->cap)
        return;
    size_t cap = p->cap ? p->cap : 1024;
    while (cap < need)
        cap *= 2;
    p->buf = cn_xrealloc(p->buf, cap);
    p->cap = cap;
}

/* Checks that every backslash in s[0..n) starts one of the four defined escapes. */
static bool escapes_valid(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\')
            continue;
        if (++i == n)
            return false;
        char c = s[i];
        if (c != 'r' && c != 'n' && c != 'c' && c != '\\')
            return false;
    }
    return true;
}

/* Parses a content-length value: decimal digits only. Values above `max` fail with
 * the frame-size error before they can overflow anything. */
static int parse_content_length(const char *s, size_t n, size_t max, size_t *out)
{
    if (n == 0)
        return CN_STOMP_E_BAD_CONTENT_LENGTH;
    size_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return CN_STOMP_E_BAD_CONTENT_LENGTH;
        v = v * 10 + (size_t)(s[i] - '0');
        if (v > max)
            return CN_STOMP_E_FRAME_TOO_LARGE;
    }
    *out = v;
    return 0;
}

/* Processes one complete line [start, end) (EOL excluded) of the head. Returns 1 at the
 * blank line that ends the head, 0 to go on, or an error. */
static int process_line(struct cn_stomp_parser *p, const char *base, size_t start, size_t end)
{
    const char *s = base + start;
    size_t n = end - start;
    if (n > p->lim.max_header_line)
        return CN_STOMP_E_LINE_TOO_LONG;
    if (p->cmd == 0) {
        p->cmd = cn_stomp_command_parse(s, n);
        return p->cmd ? 0 : CN_STOMP_E_BAD_COMMAND;
    }
    if (n == 0)
        return 1;
    if (p->nheaders == p->lim.max_headers)
        return CN_STOMP_E_TOO_MANY_HEADERS;
    const char *colon = memchr(s, ':', n);
    if (!colon || colon == s)
        return CN_STOMP_E_BAD_HEADER;
    size_t name_len = (size_t)(colon - s);
    bool escaped = false;
    if (!cn_stomp_command_is_raw(p->cmd) && !p->raw && memchr(s, '\\', n)) {
        /* Name and value are checked apart: "a\:b" is an undefined escape, not an
         * escaped colon. */
        if (!escapes_valid(s, name_len) || !escapes_valid(colon + 1, n - name_len - 1))
            return CN_STOMP_E_BAD_ESCAPE;
        escaped = true;
    }
    if (!p->has_cl && name_len == 14 && memcmp(s, "content-length", 14) == 0) {
        int rc = parse_content_length(colon + 1, n - 15, p->lim.max_frame_size, &p->cl);
        if (rc < 0)
            return rc;
        p->has_cl = true;
    }
    p->pos[p->nheaders++] =
        (struct header_pos){(uint32_t)start, (uint32_t)(colon - base), (uint32_t)end, escaped};
    return 0;
}

/* Scans the frame that starts at base[0], of which `avail` bytes are present.
 * Returns the frame's total length including its NUL when it is complete, 0 when more
 * bytes are needed, or an error. Resumes where the previous call on this frame ended. */
static long scan(struct cn_stomp_parser *p, const char *base, size_t avail)
{
    const size_t max_frame = p->lim.max_frame_size;
    while (!p->in_body) {
        const char *lf = memchr(base + p->search, '\n', avail - p->search);
        if (!lf) {
            /* +1: the line may still end in CR LF. */
            if (avail - p->line > (size_t)p->lim.max_header_line + 1)
                return CN_STOMP_E_LINE_TOO_LONG;
            if (avail > max_frame)
                return CN_STOMP_E_FRAME_TOO_LARGE;
            p->search = avail;
            return 0;
        }
        size_t lf_at = (size_t)(lf - base);
        size_t end = lf_at;
        if (end > p->line && base[end - 1] == '\r')
            end--;
        /* The line limit before the frame limit, in the same order as the no-LF
         * branch above: how the bytes were split must not change which error a
         * client gets (the fuzzer compares whole and split input). */
        if (end - p->line > p->lim.max_header_line)
            return CN_STOMP_E_LINE_TOO_LONG;
        if (lf_at + 1 > max_frame)
            return CN_STOMP_E_FRAME_TOO_LARGE;
        int rc = process_line(p, base, p->line, end);
        if (rc < 0)
            return rc;
        p->line = p->search = lf_at + 1;
        if (rc == 1) {
            p->in_body = true;
            p->body_start = lf_at + 1;
            if (p->has_cl) {
                if (p->body_start + p->cl > max_frame)
                    return CN_STOMP_E_FRAME_TOO_LARGE;
                if (p->cl > 0 && !cn_stomp_command_allows_body(p->cmd))
                    return CN_STOMP_E_BODY_NOT_ALLOWED;
            }
        }
    }

    if (p->has_cl) {
        size_t need = p->body_start + p->cl + 1;
        if (avail < need)
            return 0;
        if (base[need - 1] != '\0')
            return CN_STOMP_E_MISSING_NUL;
        return (long)need;
    }
    const char *nul = memchr(base + p->search, '\0', avail - p->search);
    size_t body_end = nul ? (size_t)(nul - base) : avail;
    if (body_end > p->body_start && !cn_stomp_command_allows_body(p->cmd))
        return CN_STOMP_E_BODY_NOT_ALLOWED;
    if (body_end > max_frame)
        return CN_STOMP_E_FRAME_TOO_LARGE;
    if (!nul) {
        p->search = avail;
        return 0;
    }
    return (long)body_end + 1;
}

/* Turns the scanned frame in p->buf (total bytes including the NUL) into *f:
 * terminates and unescapes names and values in place. Cannot fail: scan() has
 * validated every escape. */
static void finish(struct cn_stomp_parser *p, size_t total, struct cn_stomp_frame *f)
{
    char *b = p->buf;
    for (uint32_t i = 0; i < p->nheaders; i++) {
        const struct header_pos *hp = &p->pos[i];
        struct cn_stomp_header *h = &p->headers[i];
        char *name = b + hp->start, *value = b + hp->colon + 1;
        size_t nlen = hp->colon - hp->start, vlen = hp->end - hp->colon - 1;
        if (hp->escaped) {
            nlen = (size_t)cn_stomp_unescape(name, name, nlen);
            vlen = (size_t)cn_stomp_unescape(value, value, vlen);
        }
        name[nlen] = '\0';
        value[vlen] = '\0';
        *h = (struct cn_stomp_header){name, value, (uint32_t)nlen, (uint32_t)vlen};
    }
    f->command = p->cmd;
    f->nheaders = p->nheaders;
    f->headers = p->headers;
    f->body = b + p->body_start;
    f->body_len = total - 1 - p->body_start;
    f->has_content_length = p->has_cl;
    p->yielded = true;
}

int cn_stomp_parser_parse(struct cn_stomp_parser *p, const char *data, size_t len, size_t *consumed,
                          struct cn_stomp_frame *frame)
{
    *consumed = 0;
    if (p->error)
        return p->error;
    if (p->yielded) {
        p->yielded = false;
        reset_frame_state(p);
        /* Give back the memory of an unusually large frame. */
        if (p->cap > 16384) {
            free(p->buf);
            p->buf = NULL;
            p->cap = 0;
        }
    }

    long rc;
    if (p->len == 0) {
        /* Between frames: skip heart-beat EOLs (LF or CR LF). */
        size_t i = 0;
        for (; i < len; i++) {
            char c = data[i];
            if (p->pending_cr) {
                if (c != '\n')
                    return p->error = CN_STOMP_E_BAD_EOL;
                p->pending_cr = false;
            } else if (c == '\r') {
                p->pending_cr = true;
            } else if (c != '\n') {
                break;
            }
        }
        if (i == len) {
            *consumed = len;
            return CN_STOMP_NEED_MORE;
        }
        /* Fast path: scan the frame where it lies in the caller's chunk. */
        rc = scan(p, data + i, len - i);
        if (rc < 0)
            return p->error = (int)rc;
        size_t keep = rc > 0 ? (size_t)rc : len - i;
        reserve(p, keep);
        memcpy(p->buf, data + i, keep);
        p->len = keep;
        if (rc == 0) {
            *consumed = len;
            return CN_STOMP_NEED_MORE;
        }
        *consumed = i + (size_t)rc;
        finish(p, (size_t)rc, frame);
        return CN_STOMP_FRAME;
    }

    /* Buffered mode: an earlier chunk ended mid-frame. An incomplete frame never needs
     * more than max_frame_size + 1 bytes to complete or fail, so append no more. */
    size_t room = (size_t)p->lim.max_frame_size + 1 - p->len;
    size_t n = len < room ? len : room;
    reserve(p, p->len + n);
    memcpy(p->buf + p->len, data, n);
    p->len += n;
    rc = scan(p, p->buf, p->len);
    if (rc < 0)
        return p->error = (int)rc;
    if (rc == 0) {
        *consumed = n;
        return CN_STOMP_NEED_MORE;
    }
    /* Everything buffered before this call belonged to the frame, so the bytes after
     * its NUL all came from this chunk: hand them back. */
    *consumed = n - (p->len - (size_t)rc);
    p->len = (size_t)rc;
    finish(p, (size_t)rc, frame);
    return CN_STOMP_FRAME;
}
