/* Leveled logging to stderr, one line per call, safe from any thread.
 *
 * Two formats (log.format): text, `2026-11-25T10:00:00.123Z WARN  kafka: broker down`
 * followed by ` key=value` for each context field known; or json, one object per line
 * with ts (RFC 3339 UTC, milliseconds), level, node, module, msg and the context
 * fields session, user, room, peer, request_id when known.
 *
 * Context: the actor or request running on this thread sets it for its turn
 * (cn_log_ctx_set ... cn_log_ctx_clear); the fields are copied into thread-local
 * storage, so the caller's strings may go away during the turn. CN_*_CTX log with an
 * explicit context instead.
 *
 * The same (module, format string) more than CN_LOG_REPEAT_LIMIT times within 10 s is
 * suppressed, with one summary line "… N more in the last 10 s" (log_repeat.h).
 *
 * The level can change at run time (chat-admin loglevel); the check is one relaxed
 * atomic load so a disabled debug line costs almost nothing. Never log secrets
 * (passwords, tokens, emails in clear): callers pass only what an operator may read. */
#ifndef CN_BASE_LOG_H
#define CN_BASE_LOG_H

#include <stddef.h>
#include <stdint.h>

enum cn_log_level { CN_LOG_DEBUG = 0, CN_LOG_INFO, CN_LOG_WARN, CN_LOG_ERROR };
enum cn_log_format { CN_LOG_TEXT = 0, CN_LOG_JSON };

#define CN_LOG_REPEAT_LIMIT 20

/* Sets the minimum level that is printed. Any thread. */
void cn_log_set_level(enum cn_log_level level);
enum cn_log_level cn_log_get_level(void);

/* Parses "debug", "info", "warn" or "error". Returns 0, or -1 for anything else. */
int cn_log_parse_level(const char *name, enum cn_log_level *out);
const char *cn_log_level_name(enum cn_log_level level);

/* Parses "text" or "json". Returns 0, or -1 for anything else. */
int cn_log_parse_format(const char *name, enum cn_log_format *out);
/* Format and node name (copied, up to 64 bytes): set once at start-up, before other
 * threads log. */
void cn_log_set_format(enum cn_log_format format);
void cn_log_set_node(const char *node_id);

/* What is known about the work a line is about. Zero / NULL fields are left out. */
struct cn_log_ctx {
    const char *session;    /* STOMP session id */
    int64_t user;           /* user id */
    int64_t room;           /* room id */
    const char *peer;       /* the client's address */
    const char *request_id; /* REST request id */
};

/* Sets (copies) this thread's context; NULL clears it. */
void cn_log_ctx_set(const struct cn_log_ctx *ctx);
void cn_log_ctx_clear(void);

/* Formats and writes one line when `level` is enabled. `module` is a short tag and
 * `fmt` a string literal (the repeat limiter keys on its address). */
void cn_log(enum cn_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* cn_log with an explicit context (NULL: this thread's). */
void cn_log_ctx(enum cn_log_level level, const char *module, const struct cn_log_ctx *ctx,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Prints the summaries of repeat windows that ended (log_repeat.h); for a periodic
 * tick, so a burst that stops is still summed up. Any thread. */
void cn_log_flush_repeats(void);

/* Renders one line (with its '\n') into buf; returns its length (< cap). Always a
 * whole line: a long msg is cut, the JSON stays valid. For the tests. */
size_t cn_log_render(char *buf, size_t cap, enum cn_log_format format, int64_t wall_ms,
                     enum cn_log_level level, const char *node, const char *module,
                     const struct cn_log_ctx *ctx, const char *msg);

#define CN_DEBUG(mod, ...) cn_log(CN_LOG_DEBUG, mod, __VA_ARGS__)
#define CN_INFO(mod, ...)  cn_log(CN_LOG_INFO, mod, __VA_ARGS__)
#define CN_WARN(mod, ...)  cn_log(CN_LOG_WARN, mod, __VA_ARGS__)
#define CN_ERROR(mod, ...) cn_log(CN_LOG_ERROR, mod, __VA_ARGS__)

#define CN_DEBUG_CTX(mod, ctx, ...) cn_log_ctx(CN_LOG_DEBUG, mod, ctx, __VA_ARGS__)
#define CN_INFO_CTX(mod, ctx, ...)  cn_log_ctx(CN_LOG_INFO, mod, ctx, __VA_ARGS__)
#define CN_WARN_CTX(mod, ctx, ...)  cn_log_ctx(CN_LOG_WARN, mod, ctx, __VA_ARGS__)
#define CN_ERROR_CTX(mod, ctx, ...) cn_log_ctx(CN_LOG_ERROR, mod, ctx, __VA_ARGS__)

#endif
