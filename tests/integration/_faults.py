"""Helpers of the fault tests (pg_outage.py, redis_outage.py): a STOMP sender that
records which messageKeys got a RECEIPT, a subscriber, /healthz, chat-admin, and the
stored rows of a room."""
import json
import subprocess
import threading
import time
import uuid

import requests

import cnlib
from stomp_session import Client, frame


def healthz(url):
    """The detailed /healthz (admin listener) of the node at public URL `url`."""
    try:
        r = requests.get(cnlib.admin_url(url) + "/healthz", timeout=2)
        return r.status_code, r.text
    except requests.RequestException as e:
        return 0, str(e)


def admin_json(*args):
    rc, out, err = cnlib.chat_admin(cnlib.stack_admin_socket(1), *args, json_out=True)
    assert rc == 0, (args, err)
    return out


class Sender:
    """One STOMP session sending chat messages with its own messageKeys and reading the
    answers on a thread: which keys got a RECEIPT, which an error."""

    def __init__(self, url, user, room):
        self.c = Client(type("N", (), {"url": url}))
        cmd, h, _ = self.c.connect(user.token, heart_beat="0,0")
        assert cmd == "CONNECTED", (cmd, h)
        self.c.send(frame("SUBSCRIBE", [("id", "errs"), ("destination", "/user/queue/errors"),
                                        ("receipt", "sub-errs")]))
        cmd, h, _ = self.c.recv_frame()
        assert (cmd, h.get("receipt-id")) == ("RECEIPT", "sub-errs"), (cmd, h)
        self.c.keep_alive()  # the node wants heart-beats from every client
        self.room = room
        self.acked, self.refused, self.sent = [], [], []
        self.lock = threading.Lock()
        self.stop = False
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        while not self.stop:
            try:
                cmd, h, body = self.c.recv_frame(1)
            except TimeoutError:
                continue
            except Exception:
                return
            with self.lock:
                if cmd == "RECEIPT":
                    self.acked.append(h["receipt-id"])
                elif cmd == "MESSAGE" and h.get("receipt-id"):
                    self.refused.append((h["receipt-id"], json.loads(body)["error"]["code"]))

    def send(self, content, key=None):
        """A SEND with messageKey `key` (a fresh one when None): a retry re-uses it."""
        key = key or str(uuid.uuid4())
        self.sent.append(key)
        self.c.send(frame("SEND", [("destination", "/app/chat.send"), ("receipt", key),
                                   ("content-type", "application/json")],
                          json.dumps({"roomId": self.room, "content": content,
                                      "messageKey": key})))

    def answered(self):
        with self.lock:
            return len(self.acked) + len(self.refused)

    def close(self):
        self.stop = True
        self.reader.join(5)
        self.c.close()


def subscriber(url, user, room, resume_after=None):
    c = Client(type("N", (), {"url": url}))
    cmd, h, _ = c.connect(user.token, heart_beat="0,0")
    assert cmd == "CONNECTED", (cmd, h)
    extra = [("x-resume-after", str(resume_after))] if resume_after is not None else []
    c.send(frame("SUBSCRIBE", [("id", "r"), ("destination", f"/topic/room.{room}"),
                               ("receipt", "sub")] + extra))
    cmd, h, _ = c.recv_frame()
    assert (cmd, h.get("receipt-id")) == ("RECEIPT", "sub"), (cmd, h)
    return c.keep_alive()


def psql(sql):
    r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d",
                        cnlib.need("CN_TEST_PG_URL"), "-c", sql],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return [line.split("|") for line in r.stdout.split("\n") if line]


def stored(room):
    """messageKey -> rows of the room."""
    return {k: int(n) for k, n in psql(f"SELECT message_key, count(*) FROM messages"
                                       f" WHERE room_id = {int(room)} GROUP BY 1")}


def collect(sub, want, timeout):
    """Reads the room's chat MESSAGEs (events skipped) until every key of `want` came or
    the deadline passed; returns their (messageKey, position) in arrival order."""
    got, seen = [], set()
    deadline = time.monotonic() + timeout * cnlib.scale()
    while not want <= seen and time.monotonic() < deadline:
        try:
            cmd, h, body = sub.recv_frame(1)
        except TimeoutError:
            continue
        if cmd == "MESSAGE" and "x-event" not in h:
            m = json.loads(body)
            got.append((m["messageKey"], m["position"]))
            seen.add(m["messageKey"])
    return got


def in_order(got):
    """(messageKey, position) pairs in strictly rising position order, no key twice."""
    positions = [p for _, p in got]
    return positions == sorted(positions) and len({k for k, _ in got}) == len(got)


def send_for(senders, seconds, label):
    """Each sender sends 5 SENDs a second (under the 10/s limit) for `seconds`; returns
    how many each sent. The sleep paces the sends; nothing waits on it."""
    t_end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < t_end:
        for s in senders:
            s.send(f"{label} {i}")
        i += 1
        time.sleep(0.2)
    return i


def wait_answered(senders, what):
    cnlib.wait_until(lambda: all(s.answered() == len(s.sent) for s in senders),
                     30 * cnlib.scale(), what=what)
