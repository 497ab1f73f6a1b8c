/* http.trusted_proxies: the addresses (IPs or CIDRs) of proxies in front of the
 * node whose X-Forwarded-For header is believed. From a trusted TCP peer, the
 * client address is the right-most X-Forwarded-For entry that is not itself a
 * trusted proxy (each proxy appends the address it saw, so entries left of that
 * one came from the client and may be forged); from any other peer the header is
 * ignored and the client address is the peer's.
 *
 * Memory: the list owns its entries. Threads: read-only after parse, any thread. */
#ifndef CN_IO_TRUSTED_PROXIES_H
#define CN_IO_TRUSTED_PROXIES_H

#include <stdbool.h>
#include <stddef.h>

struct cn_trusted_proxies;

/* Parses a comma or space separated list ("10.0.0.0/8, 127.0.0.1, ::1"). An empty
 * spec gives an empty list (nobody trusted). Returns NULL with a reason naming
 * http.trusted_proxies and the bad entry. */
struct cn_trusted_proxies *cn_trusted_proxies_parse(const char *spec, char *err, size_t errlen);

void cn_trusted_proxies_free(struct cn_trusted_proxies *p);

/* Whether the list (NULL: empty) holds the textual address `addr`. */
bool cn_trusted_proxies_contains(const struct cn_trusted_proxies *p, const char *addr);

/* Writes the client address to out: `peer`, or, when peer is trusted and `xff`
 * (the X-Forwarded-For value, NULL: absent) names one, the right-most untrusted
 * entry of it (normalised; an entry that is not an IP address ends the walk and
 * leaves the last good one). */
void cn_trusted_proxies_client_addr(const struct cn_trusted_proxies *p, const char *peer,
                                    const char *xff, char *out, size_t outlen);

#endif
