/* Codec benchmarks: STOMP parse throughput on typical SEND frames and the per-recipient
 * MESSAGE render rate, plus the once-per-message costs around them (shared tail, JSON
 * body). Each measurement runs for about a second, is repeated, and the best run is
 * printed (best, because on a shared VM noise only ever makes a run slower).
 *
 *   bench_proto [seconds-per-run]      (default 1.0) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "proto/json_responses.h"
#include "proto/message_body.h"
#include "proto/stomp_escape.h"
#include "proto/stomp_parser.h"
#include "proto/stomp_writer.h"

#define REPEATS  5
#define HEADROOM 16 /* LWS_PRE on our libwebsockets build */

static volatile size_t sink;
static double run_seconds = 1.0;

/* A SEND as stomp.js sends it for /app/chat.send: ~230 bytes. */
static size_t make_send(char *buf, int i)
{
    char body[160];
    int bn = snprintf(body, sizeof body,
                      "{\"roomId\":%d,\"content\":\"hey, are we still on for lunch today? "
                      "the usual place at noon %d\",\"type\":\"TEXT\"}",
                      42 + i % 7, i % 1000);
    int n = sprintf(buf,
                    "SEND\ndestination:/app/chat.send\ncontent-type:application/json\n"
                    "content-length:%d\nreceipt:r-%d\n\n",
                    bn, i % 100000);
    memcpy(buf + n, body, (size_t)bn);
    buf[n + bn] = '\0';
    return (size_t)n + (size_t)bn + 1;
}

/* Feeds `stream` in chunks of `chunk` bytes (0: each frame is its own chunk, like one
 * frame per WebSocket message), as often as fits in run_seconds; returns bytes/s. */
static double parse_rate(const char *stream, size_t len, const size_t *frame_len, size_t nframes,
                         size_t chunk)
{
    struct cn_stomp_parser *p = cn_stomp_parser_new(NULL);
    double best = 0;
    for (int r = 0; r < REPEATS; r++) {
        uint64_t t0 = cn_now_ns(), bytes = 0, frames = 0;
        do {
            size_t off = 0, fi = 0;
            while (off < len) {
                size_t n = chunk ? (len - off < chunk ? len - off : chunk) : frame_len[fi++];
                const char *d = stream + off;
                size_t left = n;
                for (;;) {
                    struct cn_stomp_frame f;
                    size_t used;
                    int rc = cn_stomp_parser_parse(p, d, left, &used, &f);
                    if (rc < 0) {
                        fprintf(stderr, "parse error %s\n", cn_stomp_strerror(rc));
                        exit(1);
                    }
                    if (rc == 0)
                        break;
                    sink += f.body_len + f.nheaders;
                    frames++;
                    d += used;
                    left -= used;
                }
                off += n;
            }
            bytes += len;
        } while (cn_now_ns() - t0 < (uint64_t)(run_seconds * 1e9));
        double s = (double)(cn_now_ns() - t0) / 1e9;
        if (bytes / s > best)
            best = bytes / s;
        if (frames != (bytes / len) * nframes) {
            fprintf(stderr, "frame count mismatch\n");
            exit(1);
        }
    }
    cn_stomp_parser_free(p);
    return best;
}

static void bench_parse(void)
{
    enum { N = 4096 };
    char *stream = malloc((size_t)N * 256);
    size_t *lens = malloc(N * sizeof *lens), len = 0;
    for (int i = 0; i < N; i++) {
        lens[i] = make_send(stream + len, i);
        len += lens[i];
    }
    printf("stomp parse: typical SEND frame %zu bytes avg (%d frames, %zu bytes)\n", len / N, N,
           len);
    double a = parse_rate(stream, len, lens, N, 0);
    printf("  one frame per chunk      %8.2f GB/s  %6.2f M frames/s\n", a / 1e9,
           a / (len / N) / 1e6);
    double b = parse_rate(stream, len, lens, N, 65536);
    printf("  64 KiB chunks            %8.2f GB/s  %6.2f M frames/s\n", b / 1e9,
           b / (len / N) / 1e6);
    double c = parse_rate(stream, len, lens, N, 100);
    printf("  100-byte chunks (split)  %8.2f GB/s  %6.2f M frames/s\n", c / 1e9,
           c / (len / N) / 1e6);
    free(stream);
    free(lens);
}

