"""Redis stopped for 15 s while a client sends (issue 8, faults): the stack's real Redis
is shut down (its data goes with it: no persistence on the stack) and started again from
its configuration.

What a user sees:
- SENDs keep being acknowledged and every acknowledged message is stored (PostgreSQL),
  exactly once.
- /healthz turns 503 naming redis while it is down, 200 after.
- A subscriber that stayed connected (on the other node) gets, once Redis is back, what
  it missed, then live messages: every acknowledged message exactly once, in position
  order (the room actor repairs the hole from PostgreSQL, the window being gone).
- A subscriber that left before the outage and comes back with x-resume-after gets
  exactly what it missed, in order.
- The stack's Redis wants a password: the restarted one too, so the nodes came back by
  authenticating again on every reconnect (as the stack's ACL user).
"""
import os
import subprocess
import sys

import pytest
import requests

sys.path.insert(0, os.path.dirname(__file__))
import cnlib  # noqa: E402
from _faults import (Sender, collect, healthz, in_order, send_for, stored,  # noqa: E402
                     subscriber, wait_answered)
from stomp_session import User  # noqa: E402

OUTAGE_S = 15


def redis_cli(*args, check=True):
    return subprocess.run(["redis-cli", "-h", cnlib.need("CN_TEST_REDIS_HOST"), "-p",
                           cnlib.need("CN_TEST_REDIS_PORT"), *args], check=check,
                          capture_output=True, text=True, timeout=10)


def redis_up():
    r = redis_cli("ping", check=False)
    return r.returncode == 0 and r.stdout.strip() == "PONG"


def redis_start():
    conf = os.path.join(os.path.abspath(cnlib.need("CN_TEST_VAR")), "redis", "redis.conf")
    subprocess.run(["redis-server", conf], check=True, timeout=30)
    cnlib.wait_until(redis_up, 15, what="redis answering again")


def test_redis_stopped_15s_sends_persist_and_subscribers_get_the_gap():
    n1, n2 = cnlib.need("CN_TEST_NODE1_URL"), cnlib.need("CN_TEST_NODE2_URL")
    alice, bob, carol = User(n1, "alice"), User(n1, "bob"), User(n1, "carol")
    room = alice.group_room(n1)
    for u in (bob, carol):
        r = requests.post(f"{n1}/api/rooms/{room}/join",
                          headers={"Authorization": f"Bearer {u.token}"})
        assert r.status_code in (200, 201), r.text
    stay = subscriber(n2, bob, room)
    leave = subscriber(n2, carol, room)
    s = Sender(n1, alice, room)
    try:
        for i in range(5):
            s.send(f"before {i}")
        cnlib.wait_until(lambda: len(s.acked) == 5, 20 * cnlib.scale(), what="5 RECEIPTs")
        before = collect(leave, set(s.acked), 20)
        assert {k for k, _ in before} == set(s.acked) and in_order(before), before
        last_seen = before[-1][1]
        leave.close()

        assert redis_cli("SHUTDOWN", "NOSAVE", check=False).returncode in (0, 1)
        try:
            cnlib.wait_until(lambda: not redis_up(), 10, what="redis down")
            cnlib.wait_until(lambda: healthz(n2)[0] == 503 and "redis" in healthz(n2)[1],
                             20 * cnlib.scale(), interval=0.2, what="/healthz 503 naming redis")
            during = send_for([s], OUTAGE_S, "during")
            wait_answered([s], "an answer to every SEND sent during the outage")
            assert len(s.acked) >= 5 + during * 0.9, (len(s.acked), s.refused[:5])
        finally:
            if not redis_up():
                redis_start()
        cnlib.wait_until(lambda: healthz(n1)[0] == 200 and healthz(n2)[0] == 200,
                         60 * cnlib.scale(), interval=0.3, what="both nodes healthy again")
        if cnlib.redis_password():
            # The restarted Redis lets no one in without the password, so the nodes'
            # reconnects (command and subscriber connections) authenticated: as the
            # stack's ACL user.
            anon = subprocess.run(["redis-cli", "--no-auth-warning", "-h",
                                   cnlib.need("CN_TEST_REDIS_HOST"), "-p",
                                   cnlib.need("CN_TEST_REDIS_PORT"), "ping"],
                                  capture_output=True, text=True, timeout=10,
                                  env={k: v for k, v in os.environ.items()
                                       if k != "REDISCLI_AUTH"})
            assert "NOAUTH" in anon.stdout + anon.stderr, anon
            user = cnlib.need("CN_TEST_REDIS_USER")
            clients = redis_cli("CLIENT", "LIST").stdout.splitlines()
            assert sum(f" user={user} " in c for c in clients) >= 4, clients
        for i in range(5):
            s.send(f"after {i}")
        wait_answered([s], "RECEIPTs after the outage")
        acked = set(s.acked)

        cnlib.wait_until(lambda: acked <= set(stored(room)), 60 * cnlib.scale(),
                         interval=0.5, what="every acknowledged message stored")
        rows = stored(room)
        assert all(n == 1 for n in rows.values()) and set(rows) == acked

        got = collect(stay, acked, 60)
        assert {k for k, _ in got} == acked, len(acked - {k for k, _ in got})
        assert in_order(got), "the staying subscriber got a duplicate or a reordering"

        back = subscriber(n1, carol, room, resume_after=last_seen)
        try:
            missed = collect(back, acked - {k for k, _ in before}, 60)
            assert {k for k, _ in missed} == acked - {k for k, _ in before}
            assert in_order(missed) and missed[0][1] > last_seen
        finally:
            back.close()
    finally:
        s.close()
        stay.close()
        if not redis_up():
            redis_start()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"]))
