/* Leveled logging to stderr; see log.h. One write(2) per line so that lines from
 * different threads never interleave mid-line. */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log_repeat.h"

static atomic_int current_level = CN_LOG_INFO;
static enum cn_log_format current_format = CN_LOG_TEXT; /* set before threads start */
static char node_name[65] = "";

static const char *const level_names[] = {"debug", "info", "warn", "error"};
static const char *const level_tags[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};

/* This thread's context: copies, so the owner's strings may be freed mid-turn. */
static _Thread_local struct {
    bool set;
    int64_t user, room;
    char session[41], peer[65], request_id[41];
} tl_ctx;

static pthread_once_t repeats_once = PTHREAD_ONCE_INIT;
static struct cn_log_repeats repeats;

static void repeats_init(void)
{
    cn_log_repeats_init(&repeats, CN_LOG_REPEAT_LIMIT);
}

void cn_log_set_level(enum cn_log_level level)
{
    /* relaxed: the level is advisory, no other data is published with it. */
    atomic_store_explicit(&current_level, (int)level, memory_order_relaxed);
}

enum cn_log_level cn_log_get_level(void)
{
    return (enum cn_log_level)atomic_load_explicit(&current_level, memory_order_relaxed);
}

int cn_log_parse_level(const char *name, enum cn_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum cn_log_level)i;
            return 0;
        }
    }
    return -1;
}

const char *cn_log_level_name(enum cn_log_level level)
{
    return (unsigned)level < 4 ? level_names[level] : "?";
}

int cn_log_parse_format(const char *name, enum cn_log_format *out)
{
    if (strcmp(name, "text") == 0)
        *out = CN_LOG_TEXT;
    else if (strcmp(name, "json") == 0)
        *out = CN_LOG_JSON;
    else
        return -1;
    return 0;
}

void cn_log_set_format(enum cn_log_format format)
{
    current_format = format;
}

void cn_log_set_node(const char *node_id)
{
    snprintf(node_name, sizeof node_name, "%s", node_id ? node_id : "");
}

static void copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

void cn_log_ctx_set(const struct cn_log_ctx *ctx)
{
    if (!ctx) {
        tl_ctx.set = false;
        return;
    }
    tl_ctx.set = true;
    tl_ctx.user = ctx->user;
    tl_ctx.room = ctx->room;
    copy(tl_ctx.session, sizeof tl_ctx.session, ctx->session);
    copy(tl_ctx.peer, sizeof tl_ctx.peer, ctx->peer);
    copy(tl_ctx.request_id, sizeof tl_ctx.request_id, ctx->request_id);
}

void cn_log_ctx_clear(void)
{
    tl_ctx.set = false;
}

/* A bounded writer: what does not fit is dropped and `full` set. */
struct out {
    char *buf;
    size_t cap, len;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (n > o->cap - o->len)
        n = o->cap - o->len;
    memcpy(o->buf + o->len, s, n);
    o->len += n;
}

static void puts_(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len = s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 ? 2 : 0;
    if (len == 0 || s[0] >= 0xF5 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

/* s as a JSON string body, stopping before `limit` bytes of output: quotes,
 * backslashes and control characters escaped, invalid UTF-8 as U+FFFD. */
static void put_json_str(struct out *o, const char *str, size_t limit)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t n = strlen(str);
    for (size_t i = 0; i < n && o->len + 6 < limit;) {
        unsigned char c = s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(o, esc, 2);
        } else if (c == '\n') {
            puts_(o, "\\n");
        } else if (c == '\r') {
            puts_(o, "\\r");
        } else if (c == '\t') {
            puts_(o, "\\t");
        } else if (c < 0x20 || c == 0x7F) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            puts_(o, esc);
        } else if (c < 0x80) {
            put(o, (const char *)&s[i], 1);
        } else {
            size_t len = utf8_len(s + i, n - i);
            if (len == 0) {
                puts_(o, "\\ufffd");
                i++;
                continue;
            }
            put(o, (const char *)&s[i], len);
            i += len;
            continue;
        }
        i++;
    }
}

static void put_field(struct out *o, const char *key, const char *value, bool json)
{
    if (!value || !value[0])
        return;
    if (json) {
        puts_(o, ",\"");
        puts_(o, key);
        puts_(o, "\":\"");
        put_json_str(o, value, o->cap);
        puts_(o, "\"");
    } else {
        puts_(o, " ");
        puts_(o, key);
        puts_(o, "=");
        puts_(o, value);
    }
}

