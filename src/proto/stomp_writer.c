/* Server frame serializer (see stomp_writer.h). The writer keeps counting bytes after
 * the buffer is full, so one failed attempt tells the caller exactly how much to
 * allocate. */
#include "proto/stomp_writer.h"

#include <stdio.h>

#include "base/xmalloc.h"
#include "proto/stomp_escape.h"

static void put(struct cn_stomp_writer *w, const void *s, size_t n)
{
    if (n && w->pos <= w->cap && n <= w->cap - w->pos)
        memcpy(w->buf + w->pos, s, n);
    w->pos += n;
}

static void put_escaped(struct cn_stomp_writer *w, const char *s, size_t n)
{
    if (w->cmd == CN_STOMP_CONNECTED) {
        put(w, s, n);
        return;
    }
    if (w->raw) {
        /* No escapes to write CR or LF with: they become spaces, so a value can
         * never end the header early. */
        size_t at = w->pos;
        put(w, s, n);
        for (size_t i = 0; i < n && at + i < w->cap; i++)
            if (w->buf[at + i] == '\r' || w->buf[at + i] == '\n')
                w->buf[at + i] = ' ';
        return;
    }
    size_t e = cn_stomp_escaped_len(s, n);
    if (e && w->pos <= w->cap && e <= w->cap - w->pos)
        cn_stomp_escape(w->buf + w->pos, s, n);
    w->pos += e;
}

static void put_uint(struct cn_stomp_writer *w, size_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%zu", v);
    put(w, tmp, (size_t)n);
}

void cn_stomp_writer_init(struct cn_stomp_writer *w, char *buf, size_t cap, size_t headroom,
                          enum cn_stomp_command cmd)
{
    *w = (struct cn_stomp_writer){buf, cap, headroom, headroom, cmd, false};
    const char *name = cn_stomp_command_name(cmd);
    put(w, name, strlen(name));
    put(w, "\n", 1);
}

void cn_stomp_writer_set_raw(struct cn_stomp_writer *w)
{
    w->raw = true;
}

void cn_stomp_writer_header(struct cn_stomp_writer *w, const char *name, const char *value,
                            size_t vlen)
{
    put_escaped(w, name, strlen(name));
    put(w, ":", 1);
    put_escaped(w, value, vlen);
    put(w, "\n", 1);
}

long cn_stomp_writer_finish(struct cn_stomp_writer *w, const char *body, size_t body_len)
{
    if (cn_stomp_command_allows_body(w->cmd)) {
        put(w, "content-length:", 15);
        put_uint(w, body_len);
        put(w, "\n", 1);
    } else if (body_len) {
        return CN_STOMP_E_BODY_NOT_ALLOWED;
    }
    put(w, "\n", 1);
    if (body_len)
        put(w, body, body_len);
    put(w, "", 1);
    if (w->pos > w->cap)
        return CN_STOMP_E_NO_SPACE;
    return (long)(w->pos - w->start);
}

size_t cn_stomp_writer_needed(const struct cn_stomp_writer *w)
{
    return w->pos - w->start;
}

long cn_stomp_write_connected(char *buf, size_t cap, size_t headroom, const char *version,
                              unsigned sx, unsigned sy, const char *session, const char *server)
{
    struct cn_stomp_writer w;
    char hb[32];
    int hbn = snprintf(hb, sizeof hb, "%u,%u", sx, sy);
    cn_stomp_writer_init(&w, buf, cap, headroom, CN_STOMP_CONNECTED);
    cn_stomp_writer_header(&w, "version", version, strlen(version));
    cn_stomp_writer_header(&w, "heart-beat", hb, (size_t)hbn);
    if (session)
        cn_stomp_writer_header(&w, "session", session, strlen(session));
    if (server)
        cn_stomp_writer_header(&w, "server", server, strlen(server));
    return cn_stomp_writer_finish(&w, NULL, 0);
}

long cn_stomp_write_receipt(char *buf, size_t cap, size_t headroom, const char *receipt_id)
{
    struct cn_stomp_writer w;
    cn_stomp_writer_init(&w, buf, cap, headroom, CN_STOMP_RECEIPT);
    cn_stomp_writer_header(&w, "receipt-id", receipt_id, strlen(receipt_id));
    return cn_stomp_writer_finish(&w, NULL, 0);
}

long cn_stomp_write_error(char *buf, size_t cap, size_t headroom, const char *message,
                          const char *receipt_id, const char *body, size_t body_len)
{
    struct cn_stomp_writer w;
    cn_stomp_writer_init(&w, buf, cap, headroom, CN_STOMP_ERROR);
    cn_stomp_writer_header(&w, "message", message, strlen(message));
    if (receipt_id)
        cn_stomp_writer_header(&w, "receipt-id", receipt_id, strlen(receipt_id));
    if (body_len)
        cn_stomp_writer_header(&w, "content-type", "text/plain", 10);
    return cn_stomp_writer_finish(&w, body, body_len);
}

/* The shared tail is written by a MESSAGE writer that never wrote its command line:
 * the per-recipient render supplies "MESSAGE\n" and the subscription header. */
static long render_shared(char *buf, size_t cap, const struct cn_stomp_message_fields *m,
                          size_t *needed)
{
    struct cn_stomp_writer w = {buf, cap, 0, 0, CN_STOMP_MESSAGE, false};
    cn_stomp_writer_header(&w, "destination", m->destination, strlen(m->destination));
    cn_stomp_writer_header(&w, "message-id", m->message_id, strlen(m->message_id));
    if (m->content_type)
        cn_stomp_writer_header(&w, "content-type", m->content_type, strlen(m->content_type));
    for (unsigned i = 0; i < m->nextra; i++)
        cn_stomp_writer_header(&w, m->extra[i].name, m->extra[i].value, m->extra[i].value_len);
    long rc = cn_stomp_writer_finish(&w, m->body, m->body_len);
    *needed = cn_stomp_writer_needed(&w);
    return rc;
}

long cn_stomp_message_shared_render(char *buf, size_t cap, const struct cn_stomp_message_fields *m)
{
    size_t needed;
    return render_shared(buf, cap, m, &needed);
}

char *cn_stomp_message_shared_new(const struct cn_stomp_message_fields *m, size_t *len_out)
{
    size_t needed;
    render_shared(NULL, 0, m, &needed);
    char *buf = cn_xmalloc(needed);
    long rc = render_shared(buf, needed, m, &needed);
    *len_out = (size_t)rc;
    return buf;
}
