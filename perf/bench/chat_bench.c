/* chat-bench: the fan-out load generator. Opens one STOMP-over-WebSocket session per
 * line of a sessions file, subscribes each to its rooms, then sends chat messages at a
 * fixed total rate for a while, spread round-robin over the sessions, and measures what
 * the subscribers receive: delivered against expected, duplicates, end-to-end latency
 * (client send to subscriber receive, through the server's Kafka and Redis path), and
 * the CPU it used itself (so a run where the generator saturated says so).
 *
 *   chat-bench --url HOST:PORT[,HOST:PORT...] --sessions FILE --rate MSGS_PER_S --duration S
 *              [--drain S] [--dest-prefix /topic/room.] [--send-dest /app/chat.send]
 *              [--server-pid PID[,PID...]] [--label TEXT] [--peer chat-node|rabbitmq]
 *              [--senders N] [--inflight N] [--procs N] [--warmup S]
 *              [--timeline PATH] [--source-addrs A.B.C.D-A.B.C.E] [--connect-timeout S]
 *
 * The sessions file has one line per session: `userId token roomId[,roomId...]`; the
 * session sends into its first room and subscribes to all of them. --senders N: only the
 * first N sessions send (the rest only listen; 0, the default: all). --inflight N: at most
 * N WebSocket+STOMP handshakes in flight while connecting (200; 0: all at once, the
 * connect storm). --peer rabbitmq drives RabbitMQ Web-STOMP with the same workload: the
 * token field is `login:passcode` (CONNECT login/passcode, vhost /, heart-beats offered
 * every 10 s), and a SEND goes straight to the subscribed destination (prefix + room; the
 * broker fans out).
 *
 * One thread, epoll, non-blocking sockets, WebSocket framing of its own (ws_frame.h) and
 * the product's STOMP parser for what comes back. Prints one JSON object on stdout. With
 * --rate 0 it only holds the sessions open (heart-beats) for the duration: the idle-capacity run,
 * which reports the server's RSS growth per session (--server-pid).
 *
 * --warmup S (0): the same sessions send at the same rate for S seconds before the
 * measured window. A first SEND costs the server more than the next (its session's
 * nickname and membership are looked up once), so without it the window's start
 * measures 2,000 sessions' first SENDs at once, not the steady rate. Warm-up messages
 * count for loss and duplicates, not for latency, rate or CPU.
 *
 * Every message carries `<seq> <send time in ns>` as its content; a receiver looks the
 * sequence number up to count deliveries per message, so loss and duplicates are exact.
 * Expected deliveries of a message = the sessions of this run subscribed to its room,
 * counted for messages the server acknowledged (RECEIPT).
 *
 * Several nodes (--url with a comma-separated list, at most BENCH_MAX_NODES): the sessions
 * are spread so that the members of every room sit on different nodes: the i-th member
 * of a room (in file order, by its first room) goes to node (i + room id) mod N: a room of
 * N or more members has one on every node, so every delivery but about one in N crosses
 * nodes (through Redis), and the rotation by room id evens the nodes' shares out when N
 * does not divide the room size (rooms of 10 on 6 nodes: 16,667 sessions a node for
 * 100,000, where i mod N alone would put 20,000 on four of them, past the ~19,000 one
 * process can hold). --server-pid then takes the nodes' pids in
 * the same order; the JSON has a "nodes" array with each node's sessions, ready
 * (subscribed after the connect phase), failed (dead by then), dropped (died later), RSS
 * before/after and CPU; the top-level server_* figures are sums over the nodes.
 * --source-addrs binds the sockets to loopback source addresses in turn (a range within
 * one /24, e.g. 127.0.0.2-127.0.0.9), with IP_BIND_ADDRESS_NO_PORT so the port is chosen
 * at connect for the whole 4-tuple: ephemeral ports then never run out however many
 * sessions a run holds. --connect-timeout S (120): how long a process may take to connect
 * and subscribe its sessions.
 *
 * --procs N (1; raised when the sessions need more sockets than RLIMIT_NOFILE allows one
 * process): the sessions are driven by N forked children, each a contiguous slice of the
 * file with its share of the senders and of the rate (bench_procs.h). The room counts come
 * from the whole file and each child sends from its own range of sequence numbers, into
 * per-message counters shared by all children, so a message sent in one child and
 * delivered in another is counted exactly. The parent merges and prints the one JSON
 * object; bench CPU is the children's sum. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "bench_procs.h"
#include "latency_hist.h"
#include "latency_timeline.h"
#include "proto/stomp_frame.h"
#include "proto/stomp_parser.h"
#include "ws_frame.h"

enum state { S_CONNECTING, S_HANDSHAKE, S_STOMP_CONNECT, S_SUBSCRIBING, S_READY, S_DEAD };

struct session {
    int fd;
    enum state st;
    int64_t user_id;
    char *token;
    int64_t *rooms;
    unsigned nrooms, subscribed;
    uint8_t *in;
    size_t in_len, in_cap;
    uint8_t *out;
    size_t out_len, out_off, out_cap;
    bool want_out;
    struct cn_stomp_parser *parser;
    int64_t connect_start_ns;
    int64_t hb_out_ns; /* how often the server wants to hear from us; 0: never */
    int64_t last_out_ns;
    unsigned node; /* index in B.nodes */
};

struct room_count {
    int64_t room;
    unsigned subscribers;
};

struct node {
    struct sockaddr_in addr;
    char hostport[128];
    int pid; /* --server-pid, 0: unknown */
    long rss_before, rss_after;
    double cpu_before, cpu_after;
};

