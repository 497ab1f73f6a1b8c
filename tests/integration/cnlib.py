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


# Public URL -> admin listener URL of the nodes tests started (Node below).
_ADMIN_URLS = {}


def admin_url(url):
    """The admin HTTP listener (/metrics, detailed /healthz) of the node whose public URL
    is `url`: CN_TEST_NODE<i>_ADMIN_URL for the stack's nodes, the Node's own otherwise."""
    url = url.rstrip("/")
    for i in (1, 2):
        if ENV.get(f"CN_TEST_NODE{i}_URL", "").rstrip("/") == url:
            return need(f"CN_TEST_NODE{i}_ADMIN_URL")
    if url in _ADMIN_URLS:
        return _ADMIN_URLS[url]
    raise KeyError(f"no admin listener known for {url}")


def metrics_text(url, timeout=10):
    """GET /metrics of the node at public URL `url` (from its admin listener), as text."""
    status, _, body = http("GET", admin_url(url) + "/metrics", timeout=timeout)
    if status != 200:
        raise AssertionError(f"/metrics of {url}: {status} {body[:200]!r}")
    return body.decode()


def wait_groups_settled(urls, timeout):
    """Waits until every partition of chat.messages (6) has an owner in both the
    chat-persistence and the chat-broadcast group among the nodes at `urls` plus the
    stack's two. While a rebalance is under way a room's messages wait, so a test that
    starts a node of its own waits here before it measures delivery."""
    urls = list(urls) + [need("CN_TEST_NODE1_URL"), need("CN_TEST_NODE2_URL")]

    def owned(group):
        total = 0.0
        sample = f'chat_kafka_consumer_assigned_partitions{{group="{group}"}} '
        for u in urls:
            try:
                text = metrics_text(u)
            except (OSError, AssertionError):
                continue
            for line in text.splitlines():
                if line.startswith(sample):
                    total += float(line.split()[1])
        return total

    wait_until(lambda: owned("chat-persistence") == 6 and owned("chat-broadcast") == 6,
               timeout, interval=0.2,
               what="every chat.messages partition owned in both groups")


def scale():
    """Sanitizer builds are slower: deadlines that wait on the node stretch by this."""
    return float(ENV.get("CN_TEST_TIMEOUT_SCALE", "1"))


def stack_admin_socket(i):
    """The admin socket of the stack's node i (1 or 2): CN_TEST_NODE<i>_ADMIN, else where
    ops/dev puts it (var/test/run/node<i>.admin.sock)."""
    return ENV.get(f"CN_TEST_NODE{i}_ADMIN") or os.path.join(need("CN_TEST_VAR"), "run",
                                                              f"node{i}.admin.sock")


def redis_password():
    """The test stack's Redis password (ops/lib/stack.sh makes one), or None when its
    Redis has none."""
    path = ENV.get("CN_TEST_REDIS_PASSWORD_FILE")
    if not path:
        return None
    with open(path) as f:
        return f.read().strip()


def redis_server_acl_args():
    """redis-server arguments that give a Redis of a test's own the stack's ACL users
    and password, so nodes started with the stack's config can use it ([] without)."""
    pw = redis_password()
    if not pw:
        return []
    user = ENV.get("CN_TEST_REDIS_USER") or "default"
    args = ["--user", "default", "on", f">{pw}", "~*", "&*", "+@all"]
    if user != "default":
        args += ["--user", user, "on", f">{pw}", "~*", "&*", "+@all"]
    return args


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
        self.admin_port = free_port()
        self.admin_socket = os.path.join(tempfile.gettempdir(), f"cn-admin-{self.port}.sock")
        self.log = tempfile.NamedTemporaryFile(prefix="cn-node-", suffix=".log", delete=False)
        env = {k: v for k, v in ENV.items() if not k.startswith("CHAT_")}
        env.update({
            "CHAT_HTTP_PORT": str(self.port),
            "CHAT_HTTP_HOST": "127.0.0.1",
            "CHAT_NODE_ID": f"test-{self.port}",
            "CHAT_ADMIN_SOCKET": self.admin_socket,
            "CHAT_ADMIN_HTTP_PORT": str(self.admin_port),
        })
        env.update(overrides or {})
        self.admin_port = int(env.get("CHAT_ADMIN_HTTP_PORT", "0"))
        self.admin_socket = env["CHAT_ADMIN_SOCKET"]
        args = [need("CN_TEST_NODE_BIN")]
        cfg = config if config is not None else ENV.get("CN_TEST_CONFIG")
        if cfg:
            args += ["--config", cfg]
        self.proc = subprocess.Popen(args, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}"
        # The admin listener (/metrics, detailed /healthz); None when a test turned it off.
        self.admin_url = f"http://127.0.0.1:{self.admin_port}" if self.admin_port else None
        if self.admin_url:
            _ADMIN_URLS[self.url] = self.admin_url

    def healthz(self):
        """(status, body) of the detailed /healthz on the admin listener (the public
        /healthz when the node has none)."""
        try:
            return get_json((self.admin_url or self.url) + "/healthz")
        except (OSError, ValueError):
            return None, None

    def metrics(self):
        """The node's /metrics page (admin listener) as text."""
        return metrics_text(self.url)

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
