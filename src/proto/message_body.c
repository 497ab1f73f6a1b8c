/* Hand-written JSON for the message body (see message_body.h). Escaping copies runs of
 * plain bytes with memcpy and looks each byte up in a 256-entry table, matching
 * jansson's choices: the two-character escapes \" \\ \b \f \n \r \t, \u00XX (upper-case
 * hex) for other control bytes, everything else (including '/', DEL and non-ASCII)
 * verbatim. */
#include "proto/message_body.h"

#include <string.h>

/* 0: copy; 'u': \u00XX; anything else: backslash plus that character. */
static const char escape_table[256] = {
    ['\0'] = 'u', [1] = 'u',    [2] = 'u',    [3] = 'u',     [4] = 'u',    [5] = 'u',
    [6] = 'u',    [7] = 'u',    ['\b'] = 'b', ['\t'] = 't',  ['\n'] = 'n', [11] = 'u',
    ['\f'] = 'f', ['\r'] = 'r', [14] = 'u',   [15] = 'u',    [16] = 'u',   [17] = 'u',
    [18] = 'u',   [19] = 'u',   [20] = 'u',   [21] = 'u',    [22] = 'u',   [23] = 'u',
    [24] = 'u',   [25] = 'u',   [26] = 'u',   [27] = 'u',    [28] = 'u',   [29] = 'u',
    [30] = 'u',   [31] = 'u',   ['"'] = '"',  ['\\'] = '\\',
};

static char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

#define PUT_LIT(p, lit) put((p), (lit), sizeof(lit) - 1)

static char *put_escaped(char *p, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        char e = escape_table[(unsigned char)s[i]];
        if (!e)
            continue;
        p = put(p, s + run, i - run);
        run = i + 1;
        *p++ = '\\';
        if (e != 'u') {
            *p++ = e;
        } else {
            unsigned char c = (unsigned char)s[i];
            p = PUT_LIT(p, "u00");
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
        }
    }
    return put(p, s + run, n - run);
}

static char *put_string(char *p, const char *s, size_t n)
{
    *p++ = '"';
    p = put_escaped(p, s, n);
    *p++ = '"';
    return p;
}

static char *put_int(char *p, int64_t v)
{
    char tmp[24];
    int n = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *p++ = '-';
    while (n)
        *p++ = tmp[--n];
    return p;
}

size_t cn_message_body_max_len(const struct cn_message *m)
{
    size_t key = m->message_key ? strlen(m->message_key) : 4;
    /* Keys, quotes and punctuation are under 140 bytes; five integers at most 20 each;
     * the time 26; escaped strings grow at most 6x. */
    return 140 + 5 * 20 + 26 + 6 * (key + m->sender_nickname_len + m->content_len);
}

long cn_message_body_render(char *buf, size_t cap, const struct cn_message *m)
{
    if (cap < cn_message_body_max_len(m))
        return -1;
    char *p = buf;
    *p++ = '{';
    if (m->id > 0) {
        p = PUT_LIT(p, "\"id\":");
        p = put_int(p, m->id);
        *p++ = ',';
    }
    p = PUT_LIT(p, "\"messageKey\":");
    if (m->message_key)
        p = put_string(p, m->message_key, strlen(m->message_key));
    else
        p = PUT_LIT(p, "null");
    p = PUT_LIT(p, ",\"roomId\":");
    p = put_int(p, m->room_id);
    p = PUT_LIT(p, ",\"senderId\":");
    p = put_int(p, m->sender_id);
    p = PUT_LIT(p, ",\"senderNickname\":");
    p = put_string(p, m->sender_nickname ? m->sender_nickname : "", m->sender_nickname_len);
    p = PUT_LIT(p, ",\"content\":");
    p = put_string(p, m->content ? m->content : "", m->content_len);
    p = PUT_LIT(p, ",\"type\":\"");
    const char *t = cn_message_type_name(m->type);
    p = put(p, t, strlen(t));
    p = PUT_LIT(p, "\",\"createdAt\":\"");
    p += cn_format_time_ms(m->created_at_ms, p);
    p = PUT_LIT(p, "\",\"position\":");
    p = put_int(p, m->position);
    *p++ = '}';
    return (long)(p - buf);
}
