/* chat-kafka-dev: a Kafka cluster for laptops and CI, without a JVM.
 *
 * It runs librdkafka's mock cluster (rdkafka_mock.h): N brokers (default 3) that speak
 * the real Kafka protocol over TCP on 127.0.0.1. Clients in other processes reach it
 * through its bootstrap list. What the mock in Debian's librdkafka 2.0.2 cannot do,
 * and what this program therefore does instead:
 *
 *   - Fixed ports: every mock broker binds 127.0.0.1 on a port the kernel picks; the
 *     API has no way to choose it. So the bootstrap list ("127.0.0.1:p1,...") is
 *     printed on stdout, logged, and written atomically (write + rename) to the file
 *     given with --bootstrap-file. ops/dev reads that file and passes it to the nodes
 *     as CHAT_KAFKA_BROKERS. The ports change on every start of this program, so the
 *     nodes must be restarted after it (ops/dev does that).
 *   - CreateTopics: the admin request is not implemented by the mock and an unknown
 *     topic is auto-created with 4 partitions, so the topics of the design are created
 *     here with rd_kafka_mock_topic_create before the bootstrap file appears.
 *
 * Fault injection (for the fault tests: "a broker of the dev Kafka cluster taken down"):
 *   - SIGUSR1 takes broker --fault-broker (default 1) down, SIGUSR2 brings it back up.
 *   - --control FIFO: a named pipe (created if missing) that accepts lines
 *       down <id>    close the broker's connections and refuse new ones
 *       up <id>      accept connections again
 *       rtt <id> <ms>  add a round-trip delay to the broker's responses (0 clears)
 *     e.g. `echo "down 2" > var/kafka/control`. <id> -1 means every broker.
 *   Taking a broker down does not move partition leadership (that is how the mock
 *   works): the partitions it leads are unavailable until it comes back.
 *
 * It runs until SIGTERM or SIGINT, then removes its bootstrap file and exits 0.
 * Messages live in memory only; nothing survives a restart. */
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define MOD "kafka-dev"

struct topic_spec {
    const char *name;
    int partitions;
};

/* The design's topics and their dead-letter twins. chat-node checks these partition
 * counts from metadata at start and refuses to run on a mismatch. */
static const struct topic_spec topics[] = {
    {"chat.messages", 6},
    {"chat.messages.dlt", 6},
    {"chat.read-receipts", 3},
    {"chat.read-receipts.dlt", 3},
};

struct options {
    int brokers;
    int replication;
    int fault_broker;
    const char *bootstrap_file;
    const char *control_path;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: chat-kafka-dev [--brokers N] [--replication N] [--bootstrap-file PATH]\n"
            "                      [--control FIFO] [--fault-broker ID] [--log-level L]\n"
            "\n"
            "Runs a librdkafka mock Kafka cluster on 127.0.0.1 until SIGTERM/SIGINT.\n"
            "  --brokers N          brokers in the cluster (default 3)\n"
            "  --replication N      replication factor of the topics (default: brokers)\n"
            "  --bootstrap-file P   write the bootstrap list (host:port,...) to P\n"
            "  --control FIFO       accept 'down ID', 'up ID', 'rtt ID MS' lines on FIFO\n"
            "  --fault-broker ID    broker that SIGUSR1 takes down and SIGUSR2 up (default 1)\n"
            "  --log-level L        debug, info, warn or error (default info)\n"
            "Topics: chat.messages(6) chat.messages.dlt(6) chat.read-receipts(3)\n"
            "        chat.read-receipts.dlt(3)\n");
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        }
        if (!v) {
            fprintf(stderr, "chat-kafka-dev: %s needs a value\n", a);
            return -1;
        }
        i++;
        if (!strcmp(a, "--brokers")) {
            if (parse_int(v, 1, 16, &o->brokers))
                goto bad;
        } else if (!strcmp(a, "--replication")) {
            if (parse_int(v, 1, 16, &o->replication))
                goto bad;
        } else if (!strcmp(a, "--fault-broker")) {
            if (parse_int(v, -1, 1000, &o->fault_broker))
                goto bad;
        } else if (!strcmp(a, "--bootstrap-file")) {
            o->bootstrap_file = v;
        } else if (!strcmp(a, "--control")) {
            o->control_path = v;
        } else if (!strcmp(a, "--log-level")) {
            enum cn_log_level l;
            if (cn_log_parse_level(v, &l))
                goto bad;
            cn_log_set_level(l);
        } else {
            fprintf(stderr, "chat-kafka-dev: unknown option %s\n", a);
            usage(stderr);
            return -1;
        }
        continue;
    bad:
        fprintf(stderr, "chat-kafka-dev: bad value '%s' for %s\n", v, a);
        return -1;
    }
    if (o->replication == 0 || o->replication > o->brokers)
        o->replication = o->brokers;
    return 0;
}

