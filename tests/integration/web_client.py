"""The web client (issue 7): chat-node serves it at / from http.static_dir, and it
works in a real browser.

- Static files: index.html and the hashed assets with their Content-Type and
  Cache-Control, the gzipped bundle within its budget, and request paths that try
  to leave the directory (`/../`, encoded variants) refused with 400/404.
- tests/e2e/web/two_users.mjs: playwright-core drives Debian's chromium headless,
  two users in two browser contexts, one on each node of the stack (sign up,
  direct room, live messages in order, unread badge appearing and resetting,
  "Seen", reload and history, presence dot).
- tests/e2e/web/states.mjs: the connection and error states, with this test's TCP
  proxy between the page and node 2 cutting the network and bringing it back:
  "reconnecting" shown, messages sent meanwhile by the other user arrive after the
  reconnect in order and once (resume), a message typed while disconnected is sent
  once after it; and a burst over the rate limit shows the RATE_LIMITED error and a
  Retry that works.
- tests/e2e/web/history.mjs: history pages by cursor as the log is scrolled up.
- tests/e2e/web/journey.mjs: finding people by nickname, a private group appearing live
  in a member's list, an invite link opened signed out, reload/back/forward keeping the
  room, a token renewed under a live connection (a node of this test's own with
  auth.token_ttl_s = 60), a silent network loss noticed within the heart-beat interval
  and the status clearing, and the composer inside the viewport at 1280x800 and 390x844.

Screenshots go to $CN_TEST_VAR/log/web-client/. Outside `ops/dev test` this exits 77
unless CN_TEST_REQUIRE_STACK=1.
"""
import gzip
import http.client
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
import cnlib  # noqa: E402

NEEDED = ["CN_TEST_NODE1_URL", "CN_TEST_NODE2_URL", "CN_TEST_NODE_BIN", "CN_TEST_CONFIG"]
if any(not os.environ.get(k) for k in NEEDED):
    if os.environ.get("CN_TEST_REQUIRE_STACK") == "1":
        sys.exit(f"missing {[k for k in NEEDED if not os.environ.get(k)]} with "
                 "CN_TEST_REQUIRE_STACK=1")
    print("skipped: run through ./ops/dev test (needs the stack's CN_TEST_* variables)")
    sys.exit(77)

import pytest  # noqa: E402

E2E_DIR = os.path.join(os.path.dirname(__file__), "..", "e2e", "web")
NODE1 = os.environ["CN_TEST_NODE1_URL"]
NODE2 = os.environ["CN_TEST_NODE2_URL"]
SHOTS = os.path.join(os.environ.get("CN_TEST_VAR", tempfile.gettempdir()), "log", "web-client")


def raw_get(base, path, method="GET"):
    """Sends the path exactly as given (no client-side normalisation)."""
    u = urllib.parse.urlsplit(base)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10 * cnlib.scale())
    try:
        c.putrequest(method, path, skip_accept_encoding=True)
        if method != "GET":
            c.putheader("Content-Length", "0")
        c.endheaders()
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def index(base):
    status, headers, body = raw_get(base, "/")
    assert status == 200, body[:300]
    return headers, body.decode()


def assets(html):
    found = re.findall(r'(?:src|href)="(/assets/[^"]+)"', html)
    assert any(a.endswith(".js") for a in found) and any(a.endswith(".css") for a in found), html
    return found


# --- static files ---------------------------------------------------------------------------

@pytest.mark.parametrize("base", [NODE1, NODE2])
def test_index_is_served_with_html_type_and_no_cache(base):
    headers, html = index(base)
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["cache-control"] == "no-cache"
    assert '<script type="module" src="/assets/app-' in html
    status, h2, body2 = raw_get(base, "/index.html")
    assert status == 200 and body2.decode() == html


