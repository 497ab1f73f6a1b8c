/* Tests src/proto/stomp_parser.c: the spec's example frames, every split position of
 * a multi-frame stream, each limit, and a corpus of malformed input with the error
 * each must produce. */
#include "check.h"
#include "proto/stomp_parser.h"

#define S(lit) lit, sizeof(lit) - 1

/* Parses exactly one frame from the whole input; the input must hold nothing else
 * but trailing EOLs. Returns the parse result; on success *out is a clone. */
static int parse_one(const char *in, size_t len, struct cn_stomp_frame **out,
                     const struct cn_stomp_limits *lim)
{
    struct cn_stomp_parser *p = cn_stomp_parser_new(lim);
    struct cn_stomp_frame f;
    size_t used = 0;
    int rc = cn_stomp_parser_parse(p, in, len, &used, &f);
    *out = NULL;
    if (rc == CN_STOMP_FRAME) {
        *out = cn_stomp_frame_clone(&f);
        size_t more;
        int rc2 = cn_stomp_parser_parse(p, in + used, len - used, &more, &f);
        CHECK_EQ(rc2, CN_STOMP_NEED_MORE);
    }
    cn_stomp_parser_free(p);
    return rc;
}

struct example {
    const char *wire;
    size_t len;
    enum cn_stomp_command cmd;
    const char *h1, *v1, *h2, *v2;
    const char *body;
    size_t body_len;
};

static const char error_body[] = "The message:\n-----\nMESSAGE\ndestined:/queue/a\n"
                                 "receipt:message-12345\n\nHello queue a!\n-----\n"
                                 "Did not contain a destination header, which is REQUIRED\n"
                                 "for message propagation.\n";

