/* Tests src/proto/stomp_writer.c: exact bytes of each server frame, headroom left
 * alone, escaping, buffer overflow, and the broadcast MESSAGE split (shared tail +
 * per-recipient head) parsing back to the same frame. */
#include "check.h"
#include "proto/stomp_escape.h"
#include "proto/stomp_parser.h"
#include "proto/stomp_writer.h"

#define HR 16

static void test_connected_receipt_error_bytes(void)
{
    char buf[512];
    memset(buf, 'H', sizeof buf);
    long n = cn_stomp_write_connected(buf, sizeof buf, HR, "1.2", 10000, 0, "s-1", "chat-node/0.1");
    static const char want[] =
        "CONNECTED\nversion:1.2\nheart-beat:10000,0\nsession:s-1\nserver:chat-node/0.1\n\n";
    CHECK_MEM(buf + HR, (size_t)n, want, sizeof want); /* includes the NUL */
    for (int i = 0; i < HR; i++)
        CHECK_EQ(buf[i], 'H');

    n = cn_stomp_write_receipt(buf, sizeof buf, HR, "r:1");
    CHECK_MEM(buf + HR, (size_t)n, "RECEIPT\nreceipt-id:r\\c1\n\n", 26);

    n = cn_stomp_write_error(buf, sizeof buf, 0, "rate limited", "r-9", "too fast", 8);
    static const char err[] = "ERROR\nmessage:rate limited\nreceipt-id:r-9\ncontent-type:text/"
                              "plain\ncontent-length:8\n\ntoo fast";
    CHECK_MEM(buf, (size_t)n, err, sizeof err);
    n = cn_stomp_write_error(buf, sizeof buf, 0, "bad frame", NULL, NULL, 0);
    CHECK_MEM(buf, (size_t)n, "ERROR\nmessage:bad frame\ncontent-length:0\n\n", 43);
}

static void test_no_space_reports_needed(void)
{
    char buf[40];
    long n = cn_stomp_write_error(buf, sizeof buf, HR, "a long error message", NULL, NULL, 0);
    CHECK_EQ(n, CN_STOMP_E_NO_SPACE);
    struct cn_stomp_writer w;
    cn_stomp_writer_init(&w, buf, sizeof buf, HR, CN_STOMP_RECEIPT);
    cn_stomp_writer_header(&w, "receipt-id", "0123456789012345678901234567890", 31);
    CHECK_EQ(cn_stomp_writer_finish(&w, NULL, 0), CN_STOMP_E_NO_SPACE);
    size_t need = cn_stomp_writer_needed(&w);
    char *big = malloc(HR + need);
    cn_stomp_writer_init(&w, big, HR + need, HR, CN_STOMP_RECEIPT);
    cn_stomp_writer_header(&w, "receipt-id", "0123456789012345678901234567890", 31);
    CHECK_EQ(cn_stomp_writer_finish(&w, NULL, 0), (long)need);
    free(big);
    /* exact fit and one byte short */
    char small[64];
    long exact = cn_stomp_write_receipt(small, sizeof small, 0, "x");
    CHECK_EQ(cn_stomp_write_receipt(small, (size_t)exact, 0, "x"), exact);
    CHECK_EQ(cn_stomp_write_receipt(small, (size_t)exact - 1, 0, "x"), CN_STOMP_E_NO_SPACE);
    /* a body on a bodiless frame */
    cn_stomp_writer_init(&w, small, sizeof small, 0, CN_STOMP_RECEIPT);
    CHECK_EQ(cn_stomp_writer_finish(&w, "x", 1), CN_STOMP_E_BODY_NOT_ALLOWED);
}

