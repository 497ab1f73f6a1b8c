"""chat-node start-up, health, metrics and shutdown as an operator sees them.

Runs against the private stack of `ops/dev test` (CN_TEST_* variables). Each test
that needs special conditions starts its own node on a free port.
"""
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import cnlib
from cnlib import Node, http, get_json, need, wait_until, free_port, scale


class StackNodes(unittest.TestCase):
    """The two nodes the test stack started."""

    def test_both_nodes_are_healthy(self):
        for name in ("CN_TEST_NODE1_URL", "CN_TEST_NODE2_URL"):
            status, body = get_json(cnlib.admin_url(need(name)) + "/healthz")
            self.assertEqual(status, 200, body)
            self.assertEqual(body["status"], "ok")
            self.assertEqual(body["checks"], {"postgres": "ok", "redis": "ok", "kafka": "ok"})

    def test_metrics_page_is_prometheus_text(self):
        status, headers, body = http("GET", need("CN_TEST_NODE1_ADMIN_URL") + "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/plain; version=0.0.4"))
        text = body.decode()
        for family in ("chat_runtime_workers", "chat_runtime_worker_messages_total",
                       "chat_dependency_up", "process_resident_memory_bytes",
                       "process_open_fds", "chat_http_requests_total"):
            self.assertIn(f"# TYPE {family} ", text)
        self.assertRegex(text, r'chat_dependency_up\{dep="redis"\} 1\n')
        # Every non-comment line is `name{labels} value`.
        for line in text.splitlines():
            if not line.startswith("#"):
                # Label values are quoted strings and may hold braces (route templates).
                self.assertRegex(line, r'^[a-zA-Z_:][a-zA-Z0-9_:]*'
                                 r'(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})?'
                                 r' [0-9.eE+-]+$')

    def test_unknown_path_is_json_404(self):
        status, headers, body = http("GET", need("CN_TEST_NODE1_URL") + "/nope")
        self.assertEqual(status, 404)
        self.assertIn('"code":"NOT_FOUND"', body.decode())

    def test_wrong_method_is_405(self):
        status, _, body = http("POST", need("CN_TEST_NODE1_URL") + "/healthz", body=b"{}")
        self.assertEqual(status, 405)
        self.assertIn("METHOD_NOT_ALLOWED", body.decode())

    def test_oversized_body_is_413_and_node_survives(self):
        big = b"x" * (256 * 1024)
        status, _, body = http("POST", need("CN_TEST_NODE1_URL") + "/api/auth/login", body=big)
        self.assertEqual(status, 413)
        self.assertEqual(get_json(need("CN_TEST_NODE1_URL") + "/healthz")[0], 200)


class Configuration(unittest.TestCase):

    def run_node(self, args, env_extra=None, timeout=20):
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_")}
        # The config's admin.socket is the stack's node1's: a node started on it refuses.
        env["CHAT_ADMIN_SOCKET"] = os.path.join(tempfile.gettempdir(),
                                                f"cn-lifecycle-{os.getpid()}.sock")
        env.update(env_extra or {})
        return subprocess.run([need("CN_TEST_NODE_BIN")] + args, env=env, capture_output=True,
                              text=True, timeout=timeout * scale(), stdin=subprocess.DEVNULL)

    def test_help_lists_every_key(self):
        r = self.run_node(["--help"])
        self.assertEqual(r.returncode, 0)
        for key in ("http.port", "CHAT_HTTP_PORT", "postgres.url", "kafka.brokers",
                    "auth.jwt_secret", "startup.connect_attempts"):
            self.assertIn(key, r.stdout)

    def test_unknown_key_stops_startup_naming_it(self):
        with tempfile.NamedTemporaryFile("w", suffix=".ini", delete=False) as f:
            f.write("[http]\nport = 1234\nbogus = 1\n")
        try:
            r = self.run_node(["--config", f.name])
        finally:
            os.unlink(f.name)
        self.assertEqual(r.returncode, 2)
        self.assertIn("http.bogus", r.stderr)

    def test_bad_env_value_stops_startup_naming_it(self):
        r = self.run_node(["--config", need("CN_TEST_CONFIG")], {"CHAT_HTTP_PORT": "eighty"})
        self.assertEqual(r.returncode, 2)
        self.assertIn("http.port", r.stderr)

    def test_unreachable_dependency_is_named_and_exit_is_nonzero(self):
        dead = str(free_port())
        t0 = time.monotonic()
        r = self.run_node(["--config", need("CN_TEST_CONFIG")], {
            "CHAT_REDIS_PORT": dead, "CHAT_STARTUP_CONNECT_ATTEMPTS": "3",
            "CHAT_STARTUP_CONNECT_RETRY_MS": "100", "CHAT_HTTP_PORT": str(free_port())})
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(f"cannot reach redis after 3 attempts", r.stderr)
        self.assertIn(dead, r.stderr)
        self.assertNotIn("cannot reach postgres", r.stderr)
        self.assertLess(time.monotonic() - t0, 15 * scale())