static void test_spec_examples(void)
{
    static const struct example ex[] = {
        {S("CONNECT\naccept-version:1.2\nhost:stomp.github.org\n\n\0"), CN_STOMP_CONNECT,
         "accept-version", "1.2", "host", "stomp.github.org", "", 0},
        {S("STOMP\naccept-version:1.2\nhost:stomp.github.org\n\n\0"), CN_STOMP_STOMP,
         "accept-version", "1.2", "host", "stomp.github.org", "", 0},
        {S("CONNECTED\nversion:1.2\n\n\0"), CN_STOMP_CONNECTED, "version", "1.2", NULL, NULL, "",
         0},
        {S("CONNECT\naccept-version:1.0,1.1,2.0\nhost:stomp.github.org\n\n\0"), CN_STOMP_CONNECT,
         "accept-version", "1.0,1.1,2.0", "host", "stomp.github.org", "", 0},
        {S("ERROR\nversion:1.2,2.1\ncontent-type:text/plain\n\nSupported protocol versions "
           "are 1.2 2.1\0"),
         CN_STOMP_ERROR, "version", "1.2,2.1", "content-type", "text/plain",
         S("Supported protocol versions are 1.2 2.1")},
        {S("CONNECT\naccept-version:1.2\nhost:stomp.github.org\nheart-beat:0,1000\n\n\0"),
         CN_STOMP_CONNECT, "heart-beat", "0,1000", "host", "stomp.github.org", "", 0},
        {S("CONNECTED\nversion:1.2\nheart-beat:1000,0\nsession:abc\nserver:x/1\n\n\0"),
         CN_STOMP_CONNECTED, "heart-beat", "1000,0", "server", "x/1", "", 0},
        {S("SEND\ndestination:/queue/a\ncontent-type:text/plain\n\nhello queue a\n\0"),
         CN_STOMP_SEND, "destination", "/queue/a", "content-type", "text/plain",
         S("hello queue a\n")},
        {S("SEND\ndestination:/queue/a\nreceipt:message-12345\n\nhello queue a\0"), CN_STOMP_SEND,
         "destination", "/queue/a", "receipt", "message-12345", S("hello queue a")},
        {S("SUBSCRIBE\nid:0\ndestination:/queue/foo\nack:client\n\n\0"), CN_STOMP_SUBSCRIBE, "id",
         "0", "ack", "client", "", 0},
        {S("UNSUBSCRIBE\nid:0\n\n\0"), CN_STOMP_UNSUBSCRIBE, "id", "0", NULL, NULL, "", 0},
        {S("ACK\nid:12345\ntransaction:tx1\n\n\0"), CN_STOMP_ACK, "id", "12345", "transaction",
         "tx1", "", 0},
        {S("NACK\nid:12345\ntransaction:tx1\n\n\0"), CN_STOMP_NACK, "id", "12345", "transaction",
         "tx1", "", 0},
        {S("BEGIN\ntransaction:tx1\n\n\0"), CN_STOMP_BEGIN, "transaction", "tx1", NULL, NULL, "",
         0},
        {S("SEND\ndestination:/queue/a\ntransaction:tx1\n\n\0"), CN_STOMP_SEND, "destination",
         "/queue/a", "transaction", "tx1", "", 0},
        {S("COMMIT\ntransaction:tx1\n\n\0"), CN_STOMP_COMMIT, "transaction", "tx1", NULL, NULL, "",
         0},
        {S("ABORT\ntransaction:tx1\n\n\0"), CN_STOMP_ABORT, "transaction", "tx1", NULL, NULL, "",
         0},
        {S("DISCONNECT\nreceipt:77\n\n\0"), CN_STOMP_DISCONNECT, "receipt", "77", NULL, NULL, "",
         0},
        {S("RECEIPT\nreceipt-id:77\n\n\0"), CN_STOMP_RECEIPT, "receipt-id", "77", NULL, NULL, "",
         0},
        {S("MESSAGE\nsubscription:0\nmessage-id:007\ndestination:/queue/a\ncontent-type:text/"
           "plain\n\nhello queue a\0"),
         CN_STOMP_MESSAGE, "message-id", "007", "subscription", "0", S("hello queue a")},
        {S("ERROR\nreceipt-id:message-12345\ncontent-type:text/plain\ncontent-length:170\n"
           "message:malformed frame received\n\nThe message:\n-----\nMESSAGE\ndestined:/queue/"
           "a\nreceipt:message-12345\n\nHello queue a!\n-----\nDid not contain a destination "
           "header, which is REQUIRED\nfor message propagation.\n\0"),
         CN_STOMP_ERROR, "message", "malformed frame received", "content-length", "170", error_body,
         sizeof error_body - 1},
        /* Repeated header: the first one wins (spec, "Repeated Header Entries"). */
        {S("MESSAGE\nfoo:World\nfoo:Hello\n\n\0"), CN_STOMP_MESSAGE, "foo", "World", NULL, NULL, "",
         0},
        /* CRLF line ends everywhere. */
        {S("SEND\r\ndestination:/queue/a\r\nreceipt:r1\r\n\r\nbody\0"), CN_STOMP_SEND,
         "destination", "/queue/a", "receipt", "r1", S("body")},
        /* Escapes are decoded, in names too. */
        {S("MESSAGE\na\\cb:x\\ny\\rz\\\\w\\c\n\n\0"), CN_STOMP_MESSAGE, "a:b", "x\ny\rz\\w:", NULL,
         NULL, "", 0},
        /* CONNECT is not escaped: backslashes and colons stay as they are. */
        {S("CONNECT\nlogin:a\\tb\npasscode:x:y\\c\n\n\0"), CN_STOMP_CONNECT, "login", "a\\tb",
         "passcode", "x:y\\c", "", 0},
        /* content-length: the body may contain NUL. */
        {S("SEND\ndestination:/q\ncontent-length:5\n\na\0b\0c\0"), CN_STOMP_SEND, "destination",
         "/q", "content-length", "5", "a\0b\0c", 5},
        /* Empty header value is allowed; values are never trimmed. */
        {S("SEND\ndestination:\nx: padded \n\n\0"), CN_STOMP_SEND, "destination", "", "x",
         " padded ", "", 0},
    };
    for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++) {
        const struct example *e = &ex[i];
        struct cn_stomp_frame *f;
        int rc = parse_one(e->wire, e->len, &f, NULL);
        CHECK_EQ(rc, CN_STOMP_FRAME);
        if (!f) {
            fprintf(stderr, "  example %zu failed: %s\n", i, cn_stomp_strerror(rc));
            continue;
        }
        CHECK_EQ(f->command, e->cmd);
        CHECK_STR(cn_stomp_frame_get(f, e->h1, NULL), e->v1);
        if (e->h2)
            CHECK_STR(cn_stomp_frame_get(f, e->h2, NULL), e->v2);
        CHECK_MEM(f->body, f->body_len, e->body, e->body_len);
        CHECK_EQ(f->body[f->body_len], '\0');
        free(f);
    }
}

