/* Enum names, UUID canonicalisation and timestamp formatting for chat_types.h. */
#include "proto/chat_types.h"

#include <string.h>
#include <uuid/uuid.h>

static const char *const message_types[] = {"TEXT", "IMAGE", "FILE", "SYSTEM"};

const char *cn_message_type_name(enum cn_message_type t)
{
    if ((unsigned)t >= sizeof message_types / sizeof message_types[0])
        return "TEXT";
    return message_types[t];
}

int cn_message_type_parse(const char *s, size_t n, enum cn_message_type *out)
{
    for (unsigned i = 0; i < sizeof message_types / sizeof message_types[0]; i++) {
        if (strlen(message_types[i]) == n && memcmp(message_types[i], s, n) == 0) {
            *out = (enum cn_message_type)i;
            return 0;
        }
    }
    return -1;
}

const char *cn_room_type_name(enum cn_room_type t)
{
    return t == CN_ROOM_GROUP ? "GROUP" : "DIRECT";
}

const char *cn_room_visibility_name(enum cn_room_visibility v)
{
    return v == CN_ROOM_PUBLIC ? "public" : "private";
}

int cn_room_visibility_parse(const char *s, size_t n, enum cn_room_visibility *out)
{
    if (n == 6 && memcmp(s, "public", 6) == 0)
        *out = CN_ROOM_PUBLIC;
    else if (n == 7 && memcmp(s, "private", 7) == 0)
        *out = CN_ROOM_PRIVATE;
    else
        return -1;
    return 0;
}

int cn_uuid_canonical(const char *s, size_t n, char out[CN_UUID_STR_LEN + 1])
{
    if (n != CN_UUID_STR_LEN)
        return -1;
    char tmp[CN_UUID_STR_LEN + 1];
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    uuid_t u;
    if (uuid_parse(tmp, u) != 0)
        return -1;
    uuid_unparse_lower(u, out);
    return 0;
}

/* Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm): no tables, no
 * time zone database, no locale. */
static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yy + (*m <= 2));
}

static void put2(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

size_t cn_format_time_ms(int64_t ms, char out[25])
{
    /* Clamp to 0000-01-01 .. 9999-12-31T23:59:59.999 so the width never changes. */
    const int64_t min_ms = -62167219200000LL, max_ms = 253402300799999LL;
    if (ms < min_ms)
        ms = min_ms;
    if (ms > max_ms)
        ms = max_ms;
    int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
    int64_t rem = ms - days * 86400000;
    int y;
    unsigned mo, d;
    civil_from_days(days, &y, &mo, &d);
    unsigned msec = (unsigned)(rem % 1000), sec = (unsigned)(rem / 1000);
    put2(out, (unsigned)y / 100);
    put2(out + 2, (unsigned)y % 100);
    out[4] = '-';
    put2(out + 5, mo);
    out[7] = '-';
    put2(out + 8, d);
    out[10] = 'T';
    put2(out + 11, sec / 3600);
    out[13] = ':';
    put2(out + 14, sec / 60 % 60);
    out[16] = ':';
    put2(out + 17, sec % 60);
    out[19] = '.';
    out[20] = (char)('0' + msec / 100);
    put2(out + 21, msec % 100);
    out[23] = 'Z';
    out[24] = '\0';
    return 24;
}
