/* Version and heart-beat negotiation (see stomp_negotiate.h). */
#include "proto/stomp_negotiate.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "proto/stomp_error.h"

/* Parses decimal digits at *s up to `stop`; at most 10 digits and UINT32_MAX. */
static bool parse_u32(const char **s, char stop, uint32_t *out)
{
    const char *p = *s;
    uint64_t v = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (uint64_t)(*p - '0');
        if (++digits > 10 || v > UINT32_MAX)
            return false;
        p++;
    }
    if (digits == 0 || *p != stop)
        return false;
    *out = (uint32_t)v;
    *s = p + 1;
    return true;
}

int cn_stomp_heartbeat_parse(const char *value, uint32_t *x, uint32_t *y)
{
    if (!value) {
        *x = *y = 0;
        return 0;
    }
    uint32_t a, b;
    const char *p = value;
    if (!parse_u32(&p, ',', &a) || !parse_u32(&p, '\0', &b))
        return CN_STOMP_E_BAD_HEARTBEAT;
    *x = a;
    *y = b;
    return 0;
}

static uint32_t pair(uint32_t sender_can, uint32_t receiver_wants)
{
    if (sender_can == 0 || receiver_wants == 0)
        return 0;
    return sender_can > receiver_wants ? sender_can : receiver_wants;
}

void cn_stomp_heartbeat_negotiate(uint32_t cx, uint32_t cy, uint32_t sx, uint32_t sy,
                                  uint32_t *client_to_server_ms, uint32_t *server_to_client_ms)
{
    *client_to_server_ms = pair(cx, sy);
    *server_to_client_ms = pair(sx, cy);
}

const char *cn_stomp_version_pick(const char *accept_version, int max_minor)
{
    if (!accept_version)
        return max_minor >= 10 ? "1.0" : NULL;
    int best = 0;
    const char *p = accept_version;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n == 3 && p[0] == '1' && p[1] == '.' && p[2] >= '0' && p[2] <= '2') {
            int minor = 10 + (p[2] - '0');
            if (minor <= max_minor && minor > best)
                best = minor;
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    return best == 12 ? "1.2" : best == 11 ? "1.1" : best == 10 ? "1.0" : NULL;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

int cn_stomp_subprotocol_pick(const char *offer, size_t len)
{
    int best = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && (is_space(offer[i]) || offer[i] == ','))
            i++;
        size_t start = i;
        while (i < len && offer[i] != ',' && !is_space(offer[i]))
            i++;
        size_t n = i - start;
        /* Tokens are case-sensitive (RFC 6455 4.1): "v12.stomp" only. */
        for (int minor = 12; minor >= 10; minor--) {
            const char *name = cn_stomp_subprotocol_name(minor);
            if (n == 9 && memcmp(offer + start, name, 9) == 0 && minor > best)
                best = minor;
        }
    }
    return best;
}

const char *cn_stomp_subprotocol_name(int minor)
{
    switch (minor) {
    case 12:
        return "v12.stomp";
    case 11:
        return "v11.stomp";
    case 10:
        return "v10.stomp";
    default:
        return NULL;
    }
}