def test_assets_have_their_types_are_immutable_and_fit_the_budget():
    _, html = index(NODE1)
    total = len(gzip.compress(html.encode(), 9))
    for path in assets(html):
        status, headers, body = raw_get(NODE1, path)
        assert status == 200, path
        want = "text/javascript" if path.endswith(".js") else "text/css"
        assert headers["content-type"] == want + "; charset=utf-8", path
        assert headers["cache-control"] == "public, max-age=31536000, immutable", path
        assert int(headers["content-length"]) == len(body)
        total += len(gzip.compress(body, 9))
    assert total <= 150 * 1024, f"web client is {total} bytes gzipped"


@pytest.mark.parametrize("path", [
    "/../../../../etc/passwd",
    "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/%2E%2E/%2E%2E/etc/passwd",
    "/..%2f..%2f..%2fetc%2fpasswd",
    "/assets/../../../etc/passwd",
    "/assets/..%2f..%2f..%2fetc/passwd",
    "/%252e%252e/%252e%252e/etc/passwd",
    "/..\\..\\etc\\passwd",
    "/assets/%5c..%5c..%5cetc%5cpasswd",
    "/.%2e/.%2e/etc/passwd",
    "/chat-node.ini",
    "/../chat-node.ini",
    "/assets/",
])
def test_paths_outside_the_directory_are_refused(path):
    status, _, body = raw_get(NODE1, path)
    assert status in (400, 404), (path, status, body[:200])
    assert b"root:" not in body and b"jwt_secret" not in body


def test_unknown_file_is_404_and_other_methods_405():
    status, _, body = raw_get(NODE1, "/no-such-file.js")
    assert status == 404 and b"NOT_FOUND" in body
    status, _, body = raw_get(NODE1, "/", method="POST")
    assert status == 405
    # The API and health routes are still the node's own.
    status, _, _ = raw_get(NODE1, "/healthz")
    assert status == 200
    status, _, body = raw_get(NODE1, "/api/rooms")
    assert status == 401


# --- the browser ----------------------------------------------------------------------------

def npm_ci():
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.fail("node and npm are needed for the browser test")
    if not os.path.exists("/usr/bin/chromium"):
        pytest.fail("/usr/bin/chromium is needed (CN_PACKAGES_TEST in ops/lib/packages.sh)")
    if not os.path.isdir(os.path.join(E2E_DIR, "node_modules", "playwright-core")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=E2E_DIR, check=True,
                       timeout=300)


def test_two_users_on_two_nodes_in_chromium():
    npm_ci()
    out = os.path.join(SHOTS, "two_users")
    shutil.rmtree(out, ignore_errors=True)  # screenshots of this run only
    r = subprocess.run(["node", "two_users.mjs", NODE1, NODE2, out], cwd=E2E_DIR,
                       capture_output=True, text=True, timeout=240 * cnlib.scale())
    print(r.stdout, r.stderr)
    assert r.returncode == 0, f"screenshots in {out}\n{r.stdout}\n{r.stderr}"
    assert os.listdir(out), "no screenshots saved"


class Proxy:
    """A TCP proxy in front of a node: the browser's way in, so the test can cut the
    network under the page (pause: every connection closed, connections refused) and
    bring it back (resume, same port) without stopping a node, which would rebalance
    the stack's consumer groups."""

    def __init__(self, target_url):
        self.target = urllib.parse.urlsplit(target_url).port
        self.port = cnlib.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.lock = threading.Lock()
        self.conns = []
        self.listener = None
        self.frozen = False
        self.resume()

    def resume(self):
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.port))
        ls.listen(64)
        self.listener = ls
        threading.Thread(target=self._accept, args=(ls,), daemon=True).start()

    def _accept(self, ls):
        while True:
            try:
                c, _ = ls.accept()
            except OSError:
                return  # paused: the listener was shut down
            try:
                u = socket.create_connection(("127.0.0.1", self.target), timeout=10)
            except OSError:
                c.close()
                continue
            u.settimeout(None)
            with self.lock:
                self.conns += [c, u]
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if not self.frozen:  # frozen: a silent network, bytes go nowhere
                    dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def freeze(self):
        """Every byte dropped both ways, connections left open: a network gone silent,
        found only by heart-beats."""
        self.frozen = True

    def pause(self):
        self.frozen = False
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept()
        except OSError:
            pass
        self.listener.close()
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