static struct {
    struct node nodes[BENCH_MAX_NODES];
    unsigned nnodes, npids;
    struct in_addr *src; /* --source-addrs */
    unsigned nsrc;
    double connect_timeout;
    const char *dest_prefix, *send_dest, *label;
    bool peer_rabbitmq;
    unsigned senders, inflight;
    double rate, duration, drain, warmup;
    struct session *s;
    unsigned n;      /* sessions in the file */
    unsigned lo, hi; /* the slice of s[] this process drives */
    unsigned procs;
    struct bench_ctl *ctl; /* shared by all processes */
    struct room_count *rc;
    unsigned nrc;
    int ep;
    /* per message sequence number, shared by all processes: its room's expected
     * deliveries, how many arrived, whether the server acknowledged it */
    uint16_t *expect, *got;
    uint8_t *acked;
    int64_t *sent_ns;        /* per sequence number: when the SEND was queued (own range) */
    uint64_t *seq_base;      /* per process: the first sequence number it sends; [procs+1] */
    uint64_t seq_lo, seq_hi; /* this process's range */
    double my_rate;          /* this process's share of the rate */
    unsigned my_senders_hi;  /* senders of this process: s[lo..my_senders_hi) */
    uint64_t max_seq, sent, receipts, errors, dead, delivered, dups_seen, bad_body;
    uint64_t connects_ok;
    struct latency_hist lat, connect_lat, ack_lat;
    int64_t measure_from_ns;   /* latencies of messages sent before it (warm-up) are not kept */
    const char *timeline_path; /* --timeline: each process writes PATH.<k> */
    struct latency_timeline *timeline, *ack_timeline;
    char first_error[256];
} B;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *msg)
{
    fprintf(stderr, "chat-bench: %s\n", msg);
    exit(2);
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (!p)
        die("out of memory");
    return p;
}

static unsigned room_subscribers(int64_t room)
{
    for (unsigned i = 0; i < B.nrc; i++)
        if (B.rc[i].room == room)
            return B.rc[i].subscribers;
    return 0;
}

/* Counts one more subscriber of room; returns how many it had before (the new member's
 * index in the room, which picks its node). */
static unsigned count_room(int64_t room)
{
    for (unsigned i = B.nrc; i-- > 0;) /* the file lists a room's members together */
        if (B.rc[i].room == room)
            return B.rc[i].subscribers++;
    B.rc = xrealloc(B.rc, (B.nrc + 1) * sizeof *B.rc);
    B.rc[B.nrc++] = (struct room_count){room, 1};
    return 0;
}

static void load_sessions(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        die("cannot open the sessions file");
    char line[8192];
    while (fgets(line, sizeof line, f)) {
        char *save = NULL, *uid = strtok_r(line, " \t\n", &save);
        char *tok = strtok_r(NULL, " \t\n", &save);
        char *rooms = strtok_r(NULL, " \t\n", &save);
        if (!uid || !tok || !rooms)
            continue;
        B.s = xrealloc(B.s, (B.n + 1) * sizeof *B.s);
        struct session *s = &B.s[B.n++];
        memset(s, 0, sizeof *s);
        s->fd = -1;
        s->user_id = atoll(uid);
        s->token = strdup(tok);
        for (char *r = strtok_r(rooms, ",", &save); r; r = strtok_r(NULL, ",", &save)) {
            s->rooms = xrealloc(s->rooms, (s->nrooms + 1) * sizeof *s->rooms);
            s->rooms[s->nrooms++] = atoll(r);
            unsigned member = count_room(atoll(r));
            if (s->nrooms == 1)
                s->node = (unsigned)((member + (uint64_t)atoll(r)) % B.nnodes);
        }
    }
    fclose(f);
    if (B.n == 0)
        die("the sessions file has no session");
}

static void want_write(struct session *s, bool on)
{
    if (s->want_out == on || s->fd < 0)
        return;
    s->want_out = on;
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = s};
    epoll_ctl(B.ep, EPOLL_CTL_MOD, s->fd, &ev);
}

static void kill_session(struct session *s, const char *why)
{
    if (s->st == S_DEAD)
        return;
    if (!B.first_error[0])
        snprintf(B.first_error, sizeof B.first_error, "session of user %" PRId64 ": %s", s->user_id,
                 why);
    s->st = S_DEAD;
    B.dead++;
    if (s->fd >= 0) {
        epoll_ctl(B.ep, EPOLL_CTL_DEL, s->fd, NULL);
        close(s->fd);
        s->fd = -1;
    }
}

static void flush(struct session *s)
{
    while (s->out_off < s->out_len) {
        ssize_t w = send(s->fd, s->out + s->out_off, s->out_len - s->out_off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                want_write(s, true);
                return;
            }
            if (errno == EINTR)
                continue;
            kill_session(s, strerror(errno));
            return;
        }
        s->out_off += (size_t)w;
    }
    s->out_off = s->out_len = 0;
    want_write(s, false);
}

static void queue_raw(struct session *s, const void *data, size_t len)
{
    if (s->out_len + len > s->out_cap) {
        s->out_cap = (s->out_len + len) * 2;
        s->out = xrealloc(s->out, s->out_cap);
    }
    memcpy(s->out + s->out_len, data, len);
    s->out_len += len;
}

/* Queues one STOMP frame (text, NUL included) as one WebSocket message. */
static void queue_frame(struct session *s, const char *frame, size_t len)
{
    uint8_t hdr[WS_CLIENT_HDR_MAX];
    size_t h = ws_client_header(hdr, WS_OP_TEXT, len);
    queue_raw(s, hdr, h);
    queue_raw(s, frame, len);
    s->last_out_ns = now_ns();
}

/* Sends a heart-beat EOL to every session that has been silent for half the interval
 * its server asked for (CONNECTED heart-beat: the second number). */
static void heartbeats(int64_t t)
{
    for (unsigned i = B.lo; i < B.hi; i++) {
        struct session *s = &B.s[i];
        if (s->st == S_DEAD || s->hb_out_ns == 0 || t - s->last_out_ns < s->hb_out_ns / 2)
            continue;
        queue_frame(s, "\n", 1);
        flush(s);
    }
}