/* A stream with heart-beats, CRLF, escapes, a NUL in a content-length body and a
 * frame of every shape. */
static const char stream[] =
    "\n\r\n"
    "CONNECT\naccept-version:1.2\nhost:h\nheart-beat:10000,10000\n\n\0"
    "\n"
    "SUBSCRIBE\r\nid:sub-0\r\ndestination:/topic/room.42\r\nreceipt:r\\c1\r\n\r\n\0"
    "\r\n\n"
    "SEND\ndestination:/app/chat.send\ncontent-type:application/json\ncontent-length:5\n\n"
    "x\0y\0z\0"
    "SEND\ndestination:/app/chat.send\n\n{\"roomId\":42,\"content\":\"hi\"}\0\n\n"
    "ACK\nid:m\\\\1\n\n\0"
    "DISCONNECT\nreceipt:77\n\n\0\n";

/* Feeds `in` split at the given positions (sorted, up to 2) and returns the clones. */
static int parse_split(const char *in, size_t len, const size_t *cuts, int ncuts,
                       struct cn_stomp_frame **out, int max)
{
    struct cn_stomp_parser *p = cn_stomp_parser_new(NULL);
    int n = 0;
    size_t from = 0;
    for (int c = 0; c <= ncuts; c++) {
        size_t to = c < ncuts ? cuts[c] : len;
        const char *d = in + from;
        size_t left = to - from;
        for (;;) {
            struct cn_stomp_frame f;
            size_t used;
            int rc = cn_stomp_parser_parse(p, d, left, &used, &f);
            CHECK_INT(rc, >=, 0);
            if (rc <= 0)
                break;
            if (n < max)
                out[n++] = cn_stomp_frame_clone(&f);
            d += used;
            left -= used;
        }
        from = to;
    }
    cn_stomp_parser_free(p);
    return n;
}

static bool same_frame(const struct cn_stomp_frame *a, const struct cn_stomp_frame *b)
{
    if (a->command != b->command || a->nheaders != b->nheaders || a->body_len != b->body_len ||
        memcmp(a->body, b->body, a->body_len) != 0)
        return false;
    for (uint32_t i = 0; i < a->nheaders; i++) {
        const struct cn_stomp_header *x = &a->headers[i], *y = &b->headers[i];
        if (x->name_len != y->name_len || x->value_len != y->value_len ||
            memcmp(x->name, y->name, x->name_len) || memcmp(x->value, y->value, x->value_len))
            return false;
    }
    return true;
}

static void free_frames(struct cn_stomp_frame **f, int n)
{
    for (int i = 0; i < n; i++)
        free(f[i]);
}

static void test_every_split_position_parses_the_same(void)
{
    size_t len = sizeof stream - 1;
    struct cn_stomp_frame *ref[8], *got[8];
    int nref = parse_split(stream, len, NULL, 0, ref, 8);
    CHECK_EQ(nref, 6);
    if (nref != 6)
        return;
    CHECK_STR(cn_stomp_frame_get(ref[1], "receipt", NULL), "r:1");
    CHECK_MEM(ref[2]->body, ref[2]->body_len, "x\0y\0z", 5);
    CHECK_STR(cn_stomp_frame_get(ref[4], "id", NULL), "m\\1");
    /* Every single split, and every pair of splits. */
    int bad = 0;
    for (size_t i = 0; i <= len; i++) {
        for (size_t j = i; j <= len; j++) {
            size_t cuts[2] = {i, j};
            int n = parse_split(stream, len, cuts, 2, got, 8);
            bool ok = n == nref;
            for (int k = 0; ok && k < n; k++)
                ok = same_frame(ref[k], got[k]);
            if (!ok && bad++ < 5)
                fprintf(stderr, "  split at %zu,%zu differs\n", i, j);
            free_frames(got, n);
        }
    }
    CHECK_EQ(bad, 0);
    /* Byte by byte. */
    struct cn_stomp_parser *p = cn_stomp_parser_new(NULL);
    int n = 0;
    for (size_t i = 0; i < len; i++) {
        struct cn_stomp_frame f;
        size_t used;
        int rc = cn_stomp_parser_parse(p, stream + i, 1, &used, &f);
        CHECK_INT(rc, >=, 0);
        if (rc == CN_STOMP_FRAME) {
            CHECK(n < nref && same_frame(ref[n], &f));
            n++;
            CHECK_EQ(used, 1);
        }
    }
    CHECK_EQ(n, nref);
    cn_stomp_parser_free(p);
    free_frames(ref, nref);
}

