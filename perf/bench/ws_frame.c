/* WebSocket client framing; see ws_frame.h. */
#include "ws_frame.h"

#include <string.h>

size_t ws_client_header(uint8_t *out, int op, size_t len)
{
    size_t n = 0;
    out[n++] = (uint8_t)(0x80 | (op & 0x0f));
    if (len < 126) {
        out[n++] = (uint8_t)(0x80 | len);
    } else if (len <= 0xffff) {
        out[n++] = 0x80 | 126;
        out[n++] = (uint8_t)(len >> 8);
        out[n++] = (uint8_t)len;
    } else {
        out[n++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            out[n++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    memset(out + n, 0, 4); /* the mask key, see the header */
    return n + 4;
}

long ws_server_frame(const uint8_t *buf, size_t n, struct ws_frame_view *f)
{
    if (n < 2)
        return 0;
    if (buf[0] & 0x70)
        return -1; /* reserved bits: no extension was negotiated */
    if (buf[1] & 0x80)
        return -1; /* a server never masks */
    size_t hdr = 2;
    uint64_t len = buf[1] & 0x7f;
    if (len == 126) {
        if (n < 4)
            return 0;
        len = ((uint64_t)buf[2] << 8) | buf[3];
        hdr = 4;
    } else if (len == 127) {
        if (n < 10)
            return 0;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = (len << 8) | buf[2 + i];
        if (len > (1u << 31))
            return -1;
        hdr = 10;
    }
    if (n - hdr < len)
        return 0;
    f->op = buf[0] & 0x0f;
    f->fin = (buf[0] & 0x80) != 0;
    f->payload = buf + hdr;
    f->len = (size_t)len;
    return (long)(hdr + len);
}
