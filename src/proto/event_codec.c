/* msgpack events (see event_codec.h): msgpack-c packer for encoding, a bounded reader
 * for decoding. */
#include "proto/event_codec.h"

#include <msgpack.h>
#include <stdbool.h>
#include <string.h>

#include "base/xmalloc.h"
#include "proto/utf8.h"

#define MAX_DEPTH 32

const char *cn_event_strerror(int code)
{
    switch ((enum cn_event_error)code) {
    case CN_EVENT_E_MALFORMED:
        return "malformed msgpack";
    case CN_EVENT_E_NOT_MAP:
        return "event is not a map";
    case CN_EVENT_E_KIND:
        return "wrong or missing event kind";
    case CN_EVENT_E_VERSION:
        return "unknown or missing schema version";
    case CN_EVENT_E_MISSING:
        return "required field missing";
    case CN_EVENT_E_TYPE:
        return "field has the wrong type";
    case CN_EVENT_E_VALUE:
        return "field value out of range";
    case CN_EVENT_E_DEPTH:
        return "value nested too deep";
    }
    return "unknown error";
}

/* ---- encoding ---------------------------------------------------------------- */

struct growbuf {
    char *data;
    size_t len, cap;
};

static int grow_write(void *data, const char *buf, size_t len)
{
    struct growbuf *g = data;
    if (g->len + len > g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 128;
        while (cap < g->len + len)
            cap *= 2;
        g->data = cn_xrealloc(g->data, cap);
        g->cap = cap;
    }
    memcpy(g->data + g->len, buf, len);
    g->len += len;
    return 0;
}

static void pack_str(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

#define PACK_KEY(pk, lit) pack_str((pk), (lit), sizeof(lit) - 1)

char *cn_event_encode_chat_message(const struct cn_chat_message_event *e, size_t *len_out)
{
    struct growbuf g = {0};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &g, grow_write);
    msgpack_pack_map(&pk, 9);
    PACK_KEY(&pk, "kind");
    PACK_KEY(&pk, "ChatMessage");
    PACK_KEY(&pk, "v");
    msgpack_pack_int(&pk, CN_EVENT_SCHEMA_VERSION);
    PACK_KEY(&pk, "messageKey");
    pack_str(&pk, e->message_key, strlen(e->message_key));
    PACK_KEY(&pk, "roomId");
    msgpack_pack_int64(&pk, e->room_id);
    PACK_KEY(&pk, "senderId");
    msgpack_pack_int64(&pk, e->sender_id);
    PACK_KEY(&pk, "senderNickname");
    pack_str(&pk, e->sender_nickname, e->sender_nickname_len);
    PACK_KEY(&pk, "content");
    pack_str(&pk, e->content, e->content_len);
    PACK_KEY(&pk, "type");
    const char *t = cn_message_type_name(e->type);
    pack_str(&pk, t, strlen(t));
    PACK_KEY(&pk, "sentAt");
    msgpack_pack_int64(&pk, e->sent_at_ms);
    *len_out = g.len;
    return g.data;
}

char *cn_event_encode_read_receipt(const struct cn_read_receipt_event *e, size_t *len_out)
{
    struct growbuf g = {0};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &g, grow_write);
    msgpack_pack_map(&pk, 6);
    PACK_KEY(&pk, "kind");
    PACK_KEY(&pk, "ReadReceipt");
    PACK_KEY(&pk, "v");
    msgpack_pack_int(&pk, CN_EVENT_SCHEMA_VERSION);
    PACK_KEY(&pk, "roomId");
    msgpack_pack_int64(&pk, e->room_id);
    PACK_KEY(&pk, "userId");
    msgpack_pack_int64(&pk, e->user_id);
    PACK_KEY(&pk, "messageId");
    msgpack_pack_int64(&pk, e->message_id);
    PACK_KEY(&pk, "readAt");
    msgpack_pack_int64(&pk, e->read_at_ms);
    *len_out = g.len;
    return g.data;
}

/* ---- decoding ---------------------------------------------------------------- */

struct reader {
    const unsigned char *p, *end;
};

static bool have(const struct reader *r, size_t n)
{
    return (size_t)(r->end - r->p) >= n;
}