static void test_several_frames_in_one_chunk_report_consumed(void)
{
    static const char two[] = "SEND\ndestination:/a\n\nx\0SEND\ndestination:/b\n\ny\0";
    struct cn_stomp_parser *p = cn_stomp_parser_new(NULL);
    struct cn_stomp_frame f;
    size_t used;
    CHECK_EQ(cn_stomp_parser_parse(p, two, sizeof two - 1, &used, &f), CN_STOMP_FRAME);
    CHECK_EQ(used, 23);
    CHECK_STR(cn_stomp_frame_get(&f, "destination", NULL), "/a");
    CHECK_EQ(cn_stomp_parser_parse(p, two + used, sizeof two - 1 - used, &used, &f),
             CN_STOMP_FRAME);
    CHECK_STR(cn_stomp_frame_get(&f, "destination", NULL), "/b");
    CHECK_STR(f.body, "y");
    CHECK_EQ(cn_stomp_parser_parse(p, "", 0, &used, &f), CN_STOMP_NEED_MORE);
    cn_stomp_parser_free(p);
}

/* Builds a frame "SEND\n" + nh headers "hN:v" + one header line of `line` bytes +
 * "\n" + body of `body` bytes (content-length when cl) + NUL. Caller frees. */
static char *build(int nh, size_t line, size_t body, bool cl, size_t *len)
{
    size_t cap = 64 + (size_t)nh * 16 + line + body + 64;
    char *b = malloc(cap), *p = b;
    p += sprintf(p, "SEND\n");
    for (int i = 0; i < nh; i++)
        p += sprintf(p, "h%d:v\n", i);
    if (line) {
        memcpy(p, "x:", 2);
        memset(p + 2, 'a', line - 2);
        p += line;
        *p++ = '\n';
    }
    if (cl)
        p += sprintf(p, "content-length:%zu\n", body);
    *p++ = '\n';
    memset(p, 'b', body);
    p += body;
    *p++ = '\0';
    *len = (size_t)(p - b);
    return b;
}

