/* CONNECT negotiation helpers: protocol version and heart-beats (STOMP 1.2,
 * "Protocol Negotiation" and "Heart-beating"). Pure functions. */
#ifndef CN_PROTO_STOMP_NEGOTIATE_H
#define CN_PROTO_STOMP_NEGOTIATE_H

#include <stddef.h>
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

/* The version a connection speaks: the highest in accept-version (such as
 * "1.0,1.1,1.2") that is at most max_minor (10, 11 or 12: the WebSocket
 * subprotocol chosen at the upgrade, 12 without one). NULL (header absent) means
 * a 1.0 client (spec, "Protocol Negotiation"). Returns "1.2", "1.1" or "1.0"
 * (static), or NULL when there is no common version. */
const char *cn_stomp_version_pick(const char *accept_version, int max_minor);

/* The subprotocol of a WebSocket upgrade: from a Sec-WebSocket-Protocol value
 * (comma-separated tokens, any order), the highest of v12.stomp, v11.stomp and
 * v10.stomp that it offers. Returns 12, 11 or 10, or 0 when it offers none of
 * them. */
int cn_stomp_subprotocol_pick(const char *offer, size_t len);

/* "v12.stomp", "v11.stomp" or "v10.stomp" for 12, 11 or 10; NULL otherwise. */
const char *cn_stomp_subprotocol_name(int minor);

#endif
