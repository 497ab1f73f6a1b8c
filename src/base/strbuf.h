/* A growable byte buffer for building text (HTTP bodies, metrics pages).
 *
 * Memory: the buffer owns `data`; cn_strbuf_take hands it to the caller, who
 * frees it with free(). Growth aborts on OOM (base/xmalloc.h). */
#ifndef CN_BASE_STRBUF_H
#define CN_BASE_STRBUF_H

#include <stddef.h>

struct cn_strbuf {
    char *data; /* always NUL-terminated once anything was appended */
    size_t len;
    size_t cap;
};

void cn_strbuf_init(struct cn_strbuf *b, size_t initial);
void cn_strbuf_append(struct cn_strbuf *b, const void *data, size_t len);
void cn_strbuf_printf(struct cn_strbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Returns the data (caller frees) and leaves b empty. */
char *cn_strbuf_take(struct cn_strbuf *b, size_t *len);
void cn_strbuf_free(struct cn_strbuf *b);

#endif