static void start_connect(struct session *s)
{
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0)
        die("socket() failed: out of file descriptors? (ulimit -n)");
    int one = 1;
    setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (B.nsrc) {
        /* the port is picked at connect, unique per 4-tuple, not per source address */
        setsockopt(s->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        struct sockaddr_in src = {.sin_family = AF_INET,
                                  .sin_addr = B.src[(size_t)(s - B.s) % B.nsrc]};
        if (bind(s->fd, (struct sockaddr *)&src, sizeof src) < 0) {
            close(s->fd);
            s->fd = -1;
            kill_session(s, strerror(errno));
            return;
        }
    }
    const struct node *node = &B.nodes[s->node];
    s->connect_start_ns = now_ns();
    int rc = connect(s->fd, (const struct sockaddr *)&node->addr, sizeof node->addr);
    if (rc < 0 && errno != EINPROGRESS) {
        close(s->fd);
        s->fd = -1;
        kill_session(s, strerror(errno));
        return;
    }
    s->st = S_CONNECTING;
    s->parser = cn_stomp_parser_new(NULL);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = s};
    s->want_out = true;
    epoll_ctl(B.ep, EPOLL_CTL_ADD, s->fd, &ev);
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: Y2hhdC1iZW5jaC1rZXkxMg==\r\n"
                     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: v12.stomp\r\n\r\n",
                     node->hostport);
    queue_raw(s, req, (size_t)n);
}

static void send_stomp_connect(struct session *s)
{
    char f[4096 + 256];
    int n;
    if (B.peer_rabbitmq) {
        /* Web-STOMP closes a WebSocket that has been silent for 60 s (cowboy's idle
         * timeout) and asks for no heart-beats itself: offer ours, every 10 s, as a
         * chat-node session sends them when the node asks. */
        const char *colon = strchr(s->token, ':');
        int ll = colon ? (int)(colon - s->token) : (int)strlen(s->token);
        n = snprintf(f, sizeof f,
                     "CONNECT\naccept-version:1.2\nhost:/\nlogin:%.*s\npasscode:%s\n"
                     "heart-beat:10000,0\n\n",
                     ll, s->token, colon ? colon + 1 : "");
        queue_frame(s, f, (size_t)n + 1);
        s->st = S_STOMP_CONNECT;
        return;
    }
    n = snprintf(f, sizeof f,
                 "CONNECT\naccept-version:1.2\nhost:chat\nAuthorization:Bearer %s\n"
                 "heart-beat:0,0\n\n",
                 s->token);
    queue_frame(s, f, (size_t)n + 1);
    s->st = S_STOMP_CONNECT;
}

static void send_subscribes(struct session *s)
{
    for (unsigned i = 0; i < s->nrooms; i++) {
        char f[256];
        int n = snprintf(f, sizeof f,
                         "SUBSCRIBE\nid:r%" PRId64 "\ndestination:%s%" PRId64 "\nreceipt:s%" PRId64
                         "\n\n",
                         s->rooms[i], B.dest_prefix, s->rooms[i], s->rooms[i]);
        queue_frame(s, f, (size_t)n + 1);
    }
    s->st = S_SUBSCRIBING;
}

static void send_message(struct session *s)
{
    uint64_t seq = B.seq_lo + B.sent;
    if (seq >= B.seq_hi)
        return;
    char body[128];
    int64_t t = now_ns();
    B.sent_ns[seq] = t;
    int bl = snprintf(body, sizeof body,
                      "{\"roomId\":%" PRId64 ",\"content\":\"%" PRIu64 " %" PRId64 "\"}",
                      s->rooms[0], seq, t);
    char dest[192];
    if (B.peer_rabbitmq) /* no /app: straight to the room's topic */
        snprintf(dest, sizeof dest, "%s%" PRId64, B.dest_prefix, s->rooms[0]);
    else
        snprintf(dest, sizeof dest, "%s", B.send_dest);
    char f[512];
    int n = snprintf(f, sizeof f,
                     "SEND\ndestination:%s\ncontent-type:application/json\ncontent-length:%d\n"
                     "receipt:m%" PRIu64 "\n\n%s",
                     dest, bl, seq, body);
    queue_frame(s, f, (size_t)n + 1);
    uint16_t want = (uint16_t)room_subscribers(s->rooms[0]);
    __atomic_store_n(&B.expect[seq], want, __ATOMIC_RELEASE); /* before the SEND leaves */
    __atomic_add_fetch(&B.ctl->want, want, __ATOMIC_RELAXED);
    __atomic_add_fetch(&B.ctl->sent, 1, __ATOMIC_RELAXED);
    B.sent++;
    flush(s);
}

/* The content of a MESSAGE body: finds "content":"<seq> <ns>". */
static void on_message(const struct cn_stomp_frame *fr, int64_t t)
{
    const char *c = strstr(fr->body, "\"content\":\"");
    if (!c) {
        B.bad_body++;
        return;
    }
    c += 11;
    char *end;
    unsigned long long seq = strtoull(c, &end, 10);
    if (end == c || *end != ' ' || seq >= B.max_seq) {
        B.bad_body++;
        return;
    }
    long long sent_ns = strtoll(end + 1, NULL, 10);
    if (__atomic_load_n(&B.got[seq], __ATOMIC_RELAXED) == UINT16_MAX)
        return;
    uint16_t got = __atomic_add_fetch(&B.got[seq], 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&B.ctl->delivered, 1, __ATOMIC_RELAXED);
    B.delivered++;
    uint16_t want = __atomic_load_n(&B.expect[seq], __ATOMIC_ACQUIRE);
    if (got > want && want)
        B.dups_seen++;
    if (sent_ns >= B.measure_from_ns && t > sent_ns) {
        latency_hist_add(&B.lat, (uint64_t)(t - sent_ns) / 1000);
        if (B.timeline)
            latency_timeline_add(B.timeline, sent_ns, (uint64_t)(t - sent_ns) / 1000);
    }
}

