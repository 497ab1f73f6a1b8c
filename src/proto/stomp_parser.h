/* Incremental STOMP 1.2 frame parser.
 *
 * The caller feeds byte chunks as they arrive (WebSocket messages, TCP reads); a
 * frame may be split across chunks at any byte, and one chunk may hold several
 * frames. Heart-beat EOLs between frames are skipped. The parser checks the limits
 * of struct cn_stomp_limits while it scans, so an oversized frame fails as soon as
 * its size is known; memory grows only with bytes that actually arrived and never
 * past the frame-size limit (a content-length of 2 GB fails before anything is
 * allocated).
 *
 * Ownership: the parser owns its buffer and the frames it yields. A yielded frame
 * borrows from the parser and stays valid until the next call on that parser (or its
 * free); use cn_stomp_frame_clone() to keep one longer. A parser is used by one thread
 * at a time. After an error the parser is dead: every later call returns the same
 * error (STOMP requires ERROR and close on a protocol error). */
#ifndef CN_PROTO_STOMP_PARSER_H
#define CN_PROTO_STOMP_PARSER_H

#include <stddef.h>
#include <stdint.h>

#include "proto/stomp_error.h"
#include "proto/stomp_frame.h"

struct cn_stomp_limits {
    uint32_t max_frame_size;  /* bytes from the command through the body, without the NUL */
    uint32_t max_headers;     /* header lines per frame, command line not counted */
    uint32_t max_header_line; /* bytes per line (command or header), without the EOL */
};

#define CN_STOMP_DEFAULT_MAX_FRAME_SIZE  65536u
#define CN_STOMP_DEFAULT_MAX_HEADERS     32u
#define CN_STOMP_DEFAULT_MAX_HEADER_LINE 8192u

/* The defaults: 64 KiB frames, 32 headers, 8 KiB lines. */
struct cn_stomp_limits cn_stomp_default_limits(void);

struct cn_stomp_parser;

/* Creates a parser with `limits` (copied; NULL means the defaults; a zero field means
 * that field's default). Cannot fail (OOM aborts). Free it with cn_stomp_parser_free. */
struct cn_stomp_parser *cn_stomp_parser_new(const struct cn_stomp_limits *limits);

/* Frees the parser and invalidates any frame it yielded. NULL is allowed. */
void cn_stomp_parser_free(struct cn_stomp_parser *p);

/* STOMP 1.0 has no header escaping: with raw set, frames parsed from now on keep
 * their backslashes as they are (1.1 and 1.2 decode \r \n \c \\). */
void cn_stomp_parser_set_raw(struct cn_stomp_parser *p, bool raw);

enum {
    CN_STOMP_NEED_MORE = 0, /* all input consumed, no complete frame yet */
    CN_STOMP_FRAME = 1,     /* *frame holds a complete frame */
};

/* Parses from `data` (len bytes, borrowed for the call only).
 *
 * Returns CN_STOMP_FRAME when a frame completed: *frame is filled and *consumed says
 * how many bytes of `data` were used; call again with the rest. Returns
 * CN_STOMP_NEED_MORE when every byte was consumed (*consumed == len) without
 * completing a frame. Returns a negative enum cn_stomp_error on a protocol error or
 * an exceeded limit (see cn_stomp_strerror); *consumed is then meaningless.
 * `len` may be 0. */
int cn_stomp_parser_parse(struct cn_stomp_parser *p, const char *data, size_t len, size_t *consumed,
                          struct cn_stomp_frame *frame);

#endif
