"""PostgreSQL stopped for 15 s while a client sends (issue 8, faults): the stack's real
PostgreSQL is stopped with pg_ctl and started again.

What a user sees and what the operator does:
- SENDs keep being acknowledged (they go to Kafka; the session's membership cache was
  warmed before), and the room's subscribers keep getting them live (fan-out does not
  need the database).
- /healthz turns 503 naming postgres while it is down, 200 after.
- chat-persistence retries, then dead-letters what exhausted its retries to
  chat.messages.dlt, with error, origin and attempts headers (`chat-admin dlt list`).
- After PostgreSQL is back, `chat-admin dlt replay` produces them again; then every
  acknowledged messageKey is stored exactly once, and nothing else of this room is.

Runs on the test stack's two nodes (CN_TEST_*), one sender on node1, one subscriber on
node2. The stack is left running whatever happens (PostgreSQL started in finally).
"""
import os
import subprocess
import sys
import time
import urllib.parse

import pytest
import requests

sys.path.insert(0, os.path.dirname(__file__))
import cnlib  # noqa: E402
from _faults import (Sender, admin_json, collect, healthz, send_for, stored,  # noqa: E402
                     subscriber, wait_answered)  # noqa: E402
from stomp_session import User  # noqa: E402

OUTAGE_S = 15
PG_BINDIR = os.environ.get("CN_PG_BINDIR", "/usr/lib/postgresql/15/bin")


def pg_dirs():
    pg = os.path.join(os.path.abspath(cnlib.need("CN_TEST_VAR")), "pg")
    return os.path.join(pg, "data"), os.path.join(pg, "sock")


def as_pg(*cmd):
    if os.geteuid() == 0:
        cmd = ("runuser", "-u", os.environ.get("CN_PG_OS_USER", "postgres"), "--") + cmd
    subprocess.run(cmd, check=True, capture_output=True, timeout=90)


def pg_stop():
    data, _ = pg_dirs()
    as_pg(f"{PG_BINDIR}/pg_ctl", "-D", data, "-m", "fast", "-w", "-t", "60", "stop")


def pg_start():
    data, sock = pg_dirs()
    port = urllib.parse.urlparse(cnlib.need("CN_TEST_PG_URL")).port
    log = os.path.join(os.path.abspath(cnlib.need("CN_TEST_VAR")), "log", "postgres.log")
    # As ops/lib/stack.sh starts it: with TLS when the stack's URL asks for it (the
    # certificate is in the data directory).
    tls = " -c ssl=on" if "sslmode=require" in cnlib.need("CN_TEST_PG_URL") else ""
    as_pg(f"{PG_BINDIR}/pg_ctl", "-D", data, "-l", log, "-w", "-t", "60",
          "-o", f"-p {port} -k {sock}{tls}", "start")


def pg_running():
    data, _ = pg_dirs()
    try:
        as_pg(f"{PG_BINDIR}/pg_ctl", "-D", data, "status")
        return True
    except subprocess.CalledProcessError:
        return False


@pytest.mark.skipif(os.geteuid() != 0, reason="stopping the stack's PostgreSQL needs root")
def test_postgres_stopped_15s_then_dlt_replay_stores_every_acknowledged_message_once():
    n1, n2 = cnlib.need("CN_TEST_NODE1_URL"), cnlib.need("CN_TEST_NODE2_URL")
    alice, bob = User(n1, "alice"), User(n1, "bob")
    room = alice.group_room(n1)
    r = requests.post(f"{n1}/api/rooms/{room}/join",
                      headers={"Authorization": f"Bearer {bob.token}"})
    assert r.status_code in (200, 201), r.text
    since = str(int(time.time()) - 2)
    sub = subscriber(n2, bob, room)
    s = Sender(n1, alice, room)
    try:
        # Warm-up: the session's membership is cached, so SENDs need no query later.
        for i in range(5):
            s.send(f"before {i}")
        cnlib.wait_until(lambda: len(s.acked) == 5, 20 * cnlib.scale(), what="5 RECEIPTs")

        pg_stop()
        try:
            cnlib.wait_until(lambda: healthz(n1)[0] == 503 and "postgres" in healthz(n1)[1],
                             20 * cnlib.scale(), interval=0.2, what="/healthz 503 naming postgres")
            during = send_for([s], OUTAGE_S, "during ' OR 1=1; --")
            wait_answered([s], "an answer to every SEND sent during the outage")
            # Acknowledged while the database was down: Kafka has them.
            assert len(s.acked) >= 5 + during * 0.9, (len(s.acked), s.refused[:5])
            # The pipeline gave up on some and dead-lettered them (retries exhausted).
            recs = cnlib.wait_until(
                lambda: [x for x in admin_json("dlt", "list", "--since", since,
                                               "--limit", "1000")["records"]
                         if x["error-stage"] != "decode" and x["key"] == str(room)],
                60 * cnlib.scale(), interval=0.5, what="dead-lettered events of this room")
        finally:
            if not pg_running():
                pg_start()
        for x in recs:
            assert x["origin-topic"] == "chat.messages" and x["error"], x
            assert int(x["attempts"]) >= 1, x
        cnlib.wait_until(lambda: healthz(n1)[0] == 200 and healthz(n2)[0] == 200,
                         60 * cnlib.scale(), interval=0.3, what="both nodes healthy again")

        for i in range(5):
            s.send(f"after {i}")
        wait_answered([s], "RECEIPTs after the outage")
        replay = admin_json("dlt", "replay", "--since", since)
        assert replay["replayed"] >= len(recs), (replay, len(recs))

        acked = set(s.acked)
        cnlib.wait_until(lambda: acked <= set(stored(room)), 90 * cnlib.scale(),
                         interval=0.5, what="every acknowledged message stored")
        rows = stored(room)
        assert all(n == 1 for n in rows.values()), {k: n for k, n in rows.items() if n != 1}
        # Nothing but this test's acknowledged messages in the room (none refused invented).
        assert set(rows) == acked, (len(rows), len(acked))

        # The subscriber on the other node saw every acknowledged message, live or after.
        got = {k for k, _ in collect(sub, acked, 60)}
        assert acked <= got, len(acked - got)
    finally:
        s.close()
        sub.close()
        if not pg_running():
            pg_start()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"]))
