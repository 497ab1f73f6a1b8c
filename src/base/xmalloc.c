/* Allocation wrappers that abort on exhaustion; see xmalloc.h for why. */
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Noreturn void cn_oom(size_t size)
{
    fprintf(stderr, "chat-node: out of memory allocating %zu bytes\n", size);
    abort();
}

void *cn_xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        cn_oom(size);
    return p;
}

void *cn_xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        cn_oom(count * size);
    return p;
}

void *cn_xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (!p)
        cn_oom(size);
    return p;
}

char *cn_xstrdup(const char *s)
{
    return cn_xstrndup(s, strlen(s));
}

char *cn_xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = cn_xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}
