/* Parsing of the broadcast envelope (see broadcast_envelope.h). */
#include "io/broadcast_envelope.h"

#include <errno.h>
#include <string.h>

/* Reads an optionally negative decimal up to `stop`. Returns the position after
 * `stop`, or NULL. */
static const char *read_i64(const char *p, const char *end, char stop, int64_t *out)
{
    int neg = 0;
    if (p < end && *p == '-') {
        neg = 1;
        p++;
    }
    const char *start = p;
    int64_t v = 0;
    while (p < end && *p >= '0' && *p <= '9') {
        if (p - start >= 18)
            return NULL; /* more than 18 digits cannot be an offset we wrote */
        v = v * 10 + (*p - '0');
        p++;
    }
    if (p == start || p >= end || *p != stop)
        return NULL;
    *out = neg ? -v : v;
    return p + 1;
}

int cn_bc_envelope_parse(const char *buf, size_t len, struct cn_bc_envelope *out)
{
    const char *p = buf, *end = buf + len;
    p = read_i64(p, end, ' ', &out->offset);
    if (!p)
        return -EINVAL;
    p = read_i64(p, end, ' ', &out->prev);
    if (!p || out->offset < 0 || out->prev < -1 || out->prev >= out->offset)
        return -EINVAL;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl || cn_uuid_canonical(p, (size_t)(nl - p), out->message_key) != 0)
        return -EINVAL;
    out->body = nl + 1;
    out->body_len = (size_t)(end - out->body);
    return 0;
}