def test_reconnect_resume_and_error_states_in_chromium():
    """states.mjs asks (a `CTL stop` / `CTL start` line on stdout) for its network to
    node 2 to go away and come back; each answer is a line on its stdin."""
    npm_ci()
    proxy = Proxy(NODE2)
    out = os.path.join(SHOTS, "states")
    shutil.rmtree(out, ignore_errors=True)
    text, rc = run_with_network_control("states.mjs", [NODE1, proxy.url, out], proxy)
    assert rc == 0, f"screenshots in {out}\n{text}"


def run_with_network_control(script, argv, proxy, timeout=240):
    """Runs a browser script that asks for its network through `proxy` to change with
    `CTL freeze|stop|start` lines on stdout; each is answered `ok` on its stdin once done.
    Returns (output, exit code)."""
    p = subprocess.Popen(["node", script, *argv], cwd=E2E_DIR,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
    actions = {"freeze": proxy.freeze, "stop": proxy.pause, "start": proxy.resume}
    lines = []
    timer = threading.Timer(timeout * cnlib.scale(), p.kill)
    timer.start()
    try:
        for line in p.stdout:
            lines.append(line)
            if line.startswith("CTL "):
                actions[line.split()[1]]()
                p.stdin.write("ok\n")
                p.stdin.flush()
        rc = p.wait()
    finally:
        timer.cancel()
        if p.poll() is None:
            p.kill()
        proxy.pause()
    text = "".join(lines)
    print(text)
    return text, rc


def test_history_pages_load_when_scrolling_up_in_chromium():
    """110 messages: three pages of 50 by cursor after a reload, in the order they
    were delivered live."""
    npm_ci()
    out = os.path.join(SHOTS, "history")
    shutil.rmtree(out, ignore_errors=True)
    r = subprocess.run(["node", "history.mjs", NODE2, out, "110"], cwd=E2E_DIR,
                       capture_output=True, text=True, timeout=300 * cnlib.scale())
    print(r.stdout, r.stderr)
    assert r.returncode == 0, f"screenshots in {out}\n{r.stdout}\n{r.stderr}"


def test_journey_in_chromium():
    """Four users: A and C on node 1, B on node 2 through a proxy this test cuts, D on a
    node of this test's own whose access tokens live 60 s (so D's session is renewed
    under its live connection during the test)."""
    npm_ci()
    own = cnlib.Node(overrides={"CHAT_AUTH_TOKEN_TTL_S": "60"})
    proxy = None
    try:
        own.wait_healthy()
        proxy = Proxy(NODE2)
        out = os.path.join(SHOTS, "journey")
        shutil.rmtree(out, ignore_errors=True)
        text, rc = run_with_network_control("journey.mjs", [NODE1, proxy.url, own.url, out],
                                            proxy, timeout=360)
        assert rc == 0, f"screenshots in {out}\n{text}"
        assert os.listdir(out), "no screenshots saved"
    finally:
        if proxy:
            proxy.pause()
        own.stop()
        own.close()


def test_reading_comfort_in_chromium():
    """reading.mjs: empty room text, direct room presence ("online", then "last seen"),
    unread count in the tab title, grouped messages under a "Today" separator, typing,
    "Seen", and a draft per room that survives switching rooms and a reload."""
    npm_ci()
    out = os.path.join(SHOTS, "reading")
    shutil.rmtree(out, ignore_errors=True)
    r = subprocess.run(["node", "reading.mjs", NODE1, NODE2, out], cwd=E2E_DIR,
                       capture_output=True, text=True, timeout=300 * cnlib.scale())
    print(r.stdout, r.stderr)
    assert r.returncode == 0, f"screenshots in {out}\n{r.stdout}\n{r.stderr}"
    assert os.listdir(out), "no screenshots saved"

if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"]))