/* librdkafka's own log lines (from the mock's threads) go through our logger. */
static void rk_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    /* syslog levels: 0..3 error, 4 warning, 5..6 info, 7 debug. The handle that
     * hosts the mock has no bootstrap servers of its own; its complaint is noise. */
    if (strstr(buf, "bootstrap.servers"))
        return;
    enum cn_log_level l = level <= 3   ? CN_LOG_ERROR
                          : level == 4 ? CN_LOG_WARN
                          : level <= 6 ? CN_LOG_INFO
                                       : CN_LOG_DEBUG;
    cn_log(l, MOD, "rdkafka %s: %s", fac, buf);
}

static int write_file_atomic(const char *path, const char *text)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof tmp)
        return -1;
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    int ok = fprintf(f, "%s\n", text) > 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static void set_broker(rd_kafka_mock_cluster_t *mc, int id, int up)
{
    rd_kafka_resp_err_t err =
        up ? rd_kafka_mock_broker_set_up(mc, id) : rd_kafka_mock_broker_set_down(mc, id);
    if (err)
        CN_WARN(MOD, "broker %d %s failed: %s", id, up ? "up" : "down", rd_kafka_err2str(err));
    else
        CN_INFO(MOD, "broker %d is %s", id, up ? "UP" : "DOWN (connections refused)");
}

/* Handles one control line: "down ID", "up ID" or "rtt ID MS". */
static void control_line(rd_kafka_mock_cluster_t *mc, char *line)
{
    char cmd[16];
    int id, ms;
    int n = sscanf(line, "%15s %d %d", cmd, &id, &ms);
    if (n >= 2 && !strcmp(cmd, "down")) {
        set_broker(mc, id, 0);
    } else if (n >= 2 && !strcmp(cmd, "up")) {
        set_broker(mc, id, 1);
    } else if (n == 3 && !strcmp(cmd, "rtt") && ms >= 0) {
        rd_kafka_resp_err_t err = rd_kafka_mock_broker_set_rtt(mc, id, ms);
        if (err)
            CN_WARN(MOD, "broker %d rtt failed: %s", id, rd_kafka_err2str(err));
        else
            CN_INFO(MOD, "broker %d rtt set to %d ms", id, ms);
    } else if (n > 0) {
        CN_WARN(MOD, "control: ignoring '%s' (want 'down ID', 'up ID' or 'rtt ID MS')", line);
    }
}

/* Opens the control FIFO read-write so that it never reports EOF when a writer leaves. */
static int open_control(const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISFIFO(st.st_mode))
        unlink(path);
    if (mkfifo(path, 0600) != 0 && errno != EEXIST) {
        CN_ERROR(MOD, "mkfifo %s: %s", path, strerror(errno));
        return -1;
    }
    int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        CN_ERROR(MOD, "open %s: %s", path, strerror(errno));
    return fd;
}

