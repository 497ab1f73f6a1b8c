/* Parsing of the broadcast envelope (see broadcast_envelope.h). */
#include "proto/broadcast_envelope.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"

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

#define EVENT_PREFIX     "event "
#define EVENT_PREFIX_LEN (sizeof EVENT_PREFIX - 1)

int cn_bc_is_event(const char *buf, size_t len)
{
    return len >= EVENT_PREFIX_LEN && memcmp(buf, EVENT_PREFIX, EVENT_PREFIX_LEN) == 0;
}

static size_t name_len(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && s[i] >= 'a' && s[i] <= 'z')
        i++;
    return i;
}

static size_t id_len(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
                     (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
        i++;
    return i;
}

int cn_bc_event_parse(const char *buf, size_t len, struct cn_bc_event *out)
{
    if (!cn_bc_is_event(buf, len))
        return -EINVAL;
    const char *p = buf + EVENT_PREFIX_LEN, *end = buf + len;
    size_t n = name_len(p, (size_t)(end - p));
    if (n == 0 || n > CN_BC_EVENT_NAME_MAX || p + n >= end || p[n] != ' ')
        return -EINVAL;
    memcpy(out->name, p, n);
    out->name[n] = '\0';
    p += n + 1;
    n = id_len(p, (size_t)(end - p));
    if (n == 0 || n > CN_BC_EVENT_ID_MAX || p + n >= end || p[n] != '\n')
        return -EINVAL;
    memcpy(out->id, p, n);
    out->id[n] = '\0';
    out->body = p + n + 1;
    out->body_len = (size_t)(end - out->body);
    return 0;
}

char *cn_bc_event_render(const char *name, const char *id, const char *body, size_t body_len,
                         size_t *len_out)
{
    size_t nl = strlen(name), il = strlen(id);
    if (nl == 0 || nl > CN_BC_EVENT_NAME_MAX || name_len(name, nl) != nl || il == 0 ||
        il > CN_BC_EVENT_ID_MAX || id_len(id, il) != il)
        return NULL;
    size_t len = EVENT_PREFIX_LEN + nl + 1 + il + 1 + body_len;
    char *out = cn_xmalloc(len + 1);
    char *p = out;
    memcpy(p, EVENT_PREFIX, EVENT_PREFIX_LEN);
    p += EVENT_PREFIX_LEN;
    memcpy(p, name, nl);
    p += nl;
    *p++ = ' ';
    memcpy(p, id, il);
    p += il;
    *p++ = '\n';
    memcpy(p, body, body_len);
    p[body_len] = '\0';
    *len_out = len;
    return out;
}