static void bench_render(void)
{
    struct cn_message m = {.message_key = "7f1c6d0e-3a8b-4f7e-9c2d-1b5e8a9f0c3d",
                           .room_id = 42,
                           .sender_id = 7,
                           .sender_nickname = "Kim",
                           .sender_nickname_len = 3,
                           .content =
                               "hey, are we still on for lunch today? the usual place at noon",
                           .content_len = 61,
                           .type = CN_MSG_TEXT,
                           .created_at_ms = 1700000000123,
                           .position = 123456};
    char body[1024];
    long blen = cn_message_body_render(body, sizeof body, &m);
    struct cn_stomp_message_fields f = {.destination = "/topic/room.42",
                                        .message_id = m.message_key,
                                        .content_type = "application/json",
                                        .body = body,
                                        .body_len = (size_t)blen};
    size_t slen;
    char *shared = cn_stomp_message_shared_new(&f, &slen);
    char sub[64];
    size_t sublen = cn_stomp_escape(sub, "sub-0", 5);
    size_t frame = cn_stomp_message_size(sublen, 0, slen);
    printf("MESSAGE render: body %ld bytes, shared tail %zu bytes, frame %zu bytes\n", blen, slen,
           frame);

    /* Per recipient, into a ring of 1024 buffers (a room's worth of distinct outgoing
     * buffers, so the stores are not all to one hot line). */
    enum { RING = 1024 };
    char *ring = malloc((size_t)RING * 512);
    double best = 0;
    for (int r = 0; r < REPEATS; r++) {
        uint64_t t0 = cn_now_ns(), n = 0;
        do {
            for (int i = 0; i < RING; i++) {
                long k = cn_stomp_message_render(ring + (size_t)i * 512, 512, HEADROOM, sub, sublen,
                                                 NULL, 0, shared, slen);
                sink += (size_t)k;
            }
            n += RING;
        } while (cn_now_ns() - t0 < (uint64_t)(run_seconds * 1e9));
        double rate = n / ((double)(cn_now_ns() - t0) / 1e9);
        if (rate > best)
            best = rate;
    }
    printf("  per-recipient render           %8.2f M renders/s (%.1f ns each)\n", best / 1e6,
           1e9 / best);

    /* Per recipient including the allocation of the outgoing buffer (what a session
     * queue entry costs with malloc/free). */
    best = 0;
    for (int r = 0; r < REPEATS; r++) {
        uint64_t t0 = cn_now_ns(), n = 0;
        do {
            for (int i = 0; i < RING; i++) {
                char *b = malloc(HEADROOM + frame);
                long k = cn_stomp_message_render(b, HEADROOM + frame, HEADROOM, sub, sublen, NULL,
                                                 0, shared, slen);
                sink += (size_t)k + (size_t)b[HEADROOM];
                free(b);
            }
            n += RING;
        } while (cn_now_ns() - t0 < (uint64_t)(run_seconds * 1e9));
        double rate = n / ((double)(cn_now_ns() - t0) / 1e9);
        if (rate > best)
            best = rate;
    }
    printf("  per-recipient malloc+render    %8.2f M renders/s (%.1f ns each)\n", best / 1e6,
           1e9 / best);

    /* Once per message: the JSON body (hand-written vs jansson) and the shared tail. */
    best = 0;
    double best_j = 0, best_s = 0;
    for (int r = 0; r < REPEATS; r++) {
        uint64_t t0 = cn_now_ns(), n = 0;
        do {
            for (int i = 0; i < 1000; i++) {
                m.position = i;
                sink += (size_t)cn_message_body_render(body, sizeof body, &m);
            }
            n += 1000;
        } while (cn_now_ns() - t0 < (uint64_t)(run_seconds * 1e9 / 3));
        double rate = n / ((double)(cn_now_ns() - t0) / 1e9);
        best = rate > best ? rate : best;

        t0 = cn_now_ns(), n = 0;
        do {
            for (int i = 0; i < 100; i++) {
                size_t jl;
                char *j = cn_json_dump(cn_json_message(&m), &jl);
                sink += jl;
                free(j);
            }
            n += 100;
        } while (cn_now_ns() - t0 < (uint64_t)(run_seconds * 1e9 / 3));
        rate = n / ((double)(cn_now_ns() - t0) / 1e9);
        best_j = rate > best_j ? rate : best_j;

        char tail[1024];
        t0 = cn_now_ns(), n = 0;
        do {
            for (int i = 0; i < 1000; i++)
                sink += (size_t)cn_stomp_message_shared_render(tail, sizeof tail, &f);
            n += 1000;
        } while (cn_now_ns() - t0 < (uint64_t)(run_seconds * 1e9 / 3));
        rate = n / ((double)(cn_now_ns() - t0) / 1e9);
        best_s = rate > best_s ? rate : best_s;
    }
    printf("  body JSON, hand-written        %8.2f M bodies/s  (%.1f ns)\n", best / 1e6,
           1e9 / best);
    printf("  body JSON, jansson             %8.2f M bodies/s  (%.1f ns)\n", best_j / 1e6,
           1e9 / best_j);
    printf("  shared tail render             %8.2f M tails/s   (%.1f ns)\n", best_s / 1e6,
           1e9 / best_s);
    free(ring);
    free(shared);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        run_seconds = atof(argv[1]);
    if (run_seconds <= 0)
        run_seconds = 1.0;
    bench_parse();
    bench_render();
    return 0;
}
