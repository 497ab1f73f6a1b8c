"""TLS on the public port (http.tls_cert_file / http.tls_key_file) and the client address
behind trusted proxies (http.trusted_proxies), on nodes of this test's own.

With a self-signed certificate: curl --cacert gets /healthz over HTTPS, plain HTTP and
TLS 1.1 on that port are refused, a STOMP client over wss:// subscribes, sends and gets
its MESSAGE; a new certificate is served to new connections after `chat-admin tls
reload` and after SIGHUP, while a bad one is refused and the old one stays; a missing key
file stops start-up with a message naming it. X-Forwarded-For names the client in
`chat-admin sessions` only when the TCP peer is a trusted proxy."""
import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import uuid

import pytest
import requests
import websocket

sys.path.insert(0, os.path.dirname(__file__))
import cnlib  # noqa: E402


def make_cert(directory, name, cn):
    """A self-signed P-256 certificate for 127.0.0.1/localhost: (cert path, key path)."""
    cert, key = os.path.join(directory, f"{name}.crt"), os.path.join(directory, f"{name}.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-subj", f"/CN={cn}", "-addext",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost", "-days", "1", "-nodes",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


def fingerprint_of_file(cert):
    with open(cert) as f:
        return hashlib.sha256(ssl.PEM_cert_to_DER_cert(f.read())).hexdigest()


def served_fingerprint(port):
    """SHA-256 of the certificate a new TLS connection to the port is given."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw) as s:
            return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()


def install(src, dst):
    """Replaces dst by a copy of src in one step, as a certificate renewal would."""
    tmp = dst + ".new"
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def curl(*args):
    r = subprocess.run(["curl", "-sS", "-m", str(int(10 * cnlib.scale())), "-o", "/dev/null",
                        "-w", "%{http_code}"] + list(args), capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


def refused_probe(port, kind):
    """One connection that never completes a TLS handshake: 0 plain HTTP, 1 a TLS 1.1
    ClientHello, 2 connect and hang up. True when the node answered no HTTP and closed
    (or, for 2, accepted and lost nothing)."""
    deadline = 10 * cnlib.scale()
    with socket.create_connection(("127.0.0.1", port), timeout=deadline) as s:
        if kind == 2:
            return True
        if kind == 0:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        else:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # lets this side offer TLS 1.1
            ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_1
            try:
                ctx.wrap_socket(s).close()
                return False  # a TLS 1.1 handshake went through
            except (ssl.SSLError, OSError):
                return True
        got = b""
        try:
            while chunk := s.recv(4096):
                got += chunk
        except ConnectionResetError:
            pass
        return not got.startswith(b"HTTP/")


class User:
    def __init__(self, base, verify):
        email = f"tls-{uuid.uuid4().hex[:12]}@example.com"
        password = "tr0ub4dor-" + uuid.uuid4().hex[:12]
        nickname = f"tls-{uuid.uuid4().hex[:8]}"
        r = requests.post(f"{base}/api/auth/signup", verify=verify,
                          json={"email": email, "password": password, "nickname": nickname})
        assert r.status_code == 201, r.text
        self.id = r.json()["id"]
        r = requests.post(f"{base}/api/auth/login", verify=verify,
                          json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        self.token = r.json()["accessToken"]


def frame(command, headers=(), body=""):
    return "\n".join([command] + [f"{k}:{v}" for k, v in headers]) + "\n\n" + body + "\0"


def recv_frame(ws, timeout=10):
    """(command, headers, body) of the next frame, heart-beats skipped."""
    deadline = time.monotonic() + timeout * cnlib.scale()
    buf = b""
    while True:
        buf = buf.lstrip(b"\r\n")
        nul = buf.find(b"\0")
        if nul >= 0:
            head, _, body = buf[:nul].partition(b"\n\n")
            lines = head.decode().split("\n")
            headers = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                headers.setdefault(k, v)
            return lines[0], headers, body
        left = deadline - time.monotonic()
        assert left > 0, f"no frame before the deadline (have {buf!r})"
        ws.settimeout(left)
        buf += ws.recv_data(control_frame=False)[1]


def stomp_connect(url, token, sslopt=None, header=None):
    ws = websocket.create_connection(url, timeout=10 * cnlib.scale(), subprotocols=["v12.stomp"],
                                     sslopt=sslopt or {}, header=header or [])
    ws.send(frame("CONNECT", [("accept-version", "1.2"), ("host", "chat"),
                              ("heart-beat", "0,0"), ("Authorization", f"Bearer {token}")]))
    cmd, headers, body = recv_frame(ws)
    assert cmd == "CONNECTED", (cmd, headers, body)
    return ws


def sessions_of(node, user_id):
    rc, out, err = cnlib.chat_admin(node.admin_socket, "sessions", "--user", str(user_id),
                                    json_out=True)
    assert rc == 0, (out, err)
    return out if isinstance(out, list) else out.get("sessions", out)


def client_of(node, user_id):
    return cnlib.wait_until(lambda: [s["client"] for s in sessions_of(node, user_id)],
                            10 * cnlib.scale(), interval=0.1, what="the session listed")


@pytest.fixture(scope="module")
def certs():
    d = tempfile.mkdtemp(prefix="cn-tls-")
    try:
        a = make_cert(d, "a", "localhost")
        live = (os.path.join(d, "live.crt"), os.path.join(d, "live.key"))
        install(a[0], live[0])
        install(a[1], live[1])
        yield {"dir": d, "a": a, "live": live}
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def node(certs):
    n = cnlib.Node(overrides={"CHAT_HTTP_TLS_CERT_FILE": certs["live"][0],
                              "CHAT_HTTP_TLS_KEY_FILE": certs["live"][1],
                              "CHAT_HTTP_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8",
                              # More than one I/O thread, each with its own TLS context:
                              # what the clean stop below checks frees everything.
                              "CHAT_HTTP_IO_THREADS": "2"})
    try:
        n.wait_healthy()
        n.https = n.url.replace("http://", "https://")
        yield n
        rc, _ = n.stop()
        assert rc == 0, n.output()[-4000:]
    finally:
        n.close()


def test_https_with_the_ca_and_nothing_else(node, certs):
    ca = certs["a"][0]
    assert curl("--cacert", ca, node.https + "/healthz")[:2] == (0, "200")
    assert curl("--cacert", ca, "--tlsv1.2", "--tls-max", "1.2", node.https + "/healthz")[:2] == \
        (0, "200")
    rc, code, err = curl("--cacert", ca, "--tlsv1.1", "--tls-max", "1.1", node.https + "/healthz")
    assert rc != 0 and code == "000", (rc, code, err)
    rc, code, err = curl(node.url + "/healthz")  # plain HTTP on the TLS port
    assert rc != 0 and code == "000", (rc, code, err)
    rc, code, err = curl(node.https + "/healthz")  # a client that does not know the CA
    assert rc != 0, (rc, code, err)
    # What a port scanner does, many times over: each is refused, the node keeps serving
    # (and frees what each cost: the fixture's clean stop fails on a leak).
    for i in range(50):
        assert refused_probe(node.port, i % 3), i
    assert curl("--cacert", ca, node.https + "/healthz")[:2] == (0, "200")
    # REST through TLS, a body included.
    r = requests.post(node.https + "/api/auth/login", verify=ca,
                      json={"email": "nobody@example.com", "password": "tr0ub4dor-xx"})
    assert r.status_code == 401 and r.json()["error"]["code"], r.text


def test_stomp_over_wss(node, certs):
    ca = certs["a"][0]
    user = User(node.https, ca)
    r = requests.post(node.https + "/api/rooms/group", verify=ca,
                      json={"name": "tls room", "memberIds": [], "visibility": "public"},
                      headers={"Authorization": f"Bearer {user.token}"})
    assert r.status_code in (200, 201), r.text
    room = r.json()["id"]
    ws = stomp_connect(node.https.replace("https://", "wss://") + "/ws", user.token,
                       sslopt={"ca_certs": ca})
    try:
        ws.send(frame("SUBSCRIBE", [("id", "s1"), ("destination", f"/topic/room.{room}"),
                                    ("receipt", "sub")]))
        assert recv_frame(ws)[0] == "RECEIPT"
        content = "over wss " + uuid.uuid4().hex
        ws.send(frame("SEND", [("destination", "/app/chat.send"),
                               ("content-type", "application/json")],
                      json.dumps({"roomId": room, "content": content})))
        deadline = time.monotonic() + 20 * cnlib.scale()
        while True:
            cmd, headers, body = recv_frame(ws, timeout=max(0.1, deadline - time.monotonic()))
            if cmd == "MESSAGE" and content in body.decode():
                break
            assert cmd != "ERROR", (headers, body)
        # Straight from the client (127.0.0.1 is a trusted proxy, but it sent no header).
        assert client_of(node, user.id) == ["127.0.0.1"]
    finally:
        ws.close()


def test_forwarded_for_from_a_trusted_proxy(node, certs):
    ca = certs["a"][0]
    user = User(node.https, ca)
    # Right-most untrusted entry: 127.0.0.1 and 10.1.2.3 are proxies of ours, the forged
    # left-most one is not believed.
    ws = stomp_connect(node.https.replace("https://", "wss://") + "/ws", user.token,
                       sslopt={"ca_certs": ca},
                       header=["X-Forwarded-For: 198.51.100.9, 203.0.113.7, 10.1.2.3"])
    try:
        assert client_of(node, user.id) == ["203.0.113.7"]
    finally:
        ws.close()


def test_forwarded_for_ignored_from_anyone_else():
    n = cnlib.Node()  # no trusted proxies, no TLS
    try:
        n.wait_healthy()
        user = User(n.url, True)
        ws = stomp_connect(n.url.replace("http://", "ws://") + "/ws", user.token,
                           header=["X-Forwarded-For: 203.0.113.7"])
        try:
            assert client_of(n, user.id) == ["127.0.0.1"]
        finally:
            ws.close()
        assert n.stop()[0] == 0
    finally:
        n.close()


def test_reload_by_admin_and_by_sighup(node, certs):
    d, live = certs["dir"], certs["live"]
    assert served_fingerprint(node.port) == fingerprint_of_file(certs["a"][0])
    # An open connection keeps its certificate; new ones get the new one.
    ca = certs["a"][0]
    kept = requests.Session()
    assert kept.get(node.https + "/healthz", verify=ca).status_code == 200

    b = make_cert(d, "b", "reloaded-by-admin")
    install(b[0], live[0])
    install(b[1], live[1])
    rc, out, err = cnlib.chat_admin(node.admin_socket, "tls", "reload", json_out=True)
    assert rc == 0 and out["reloaded"] is True and "reloaded-by-admin" in out["certificate"], \
        (rc, out, err)
    assert served_fingerprint(node.port) == fingerprint_of_file(b[0])
    assert curl("--cacert", b[0], node.https + "/healthz")[:2] == (0, "200")

    # A key that does not belong to the certificate: refused, the old one stays.
    c = make_cert(d, "c", "reloaded-by-sighup")
    install(c[0], live[0])
    rc, out, err = cnlib.chat_admin(node.admin_socket, "tls", "reload")
    assert rc != 0 and "does not belong" in (out + err) and live[1] in (out + err), (out, err)
    assert served_fingerprint(node.port) == fingerprint_of_file(b[0])

    install(c[1], live[1])
    node.proc.send_signal(signal.SIGHUP)
    cnlib.wait_until(lambda: served_fingerprint(node.port) == fingerprint_of_file(c[0]),
                     10 * cnlib.scale(), interval=0.1, what="the certificate after SIGHUP")
    assert node.proc.poll() is None, node.output()[-2000:]
    assert "TLS certificate reloaded" in node.output()

    # A missing file on SIGHUP: a WARN, and the node serves on with the old certificate.
    os.rename(live[1], live[1] + ".away")
    try:
        node.proc.send_signal(signal.SIGHUP)
        cnlib.wait_until(lambda: "TLS reload failed" in node.output(), 10 * cnlib.scale(),
                         what="the failed reload's WARN line")
        assert served_fingerprint(node.port) == fingerprint_of_file(c[0])
    finally:
        os.rename(live[1] + ".away", live[1])
    kept.close()


def start_and_fail(overrides):
    n = cnlib.Node(overrides=overrides)
    try:
        rc = n.proc.wait(timeout=30 * cnlib.scale())
        return rc, n.output()
    finally:
        if n.proc.poll() is None:
            n.stop()
        n.close()


def test_missing_key_file_stops_start_up(certs):
    missing = os.path.join(certs["dir"], "no-such.key")
    rc, out = start_and_fail({"CHAT_HTTP_TLS_CERT_FILE": certs["a"][0],
                              "CHAT_HTTP_TLS_KEY_FILE": missing})
    assert rc != 0 and "http.tls_key_file" in out and missing in out, out[-2000:]


def test_half_a_tls_config_is_a_configuration_error(certs):
    rc, out = start_and_fail({"CHAT_HTTP_TLS_CERT_FILE": certs["a"][0]})
    assert rc == 2 and "http.tls_cert_file" in out and "http.tls_key_file" in out, out[-2000:]


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"] + sys.argv[1:]))