static uint64_t be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Reads a length of n big-endian bytes after the type byte. */
static int read_len(struct reader *r, int n, uint64_t *out)
{
    if (!have(r, (size_t)n))
        return CN_EVENT_E_MALFORMED;
    *out = be(r->p, n);
    r->p += n;
    return 0;
}

/* Skips one value of any type, checking every claimed length against the bytes that
 * are really there before moving on. */
static int skip(struct reader *r, int depth)
{
    if (depth > MAX_DEPTH)
        return CN_EVENT_E_DEPTH;
    if (!have(r, 1))
        return CN_EVENT_E_MALFORMED;
    unsigned c = *r->p++;
    uint64_t n = 0, items = 0;
    int rc = 0;
    if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3)
        return 0;
    if ((c & 0xf0) == 0x80) {
        items = 2 * (uint64_t)(c & 0x0f);
    } else if ((c & 0xf0) == 0x90) {
        items = c & 0x0f;
    } else if ((c & 0xe0) == 0xa0) {
        n = c & 0x1f;
    } else {
        switch (c) {
        case 0xc4:
        case 0xd9:
            rc = read_len(r, 1, &n);
            break; /* bin8, str8 */
        case 0xc5:
        case 0xda:
            rc = read_len(r, 2, &n);
            break; /* bin16, str16 */
        case 0xc6:
        case 0xdb:
            rc = read_len(r, 4, &n);
            break; /* bin32, str32 */
        case 0xc7:
            rc = read_len(r, 1, &n);
            n += 1;
            break; /* ext8 + type */
        case 0xc8:
            rc = read_len(r, 2, &n);
            n += 1;
            break;
        case 0xc9:
            rc = read_len(r, 4, &n);
            n += 1;
            break;
        case 0xca:
            n = 4;
            break; /* float32 */
        case 0xcb:
            n = 8;
            break; /* float64 */
        case 0xcc:
        case 0xd0:
            n = 1;
            break;
        case 0xcd:
        case 0xd1:
            n = 2;
            break;
        case 0xce:
        case 0xd2:
            n = 4;
            break;
        case 0xcf:
        case 0xd3:
            n = 8;
            break;
        case 0xd4:
            n = 2;
            break; /* fixext 1..16 */
        case 0xd5:
            n = 3;
            break;
        case 0xd6:
            n = 5;
            break;
        case 0xd7:
            n = 9;
            break;
        case 0xd8:
            n = 17;
            break;
        case 0xdc:
            rc = read_len(r, 2, &items);
            break; /* array16 */
        case 0xdd:
            rc = read_len(r, 4, &items);
            break; /* array32 */
        case 0xde:
            rc = read_len(r, 2, &items);
            items *= 2;
            break; /* map16 */
        case 0xdf:
            rc = read_len(r, 4, &items);
            items *= 2;
            break; /* map32 */
        default:
            return CN_EVENT_E_MALFORMED; /* 0xc1 */
        }
    }
    if (rc < 0)
        return rc;
    if (!have(r, n))
        return CN_EVENT_E_MALFORMED;
    r->p += n;
    /* Each item takes at least one byte: a count larger than what is left is a lie. */
    if (items > (uint64_t)(r->end - r->p))
        return CN_EVENT_E_MALFORMED;
    for (uint64_t i = 0; i < items; i++)
        if ((rc = skip(r, depth + 1)) < 0)
            return rc;
    return 0;
}

/* Reads a string; a non-string value is a type error (and is not consumed). */
static int read_str(struct reader *r, const char **s, size_t *n)
{
    if (!have(r, 1))
        return CN_EVENT_E_MALFORMED;
    unsigned c = *r->p;
    uint64_t len;
    int rc = 0;
    if ((c & 0xe0) == 0xa0) {
        r->p++;
        len = c & 0x1f;
    } else if (c == 0xd9 || c == 0xda || c == 0xdb) {
        r->p++;
        rc = read_len(r, c == 0xd9 ? 1 : c == 0xda ? 2 : 4, &len);
    } else {
        return CN_EVENT_E_TYPE;
    }
    if (rc < 0)
        return rc;
    if (!have(r, len))
        return CN_EVENT_E_MALFORMED;
    *s = (const char *)r->p;
    *n = (size_t)len;
    r->p += len;
    return 0;
}

