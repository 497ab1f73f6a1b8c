/* The fast MESSAGE body encoder: the message JSON of DESIGN.md "Contracts", rendered
 * by hand into a caller buffer because it runs once per broadcast on the fan-out path.
 *
 * The output is byte for byte what cn_json_dump(cn_json_message(m)) produces (a unit
 * test holds the two together), so clients see one format whichever path rendered it. */
#ifndef CN_PROTO_MESSAGE_BODY_H
#define CN_PROTO_MESSAGE_BODY_H

#include <stddef.h>

#include "proto/chat_types.h"

/* An upper bound of the rendered size of m, in bytes. Cannot fail. */
size_t cn_message_body_max_len(const struct cn_message *m);

/* Renders m into buf. Returns the length written (no NUL is added), or -1 when cap is
 * smaller than cn_message_body_max_len(m) (nothing is written then). Strings must be
 * valid UTF-8 and NULs are escaped; message_key and the nickname are escaped like the
 * content. */
long cn_message_body_render(char *buf, size_t cap, const struct cn_message *m);

#endif