static void test_limits(void)
{
    struct cn_stomp_limits lim = {.max_frame_size = 1000, .max_headers = 4, .max_header_line = 100};
    struct cn_stomp_frame *f;
    size_t len;
    char *b;

    /* header count: 4 fits, 5 fails */
    b = build(4, 0, 0, false, &len);
    CHECK_EQ(parse_one(b, len, &f, &lim), CN_STOMP_FRAME);
    free(f);
    free(b);
    b = build(5, 0, 0, false, &len);
    CHECK_EQ(parse_one(b, len, &f, &lim), CN_STOMP_E_TOO_MANY_HEADERS);
    free(b);

    /* header line: 100 fits, 101 fails */
    b = build(0, 100, 0, false, &len);
    CHECK_EQ(parse_one(b, len, &f, &lim), CN_STOMP_FRAME);
    free(f);
    free(b);
    b = build(0, 101, 0, false, &len);
    CHECK_EQ(parse_one(b, len, &f, &lim), CN_STOMP_E_LINE_TOO_LONG);
    /* ... also when the line has not ended yet */
    CHECK_EQ(parse_one(b, 5 + 102, &f, &lim), CN_STOMP_E_LINE_TOO_LONG);
    free(b);

    /* frame size: "SEND\n\n" is 6 bytes, so a 994-byte body fits, 995 fails, with and
     * without content-length */
    for (int cl = 0; cl < 2; cl++) {
        size_t head = cl ? strlen("content-length:994\n") : 0;
        b = build(0, 0, 994 - head, cl, &len);
        CHECK_EQ(parse_one(b, len, &f, &lim), CN_STOMP_FRAME);
        free(f);
        free(b);
        b = build(0, 0, 995 - head, cl, &len);
        CHECK_EQ(parse_one(b, len, &f, &lim), CN_STOMP_E_FRAME_TOO_LARGE);
        free(b);
    }

    /* A claimed content-length fails as soon as the header is seen, before the body. */
    static const char huge[] = "SEND\ncontent-length:2147483648\n";
    CHECK_EQ(parse_one(huge, sizeof huge - 1, &f, NULL), CN_STOMP_E_FRAME_TOO_LARGE);
    static const char big[] = "SEND\ncontent-length:65537\n\n";
    CHECK_EQ(parse_one(big, sizeof big - 1, &f, NULL), CN_STOMP_E_FRAME_TOO_LARGE);
    static const char many_digits[] = "SEND\ncontent-length:99999999999999999999999999999\n\n";
    CHECK_EQ(parse_one(many_digits, sizeof many_digits - 1, &f, NULL), CN_STOMP_E_FRAME_TOO_LARGE);

    /* A body without NUL fed in small pieces fails at the limit, not later. */
    struct cn_stomp_parser *p = cn_stomp_parser_new(&lim);
    struct cn_stomp_frame fr;
    size_t used;
    CHECK_EQ(cn_stomp_parser_parse(p, S("SEND\n\n"), &used, &fr), CN_STOMP_NEED_MORE);
    char chunk[10];
    memset(chunk, 'z', sizeof chunk);
    int rc = 0, fed = 6;
    while (rc == 0 && fed < 5000) {
        rc = cn_stomp_parser_parse(p, chunk, sizeof chunk, &used, &fr);
        fed += 10;
    }
    CHECK_EQ(rc, CN_STOMP_E_FRAME_TOO_LARGE);
    CHECK_INT(fed, <=, 1010);
    /* The error is sticky. */
    CHECK_EQ(cn_stomp_parser_parse(p, S("SEND\n\n\0"), &used, &fr), CN_STOMP_E_FRAME_TOO_LARGE);
    cn_stomp_parser_free(p);

    /* Default limits. */
    struct cn_stomp_limits d = cn_stomp_default_limits();
    CHECK_EQ(d.max_frame_size, 65536);
    CHECK_EQ(d.max_headers, 32);
    CHECK_EQ(d.max_header_line, 8192);
}

struct bad {
    const char *in;
    size_t len;
    int err;
};

