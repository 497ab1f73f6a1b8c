/* X-Forwarded-For from trusted proxies only; see trusted_proxies.h. */
#include "io/trusted_proxies.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"

struct net {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    int bits;
};

struct cn_trusted_proxies {
    struct net *nets;
    size_t n;
};

/* An address as text -> family and bytes; an IPv4-mapped IPv6 address counts as
 * IPv4 (a dual-stack socket reports IPv4 peers so). */
static bool parse_addr(const char *s, int *family, uint8_t out[16])
{
    struct in6_addr a6;
    if (inet_pton(AF_INET, s, out) == 1) {
        *family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, s, &a6) != 1)
        return false;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(a6.s6_addr, mapped, 12) == 0) {
        *family = AF_INET;
        memcpy(out, a6.s6_addr + 12, 4);
    } else {
        *family = AF_INET6;
        memcpy(out, a6.s6_addr, 16);
    }
    return true;
}

static bool net_has(const struct net *n, int family, const uint8_t *a)
{
    if (n->family != family)
        return false;
    int full = n->bits / 8, rest = n->bits % 8;
    if (memcmp(n->addr, a, (size_t)full) != 0)
        return false;
    if (!rest)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (n->addr[full] & mask) == (a[full] & mask);
}

struct cn_trusted_proxies *cn_trusted_proxies_parse(const char *spec, char *err, size_t errlen)
{
    struct cn_trusted_proxies *p = cn_xcalloc(1, sizeof *p);
    const char *s = spec ? spec : "";
    while (*s) {
        while (*s == ',' || *s == ' ' || *s == '\t')
            s++;
        size_t len = strcspn(s, ", \t");
        if (!len)
            break;
        char item[80];
        if (len >= sizeof item) {
            snprintf(err, errlen, "http.trusted_proxies: '%.*s...' is not an IP or CIDR", 40, s);
            goto fail;
        }
        memcpy(item, s, len);
        item[len] = '\0';
        s += len;
        struct net n = {0};
        char *slash = strchr(item, '/');
        if (slash)
            *slash = '\0';
        if (!parse_addr(item, &n.family, n.addr))
            goto bad;
        int maxbits = n.family == AF_INET ? 32 : 128;
        n.bits = maxbits;
        if (slash) {
            char *end;
            long b = strtol(slash + 1, &end, 10);
            if (end == slash + 1 || *end || b < 0 || b > maxbits)
                goto bad;
            n.bits = (int)b;
        }
        p->nets = cn_xrealloc(p->nets, (p->n + 1) * sizeof *p->nets);
        p->nets[p->n++] = n;
        continue;
    bad:
        if (slash)
            *slash = '/';
        snprintf(err, errlen, "http.trusted_proxies: '%s' is not an IP address or CIDR", item);
        goto fail;
    }
    return p;
fail:
    cn_trusted_proxies_free(p);
    return NULL;
}

void cn_trusted_proxies_free(struct cn_trusted_proxies *p)
{
    if (!p)
        return;
    free(p->nets);
    free(p);
}

static bool has(const struct cn_trusted_proxies *p, int family, const uint8_t *a)
{
    for (size_t i = 0; p && i < p->n; i++)
        if (net_has(&p->nets[i], family, a))
            return true;
    return false;
}

bool cn_trusted_proxies_contains(const struct cn_trusted_proxies *p, const char *addr)
{
    int family;
    uint8_t a[16];
    return addr && parse_addr(addr, &family, a) && has(p, family, a);
}

void cn_trusted_proxies_client_addr(const struct cn_trusted_proxies *p, const char *peer,
                                    const char *xff, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s", peer ? peer : "");
    if (!xff || !p || !p->n || !cn_trusted_proxies_contains(p, peer))
        return;
    /* From the right: each hop appended what it saw; stop at the first address
     * that is not one of our proxies. */
    size_t end = strlen(xff);
    while (end > 0) {
        size_t start = end;
        while (start > 0 && xff[start - 1] != ',')
            start--;
        size_t a = start, b = end;
        while (a < b && (xff[a] == ' ' || xff[a] == '\t'))
            a++;
        while (b > a && (xff[b - 1] == ' ' || xff[b - 1] == '\t'))
            b--;
        char item[64];
        int family;
        uint8_t bytes[16];
        if (b - a == 0 || b - a >= sizeof item)
            return;
        memcpy(item, xff + a, b - a);
        item[b - a] = '\0';
        if (!parse_addr(item, &family, bytes))
            return; /* garbage (or a port, or a name): keep the last good hop */
        char norm[INET6_ADDRSTRLEN];
        inet_ntop(family, bytes, norm, sizeof norm);
        snprintf(out, outlen, "%s", norm);
        if (!has(p, family, bytes))
            return;
        end = start > 0 ? start - 1 : 0;
    }
}
