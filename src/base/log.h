/* Leveled logging to stderr, one line per call, safe from any thread.
 *
 * Lines look like `2026-11-25T10:00:00.123Z WARN  kafka: broker down`. The level
 * can change at run time (chat-admin loglevel); the check is one relaxed atomic
 * load so a disabled debug line costs almost nothing. Never log secrets
 * (passwords, tokens): callers pass only what an operator may read. */
#ifndef CN_BASE_LOG_H
#define CN_BASE_LOG_H

enum cn_log_level { CN_LOG_DEBUG = 0, CN_LOG_INFO, CN_LOG_WARN, CN_LOG_ERROR };

/* Sets the minimum level that is printed. Any thread. */
void cn_log_set_level(enum cn_log_level level);
enum cn_log_level cn_log_get_level(void);

/* Parses "debug", "info", "warn" or "error". Returns 0, or -1 for anything else. */
int cn_log_parse_level(const char *name, enum cn_log_level *out);
const char *cn_log_level_name(enum cn_log_level level);

/* Formats and writes one line when `level` is enabled. `module` is a short tag. */
void cn_log(enum cn_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define CN_DEBUG(mod, ...) cn_log(CN_LOG_DEBUG, mod, __VA_ARGS__)
#define CN_INFO(mod, ...)  cn_log(CN_LOG_INFO, mod, __VA_ARGS__)
#define CN_WARN(mod, ...)  cn_log(CN_LOG_WARN, mod, __VA_ARGS__)
#define CN_ERROR(mod, ...) cn_log(CN_LOG_ERROR, mod, __VA_ARGS__)

#endif