/* Reads any msgpack integer that fits int64. Floats, strings, etc. are type errors. */
static int read_int(struct reader *r, int64_t *out)
{
    if (!have(r, 1))
        return CN_EVENT_E_MALFORMED;
    unsigned c = *r->p;
    if (c <= 0x7f) {
        r->p++;
        *out = c;
        return 0;
    }
    if (c >= 0xe0) {
        r->p++;
        *out = (int8_t)c;
        return 0;
    }
    int n;
    bool is_signed;
    switch (c) {
    case 0xcc:
        n = 1;
        is_signed = false;
        break;
    case 0xcd:
        n = 2;
        is_signed = false;
        break;
    case 0xce:
        n = 4;
        is_signed = false;
        break;
    case 0xcf:
        n = 8;
        is_signed = false;
        break;
    case 0xd0:
        n = 1;
        is_signed = true;
        break;
    case 0xd1:
        n = 2;
        is_signed = true;
        break;
    case 0xd2:
        n = 4;
        is_signed = true;
        break;
    case 0xd3:
        n = 8;
        is_signed = true;
        break;
    default:
        return CN_EVENT_E_TYPE;
    }
    if (!have(r, 1 + (size_t)n))
        return CN_EVENT_E_MALFORMED;
    uint64_t v = be(r->p + 1, n);
    r->p += 1 + n;
    if (!is_signed) {
        if (v > INT64_MAX)
            return CN_EVENT_E_VALUE;
        *out = (int64_t)v;
    } else if (n == 8) {
        *out = (int64_t)v;
    } else {
        /* Sign-extend from n bytes. */
        int shift = 64 - 8 * n;
        *out = (int64_t)(v << shift) >> shift;
    }
    return 0;
}

static int read_map_header(struct reader *r, uint64_t *pairs)
{
    if (!have(r, 1))
        return CN_EVENT_E_MALFORMED;
    unsigned c = *r->p;
    int rc = 0;
    if ((c & 0xf0) == 0x80) {
        r->p++;
        *pairs = c & 0x0f;
    } else if (c == 0xde || c == 0xdf) {
        r->p++;
        rc = read_len(r, c == 0xde ? 2 : 4, pairs);
    } else {
        return CN_EVENT_E_NOT_MAP;
    }
    if (rc < 0)
        return rc;
    if (*pairs > (uint64_t)(r->end - r->p) / 2)
        return CN_EVENT_E_MALFORMED;
    return 0;
}

/* Field slots filled while walking the map; the first occurrence of a key wins. */
enum field {
    F_KIND,
    F_V,
    F_KEY,
    F_ROOM,
    F_SENDER,
    F_NICK,
    F_CONTENT,
    F_TYPE,
    F_SENT,
    F_USER,
    F_MESSAGE,
    F_READ,
    F_COUNT
};

static const struct {
    const char *name;
    bool is_str;
} fields[F_COUNT] = {
    [F_KIND] = {"kind", true},          [F_V] = {"v", false},
    [F_KEY] = {"messageKey", true},     [F_ROOM] = {"roomId", false},
    [F_SENDER] = {"senderId", false},   [F_NICK] = {"senderNickname", true},
    [F_CONTENT] = {"content", true},    [F_TYPE] = {"type", true},
    [F_SENT] = {"sentAt", false},       [F_USER] = {"userId", false},
    [F_MESSAGE] = {"messageId", false}, [F_READ] = {"readAt", false},
};

struct slots {
    bool seen[F_COUNT];
    int64_t i[F_COUNT];
    const char *s[F_COUNT];
    size_t n[F_COUNT];
};

/* Walks the whole map. Known keys are read with their expected type; others skipped.
 * The map must be the whole buffer. */