class Lifecycle(unittest.TestCase):

    def test_sigterm_exits_zero_within_10s(self):
        node = Node()
        try:
            node.wait_healthy()
            rc, took = node.stop(signal.SIGTERM, timeout=10)
            self.assertEqual(rc, 0, node.output())
            self.assertLess(took, 10)
            self.assertIn("draining", node.output())
            # The port is free again: nothing of the node is left listening.
            with socket.socket() as s:
                self.assertNotEqual(s.connect_ex(("127.0.0.1", node.port)), 0)
        finally:
            node.close()

    def test_sigint_during_startup_retries_exits_cleanly(self):
        node = Node({"CHAT_REDIS_PORT": str(free_port()),
                     "CHAT_STARTUP_CONNECT_ATTEMPTS": "1000",
                     "CHAT_STARTUP_CONNECT_RETRY_MS": "200"})
        try:
            wait_until(lambda: "not reachable yet" in node.output(), 20 * scale(),
                       what="a retry message")
            rc, _ = node.stop(signal.SIGINT)
            self.assertEqual(rc, 0, node.output())
        finally:
            node.close()

    def test_port_in_use_is_a_clear_error(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            port = s.getsockname()[1]
            node = Node({"CHAT_HTTP_PORT": str(port)})
            try:
                rc = node.proc.wait(30 * scale())
                self.assertEqual(rc, 1)
                self.assertIn(f"port {port} on 127.0.0.1 is already in use", node.output())
            finally:
                node.close()

    def test_io_threads_share_the_port(self):
        node = Node({"CHAT_HTTP_IO_THREADS": "3"})
        try:
            node.wait_healthy()
            for _ in range(30):
                self.assertEqual(http("GET", node.url + "/healthz")[0], 200)
            status, _, body = http("GET", node.admin_url + "/metrics")
            m = re.search(r"^chat_http_connections_accepted_total (\d+)$", body.decode(), re.M)
            self.assertGreaterEqual(int(m.group(1)), 30)
        finally:
            self.assertEqual(node.stop()[0], 0)
            node.close()


class HealthFollowsDependencies(unittest.TestCase):
    """A Redis of this test only, stopped and restarted under a running node."""

    def start_redis(self, port, workdir):
        return subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                 "--save", "", "--appendonly", "no", "--dir", workdir]
                                + cnlib.redis_server_acl_args(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def test_healthz_turns_503_naming_redis_and_recovers(self):
        port = free_port()
        workdir = tempfile.mkdtemp(prefix="cn-redis-")
        redis = self.start_redis(port, workdir)
        node = Node({"CHAT_REDIS_PORT": str(port), "CHAT_HEALTH_INTERVAL_MS": "200"})
        try:
            node.wait_healthy()
            redis.terminate()
            redis.wait(10)
            status, body = wait_until(lambda: (lambda r: r if r[0] == 503 else None)(node.healthz()),
                                      10 * scale(), what="503 after redis stopped")
            self.assertEqual(body["status"], "unavailable")
            self.assertIn(str(port), body["checks"]["redis"])
            self.assertEqual(body["checks"]["postgres"], "ok")
            # The public port says only that the node is down, not why.
            self.assertEqual(get_json(node.url + "/healthz"), (503, {"status": "down"}))
            redis = self.start_redis(port, workdir)
            wait_until(lambda: node.healthz()[0] == 200, 10 * scale(), what="200 after restart")
        finally:
            self.assertEqual(node.stop()[0], 0)
            node.close()
            redis.kill()
            redis.wait()


if __name__ == "__main__":
    unittest.main(verbosity=2)