static void on_frame(struct session *s, const struct cn_stomp_frame *fr, int64_t t)
{
    switch (fr->command) {
    case CN_STOMP_CONNECTED: {
        latency_hist_add(&B.connect_lat, (uint64_t)(t - s->connect_start_ns) / 1000);
        B.connects_ok++;
        const char *hb = cn_stomp_frame_get(fr, "heart-beat", NULL);
        const char *comma = hb ? strchr(hb, ',') : NULL;
        if (comma)
            s->hb_out_ns = (int64_t)atoll(comma + 1) * 1000000;
        send_subscribes(s);
        flush(s);
        break;
    }
    case CN_STOMP_RECEIPT: {
        const char *id = cn_stomp_frame_get(fr, "receipt-id", NULL);
        if (id && id[0] == 's') {
            if (++s->subscribed == s->nrooms)
                s->st = S_READY;
        } else if (id && id[0] == 'm') {
            unsigned long long seq = strtoull(id + 1, NULL, 10);
            if (seq >= B.seq_lo && seq < B.seq_hi && !B.acked[seq]) {
                B.acked[seq] = 1;
                B.receipts++;
                __atomic_add_fetch(&B.ctl->receipts, 1, __ATOMIC_RELAXED);
                if (B.sent_ns[seq] >= B.measure_from_ns && t > B.sent_ns[seq]) {
                    latency_hist_add(&B.ack_lat, (uint64_t)(t - B.sent_ns[seq]) / 1000);
                    if (B.ack_timeline)
                        latency_timeline_add(B.ack_timeline, B.sent_ns[seq],
                                             (uint64_t)(t - B.sent_ns[seq]) / 1000);
                }
            }
        }
        break;
    }
    case CN_STOMP_MESSAGE:
        on_message(fr, t);
        break;
    case CN_STOMP_ERROR: {
        B.errors++;
        const char *m = cn_stomp_frame_get(fr, "message", NULL);
        kill_session(s, m ? m : "ERROR frame");
        break;
    }
    default:
        break;
    }
}

static void on_ws_payload(struct session *s, const uint8_t *p, size_t len, int64_t t)
{
    while (len > 0 && s->st != S_DEAD) {
        size_t used = 0;
        struct cn_stomp_frame fr;
        int rc = cn_stomp_parser_parse(s->parser, (const char *)p, len, &used, &fr);
        if (rc < 0) {
            kill_session(s, "the server sent a frame the STOMP parser refused");
            return;
        }
        if (rc == CN_STOMP_FRAME)
            on_frame(s, &fr, t);
        p += used;
        len -= used;
        if (rc == CN_STOMP_NEED_MORE)
            break;
    }
}

static void on_readable(struct session *s, int64_t t)
{
    for (;;) {
        if (s->in_cap - s->in_len < 16384) {
            s->in_cap = s->in_cap ? s->in_cap * 2 : 32768;
            s->in = xrealloc(s->in, s->in_cap);
        }
        ssize_t r = recv(s->fd, s->in + s->in_len, s->in_cap - s->in_len, 0);
        if (r == 0) {
            kill_session(s, "the server closed the connection");
            return;
        }
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            if (errno == EINTR)
                continue;
            kill_session(s, strerror(errno));
            return;
        }
        s->in_len += (size_t)r;
        if ((size_t)r < s->in_cap - s->in_len + (size_t)r)
            break; /* short read: the socket is drained */
    }
    size_t off = 0;
    if (s->st == S_HANDSHAKE || s->st == S_CONNECTING) {
        uint8_t *end = memmem(s->in, s->in_len, "\r\n\r\n", 4);
        if (!end)
            return;
        if (s->in_len < 12 || memcmp(s->in + 9, "101", 3) != 0) {
            kill_session(s, "the WebSocket upgrade was refused");
            return;
        }
        off = (size_t)(end + 4 - s->in);
        send_stomp_connect(s);
        flush(s);
    }
    while (off < s->in_len && s->st != S_DEAD) {
        struct ws_frame_view f;
        long used = ws_server_frame(s->in + off, s->in_len - off, &f);
        if (used < 0) {
            kill_session(s, "malformed WebSocket frame");
            return;
        }
        if (used == 0)
            break;
        if (f.op == WS_OP_CLOSE) {
            kill_session(s, "the server sent a WebSocket close");
            return;
        }
        if (f.op == WS_OP_PING) {
            uint8_t hdr[WS_CLIENT_HDR_MAX];
            size_t h = ws_client_header(hdr, WS_OP_PONG, f.len);
            queue_raw(s, hdr, h);
            queue_raw(s, f.payload, f.len);
            flush(s);
        } else if (f.op == WS_OP_TEXT || f.op == WS_OP_BINARY || f.op == WS_OP_CONT) {
            on_ws_payload(s, f.payload, f.len, t);
        }
        off += (size_t)used;
    }
    if (s->st != S_DEAD) {
        memmove(s->in, s->in + off, s->in_len - off);
        s->in_len -= off;
    }
}

static void poll_once(int timeout_ms)
{
    struct epoll_event evs[256];
    int n = epoll_wait(B.ep, evs, 256, timeout_ms);
    int64_t t = now_ns();
    for (int i = 0; i < n; i++) {
        struct session *s = evs[i].data.ptr;
        if (s->st == S_DEAD)
            continue;
        if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
            int err = 0;
            socklen_t el = sizeof err;
            getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el);
            kill_session(s, err ? strerror(err) : "connection hung up");
            continue;
        }
        if (evs[i].events & EPOLLOUT) {
            if (s->st == S_CONNECTING)
                s->st = S_HANDSHAKE;
            flush(s);
        }
        if (s->st != S_DEAD && (evs[i].events & EPOLLIN))
            on_readable(s, t);
    }
}