static void test_malformed_corpus(void)
{
    static const struct bad bad[] = {
        {S("send\n\n\0"), CN_STOMP_E_BAD_COMMAND}, /* commands are case-sensitive */
        {S("SENDX\n\n\0"), CN_STOMP_E_BAD_COMMAND},
        {S("SEND \n\n\0"), CN_STOMP_E_BAD_COMMAND},
        {S("GET / HTTP/1.1\r\n"), CN_STOMP_E_BAD_COMMAND},
        {S("\0\n"), CN_STOMP_E_BAD_COMMAND},
        {S("SEND\nnocolon\n\n\0"), CN_STOMP_E_BAD_HEADER},
        {S("SEND\n:novalue\n\n\0"), CN_STOMP_E_BAD_HEADER},
        {S("SEND\nx:a\\tb\n\n\0"), CN_STOMP_E_BAD_ESCAPE},   /* \t is undefined */
        {S("SEND\nx:ab\\\n\n\0"), CN_STOMP_E_BAD_ESCAPE},    /* lone backslash at end */
        {S("SEND\na\\:b\n\n\0"), CN_STOMP_E_BAD_ESCAPE},     /* "\:" is not an escape */
        {S("MESSAGE\nx\\y:1\n\n\0"), CN_STOMP_E_BAD_ESCAPE}, /* in a name */
        {S("SEND\ncontent-length:abc\n\n\0"), CN_STOMP_E_BAD_CONTENT_LENGTH},
        {S("SEND\ncontent-length:\n\n\0"), CN_STOMP_E_BAD_CONTENT_LENGTH},
        {S("SEND\ncontent-length:-1\n\n\0"), CN_STOMP_E_BAD_CONTENT_LENGTH},
        {S("SEND\ncontent-length: 1\n\nx\0"), CN_STOMP_E_BAD_CONTENT_LENGTH},
        {S("SEND\ncontent-length:1\n\nxy\0"), CN_STOMP_E_MISSING_NUL},
        {S("SEND\ncontent-length:0\n\nx\0"), CN_STOMP_E_MISSING_NUL},
        {S("SUBSCRIBE\nid:1\n\nbody\0"), CN_STOMP_E_BODY_NOT_ALLOWED},
        {S("DISCONNECT\ncontent-length:1\n\nx\0"), CN_STOMP_E_BODY_NOT_ALLOWED},
        {S("\rSEND\n\n\0"), CN_STOMP_E_BAD_EOL},
        {S("\r\r\n"), CN_STOMP_E_BAD_EOL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct cn_stomp_frame *f;
        int rc = parse_one(bad[i].in, bad[i].len, &f, NULL);
        if (rc != bad[i].err)
            fprintf(stderr, "  corpus entry %zu: got %d (%s)\n", i, rc, cn_stomp_strerror(rc));
        CHECK_EQ(rc, bad[i].err);
        free(f);
        CHECK(strcmp(cn_stomp_strerror(bad[i].err), "unknown error") != 0);
    }
    /* The same corpus fed one byte at a time gives the same errors. */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct cn_stomp_parser *p = cn_stomp_parser_new(NULL);
        int rc = 0;
        for (size_t k = 0; k < bad[i].len && rc >= 0; k++) {
            struct cn_stomp_frame f;
            size_t used;
            rc = cn_stomp_parser_parse(p, bad[i].in + k, 1, &used, &f);
        }
        CHECK_EQ(rc, bad[i].err);
        cn_stomp_parser_free(p);
    }
    CHECK_STR(cn_stomp_strerror(CN_STOMP_E_LINE_TOO_LONG),
              "header line too long (header-line limit)");
    CHECK_STR(cn_stomp_strerror(1234), "unknown error");
}

static void test_commands_round_trip_names(void)
{
    for (int c = CN_STOMP_CONNECT; c <= CN_STOMP_ERROR; c++) {
        const char *n = cn_stomp_command_name(c);
        CHECK_EQ(cn_stomp_command_parse(n, strlen(n)), c);
    }
    CHECK_STR(cn_stomp_command_name(0), "?");
    CHECK_EQ(cn_stomp_command_parse("SEN", 3), 0);
}

static void test_clone_outlives_the_parser(void)
{
    struct cn_stomp_parser *p = cn_stomp_parser_new(NULL);
    struct cn_stomp_frame f;
    size_t used;
    CHECK_EQ(
        cn_stomp_parser_parse(p, S("SEND\ndestination:/q\ncontent-length:3\n\na\0b\0"), &used, &f),
        CN_STOMP_FRAME);
    struct cn_stomp_frame *c = cn_stomp_frame_clone(&f);
    cn_stomp_parser_free(p);
    CHECK_STR(cn_stomp_frame_get(c, "destination", NULL), "/q");
    size_t vlen = 0;
    CHECK_STR(cn_stomp_frame_get(c, "content-length", &vlen), "3");
    CHECK_EQ(vlen, 1);
    CHECK_MEM(c->body, c->body_len, "a\0b", 3);
    CHECK(c->has_content_length);
    CHECK(cn_stomp_frame_get(c, "missing", NULL) == NULL);
    free(c);
}

CN_TEST_MAIN(test_spec_examples, test_every_split_position_parses_the_same,
             test_several_frames_in_one_chunk_report_consumed, test_limits, test_malformed_corpus,
             test_commands_round_trip_names, test_clone_outlives_the_parser)
