/* Opens a non-blocking TCP listening socket with SO_REUSEPORT, so that each I/O
 * thread can own a socket on the same port and the kernel spreads connections
 * across them (libwebsockets 4.1 cannot share one listener between contexts).
 *
 * Memory: the caller owns the returned descriptor. */
#ifndef CN_IO_LISTEN_SOCKET_H
#define CN_IO_LISTEN_SOCKET_H

#include <stddef.h>

/* Binds host:port (IPv4 or IPv6 literal, or a name resolved once). Returns the
 * descriptor, or -1 with a reason naming the address in err (for example
 * "port 8081 on 0.0.0.0 is already in use"). */
int cn_listen_socket_open(const char *host, int port, int backlog, char *err, size_t errlen);

#endif
