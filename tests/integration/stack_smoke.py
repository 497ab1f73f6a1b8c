"""The private test stack of `ops/dev test` is really there and really set up.

Checks, against the CN_TEST_* variables that ops/dev exports:
  - PostgreSQL: the migrations ran (schema_migrations, the four tables, key indexes,
    pg_stat_statements), queried with `psql` against CN_TEST_PG_URL;
  - Redis answers PING over a plain socket (RESP);
  - every broker of the dev Kafka cluster accepts a TCP connection and its metadata
    (Kafka Metadata request v0, spoken here directly) lists the design's topics with
    their partition counts;
  - each chat-node of the stack answers /healthz with 200, when the binary exists.

Run outside `ops/dev test` (no CN_TEST_PG_URL) it exits 77, which CTest reports as
skipped. Standard library only; run with /usr/bin/python3.
"""
import os
import socket
import struct
import subprocess
import sys
import unittest
import urllib.error
import urllib.request

ENV = os.environ
SKIP = 77

EXPECTED_TOPICS = {
    "chat.messages": 6,
    "chat.messages.dlt": 6,
    "chat.read-receipts": 3,
    "chat.read-receipts.dlt": 3,
}


def psql(sql):
    r = subprocess.run(
        ["psql", ENV["CN_TEST_PG_URL"], "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
        capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise AssertionError(f"psql failed ({r.returncode}): {r.stderr.strip()}")
    return [line for line in r.stdout.splitlines() if line]


def brokers():
    out = []
    for hp in ENV["CN_TEST_KAFKA_BROKERS"].split(","):
        host, _, port = hp.strip().rpartition(":")
        out.append((host, int(port)))
    return out


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise AssertionError(f"connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


class Reader:
    """Big-endian reader for Kafka protocol responses."""

    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return v[0]

    def string(self):
        n = self.take(">h")
        if n < 0:
            return None
        s = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return s


def kafka_metadata(addr, topics):
    """Metadata v0: returns ({broker_id: (host, port)}, {topic: (error, partitions)})."""
    client = b"stack_smoke"
    body = struct.pack(">hhih", 3, 0, 42, len(client)) + client
    body += struct.pack(">i", len(topics))
    for t in topics:
        body += struct.pack(">h", len(t)) + t.encode()
    with socket.create_connection(addr, timeout=5) as s:
        s.settimeout(10)
        s.sendall(struct.pack(">i", len(body)) + body)
        size = struct.unpack(">i", recv_exact(s, 4))[0]
        r = Reader(recv_exact(s, size))
    assert r.take(">i") == 42, "correlation id mismatch"
    found_brokers = {}
    for _ in range(r.take(">i")):
        node = r.take(">i")
        host = r.string()
        found_brokers[node] = (host, r.take(">i"))
    found_topics = {}
    for _ in range(r.take(">i")):
        err = r.take(">h")
        name = r.string()
        nparts = r.take(">i")
        for _ in range(nparts):
            r.take(">h")  # partition error
            r.take(">i")  # partition id
            r.take(">i")  # leader
            for _ in range(r.take(">i")):  # replicas
                r.take(">i")
            for _ in range(r.take(">i")):  # in-sync replicas
                r.take(">i")
        found_topics[name] = (err, nparts)
    return found_brokers, found_topics


class Postgres(unittest.TestCase):
    def test_migrations_recorded(self):
        rows = psql("SELECT version || ':' || name FROM schema_migrations ORDER BY version")
        self.assertIn("1:init", rows)
        files = sorted(f for f in os.listdir(os.path.join(ROOT, "schema"))
                       if f.endswith(".sql") and f[:4].isdigit())
        self.assertEqual(len(rows), len(files), f"applied {rows} vs files {files}")

    def test_tables_exist(self):
        rows = set(psql("SELECT table_name FROM information_schema.tables "
                        "WHERE table_schema = 'public'"))
        for t in ("users", "chat_rooms", "chat_room_members", "messages", "schema_migrations",
                  "login_throttle", "refresh_tokens"):
            self.assertIn(t, rows)

    def test_key_constraints_and_indexes(self):
        idx = "\n".join(psql("SELECT indexdef FROM pg_indexes WHERE schemaname = 'public'"))
        self.assertRegex(idx, r"UNIQUE INDEX \S+ ON public\.users USING btree \(lower\(email\)\)")
        # A messageKey is its sender's idempotency key within a room (schema 0004).
        self.assertRegex(idx, r"UNIQUE INDEX \S+ ON public\.messages USING btree "
                              r"\(message_key, room_id, sender_id\)")
        self.assertNotRegex(idx, r"UNIQUE INDEX \S+ ON public\.messages USING btree "
                                 r"\(message_key\)")
        self.assertRegex(idx, r"UNIQUE INDEX \S+ ON public\.users USING btree \(nickname_key\)")
        self.assertRegex(idx, r"UNIQUE INDEX \S+ ON public\.refresh_tokens USING btree "
                              r"\(token_hash\)")
        self.assertRegex(idx, r"ON public\.messages USING btree \(room_id, id DESC\)")
        self.assertRegex(idx, r"UNIQUE INDEX \S+ ON public\.chat_room_members "
                              r"USING btree \(room_id, user_id\)")
        self.assertRegex(idx, r"ON public\.chat_room_members USING btree \(user_id, room_id\)")

    def test_room_type_is_checked(self):
        # One transaction that is never committed: nothing stays behind.
        sql = ("BEGIN;\n"
               "INSERT INTO users (email, password_hash, nickname, nickname_key) "
               "VALUES ('smoke@example.com', 'x', 'smoke', 'smoke') RETURNING id \\gset\n"
               "INSERT INTO chat_rooms (name, type, created_by) VALUES ('x', 'PARTY', :id);\n"
               "ROLLBACK;\n")
        r = subprocess.run(["psql", ENV["CN_TEST_PG_URL"], "-X", "-q", "-v", "ON_ERROR_STOP=1"],
                           input=sql, capture_output=True, text=True, timeout=20)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("chat_rooms_type_check", r.stderr)

    def test_pg_stat_statements(self):
        self.assertEqual(psql("SELECT count(*) > 0 FROM pg_stat_statements"), ["t"])


def resp(*args):
    """One RESP command."""
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class Redis(unittest.TestCase):
    def test_ping(self):
        addr = (ENV["CN_TEST_REDIS_HOST"], int(ENV["CN_TEST_REDIS_PORT"]))
        pw_file = ENV.get("CN_TEST_REDIS_PASSWORD_FILE")
        with socket.create_connection(addr, timeout=5) as s:
            if pw_file:
                # The stack's Redis wants its ACL user and password, as in production.
                s.sendall(resp("PING"))
                line = b""
                while not line.endswith(b"\r\n"):
                    line += recv_exact(s, 1)
                self.assertTrue(line.startswith(b"-NOAUTH"), line)
                with open(pw_file) as f:
                    pw = f.read().strip()
                s.sendall(resp("AUTH", ENV.get("CN_TEST_REDIS_USER", "default"), pw))
                self.assertEqual(recv_exact(s, 5), b"+OK\r\n")
            s.sendall(resp("PING"))
            self.assertEqual(recv_exact(s, 7), b"+PONG\r\n")


class Kafka(unittest.TestCase):
    def test_every_broker_accepts_tcp(self):
        self.assertEqual(len(brokers()), 3)
        for addr in brokers():
            with socket.create_connection(addr, timeout=5):
                pass

    def test_topics_have_design_partition_counts(self):
        found_brokers, topics = kafka_metadata(brokers()[0], list(EXPECTED_TOPICS))
        self.assertEqual(len(found_brokers), 3, found_brokers)
        for name, parts in EXPECTED_TOPICS.items():
            self.assertIn(name, topics)
            err, n = topics[name]
            self.assertEqual(err, 0, f"{name}: error {err}")
            self.assertEqual(n, parts, f"{name}: {n} partitions, want {parts}")


class Nodes(unittest.TestCase):
    def test_nodes_healthy(self):
        if not os.access(ENV.get("CN_TEST_NODE_BIN", ""), os.X_OK):
            self.skipTest("chat-node is not built")
        for var in ("CN_TEST_NODE1_URL", "CN_TEST_NODE2_URL"):
            url = ENV[var] + "/healthz"
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    self.assertEqual(r.status, 200, url)
            except urllib.error.HTTPError as e:
                self.fail(f"{url}: {e.code} {e.read()[:300]!r}")


ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

if __name__ == "__main__":
    if not ENV.get("CN_TEST_PG_URL"):
        print("stack_smoke: CN_TEST_PG_URL is not set; run through ./ops/dev test (skipped)")
        sys.exit(SKIP)
    unittest.main(verbosity=2)