static void test_broadcast_message_parses_back(void)
{
    struct cn_stomp_header extra[] = {{"x-trace", "a:b\nc", 7, 5}};
    static const char body[] = "{\"content\":\"hi\\u0000\"}";
    struct cn_stomp_message_fields m = {
        .destination = "/topic/room.42",
        .message_id = "7f1c6d0e-3a8b-4f7e-9c2d-1b5e8a9f0c3d",
        .content_type = "application/json",
        .extra = extra,
        .nextra = 1,
        .body = body,
        .body_len = sizeof body - 1,
    };
    size_t slen;
    char *shared = cn_stomp_message_shared_new(&m, &slen);
    char check[512];
    CHECK_EQ(cn_stomp_message_shared_render(check, sizeof check, &m), (long)slen);
    CHECK_MEM(check, slen, shared, slen);
    CHECK_EQ(cn_stomp_message_shared_render(check, slen - 1, &m), CN_STOMP_E_NO_SPACE);

    const char *sub_raw = "sub:0";
    char sub[32];
    size_t sublen = cn_stomp_escape(sub, sub_raw, strlen(sub_raw));
    char out[600];
    memset(out, 'H', HR);
    long n = cn_stomp_message_render(out, sizeof out, HR, sub, sublen, NULL, 0, shared, slen);
    CHECK_EQ(n, (long)cn_stomp_message_size(sublen, 0, slen));
    for (int i = 0; i < HR; i++)
        CHECK_EQ(out[i], 'H');

    struct cn_stomp_parser *p = cn_stomp_parser_new(NULL);
    struct cn_stomp_frame f;
    size_t used;
    CHECK_EQ(cn_stomp_parser_parse(p, out + HR, (size_t)n, &used, &f), CN_STOMP_FRAME);
    CHECK_EQ(used, (size_t)n);
    CHECK_EQ(f.command, CN_STOMP_MESSAGE);
    CHECK_STR(cn_stomp_frame_get(&f, "subscription", NULL), "sub:0");
    CHECK_STR(cn_stomp_frame_get(&f, "destination", NULL), "/topic/room.42");
    CHECK_STR(cn_stomp_frame_get(&f, "message-id", NULL), m.message_id);
    CHECK_STR(cn_stomp_frame_get(&f, "x-trace", NULL), "a:b\nc");
    CHECK_STR(cn_stomp_frame_get(&f, "content-type", NULL), "application/json");
    CHECK(f.has_content_length);
    CHECK_MEM(f.body, f.body_len, body, sizeof body - 1);
    CHECK(cn_stomp_frame_get(&f, "ack", NULL) == NULL);

    /* with an ack header, and the generic writer producing the same frame */
    n = cn_stomp_message_render(out, sizeof out, 0, sub, sublen, "m-1", 3, shared, slen);
    CHECK_EQ(cn_stomp_parser_parse(p, out, (size_t)n, &used, &f), CN_STOMP_FRAME);
    CHECK_STR(cn_stomp_frame_get(&f, "ack", NULL), "m-1");
    char gen[600];
    struct cn_stomp_writer w;
    cn_stomp_writer_init(&w, gen, sizeof gen, 0, CN_STOMP_MESSAGE);
    cn_stomp_writer_header(&w, "subscription", sub_raw, strlen(sub_raw));
    cn_stomp_writer_header(&w, "ack", "m-1", 3);
    cn_stomp_writer_header(&w, "destination", m.destination, strlen(m.destination));
    cn_stomp_writer_header(&w, "message-id", m.message_id, strlen(m.message_id));
    cn_stomp_writer_header(&w, "content-type", m.content_type, strlen(m.content_type));
    cn_stomp_writer_header(&w, "x-trace", "a:b\nc", 5);
    long g = cn_stomp_writer_finish(&w, body, sizeof body - 1);
    CHECK_MEM(gen, (size_t)g, out, (size_t)n);

    /* too small */
    CHECK_EQ(cn_stomp_message_render(out, (size_t)n - 1, 0, sub, sublen, "m-1", 3, shared, slen),
             CN_STOMP_E_NO_SPACE);
    CHECK_EQ(cn_stomp_message_render(out, 4, 8, sub, sublen, NULL, 0, shared, slen),
             CN_STOMP_E_NO_SPACE);
    cn_stomp_parser_free(p);
    free(shared);
}

static void test_connected_is_not_escaped(void)
{
    char buf[128];
    long n = cn_stomp_write_connected(buf, sizeof buf, 0, "1.2", 0, 0, "a:b", NULL);
    CHECK_MEM(buf, (size_t)n, "CONNECTED\nversion:1.2\nheart-beat:0,0\nsession:a:b\n\n", 51);
}

CN_TEST_MAIN(test_connected_receipt_error_bytes, test_no_space_reports_needed,
             test_broadcast_message_parses_back, test_connected_is_not_escaped)
