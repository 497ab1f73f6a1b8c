/* The one place where running out of memory is handled: by aborting.
 *
 * A chat node that cannot allocate a few bytes cannot do anything useful, and
 * scattered NULL checks after every allocation hide the real error paths. Sizes a
 * peer chooses are validated by the caller *before* they reach these functions.
 * Every function here either returns usable memory or does not return. */
#ifndef CN_BASE_XMALLOC_H
#define CN_BASE_XMALLOC_H

#include <stddef.h>

/* Prints "out of memory" with the size to stderr and aborts. Never returns. */
_Noreturn void cn_oom(size_t size);

/* malloc/calloc/realloc/strdup/strndup that abort instead of returning NULL.
 * The caller frees the result with free(). cn_xmalloc(0) returns a unique pointer. */
void *cn_xmalloc(size_t size);
void *cn_xcalloc(size_t count, size_t size);
void *cn_xrealloc(void *ptr, size_t size);
char *cn_xstrdup(const char *s);
char *cn_xstrndup(const char *s, size_t n);

#endif