static double cpu_seconds_self(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static double cpu_seconds_of(int pid)
{
    if (pid <= 0)
        return -1;
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long ut = 0, st = 0;
    /* fields after the command: state(3) ... utime(14) stime(15) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* VmRSS of a process in KiB, or -1. */
static long rss_kb_of(int pid)
{
    if (pid <= 0)
        return -1;
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static unsigned count_state(enum state st)
{
    unsigned c = 0;
    for (unsigned i = B.lo; i < B.hi; i++)
        c += B.s[i].st == st;
    return c;
}

/* Adds this process's sessions in state st, per node, to out[]. */
static void count_state_per_node(enum state st, uint64_t *out)
{
    for (unsigned i = B.lo; i < B.hi; i++)
        out[B.s[i].node] += B.s[i].st == st;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: chat-bench --url HOST:PORT[,HOST:PORT...] --sessions FILE --rate N\n"
            "       --duration S [--drain S] [--dest-prefix P] [--send-dest D]\n"
            "       [--server-pid PID[,PID...]] [--label TEXT] [--peer chat-node|rabbitmq]\n"
            "       [--senders N] [--inflight N] [--procs N] [--warmup S] [--timeline PATH]\n"
            "       [--source-addrs A.B.C.D-A.B.C.E] [--connect-timeout S]\n");
    exit(2);
}

static bool flag_set(const int *flag)
{
    return __atomic_load_n(flag, __ATOMIC_ACQUIRE) != 0;
}

/* Keeps this process's sessions alive (heart-beats, pings, stray deliveries) until the
 * parent sets *flag; exits when the parent is gone. */
static void hold_until(const int *flag, pid_t parent)
{
    while (!flag_set(flag)) {
        poll_once(10);
        heartbeats(now_ns());
        if (getppid() != parent)
            die("the parent process is gone");
    }
}

/* The drain condition, over all processes: every process has sent all it will, the
 * server acknowledged every SEND, and every expected delivery arrived. */
static bool all_delivered(void)
{
    struct bench_ctl *c = B.ctl;
    return __atomic_load_n(&c->sending_done, __ATOMIC_ACQUIRE) == B.procs &&
           __atomic_load_n(&c->receipts, __ATOMIC_RELAXED) ==
               __atomic_load_n(&c->sent, __ATOMIC_RELAXED) &&
           __atomic_load_n(&c->delivered, __ATOMIC_RELAXED) >=
               __atomic_load_n(&c->want, __ATOMIC_RELAXED);
}

/* One process's run over s[B.lo..B.hi): connect, wait for the others, send its share,
 * drain, wait until the parent measured the server, report. Returns the exit status. */
/* PATH.<k>: "delivery" then "receipt" sections, one line per 100 ms of send time. */
static void write_timelines(unsigned k)
{
    char path[4096];
    snprintf(path, sizeof path, "%s.%u", B.timeline_path, k);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "chat-bench: %s: %s\n", path, strerror(errno));
        return;
    }
    fprintf(f, "# delivery: t_s count over_25ms max_ms\n");
    latency_timeline_write(B.timeline, f);
    fprintf(f, "# receipt: t_s count over_25ms max_ms\n");
    latency_timeline_write(B.ack_timeline, f);
    fclose(f);
}

static int run_child(unsigned k, int report_fd, void *arg)
{
    pid_t parent = *(pid_t *)arg;
    struct bench_report *r = calloc(1, sizeof *r);
    if (!r)
        die("out of memory");
    B.seq_lo = B.seq_base[k];
    B.seq_hi = B.seq_base[k + 1];
    B.ep = epoll_create1(EPOLL_CLOEXEC);

    /* 1. connect and subscribe, at most this process's share of B.inflight in flight */
    unsigned slice = B.hi - B.lo;
    unsigned inflight = B.inflight ? B.inflight / B.procs : slice;
    if (inflight == 0)
        inflight = 1;
    double conn_cpu0 = cpu_seconds_self();
    int64_t t0 = now_ns();
    unsigned next = B.lo;
    while (count_state(S_READY) + (unsigned)B.dead < slice) {
        unsigned pending = 0;
        for (unsigned i = B.lo; i < next; i++)
            pending += B.s[i].st != S_READY && B.s[i].st != S_DEAD;
        while (next < B.hi && pending < inflight) {
            start_connect(&B.s[next++]);
            pending++;
        }
        poll_once(10);
        heartbeats(now_ns());
        if (now_ns() - t0 > (int64_t)(B.connect_timeout * 1e9))
            die("sessions did not all connect and subscribe within --connect-timeout");
    }
    r->connect_cpu_s = cpu_seconds_self() - conn_cpu0;
    r->ready = count_state(S_READY);
    count_state_per_node(S_READY, r->node_ready);
    count_state_per_node(S_DEAD, r->node_failed);
    __atomic_add_fetch(&B.ctl->connected, 1, __ATOMIC_RELEASE);
    hold_until(&B.ctl->go_send, parent);

    /* 2. send at this process's rate, round robin over its ready senders */
    double cpu0 = cpu_seconds_self();
    int64_t start = __atomic_load_n(&B.ctl->start_ns, __ATOMIC_ACQUIRE);
    B.measure_from_ns = start;
    if (B.timeline)
        B.timeline->start_ns = B.ack_timeline->start_ns = start;
    int64_t end = start + (int64_t)(B.duration * 1e9);
    int64_t send_from = start - (int64_t)(B.warmup * 1e9);
    unsigned senders = B.my_senders_hi - B.lo, rr = 0;
    int64_t last_hb = now_ns();
    bool measuring = B.warmup <= 0;
    for (int64_t t = now_ns(); t < end; t = now_ns()) {
        if (!measuring && t >= start) {
            cpu0 = cpu_seconds_self();
            measuring = true;
        }
        if (t - last_hb > 100000000) {
            heartbeats(t);
            last_hb = t;
        }
        uint64_t due = (uint64_t)((double)(t - send_from) / 1e9 * B.my_rate);
        for (unsigned guard = 0; senders && B.sent < due && guard < senders * 2; guard++) {
            struct session *s = &B.s[B.lo + rr++ % senders];
            if (s->st == S_READY)
                send_message(s);
        }
        poll_once(1);
    }
    __atomic_add_fetch(&B.ctl->sending_done, 1, __ATOMIC_RELEASE);
    /* 3. drain: until every acknowledged message arrived everywhere, or the deadline */
    int64_t drain_end = now_ns() + (int64_t)(B.drain * 1e9);
    while (now_ns() < drain_end && !all_delivered()) {
        poll_once(5);
        heartbeats(now_ns());
    }
    r->cpu_s = cpu_seconds_self() - cpu0;
    __atomic_add_fetch(&B.ctl->drained, 1, __ATOMIC_RELEASE);
    /* still connected while the parent reads the server's RSS */
    hold_until(&B.ctl->go_exit, parent);

    if (B.timeline)
        write_timelines(k);
    count_state_per_node(S_DEAD, r->node_dead_end);
    r->sent = B.sent;
    r->receipts = B.receipts;
    r->errors = B.errors;
    r->dead = B.dead;
    r->delivered = B.delivered;
    r->dups_seen = B.dups_seen;
    r->bad_body = B.bad_body;
    r->connects_ok = B.connects_ok;
    r->lat = B.lat;
    r->connect_lat = B.connect_lat;
    r->ack_lat = B.ack_lat;
    memcpy(r->first_error, B.first_error, sizeof r->first_error);
    return bench_report_write(report_fd, r) ? 0 : 2;
}

