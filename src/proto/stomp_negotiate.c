/* Version and heart-beat negotiation (see stomp_negotiate.h). */
#include "proto/stomp_negotiate.h"

#include <stdbool.h>
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

const char *cn_stomp_version_negotiate(const char *accept_version)
{
    if (!accept_version)
        return NULL;
    bool v11 = false, v12 = false;
    const char *p = accept_version;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n == 3 && memcmp(p, "1.2", 3) == 0)
            v12 = true;
        else if (n == 3 && memcmp(p, "1.1", 3) == 0)
            v11 = true;
        if (!comma)
            break;
        p = comma + 1;
    }
    return v12 ? "1.2" : v11 ? "1.1" : NULL;
}
