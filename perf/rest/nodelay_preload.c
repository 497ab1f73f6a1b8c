/* Diagnostic only, never part of chat-node: an LD_PRELOAD shim that sets TCP_NODELAY
 * on every socket accept4() returns, to measure what Nagle's algorithm costs the
 * HTTP answers (docs/PERFORMANCE.md, "REST: GET /api/rooms"):
 *
 *   gcc -O2 -shared -fPIC -o /tmp/nodelay.so perf/rest/nodelay_preload.c -ldl
 *   BENCH_NODE_ENV="LD_PRELOAD=/tmp/nodelay.so" perf/rest/bench_rooms.sh
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    static int (*real)(int, struct sockaddr *, socklen_t *, int);
    if (!real)
        real = (int (*)(int, struct sockaddr *, socklen_t *, int))dlsym(RTLD_NEXT, "accept4");
    int c = real(fd, addr, len, flags);
    if (c >= 0) {
        int one = 1;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return c;
}
