"""Helpers shared by the integration tests (stdlib only; run with /usr/bin/python3).

The private stack started by `ops/dev test` is described by CN_TEST_* variables.
Tests that need a node of their own start one with start_node() on a free port,
always against the same PostgreSQL, Redis and Kafka.
"""
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

ENV = os.environ


def need(name):
    value = ENV.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set: run the integration tests through ./ops/dev test")
    return value


def free_port():
    """A TCP port nothing listens on right now (the kernel's pick)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, interval=0.05, what="condition"):
    """Polls predicate() until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def http(method, url, body=None, headers=None, timeout=5):
    """Returns (status, headers (case-insensitive), body bytes); HTTP errors are results."""
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None and "Content-Type" not in (headers or {}):
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def get_json(url):
    status, _, body = http("GET", url)
    return status, json.loads(body)


def wait_groups_settled(urls, timeout):
    """Waits until every partition of chat.messages (6) has an owner in both the
    chat-persistence and the chat-broadcast group among the nodes at `urls` plus the
    stack's two. While a rebalance is under way a room's messages wait, so a test that
    starts a node of its own waits here before it measures delivery."""
    urls = list(urls) + [need("CN_TEST_NODE1_URL"), need("CN_TEST_NODE2_URL")]

    def owned(name):
        total = 0.0
        for u in urls:
            try:
                _, _, body = http("GET", u + "/metrics")
            except OSError:
                continue
            for line in body.decode().splitlines():
                if line.startswith(name + " "):
                    total += float(line.split()[1])
        return total

    wait_until(lambda: owned("chat_persist_partitions_assigned") == 6 and
               owned("chat_broadcast_partitions_assigned") == 6, timeout, interval=0.2,
               what="every chat.messages partition owned in both groups")


def scale():
    """Sanitizer builds are slower: deadlines that wait on the node stretch by this."""
    return float(ENV.get("CN_TEST_TIMEOUT_SCALE", "1"))


def stack_admin_socket(i):
    """The admin socket of the stack's node i (1 or 2): CN_TEST_NODE<i>_ADMIN, else where
    ops/dev puts it (var/test/run/node<i>.admin.sock)."""
    return ENV.get(f"CN_TEST_NODE{i}_ADMIN") or os.path.join(need("CN_TEST_VAR"), "run",
                                                              f"node{i}.admin.sock")


def admin_bin():
    """chat-admin, built next to the chat-node under test."""
    return os.path.join(os.path.dirname(need("CN_TEST_NODE_BIN")), "chat-admin")


def chat_admin(socket_path, *args, json_out=False, timeout=30):
    """Runs chat-admin against socket_path; returns (exit code, stdout, stderr), with
    stdout parsed as JSON when json_out and the command succeeded."""
    cmd = [admin_bin(), "--socket", socket_path] + (["--json"] if json_out else []) + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout * scale())
    out = json.loads(r.stdout) if json_out and r.returncode == 0 else r.stdout
    return r.returncode, out, r.stderr


class Node:
    """A chat-node process of this test, on its own port, logging to a temp file."""

    def __init__(self, overrides=None, config=None):
        self.port = free_port()
        self.admin_socket = os.path.join(tempfile.gettempdir(), f"cn-admin-{self.port}.sock")
        self.log = tempfile.NamedTemporaryFile(prefix="cn-node-", suffix=".log", delete=False)
        env = {k: v for k, v in ENV.items() if not k.startswith("CHAT_")}
        env.update({
            "CHAT_HTTP_PORT": str(self.port),
            "CHAT_HTTP_HOST": "127.0.0.1",
            "CHAT_NODE_ID": f"test-{self.port}",
            "CHAT_ADMIN_SOCKET": self.admin_socket,
        })
        env.update(overrides or {})
        self.admin_socket = env["CHAT_ADMIN_SOCKET"]
        args = [need("CN_TEST_NODE_BIN")]
        cfg = config if config is not None else ENV.get("CN_TEST_CONFIG")
        if cfg:
            args += ["--config", cfg]
        self.proc = subprocess.Popen(args, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}"

    def healthz(self):
        try:
            return get_json(self.url + "/healthz")
        except (OSError, ValueError):
            return None, None

    def wait_healthy(self, timeout=30):
        def ok():
            if self.proc.poll() is not None:
                raise AssertionError(f"node exited with {self.proc.returncode}: {self.output()}")
            return self.healthz()[0] == 200
        wait_until(ok, timeout * scale(), what=f"node {self.port} healthy")

    def output(self):
        with open(self.log.name, "r", errors="replace") as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Signals the node and returns (exit code, seconds it took)."""
        if self.proc.poll() is not None:
            return self.proc.returncode, 0.0
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout * scale())
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"node did not exit within {timeout}s of {sig!r}")
        return rc, time.monotonic() - t0

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.unlink(self.log.name)