/* Splits the senders (the first `senders` sessions) and the rate over the processes,
 * and gives each its own range of sequence numbers. */
static void plan_processes(unsigned senders)
{
    B.seq_base = xrealloc(NULL, (B.procs + 1) * sizeof *B.seq_base);
    B.seq_base[0] = 0;
    for (unsigned k = 0; k < B.procs; k++) {
        unsigned lo, hi;
        bench_slice(B.n, B.procs, k, &lo, &hi);
        unsigned mine = hi < senders ? hi - lo : lo < senders ? senders - lo : 0;
        double rate = B.rate * mine / senders;
        B.seq_base[k + 1] = B.seq_base[k] + (uint64_t)(rate * (B.duration + B.warmup)) + 1;
    }
    B.max_seq = B.seq_base[B.procs];
}

/* --url HOST:PORT[,HOST:PORT...] into B.nodes. */
static void parse_urls(const char *list)
{
    char *copy = strdup(list), *save = NULL;
    if (!copy)
        die("out of memory");
    for (char *u = strtok_r(copy, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
        if (B.nnodes == BENCH_MAX_NODES)
            die("--url: too many nodes");
        struct node *nd = &B.nodes[B.nnodes++];
        const char *colon = strrchr(u, ':');
        if (!colon)
            usage();
        snprintf(nd->hostport, sizeof nd->hostport, "%s", u);
        char host[64];
        snprintf(host, sizeof host, "%.*s", (int)(colon - u), u);
        nd->addr.sin_family = AF_INET;
        nd->addr.sin_port = htons((uint16_t)atoi(colon + 1));
        if (inet_pton(AF_INET, host, &nd->addr.sin_addr) != 1)
            die("--url: HOST must be an IPv4 address");
    }
    free(copy);
    if (B.nnodes == 0)
        usage();
}

/* --server-pid PID[,PID...]: the nodes' pids, in --url order. */
static void parse_pids(const char *list)
{
    for (const char *p = list; *p;) {
        if (B.npids == BENCH_MAX_NODES)
            die("--server-pid: too many pids");
        B.nodes[B.npids++].pid = atoi(p);
        p = strchr(p, ',');
        if (!p)
            break;
        p++;
    }
}

/* --source-addrs A.B.C.D-A.B.C.E (or one address): consecutive addresses, last octet. */
static void parse_sources(const char *v)
{
    char first[32], last[32];
    const char *dash = strchr(v, '-');
    snprintf(first, sizeof first, "%.*s", dash ? (int)(dash - v) : (int)strlen(v), v);
    snprintf(last, sizeof last, "%s", dash ? dash + 1 : v);
    struct in_addr a, b;
    if (inet_pton(AF_INET, first, &a) != 1 || inet_pton(AF_INET, last, &b) != 1 ||
        ntohl(b.s_addr) < ntohl(a.s_addr) || ntohl(b.s_addr) - ntohl(a.s_addr) > 255)
        die("--source-addrs: want A.B.C.D-A.B.C.E, at most 256 addresses");
    B.nsrc = ntohl(b.s_addr) - ntohl(a.s_addr) + 1;
    B.src = xrealloc(NULL, B.nsrc * sizeof *B.src);
    for (unsigned i = 0; i < B.nsrc; i++)
        B.src[i].s_addr = htonl(ntohl(a.s_addr) + i);
}

/* Sum of the nodes' VmRSS (KiB), each kept in rss_before or rss_after; -1: no pid. */
static long nodes_rss(bool after)
{
    long sum = -1;
    for (unsigned i = 0; i < B.nnodes; i++) {
        long kb = rss_kb_of(B.nodes[i].pid);
        *(after ? &B.nodes[i].rss_after : &B.nodes[i].rss_before) = kb;
        if (kb >= 0)
            sum = (sum < 0 ? 0 : sum) + kb;
    }
    return sum;
}

/* Sum of the nodes' CPU seconds, each kept in cpu_before or cpu_after; -1: no pid. */
static double nodes_cpu(bool after)
{
    double sum = -1;
    for (unsigned i = 0; i < B.nnodes; i++) {
        double c = cpu_seconds_of(B.nodes[i].pid);
        *(after ? &B.nodes[i].cpu_after : &B.nodes[i].cpu_before) = c;
        if (c >= 0)
            sum = (sum < 0 ? 0 : sum) + c;
    }
    return sum;
}

/* The "nodes" array of the result: per node, its sessions and what it cost. */
static void print_nodes(const struct bench_report *all, double wall)
{
    unsigned per[BENCH_MAX_NODES] = {0};
    for (unsigned i = 0; i < B.n; i++)
        per[B.s[i].node]++;
    printf(",\"nodes\":[");
    for (unsigned i = 0; i < B.nnodes; i++) {
        const struct node *nd = &B.nodes[i];
        bool cpu = nd->cpu_before >= 0 && nd->cpu_after >= 0 && nd->pid > 0;
        printf("%s{\"url\":\"%s\",\"pid\":%d,\"sessions\":%u,\"ready\":%" PRIu64
               ",\"failed\":%" PRIu64 ",\"dropped\":%" PRIu64
               ",\"rss_kb_before\":%ld,\"rss_kb_after\":%ld,\"rss_per_session_b\":%.0f,"
               "\"cpu_cores\":%.2f}",
               i ? "," : "", nd->hostport, nd->pid, per[i], all->node_ready[i], all->node_failed[i],
               all->node_dead_end[i] - all->node_failed[i], nd->pid > 0 ? nd->rss_before : -1,
               nd->pid > 0 ? nd->rss_after : -1,
               nd->pid > 0 && nd->rss_before > 0 && nd->rss_after > 0 && all->node_ready[i]
                   ? (double)(nd->rss_after - nd->rss_before) * 1024.0 / (double)all->node_ready[i]
                   : -1.0,
               cpu ? (nd->cpu_after - nd->cpu_before) / wall : -1.0);
    }
    printf("]");
}

static void kill_children(const pid_t *pids)
{
    for (unsigned k = 0; k < B.procs; k++)
        kill(pids[k], SIGTERM);
}

int main(int argc, char **argv)
{
    const char *url = NULL, *sessions = NULL;
    unsigned procs_asked = 1;
    B.dest_prefix = "/topic/room.";
    B.send_dest = "/app/chat.send";
    B.label = "";
    B.drain = 5;
    B.inflight = 200;
    B.connect_timeout = 120;
    if (argc % 2 == 0)
        usage(); /* every option takes a value */
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--url"))
            url = v;
        else if (!strcmp(a, "--sessions"))
            sessions = v;
        else if (!strcmp(a, "--rate"))
            B.rate = atof(v);
        else if (!strcmp(a, "--duration"))
            B.duration = atof(v);
        else if (!strcmp(a, "--drain"))
            B.drain = atof(v);
        else if (!strcmp(a, "--dest-prefix"))
            B.dest_prefix = v;
        else if (!strcmp(a, "--send-dest"))
            B.send_dest = v;
        else if (!strcmp(a, "--server-pid"))
            parse_pids(v);
        else if (!strcmp(a, "--source-addrs"))
            parse_sources(v);
        else if (!strcmp(a, "--connect-timeout") && atof(v) > 0)
            B.connect_timeout = atof(v);
        else if (!strcmp(a, "--label"))
            B.label = v;
        else if (!strcmp(a, "--peer") && (!strcmp(v, "rabbitmq") || !strcmp(v, "chat-node")))
            B.peer_rabbitmq = !strcmp(v, "rabbitmq");
        else if (!strcmp(a, "--senders"))
            B.senders = (unsigned)atoi(v);
        else if (!strcmp(a, "--inflight"))
            B.inflight = (unsigned)atoi(v);
        else if (!strcmp(a, "--warmup") && atof(v) >= 0)
            B.warmup = atof(v);
        else if (!strcmp(a, "--timeline"))
            B.timeline_path = v;
        else if (!strcmp(a, "--procs") && atoi(v) >= 1)
            procs_asked = (unsigned)atoi(v);
        else
            usage();
    }
    if (!url || !sessions || B.rate < 0 || B.duration <= 0)
        usage();
    parse_urls(url);
    if (B.npids > B.nnodes)
        die("--server-pid: more pids than --url nodes");
    load_sessions(sessions);
    B.procs = bench_procs_needed(B.n, procs_asked);
    if (B.procs > B.n)
        B.procs = B.n;
    unsigned senders = B.senders && B.senders < B.n ? B.senders : B.n;
    plan_processes(senders);
    B.expect = bench_shared_alloc(B.max_seq * sizeof *B.expect);
    B.got = bench_shared_alloc(B.max_seq * sizeof *B.got);
    B.acked = bench_shared_alloc(B.max_seq);
    B.ctl = bench_shared_alloc(sizeof *B.ctl);
    B.sent_ns = calloc(B.max_seq, sizeof *B.sent_ns);
    if (B.timeline_path) {
        B.timeline = calloc(1, sizeof *B.timeline);
        B.ack_timeline = calloc(1, sizeof *B.ack_timeline);
        if (!B.timeline || !B.ack_timeline)
            die("out of memory");
    }
    pid_t *pids = xrealloc(NULL, B.procs * sizeof *pids);
    int *fds = xrealloc(NULL, B.procs * sizeof *fds);
    if (!B.sent_ns)
        die("out of memory");

    /* The children inherit B; each differs in its slice, set just before its fork. */
    long rss_before = nodes_rss(false);
    double conn_srv0 = nodes_cpu(false);
    int64_t t0 = now_ns();
    pid_t self = getpid();
    for (unsigned k = 0; k < B.procs; k++) {
        bench_slice(B.n, B.procs, k, &B.lo, &B.hi);
        B.my_senders_hi = B.hi < senders ? B.hi : senders > B.lo ? senders : B.lo;
        B.my_rate = B.rate * (B.my_senders_hi - B.lo) / senders;
        bench_spawn_one(k, &pids[k], &fds[k], fds, run_child, &self);
    }
    if (!bench_wait_children(&B.ctl->connected, B.procs, pids, B.procs, B.connect_timeout + 30)) {
        kill_children(pids);
        die("the sessions did not all connect and subscribe");
    }
    double connect_s = (double)(now_ns() - t0) / 1e9;
    double connect_srv = conn_srv0 >= 0 ? nodes_cpu(false) - conn_srv0 : -1;

    /* every subscriber in every process is ready: all start sending together */
    int64_t start = now_ns() + (int64_t)(B.warmup * 1e9);
    __atomic_store_n(&B.ctl->start_ns, start, __ATOMIC_RELEASE);
    __atomic_store_n(&B.ctl->go_send, 1, __ATOMIC_RELEASE);
    while (now_ns() < start)
        usleep(10000); /* the warm-up: the server's CPU counts from its end */
    double srv0 = nodes_cpu(false);
    if (!bench_wait_children(&B.ctl->drained, B.procs, pids, B.procs,
                             B.warmup + B.duration + B.drain + 60)) {
        kill_children(pids);
        die("a child did not finish sending and draining");
    }
    double elapsed = (double)(now_ns() - start) / 1e9;
    long rss_after = nodes_rss(true);
    double srv = srv0 >= 0 ? nodes_cpu(true) - srv0 : -1;
    __atomic_store_n(&B.ctl->go_exit, 1, __ATOMIC_RELEASE);

    struct bench_report *all = calloc(2, sizeof *all), *one = all + 1;
    if (!all)
        die("out of memory");
    for (unsigned k = 0; k < B.procs; k++) {
        if (!bench_report_read(fds[k], one)) {
            kill_children(pids);
            die("a child did not report its results");
        }
        bench_report_merge(all, one);
        close(fds[k]);
        waitpid(pids[k], NULL, 0);
    }
    double wall = B.duration;
    double sending_s = B.duration + B.warmup; /* deliveries count the warm-up too */

    uint64_t expected = 0, lost = 0, dups = 0, got_acked = 0;
    for (uint64_t q = 0; q < B.max_seq; q++) {
        if (!B.acked[q])
            continue;
        expected += B.expect[q];
        got_acked += B.got[q];
        if (B.got[q] < B.expect[q])
            lost += B.expect[q] - B.got[q];
        else
            dups += B.got[q] - B.expect[q];
    }
    double cores = all->cpu_s / elapsed;
    printf("{\"bench\":\"fanout\",\"server\":\"%s\",\"label\":\"%s\",\"sessions\":%u,\"procs\":%u,"
           "\"ready\":%" PRIu64
           ",\"rooms\":%u,\"senders\":%u,\"rate\":%.0f,\"duration_s\":%.1f,\"warmup_s\":%.1f,"
           "\"connect_s\":%.2f,\"connects_per_s\":%.0f,\"connect_server_cpu_s\":%.2f,"
           "\"connect_bench_cpu_s\":%.2f,"
           "\"connect_ms\":{\"p50\":%.2f,\"p90\":%.2f,\"p99\":%.2f,\"max\":%.2f},"
           "\"sent\":%" PRIu64 ",\"acked\":%" PRIu64 ",\"expected\":%" PRIu64
           ",\"delivered\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"duplicates\":%" PRIu64
           ",\"deliveries_per_s\":%.0f,\"latency_ms\":{\"p50\":%.2f,\"p90\":%.2f,\"p99\":%.2f,"
           "\"p999\":%.2f,\"max\":%.2f},\"receipt_ms\":{\"p50\":%.2f,\"p99\":%.2f,\"max\":%.2f},"
           "\"errors\":%" PRIu64 ",\"dead_sessions\":%" PRIu64 ",\"bad_bodies\":%" PRIu64
           ",\"bench_cpu_cores\":%.2f,\"bench_saturated\":%s,"
           "\"server_cpu_s\":%.2f,\"server_cpu_cores\":%.2f,\"server_rss_kb_before\":%ld,"
           "\"server_rss_kb_after\":%ld,\"server_rss_per_session_b\":%.0f,\"first_error\":\"%s\"",
           B.peer_rabbitmq ? "rabbitmq" : "chat-node", B.label, B.n, B.procs, all->ready, B.nrc,
           senders, B.rate, wall, B.warmup, connect_s,
           connect_s > 0 ? (double)all->connects_ok / connect_s : 0.0, connect_srv,
           all->connect_cpu_s, latency_hist_quantile(&all->connect_lat, 0.5) / 1e3,
           latency_hist_quantile(&all->connect_lat, 0.9) / 1e3,
           latency_hist_quantile(&all->connect_lat, 0.99) / 1e3, all->connect_lat.max_us / 1e3,
           all->sent, all->receipts, expected, got_acked, lost, dups, (double)got_acked / sending_s,
           latency_hist_quantile(&all->lat, 0.5) / 1e3, latency_hist_quantile(&all->lat, 0.9) / 1e3,
           latency_hist_quantile(&all->lat, 0.99) / 1e3,
           latency_hist_quantile(&all->lat, 0.999) / 1e3, all->lat.max_us / 1e3,
           latency_hist_quantile(&all->ack_lat, 0.5) / 1e3,
           latency_hist_quantile(&all->ack_lat, 0.99) / 1e3, all->ack_lat.max_us / 1e3, all->errors,
           all->dead, all->bad_body, cores, cores > 0.9 * B.procs ? "true" : "false", srv,
           srv >= 0 ? srv / wall : -1.0, rss_before, rss_after,
           rss_before > 0 && rss_after > 0 && all->ready
               ? (double)(rss_after - rss_before) * 1024.0 / (double)all->ready
               : -1.0,
           all->first_error);
    if (B.nnodes > 1)
        print_nodes(all, wall);
    printf("}\n");
    int rc = lost == 0 && all->errors == 0 ? 0 : 1;
    free(all);
    free(pids);
    free(fds);
    return rc;
}