static void put_id(struct out *o, const char *key, int64_t value, bool json)
{
    if (value == 0)
        return;
    char v[64];
    snprintf(v, sizeof v, json ? ",\"%s\":%lld" : " %s=%lld", key, (long long)value);
    puts_(o, v);
}

size_t cn_log_render(char *buf, size_t cap, enum cn_log_format format, int64_t wall_ms,
                     enum cn_log_level level, const char *node, const char *module,
                     const struct cn_log_ctx *ctx, const char *msg)
{
    /* Room kept after msg for the context (each field bounded by its copy) and the
     * end of the line, so a long msg is what gets cut. */
    enum { TAIL = 400 };
    struct out o = {buf, cap - 1, 0}; /* one byte kept for '\n' */
    time_t secs = (time_t)(wall_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char ts[64];
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(wall_ms % 1000));
    bool json = format == CN_LOG_JSON;
    size_t limit = cap > TAIL ? cap - TAIL : 0;
    if (json) {
        puts_(&o, "{\"ts\":\"");
        puts_(&o, ts);
        puts_(&o, "\",\"level\":\"");
        puts_(&o, cn_log_level_name(level));
        puts_(&o, "\",\"node\":\"");
        put_json_str(&o, node ? node : "", limit);
        puts_(&o, "\",\"module\":\"");
        put_json_str(&o, module, limit);
        puts_(&o, "\",\"msg\":\"");
        put_json_str(&o, msg, limit);
        puts_(&o, "\"");
    } else {
        puts_(&o, ts);
        puts_(&o, " ");
        puts_(&o, level_tags[level]);
        puts_(&o, " ");
        puts_(&o, module);
        puts_(&o, ": ");
        size_t n = strlen(msg);
        put(&o, msg, o.len + n < limit ? n : (limit > o.len ? limit - o.len : 0));
    }
    if (ctx) {
        put_field(&o, "session", ctx->session, json);
        put_id(&o, "user", ctx->user, json);
        put_id(&o, "room", ctx->room, json);
        put_field(&o, "peer", ctx->peer, json);
        put_field(&o, "request_id", ctx->request_id, json);
    }
    if (json)
        puts_(&o, "}");
    buf[o.len++] = '\n';
    return o.len;
}

static void emit(enum cn_log_level level, const char *module, const struct cn_log_ctx *ctx,
                 const char *msg)
{
    char line[8192];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    size_t len =
        cn_log_render(line, sizeof line, current_format, ms, level, node_name, module, ctx, msg);
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w; /* nowhere to report a failed log write */
}

static void emit_summary(const struct cn_log_repeat_summary *s)
{
    char msg[512];
    snprintf(msg, sizeof msg, "\xe2\x80\xa6 %u more in the last %d s like: %s", s->count,
             CN_LOG_REPEAT_WINDOW_MS / 1000, s->fmt);
    emit((enum cn_log_level)s->level, s->module, NULL, msg);
}

static void vlog(enum cn_log_level level, const char *module, const struct cn_log_ctx *ctx,
                 const char *fmt, va_list ap)
{
    if ((int)level < atomic_load_explicit(&current_level, memory_order_relaxed))
        return;
    pthread_once(&repeats_once, repeats_init);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    struct cn_log_repeat_summary sum;
    bool print = cn_log_repeat_check(&repeats, module, fmt, (int)level, now_ms, &sum);
    if (sum.count)
        emit_summary(&sum);
    if (!print)
        return;
    char msg[4096];
    vsnprintf(msg, sizeof msg, fmt, ap);
    struct cn_log_ctx here;
    if (!ctx && tl_ctx.set) {
        here = (struct cn_log_ctx){tl_ctx.session, tl_ctx.user, tl_ctx.room, tl_ctx.peer,
                                   tl_ctx.request_id};
        ctx = &here;
    }
    emit(level, module, ctx, msg);
}

void cn_log(enum cn_log_level level, const char *module, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(level, module, NULL, fmt, ap);
    va_end(ap);
}

void cn_log_ctx(enum cn_log_level level, const char *module, const struct cn_log_ctx *ctx,
                const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(level, module, ctx, fmt, ap);
    va_end(ap);
}

void cn_log_flush_repeats(void)
{
    pthread_once(&repeats_once, repeats_init);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    struct cn_log_repeat_summary sums[16];
    int n = cn_log_repeat_flush(&repeats, now_ms, sums, 16);
    for (int i = 0; i < n; i++)
        emit_summary(&sums[i]);
}