static int walk(const char *buf, size_t len, struct slots *sl)
{
    struct reader r = {(const unsigned char *)buf, (const unsigned char *)buf + len};
    uint64_t pairs;
    int rc = read_map_header(&r, &pairs);
    if (rc < 0)
        return rc;
    memset(sl, 0, sizeof *sl);
    for (uint64_t k = 0; k < pairs; k++) {
        const char *key;
        size_t klen;
        rc = read_str(&r, &key, &klen);
        if (rc == CN_EVENT_E_TYPE) {
            /* A non-string key cannot be ours: skip the pair. */
            if ((rc = skip(&r, 1)) < 0 || (rc = skip(&r, 1)) < 0)
                return rc;
            continue;
        }
        if (rc < 0)
            return rc;
        int f = -1;
        for (int i = 0; i < F_COUNT; i++) {
            if (strlen(fields[i].name) == klen && memcmp(fields[i].name, key, klen) == 0) {
                f = i;
                break;
            }
        }
        if (f < 0 || sl->seen[f]) {
            if ((rc = skip(&r, 1)) < 0)
                return rc;
            continue;
        }
        rc = fields[f].is_str ? read_str(&r, &sl->s[f], &sl->n[f]) : read_int(&r, &sl->i[f]);
        if (rc < 0)
            return rc;
        sl->seen[f] = true;
    }
    if (r.p != r.end)
        return CN_EVENT_E_MALFORMED;
    return 0;
}

static int check_header(const struct slots *sl, const char *kind)
{
    size_t kn = strlen(kind);
    if (!sl->seen[F_KIND] || sl->n[F_KIND] != kn || memcmp(sl->s[F_KIND], kind, kn) != 0)
        return CN_EVENT_E_KIND;
    if (!sl->seen[F_V] || sl->i[F_V] != CN_EVENT_SCHEMA_VERSION)
        return CN_EVENT_E_VERSION;
    return 0;
}

static int require(const struct slots *sl, const enum field *req, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!sl->seen[req[i]])
            return CN_EVENT_E_MISSING;
    return 0;
}

int cn_event_decode_chat_message(const char *buf, size_t len, struct cn_chat_message_event *out)
{
    struct slots sl;
    int rc = walk(buf, len, &sl);
    if (rc < 0 || (rc = check_header(&sl, "ChatMessage")) < 0)
        return rc;
    static const enum field req[] = {F_KEY, F_ROOM, F_SENDER, F_NICK, F_CONTENT, F_TYPE, F_SENT};
    if ((rc = require(&sl, req, sizeof req / sizeof req[0])) < 0)
        return rc;
    if (cn_uuid_canonical(sl.s[F_KEY], sl.n[F_KEY], out->message_key) < 0)
        return CN_EVENT_E_VALUE;
    if (sl.i[F_ROOM] <= 0 || sl.i[F_SENDER] <= 0)
        return CN_EVENT_E_VALUE;
    long nick = cn_utf8_count(sl.s[F_NICK], sl.n[F_NICK]);
    long content = cn_utf8_count(sl.s[F_CONTENT], sl.n[F_CONTENT]);
    if (nick < 0 || nick > CN_NICKNAME_MAX_CHARS || content < 1 || content > CN_CONTENT_MAX_CHARS)
        return CN_EVENT_E_VALUE;
    if (cn_message_type_parse(sl.s[F_TYPE], sl.n[F_TYPE], &out->type) < 0)
        return CN_EVENT_E_VALUE;
    out->room_id = sl.i[F_ROOM];
    out->sender_id = sl.i[F_SENDER];
    out->sender_nickname = sl.s[F_NICK];
    out->sender_nickname_len = sl.n[F_NICK];
    out->content = sl.s[F_CONTENT];
    out->content_len = sl.n[F_CONTENT];
    out->sent_at_ms = sl.i[F_SENT];
    return 0;
}

int cn_event_decode_read_receipt(const char *buf, size_t len, struct cn_read_receipt_event *out)
{
    struct slots sl;
    int rc = walk(buf, len, &sl);
    if (rc < 0 || (rc = check_header(&sl, "ReadReceipt")) < 0)
        return rc;
    static const enum field req[] = {F_ROOM, F_USER, F_MESSAGE, F_READ};
    if ((rc = require(&sl, req, sizeof req / sizeof req[0])) < 0)
        return rc;
    if (sl.i[F_ROOM] <= 0 || sl.i[F_USER] <= 0 || sl.i[F_MESSAGE] < 0)
        return CN_EVENT_E_VALUE;
    out->room_id = sl.i[F_ROOM];
    out->user_id = sl.i[F_USER];
    out->message_id = sl.i[F_MESSAGE];
    out->read_at_ms = sl.i[F_READ];
    return 0;
}
