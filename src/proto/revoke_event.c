/* The membership revocation event and its acknowledgement; see revoke_event.h. */
#include "proto/revoke_event.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/strbuf.h"
#include "base/xmalloc.h"

#define EVENT_PREFIX "revoke "
#define ACK_PREFIX   "ack "

/* A cursor over the line being parsed. */
struct rd {
    const char *p, *end;
};

/* Reads a decimal of 1..digits digits that fits uint64, followed by `stop`
 * (consumed). Returns 0 or -EINVAL. */
static int read_uint(struct rd *r, int digits, char stop, uint64_t *out)
{
    uint64_t v = 0;
    int n = 0;
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
        uint64_t d = (uint64_t)(*r->p++ - '0');
        if (++n > digits || v > (UINT64_MAX - d) / 10)
            return -EINVAL;
        v = v * 10 + d;
    }
    if (n == 0 || r->p >= r->end || *r->p != stop)
        return -EINVAL;
    r->p++;
    *out = v;
    return 0;
}

static int ack_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ':' ||
           c == '.' || c == '_' || c == '-';
}

int cn_revoke_ack_channel_ok(const char *name, size_t len)
{
    if (len == 0 || len > CN_REVOKE_ACK_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!ack_char(name[i]))
            return 0;
    return 1;
}

static int kind_ok(const char *kind, size_t len)
{
    if (len == 0 || len > CN_REVOKE_KIND_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (kind[i] < 'a' || kind[i] > 'z')
            return 0;
    return 1;
}

/* The users field: "*", or 1..CN_REVOKE_MAX_USERS positive ids of at most 18 digits
 * separated by single commas. Returns the count (0 for "*"), or -1. */
static long count_users(const char *p, size_t len)
{
    if (len == 1 && p[0] == '*')
        return 0;
    long n = 0;
    size_t i = 0;
    while (i < len) {
        size_t start = i;
        uint64_t v = 0;
        while (i < len && p[i] >= '0' && p[i] <= '9' && i - start < 18)
            v = v * 10 + (uint64_t)(p[i++] - '0');
        if (i == start || v == 0 || ++n > CN_REVOKE_MAX_USERS)
            return -1;
        if (i == len)
            return n;
        if (p[i] != ',' || i + 1 == len)
            return -1;
        i++;
    }
    return -1;
}

int cn_revoke_event_parse(const char *buf, size_t len, struct cn_revoke_event *out)
{
    size_t plen = sizeof EVENT_PREFIX - 1;
    if (len <= plen || memcmp(buf, EVENT_PREFIX, plen) != 0)
        return -EINVAL;
    struct rd r = {buf + plen, buf + len};
    uint64_t id, room, at;
    if (read_uint(&r, 20, ' ', &id) != 0 || id == 0)
        return -EINVAL;
    const char *ack = r.p;
    const char *sp = memchr(ack, ' ', (size_t)(r.end - ack));
    if (!sp || !cn_revoke_ack_channel_ok(ack, (size_t)(sp - ack)))
        return -EINVAL;
    memcpy(out->ack, ack, (size_t)(sp - ack));
    out->ack[sp - ack] = '\0';
    r.p = sp + 1;
    if (read_uint(&r, 18, ' ', &room) != 0 || room == 0)
        return -EINVAL;
    const char *kind = r.p;
    sp = memchr(kind, ' ', (size_t)(r.end - kind));
    if (!sp || !kind_ok(kind, (size_t)(sp - kind)))
        return -EINVAL;
    memcpy(out->kind, kind, (size_t)(sp - kind));
    out->kind[sp - kind] = '\0';
    r.p = sp + 1;
    if (read_uint(&r, 18, ' ', &at) != 0)
        return -EINVAL;
    long n = count_users(r.p, (size_t)(r.end - r.p));
    if (n < 0)
        return -EINVAL;
    out->id = id;
    out->room_id = (int64_t)room;
    out->at_ms = (int64_t)at;
    out->users = n ? r.p : "";
    out->users_len = n ? (size_t)(r.end - r.p) : 0;
    out->nusers = (size_t)n;
    return 0;
}

void cn_revoke_event_users(const struct cn_revoke_event *ev, int64_t *out)
{
    size_t k = 0;
    int64_t v = 0;
    for (size_t i = 0; i < ev->users_len; i++) {
        char c = ev->users[i];
        if (c == ',') {
            out[k++] = v;
            v = 0;
        } else {
            v = v * 10 + (c - '0');
        }
    }
    if (ev->nusers)
        out[k] = v;
}

char *cn_revoke_event_render(uint64_t id, const char *ack, int64_t room_id, const char *kind,
                             int64_t at_ms, const int64_t *users, size_t n, size_t *len_out)
{
    if (id == 0 || !cn_revoke_ack_channel_ok(ack, strlen(ack)) || room_id <= 0 ||
        room_id > INT64_C(999999999999999999) || !kind_ok(kind, strlen(kind)) || at_ms < 0 ||
        at_ms > INT64_C(999999999999999999) || n > CN_REVOKE_MAX_USERS)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (users[i] <= 0 || users[i] > INT64_C(999999999999999999))
            return NULL;
    struct cn_strbuf b;
    cn_strbuf_init(&b, 96 + n * 20);
    cn_strbuf_printf(&b, EVENT_PREFIX "%" PRIu64 " %s %" PRId64 " %s %" PRId64 " ", id, ack,
                     room_id, kind, at_ms);
    if (n == 0)
        cn_strbuf_append(&b, "*", 1);
    for (size_t i = 0; i < n; i++)
        cn_strbuf_printf(&b, "%s%" PRId64, i ? "," : "", users[i]);
    return cn_strbuf_take(&b, len_out);
}

size_t cn_revoke_ack_render(char out[32], uint64_t id)
{
    return (size_t)snprintf(out, 32, ACK_PREFIX "%" PRIu64, id);
}

int cn_revoke_ack_parse(const char *buf, size_t len, uint64_t *id)
{
    size_t plen = sizeof ACK_PREFIX - 1;
    if (len <= plen || len > plen + 20 || memcmp(buf, ACK_PREFIX, plen) != 0)
        return -EINVAL;
    uint64_t v = 0;
    for (size_t i = plen; i < len; i++) {
        if (buf[i] < '0' || buf[i] > '9')
            return -EINVAL;
        uint64_t d = (uint64_t)(buf[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -EINVAL;
        v = v * 10 + d;
    }
    if (v == 0)
        return -EINVAL;
    *id = v;
    return 0;
}
