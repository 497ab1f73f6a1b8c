/* CONNECT negotiation helpers: protocol version and heart-beats (STOMP 1.2,
 * "Protocol Negotiation" and "Heart-beating"). Pure functions. */
#ifndef CN_PROTO_STOMP_NEGOTIATE_H
#define CN_PROTO_STOMP_NEGOTIATE_H

#include <stdint.h>

/* Parses a heart-beat header value "cx,cy" (two non-negative decimal integers of
 * milliseconds, no spaces). NULL (header absent) yields 0,0. Returns 0, or
 * CN_STOMP_E_BAD_HEARTBEAT with *x and *y untouched. */
int cn_stomp_heartbeat_parse(const char *value, uint32_t *x, uint32_t *y);

/* Applies the spec's rule to the client's cx,cy and the server's sx,sy:
 * client->server every max(cx, sy) ms, server->client every max(sx, cy) ms, and 0
 * (none) when either side of a pair is 0. Cannot fail. */
void cn_stomp_heartbeat_negotiate(uint32_t cx, uint32_t cy, uint32_t sx, uint32_t sy,
                                  uint32_t *client_to_server_ms, uint32_t *server_to_client_ms);

/* Picks the highest version both sides speak from an accept-version value such as
 * "1.0,1.1,1.2". This server speaks 1.1 and 1.2. NULL (header absent) means a 1.0
 * client. Returns "1.2" or "1.1" (static), or NULL when there is no common version:
 * the caller then sends ERROR and closes. */
const char *cn_stomp_version_negotiate(const char *accept_version);

#endif
