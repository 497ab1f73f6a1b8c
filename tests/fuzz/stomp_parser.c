/* libFuzzer target for src/proto/stomp_parser.c.
 *
 * Differential: the input is parsed once whole and once cut into chunks whose sizes
 * come from the input's first bytes; both runs must yield the same frames and end in
 * the same state (error code or clean). Also checks each frame's invariants and that
 * escaping every decoded header value round-trips. Small limits make the limit paths
 * reachable. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/stomp_escape.h"
#include "proto/stomp_parser.h"

#define MAX_FRAMES 64

struct run {
    int nframes;
    struct cn_stomp_frame *frames[MAX_FRAMES];
    int end; /* last return code */
};

static void check_frame(const struct cn_stomp_frame *f)
{
    if (f->body[f->body_len] != '\0')
        abort();
    if (f->body_len && !cn_stomp_command_allows_body(f->command))
        abort();
    for (uint32_t i = 0; i < f->nheaders; i++) {
        const struct cn_stomp_header *h = &f->headers[i];
        if (h->name_len == 0 || h->name[h->name_len] || h->value[h->value_len])
            abort();
        if (cn_stomp_command_is_raw(f->command))
            continue;
        char enc[8192 * 2], dec[8192 * 2];
        if (h->value_len > 8192)
            abort();
        size_t e = cn_stomp_escape(enc, h->value, h->value_len);
        long d = cn_stomp_unescape(dec, enc, e);
        if (d != (long)h->value_len || memcmp(dec, h->value, h->value_len) != 0)
            abort();
    }
}

static void parse(const uint8_t *data, size_t size, const uint8_t *cuts, size_t ncuts,
                  struct run *out)
{
    struct cn_stomp_limits lim = {.max_frame_size = 4096, .max_headers = 8, .max_header_line = 512};
    struct cn_stomp_parser *p = cn_stomp_parser_new(&lim);
    memset(out, 0, sizeof *out);
    size_t off = 0, c = 0;
    while (off < size) {
        size_t chunk = size - off;
        if (ncuts) {
            size_t want = (size_t)cuts[c++ % ncuts] + 1;
            if (want < chunk)
                chunk = want;
        }
        const char *d = (const char *)data + off;
        size_t left = chunk;
        for (;;) {
            struct cn_stomp_frame f;
            size_t used;
            int rc = cn_stomp_parser_parse(p, d, left, &used, &f);
            out->end = rc;
            if (rc < 0)
                goto done;
            if (rc == CN_STOMP_NEED_MORE) {
                if (used != left)
                    abort();
                break;
            }
            if (used == 0 || used > left)
                abort();
            check_frame(&f);
            if (out->nframes < MAX_FRAMES)
                out->frames[out->nframes++] = cn_stomp_frame_clone(&f);
            d += used;
            left -= used;
        }
        off += chunk;
    }
done:
    cn_stomp_parser_free(p);
}

static int same(const struct cn_stomp_frame *a, const struct cn_stomp_frame *b)
{
    if (a->command != b->command || a->nheaders != b->nheaders || a->body_len != b->body_len ||
        memcmp(a->body, b->body, a->body_len))
        return 0;
    for (uint32_t i = 0; i < a->nheaders; i++) {
        const struct cn_stomp_header *x = &a->headers[i], *y = &b->headers[i];
        if (x->name_len != y->name_len || x->value_len != y->value_len ||
            memcmp(x->name, y->name, x->name_len) || memcmp(x->value, y->value, x->value_len))
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* First byte: how many cut sizes follow (0..7). */
    size_t ncuts = size ? data[0] % 8 : 0;
    if (size < 1 + ncuts)
        return 0;
    const uint8_t *cuts = data + 1;
    data += 1 + ncuts;
    size -= 1 + ncuts;

    struct run whole, split;
    parse(data, size, NULL, 0, &whole);
    parse(data, size, cuts, ncuts, &split);
    if (whole.nframes != split.nframes)
        abort();
    /* A stream that ended mid-frame is "need more" in both; an error must match. */
    if ((whole.end < 0 || split.end < 0) && whole.end != split.end)
        abort();
    for (int i = 0; i < whole.nframes; i++) {
        if (!same(whole.frames[i], split.frames[i]))
            abort();
        free(whole.frames[i]);
        free(split.frames[i]);
    }
    return 0;
}