int main(int argc, char **argv)
{
    struct options o = {.brokers = 3, .fault_broker = 1};
    if (parse_args(argc, argv, &o))
        return 2;

    /* Block the signals we handle before librdkafka starts threads, so that they
     * inherit the mask and every signal arrives through the signalfd below. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGUSR1);
    sigaddset(&sigs, SIGUSR2);
    sigaddset(&sigs, SIGPIPE);
    if (pthread_sigmask(SIG_BLOCK, &sigs, NULL) != 0) {
        CN_ERROR(MOD, "pthread_sigmask failed");
        return 1;
    }
    int sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
    if (sfd < 0) {
        CN_ERROR(MOD, "signalfd: %s", strerror(errno));
        return 1;
    }

    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, rk_log);
    if (rd_kafka_conf_set(conf, "client.id", "chat-kafka-dev", errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK) {
        CN_ERROR(MOD, "config: %s", errstr);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    /* This handle only hosts the cluster; it never produces. */
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        CN_ERROR(MOD, "rd_kafka_new: %s", errstr);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, o.brokers);
    if (!mc) {
        CN_ERROR(MOD, "could not create a mock cluster of %d brokers", o.brokers);
        rd_kafka_destroy(rk);
        return 1;
    }

    int rc = 0;
    for (size_t i = 0; i < sizeof topics / sizeof topics[0]; i++) {
        rd_kafka_resp_err_t err =
            rd_kafka_mock_topic_create(mc, topics[i].name, topics[i].partitions, o.replication);
        if (err) {
            CN_ERROR(MOD, "topic %s: %s", topics[i].name, rd_kafka_err2str(err));
            rc = 1;
            goto out;
        }
        CN_INFO(MOD, "topic %s: %d partitions, replication factor %d", topics[i].name,
                topics[i].partitions, o.replication);
    }

    const char *bootstrap = rd_kafka_mock_cluster_bootstraps(mc);
    CN_INFO(MOD, "%d brokers (ids 1..%d), bootstrap servers %s", o.brokers, o.brokers, bootstrap);

    int cfd = -1;
    if (o.control_path) {
        cfd = open_control(o.control_path);
        if (cfd < 0) {
            rc = 1;
            goto out;
        }
        CN_INFO(MOD, "control fifo %s: 'down ID', 'up ID', 'rtt ID MS'", o.control_path);
    }
    CN_INFO(MOD, "SIGUSR1/SIGUSR2 take broker %d down/up; SIGTERM stops", o.fault_broker);

    /* The bootstrap file appears last: once it exists, the cluster and its topics are
     * ready for clients. */
    if (o.bootstrap_file && write_file_atomic(o.bootstrap_file, bootstrap) != 0) {
        CN_ERROR(MOD, "cannot write %s: %s", o.bootstrap_file, strerror(errno));
        rc = 1;
        goto out_control;
    }
    printf("%s\n", bootstrap);
    fflush(stdout);

    char buf[1024];
    size_t used = 0;
    for (;;) {
        struct pollfd pfd[2] = {{.fd = sfd, .events = POLLIN}, {.fd = cfd, .events = POLLIN}};
        int n = poll(pfd, cfd >= 0 ? 2 : 1, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            CN_ERROR(MOD, "poll: %s", strerror(errno));
            rc = 1;
            break;
        }
        if (pfd[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
                if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
                    CN_INFO(MOD, "%s: stopping", strsignal((int)si.ssi_signo));
                    break;
                }
                if (si.ssi_signo == SIGUSR1)
                    set_broker(mc, o.fault_broker, 0);
                else if (si.ssi_signo == SIGUSR2)
                    set_broker(mc, o.fault_broker, 1);
            }
        }
        if (cfd >= 0 && (pfd[1].revents & POLLIN)) {
            ssize_t r = read(cfd, buf + used, sizeof buf - 1 - used);
            if (r > 0) {
                used += (size_t)r;
                buf[used] = '\0';
                char *start = buf, *nl;
                while ((nl = strchr(start, '\n'))) {
                    *nl = '\0';
                    control_line(mc, start);
                    start = nl + 1;
                }
                used = strlen(start);
                memmove(buf, start, used);
                if (used == sizeof buf - 1) /* an endless line: drop it */
                    used = 0;
            }
        }
    }

    if (o.bootstrap_file)
        unlink(o.bootstrap_file);
out_control:
    if (cfd >= 0)
        close(cfd);
out:
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    close(sfd);
    return rc;
}
