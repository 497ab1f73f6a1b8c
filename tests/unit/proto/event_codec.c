/* Tests src/proto/event_codec.c: round trips, forward compatibility (unknown keys of
 * any shape are skipped), and rejection of wrong kinds, versions, types, values,
 * truncations and lying length prefixes. Test inputs are built with msgpack-c. */
#include <msgpack.h>

#include "check.h"
#include "proto/event_codec.h"

static const struct cn_chat_message_event sample = {.message_key =
                                                        "7f1c6d0e-3a8b-4f7e-9c2d-1b5e8a9f0c3d",
                                                    .room_id = 42,
                                                    .sender_id = 7,
                                                    .sender_nickname = "Kim",
                                                    .sender_nickname_len = 3,
                                                    .content = "hello\0x",
                                                    .content_len = 7,
                                                    .type = CN_MSG_IMAGE,
                                                    .sent_at_ms = 1700000000123};

static void test_chat_message_round_trip(void)
{
    size_t len;
    char *buf = cn_event_encode_chat_message(&sample, &len);
    struct cn_chat_message_event d;
    CHECK_EQ(cn_event_decode_chat_message(buf, len, &d), 0);
    CHECK_STR(d.message_key, sample.message_key);
    CHECK_EQ(d.room_id, 42);
    CHECK_EQ(d.sender_id, 7);
    CHECK_MEM(d.sender_nickname, d.sender_nickname_len, "Kim", 3);
    CHECK_MEM(d.content, d.content_len, "hello\0x", 7);
    CHECK_EQ(d.type, CN_MSG_IMAGE);
    CHECK_EQ(d.sent_at_ms, 1700000000123);
    /* it is not a read receipt */
    struct cn_read_receipt_event rr;
    CHECK_EQ(cn_event_decode_read_receipt(buf, len, &rr), CN_EVENT_E_KIND);
    /* every truncation fails cleanly, one extra byte too */
    for (size_t i = 0; i < len; i++)
        CHECK_INT(cn_event_decode_chat_message(buf, i, &d), <, 0);
    char *more = malloc(len + 1);
    memcpy(more, buf, len);
    more[len] = 0;
    CHECK_EQ(cn_event_decode_chat_message(more, len + 1, &d), CN_EVENT_E_MALFORMED);
    free(more);
    free(buf);
}

static void test_read_receipt_round_trip(void)
{
    struct cn_read_receipt_event e = {42, 7, 9001, -5}, d;
    size_t len;
    char *buf = cn_event_encode_read_receipt(&e, &len);
    CHECK_EQ(cn_event_decode_read_receipt(buf, len, &d), 0);
    CHECK(d.room_id == 42 && d.user_id == 7 && d.message_id == 9001 && d.read_at_ms == -5);
    struct cn_chat_message_event c;
    CHECK_EQ(cn_event_decode_chat_message(buf, len, &c), CN_EVENT_E_KIND);
    free(buf);
}

/* A hand-built chat message with knobs for each way it can be wrong. */
struct variant {
    int version;
    const char *kind;
    bool room_as_string;
    bool drop_content;
    const char *key;
    const char *content;
    const char *type;
    bool unknown_keys;
    bool duplicate_room;
};

static void pack_s(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

static int decode_variant(const struct variant *v, struct cn_chat_message_event *d)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    int n = 9 - v->drop_content + (v->unknown_keys ? 4 : 0) + v->duplicate_room;
    msgpack_pack_map(&pk, (size_t)n);
    if (v->unknown_keys) {
        /* nested map/array/float/bin/ext/nil before and after the known keys */
        pack_s(&pk, "future");
        msgpack_pack_map(&pk, 2);
        pack_s(&pk, "a");
        msgpack_pack_array(&pk, 3);
        msgpack_pack_double(&pk, 1.5);
        msgpack_pack_nil(&pk);
        msgpack_pack_bin(&pk, 3);
        msgpack_pack_bin_body(&pk, "xyz", 3);
        msgpack_pack_int(&pk, 5);
        msgpack_pack_ext(&pk, 2, 1);
        msgpack_pack_ext_body(&pk, "ab", 2);
        msgpack_pack_int(&pk, 17); /* an integer key */
        pack_s(&pk, "skipped");
    }
    pack_s(&pk, "kind");
    pack_s(&pk, v->kind ? v->kind : "ChatMessage");
    pack_s(&pk, "v");
    msgpack_pack_int(&pk, v->version ? v->version : 1);
    pack_s(&pk, "messageKey");
    pack_s(&pk, v->key ? v->key : "7F1C6D0E-3A8B-4F7E-9C2D-1B5E8A9F0C3D");
    pack_s(&pk, "roomId");
    if (v->room_as_string)
        pack_s(&pk, "42");
    else
        msgpack_pack_uint64(&pk, 42);
    if (v->duplicate_room) {
        pack_s(&pk, "roomId");
        msgpack_pack_int(&pk, 99);
    }
    pack_s(&pk, "senderId");
    msgpack_pack_int64(&pk, 7);
    pack_s(&pk, "senderNickname");
    pack_s(&pk, "Kim");
    if (!v->drop_content) {
        pack_s(&pk, "content");
        pack_s(&pk, v->content ? v->content : "hi");
    }
    pack_s(&pk, "type");
    pack_s(&pk, v->type ? v->type : "TEXT");
    pack_s(&pk, "sentAt");
    msgpack_pack_int64(&pk, -1);
    if (v->unknown_keys) {
        pack_s(&pk, "later");
        msgpack_pack_str(&pk, 300);
        char pad[300] = {0};
        msgpack_pack_str_body(&pk, pad, 300);
        pack_s(&pk, "flag");
        msgpack_pack_true(&pk);
    }
    int rc = cn_event_decode_chat_message(sb.data, sb.size, d);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

static void test_variants(void)
{
    struct cn_chat_message_event d;
    CHECK_EQ(decode_variant(&(struct variant){0}, &d), 0);
    CHECK_STR(d.message_key, "7f1c6d0e-3a8b-4f7e-9c2d-1b5e8a9f0c3d");
    CHECK_EQ(d.sent_at_ms, -1);
    CHECK_EQ(decode_variant(&(struct variant){.unknown_keys = true}, &d), 0);
    CHECK_EQ(d.room_id, 42);
    CHECK_EQ(decode_variant(&(struct variant){.duplicate_room = true}, &d), 0);
    CHECK_EQ(d.room_id, 42);
    CHECK_EQ(decode_variant(&(struct variant){.version = 2}, &d), CN_EVENT_E_VERSION);
    CHECK_EQ(decode_variant(&(struct variant){.kind = "ReadReceipt"}, &d), CN_EVENT_E_KIND);
    CHECK_EQ(decode_variant(&(struct variant){.room_as_string = true}, &d), CN_EVENT_E_TYPE);
    CHECK_EQ(decode_variant(&(struct variant){.drop_content = true}, &d), CN_EVENT_E_MISSING);
    CHECK_EQ(decode_variant(&(struct variant){.key = "nope"}, &d), CN_EVENT_E_VALUE);
    CHECK_EQ(decode_variant(&(struct variant){.content = ""}, &d), CN_EVENT_E_VALUE);
    CHECK_EQ(decode_variant(&(struct variant){.content = "\xc0\x80"}, &d), CN_EVENT_E_VALUE);
    CHECK_EQ(decode_variant(&(struct variant){.type = "VIDEO"}, &d), CN_EVENT_E_VALUE);
    CHECK_STR(cn_event_strerror(CN_EVENT_E_VERSION), "unknown or missing schema version");
}

static void test_hostile_input(void)
{
    struct cn_chat_message_event d;
    /* not a map */
    CHECK_EQ(cn_event_decode_chat_message("\x93\x01\x02\x03", 4, &d), CN_EVENT_E_NOT_MAP);
    CHECK_EQ(cn_event_decode_chat_message("", 0, &d), CN_EVENT_E_MALFORMED);
    /* map32 claiming 4 billion pairs in 5 bytes */
    CHECK_EQ(cn_event_decode_chat_message("\xdf\xff\xff\xff\xff", 5, &d), CN_EVENT_E_MALFORMED);
    /* an unknown key whose value is an array32 claiming 4 billion items */
    CHECK_EQ(cn_event_decode_chat_message("\x81\xa1x\xdd\xff\xff\xff\xff\x01", 9, &d),
             CN_EVENT_E_MALFORMED);
    /* str32 claiming 4 GB */
    CHECK_EQ(cn_event_decode_chat_message("\x81\xa1x\xdb\xff\xff\xff\xff", 8, &d),
             CN_EVENT_E_MALFORMED);
    /* the never-used byte 0xc1 */
    CHECK_EQ(cn_event_decode_chat_message("\x81\xa1x\xc1", 4, &d), CN_EVENT_E_MALFORMED);
    /* nesting deeper than 32 in an unknown value */
    char deep[64];
    deep[0] = (char)0x81;
    deep[1] = (char)0xa1;
    deep[2] = 'x';
    for (int i = 3; i < 63; i++)
        deep[i] = (char)0x91; /* array of one */
    deep[63] = 0x01;
    CHECK_EQ(cn_event_decode_chat_message(deep, sizeof deep, &d), CN_EVENT_E_DEPTH);
    /* a uint64 above INT64_MAX */
    static const char big[] =
        "\x82\xa4kind\xabReadReceipt\xa1v\xcf\xff\xff\xff\xff\xff\xff\xff\xff";
    struct cn_read_receipt_event rr;
    CHECK_EQ(cn_event_decode_read_receipt(big, sizeof big - 1, &rr), CN_EVENT_E_VALUE);
}

CN_TEST_MAIN(test_chat_message_round_trip, test_read_receipt_round_trip, test_variants,
             test_hostile_input)
