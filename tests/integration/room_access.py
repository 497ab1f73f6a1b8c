"""Who may see, find and enter a room, against the test stack's two nodes (pytest +
requests), and a node of this test with low per-user budgets.

- A private room (the default) and someone else's direct room do not exist for a
  non-member: join, detail, history, read, leave, invitations, members, close, and STOMP
  SUBSCRIBE, SEND and chat.read all answer exactly as for an id that was never used.
  Public rooms keep their answers (403 NOT_A_MEMBER, anyone may join).
- Invitations: create (token once, only its hash stored), list (no tokens), join with the
  token on the other node, maxUses, expiry, revoke; every bad token gets one answer.
- Members add people; the creator removes members (the removed member's REST access ends)
  and closes the room (it then answers 404 to everyone, former members included).
- Public room search and user search (nickname prefix, exact email, never an email in the
  answer, 2 characters at least, the searcher and users who blocked the searcher left out,
  pages by cursor); direct rooms carry the peer's nickname and presence in the room list.
- Blocks: no new direct room between the two, the blocked user cannot add the blocker.
- Budgets (a node with [limits] rooms_per_hour, invites_per_hour, user_searches_per_minute
  of 3): 429 RATE_LIMITED with Retry-After.

Users sign up with random nicknames and passwords. Messages are written straight into
PostgreSQL, as rest_api.py does.
"""
import hashlib
import json
import os
import re
import subprocess
import sys
import uuid

import pytest
import requests

sys.path.insert(0, os.path.dirname(__file__))
import cnlib  # noqa: E402
from stomp_session import Client, frame  # noqa: E402

NODE1 = cnlib.need("CN_TEST_NODE1_URL")
NODE2 = cnlib.need("CN_TEST_NODE2_URL")
PG_URL = cnlib.need("CN_TEST_PG_URL")
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def psql(sql):
    out = subprocess.run(["psql", PG_URL, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"],
                         input=sql, capture_output=True, text=True, check=True).stdout
    return [line.split("|") for line in out.splitlines() if line]


def tag():
    return uuid.uuid4().hex[:8]


class User:
    def __init__(self, nick="u", base=NODE1):
        self.base = base
        self.nickname = f"{nick}-{tag()}"
        self.email = f"{self.nickname}@example.com"
        password = "tr0ub4dor-" + uuid.uuid4().hex[:12]
        r = requests.post(f"{base}/api/auth/signup", json={
            "email": self.email, "password": password, "nickname": self.nickname})
        assert r.status_code == 201, r.text
        self.id = r.json()["id"]
        r = requests.post(f"{base}/api/auth/login", json={"email": self.email,
                                                          "password": password})
        assert r.status_code == 200, r.text
        self.token = r.json()["accessToken"]
        self.h = {"Authorization": f"Bearer {self.token}"}

    def call(self, method, path, body=None, base=None, **kw):
        return requests.request(method, (base or self.base) + path, headers=self.h,
                                json=body, **kw)

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, body, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)

    def group(self, members=(), visibility=None, name=None, **kw):
        body = {"name": name or f"room {tag()}", "memberIds": [m.id for m in members]}
        if visibility:
            body["visibility"] = visibility
        r = self.post("/api/rooms/group", body, **kw)
        assert r.status_code == 201, r.text
        return r.json()

    def room_ids(self, base=None):
        r = self.get("/api/rooms", base=base)
        assert r.status_code == 200, r.text
        return [x["id"] for x in r.json()]


def insert_messages(room_id, sender_id, n):
    psql(f"""INSERT INTO messages (message_key, room_id, sender_id, content, type,
                                   kafka_partition, kafka_offset)
             SELECT gen_random_uuid(), {room_id}, {sender_id}, 'secret ' || g, 'TEXT', 0,
                    coalesce((SELECT max(kafka_offset) FROM messages), 0) + g
               FROM generate_series(1, {n}) g""")


def unused_room_id():
    """An id no room has (and none will get during the test: ids only grow)."""
    return int(psql("SELECT coalesce(max(id), 0) + 1000000 FROM chat_rooms")[0][0])


def answer(r):
    return r.status_code, r.json()


# Every REST way to touch a room, as (method, path suffix, body).
PROBES = [
    ("POST", "/join", None),
    ("GET", "", None),
    ("GET", "/messages", None),
    ("GET", "/messages?size=5", None),
    ("POST", "/read", {}),
    ("POST", "/leave", None),
    ("POST", "/invites", {}),
    ("GET", "/invites", None),
    ("DELETE", "/invites/1", None),
    ("POST", "/members", {"userIds": [1]}),
    ("DELETE", "/members/1", None),
    ("DELETE", "", None),
]


def probe_all(user, room_id, base=NODE1):
    return [answer(user.call(m, f"/api/rooms/{room_id}{suffix}", body, base=base))
            for m, suffix, body in PROBES]


# --- visibility --------------------------------------------------------------------------

def test_private_and_direct_rooms_answer_non_members_like_unknown_ids():
    owner, member, outsider = User("owner"), User("member"), User("outsider")
    private = owner.group([member])
    assert private["visibility"] == "private"   # the default
    insert_messages(private["id"], member.id, 3)
    direct = owner.post("/api/rooms/direct", {"targetUserId": member.id}).json()
    insert_messages(direct["id"], owner.id, 2)
    nowhere = unused_room_id()

    unknown = probe_all(outsider, nowhere)
    assert all(status == 404 for status, _ in unknown), unknown
    assert {body["error"]["code"] for _, body in unknown} == {"ROOM_NOT_FOUND"}
    for base in (NODE1, NODE2):
        assert probe_all(outsider, private["id"], base) == unknown
        assert probe_all(outsider, direct["id"], base) == unknown
    # Nothing leaked out of them meanwhile: still the members, still their history.
    detail = member.get(f"/api/rooms/{private['id']}").json()
    assert sorted(m["id"] for m in detail["members"]) == sorted([owner.id, member.id])
    assert len(member.get(f"/api/rooms/{private['id']}/messages").json()["messages"]) == 3
    assert psql(f"SELECT count(*) FROM room_invites WHERE room_id IN "
                f"({private['id']}, {direct['id']})") == [["0"]]
    # The member's own answers: a private member's join is a no-op, a direct room's is 409.
    r = member.post(f"/api/rooms/{private['id']}/join")
    assert r.status_code == 200 and r.json()["memberCount"] == 2
    r = member.post(f"/api/rooms/{direct['id']}/join")
    assert (r.status_code, r.json()["error"]["code"]) == (409, "NOT_JOINABLE")


def stomp(user, base=NODE1):
    c = Client(type("N", (), {"url": base}))
    cmd, h, _ = c.connect(user.token, heart_beat="0,0")
    assert cmd == "CONNECTED", (cmd, h)
    c.keep_alive()
    c.send(frame("SUBSCRIBE", [("id", "errs"), ("destination", "/user/queue/errors"),
                               ("receipt", "e")]))
    assert c.recv_frame()[1].get("receipt-id") == "e"
    return c


def refusal(c, receipt):
    cmd, h, body = c.recv_frame(15)
    assert cmd == "MESSAGE" and h.get("receipt-id") == receipt, (cmd, h, body)
    return json.loads(body)


def test_stomp_cannot_probe_private_or_direct_rooms():
    owner, member, outsider = User("owner"), User("member"), User("outsider")
    private = owner.group([member])["id"]
    direct = owner.post("/api/rooms/direct", {"targetUserId": member.id}).json()["id"]
    insert_messages(private, owner.id, 1)
    msg_id = int(psql(f"SELECT max(id) FROM messages WHERE room_id = {private}")[0][0])
    nowhere = unused_room_id()
    c = stomp(outsider, NODE2)
    try:
        def refusals(room):
            c.send(frame("SUBSCRIBE", [("id", f"s{room}"), ("destination", f"/topic/room.{room}"),
                                       ("receipt", f"sub{room}")]))
            sub = refusal(c, f"sub{room}")
            c.send(frame("SEND", [("destination", "/app/chat.send"), ("receipt", f"send{room}")],
                         json.dumps({"roomId": room, "content": "hello?"})))
            send = refusal(c, f"send{room}")
            c.send(frame("SEND", [("destination", "/app/chat.read"), ("receipt", f"read{room}")],
                         json.dumps({"roomId": room, "messageId": msg_id})))
            read = refusal(c, f"read{room}")
            return sub, send, read

        unknown = refusals(nowhere)
        assert [e["error"]["code"] for e in unknown] == ["NOT_MEMBER", "ROOM_NOT_FOUND",
                                                         "ROOM_NOT_FOUND"]
        assert refusals(private) == unknown
        assert refusals(direct) == unknown
    finally:
        c.close()
    # A member is let in, so the refusals above were about visibility.
    m = stomp(member)
    try:
        m.send(frame("SUBSCRIBE", [("id", "p"), ("destination", f"/topic/room.{private}"),
                                   ("receipt", "ok")]))
        assert m.recv_frame(15)[:2][0] == "RECEIPT"
    finally:
        m.close()


def test_public_rooms_keep_their_answers():
    owner, outsider = User("owner"), User("outsider")
    room = owner.group(visibility="public")
    assert room["visibility"] == "public" and room["peer"] is None
    rid = room["id"]
    for method, suffix, body in [("GET", "", None), ("GET", "/messages", None),
                                 ("POST", "/read", {}), ("POST", "/leave", None),
                                 ("POST", "/invites", {}), ("POST", "/members",
                                                            {"userIds": [owner.id]})]:
        r = outsider.call(method, f"/api/rooms/{rid}{suffix}", body)
        assert (r.status_code, r.json()["error"]["code"]) == (403, "NOT_A_MEMBER"), (suffix, r.text)
    r = outsider.post(f"/api/rooms/{rid}/join")
    assert r.status_code == 200 and r.json()["visibility"] == "public"
    assert r.json()["memberCount"] == 2
    assert outsider.get(f"/api/rooms/{rid}").status_code == 200


def test_visibility_is_validated():
    u = User()
    for bad in ("secret", "PUBLIC", "", 1, True):
        r = u.post("/api/rooms/group", {"name": "x", "memberIds": [], "visibility": bad})
        assert r.status_code == 400, (bad, r.text)
        err = r.json()["error"]
        assert err["code"] == "VALIDATION_FAILED" and err["message"].startswith("visibility:"), err
    r = u.post("/api/rooms/group", {"name": "x", "memberIds": [], "visibility": None})
    assert r.status_code == 201 and r.json()["visibility"] == "private"


# --- invitations -------------------------------------------------------------------------

def test_invites_create_list_join_on_the_other_node_and_use_up():
    owner, a, b, c = User("owner"), User("a"), User("b"), User("c")
    rid = owner.group()["id"]
    r = owner.post(f"/api/rooms/{rid}/invites")
    assert r.status_code == 201, r.text
    inv = r.json()
    assert TOKEN_RE.match(inv["token"]), inv
    assert (inv["roomId"], inv["createdBy"], inv["maxUses"], inv["uses"]) == (rid, owner.id, 25, 0)
    # Only the token's SHA-256 is stored.
    digest = hashlib.sha256(inv["token"].encode()).hexdigest()
    assert psql(f"SELECT encode(token_hash, 'hex') FROM room_invites WHERE id = {inv['id']}") \
        == [[digest]]
    one = owner.post(f"/api/rooms/{rid}/invites", {"maxUses": 1, "expiresInSeconds": 600}).json()
    assert one["maxUses"] == 1 and one["token"] != inv["token"]

    listed = owner.get(f"/api/rooms/{rid}/invites", base=NODE2)
    assert listed.status_code == 200
    assert [i["id"] for i in listed.json()] == [one["id"], inv["id"]]
    assert all("token" not in i for i in listed.json()) and inv["token"] not in listed.text

    # Join with the token on the other node: the room, and membership everywhere.
    r = a.post("/api/rooms/join", {"inviteToken": one["token"]}, base=NODE2)
    assert r.status_code == 200, r.text
    assert (r.json()["id"], r.json()["memberCount"], r.json()["visibility"]) == (rid, 2, "private")
    assert rid in a.room_ids() and a.get(f"/api/rooms/{rid}").status_code == 200
    # Again (a retry): 200 with the room, though the one-use invitation is used up.
    r = a.post("/api/rooms/join", {"inviteToken": one["token"]})
    assert r.status_code == 200 and r.json()["memberCount"] == 2
    # Used up for anyone else, and no longer listed.
    r = b.post("/api/rooms/join", {"inviteToken": one["token"]})
    assert (r.status_code, r.json()["error"]["code"]) == (404, "INVITE_NOT_FOUND")
    assert [i["id"] for i in owner.get(f"/api/rooms/{rid}/invites").json()] == [inv["id"]]
    # The many-use one: a joining again does not count, b and c do.
    assert a.post("/api/rooms/join", {"inviteToken": inv["token"]}).status_code == 200
    assert b.post("/api/rooms/join", {"inviteToken": inv["token"]}).status_code == 200
    assert c.post("/api/rooms/join", {"inviteToken": inv["token"]}, base=NODE2).status_code == 200
    assert owner.get(f"/api/rooms/{rid}/invites").json()[0]["uses"] == 2
    # Everyone's room list shows the new member count (caches dropped on join).
    assert {x["id"]: x["memberCount"] for x in owner.get("/api/rooms").json()}[rid] == 4


def test_bad_expired_used_up_and_revoked_tokens_get_one_answer():
    owner, member, joiner, first = User("owner"), User("member"), User("joiner"), User("first")
    rid = owner.group([member])["id"]
    used = owner.post(f"/api/rooms/{rid}/invites", {"maxUses": 1}).json()
    assert first.post("/api/rooms/join", {"inviteToken": used["token"]}).status_code == 200
    # Retrying a join that worked still answers the room, though the invitation is used up.
    r = first.post("/api/rooms/join", {"inviteToken": used["token"]}, base=NODE2)
    assert r.status_code == 200 and r.json()["id"] == rid
    expired = owner.post(f"/api/rooms/{rid}/invites", {"expiresInSeconds": 60}).json()
    psql(f"UPDATE room_invites SET expires_at = now() - interval '1 second' "
         f"WHERE id = {expired['id']}")
    revoked = member.post(f"/api/rooms/{rid}/invites").json()
    r = owner.delete(f"/api/rooms/{rid}/invites/{revoked['id']}", base=NODE2)
    assert r.status_code == 200 and r.json() == {"id": revoked["id"], "roomId": rid,
                                                 "revoked": True}
    assert owner.delete(f"/api/rooms/{rid}/invites/{revoked['id']}").status_code == 200
    tokens = {
        "used up": used["token"],
        "expired": expired["token"],
        "revoked": revoked["token"],
        "unknown": "A" * 43,
        "not base64url": "this is not a token !",
        "too short": "x",
        "a hash of a real one": hashlib.sha256(expired["token"].encode()).hexdigest(),
    }
    answers = {k: answer(joiner.post("/api/rooms/join", {"inviteToken": t}))
               for k, t in tokens.items()}
    first = next(iter(answers.values()))
    assert first[0] == 404 and first[1]["error"]["code"] == "INVITE_NOT_FOUND", first
    assert all(a == first for a in answers.values()), answers
    assert rid not in joiner.room_ids()
    # Malformed requests are 400, not 404.
    for body in ({}, {"inviteToken": ""}, {"inviteToken": 7}, {"inviteToken": "x" * 257}):
        r = joiner.post("/api/rooms/join", body)
        assert r.status_code == 400 and r.json()["error"]["message"].startswith("inviteToken:"), r.text
    for body in ({"maxUses": 0}, {"maxUses": 1001}, {"expiresInSeconds": 59},
                 {"expiresInSeconds": 2592001}, {"maxUses": "3"}):
        r = owner.post(f"/api/rooms/{rid}/invites", body)
        assert r.status_code == 400 and r.json()["error"]["code"] == "VALIDATION_FAILED", r.text
    r = owner.delete(f"/api/rooms/{rid}/invites/999999999")
    assert (r.status_code, r.json()["error"]["code"]) == (404, "INVITE_NOT_FOUND")
    r = owner.delete(f"/api/rooms/{rid}/invites/abc")
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("inviteId:")


# --- members, removal, closing -----------------------------------------------------------

def test_members_add_people():
    owner, member, x, y = User("owner"), User("member"), User("x"), User("y")
    rid = owner.group([member])["id"]
    r = member.post(f"/api/rooms/{rid}/members", {"userIds": [x.id, y.id, x.id, owner.id]},
                    base=NODE2)
    assert r.status_code == 200, r.text
    assert r.json() == {"roomId": rid, "added": sorted([x.id, y.id]), "memberCount": 4}
    assert rid in x.room_ids() and rid in y.room_ids(NODE2)
    assert {z["id"]: z["memberCount"] for z in owner.get("/api/rooms").json()}[rid] == 4
    r = member.post(f"/api/rooms/{rid}/members", {"userIds": [999999998]})
    assert (r.status_code, r.json()["error"]["code"]) == (404, "USER_NOT_FOUND")
    assert "999999998" in r.json()["error"]["message"]
    for body in ({"userIds": []}, {"userIds": [0]}, {}, {"userIds": "1"}):
        assert member.post(f"/api/rooms/{rid}/members", body).status_code == 400, body
    direct = owner.post("/api/rooms/direct", {"targetUserId": member.id}).json()["id"]
    r = owner.post(f"/api/rooms/{direct}/members", {"userIds": [x.id]})
    assert (r.status_code, r.json()["error"]["code"]) == (409, "NOT_GROUP")


def test_removed_member_loses_rest_access_and_closing_ends_the_room():
    owner, member, x = User("owner"), User("member"), User("x")
    room = owner.group([member, x])
    rid = room["id"]
    insert_messages(rid, owner.id, 2)
    assert x.get(f"/api/rooms/{rid}/messages").status_code == 200

    r = member.delete(f"/api/rooms/{rid}/members/{x.id}")
    assert (r.status_code, r.json()["error"]["code"]) == (403, "NOT_ROOM_CREATOR")
    r = owner.delete(f"/api/rooms/{rid}/members/{x.id}", base=NODE2)
    assert r.status_code == 200 and r.json() == {"roomId": rid, "userId": x.id, "removed": True}
    for base in (NODE1, NODE2):
        assert probe_all(x, rid, base) == probe_all(x, unused_room_id(), base)
        assert rid not in x.room_ids(base)
    r = owner.delete(f"/api/rooms/{rid}/members/{x.id}")
    assert (r.status_code, r.json()["error"]["code"]) == (404, "MEMBER_NOT_FOUND")
    assert owner.get(f"/api/rooms/{rid}").json()["memberCount"] == 2

    # Closing: the creator only; then the room is gone for everyone.
    inv = owner.post(f"/api/rooms/{rid}/invites").json()
    r = member.delete(f"/api/rooms/{rid}")
    assert (r.status_code, r.json()["error"]["code"]) == (403, "NOT_ROOM_CREATOR")
    r = owner.delete(f"/api/rooms/{rid}", base=NODE2)
    assert r.status_code == 200 and r.json() == {"roomId": rid, "closed": True}
    for u in (owner, member):
        for base in (NODE1, NODE2):
            assert probe_all(u, rid, base) == probe_all(u, unused_room_id(), base)
            assert rid not in u.room_ids(base)
    r = x.post("/api/rooms/join", {"inviteToken": inv["token"]})
    assert (r.status_code, r.json()["error"]["code"]) == (404, "INVITE_NOT_FOUND")
    # Its history stays in the database, out of everyone's reach.
    assert psql(f"SELECT count(*) FROM messages WHERE room_id = {rid}") == [["2"]]


def test_leaving_by_removing_oneself_and_the_direct_room_refusals():
    owner, member = User("owner"), User("member")
    rid = owner.group([member], visibility="public")["id"]
    r = member.delete(f"/api/rooms/{rid}/members/{member.id}")
    assert r.status_code == 200 and r.json()["removed"] is True
    assert rid not in member.room_ids()
    # A public room: the former member gets the non-member answers.
    r = member.delete(f"/api/rooms/{rid}/members/{member.id}")
    assert (r.status_code, r.json()["error"]["code"]) == (403, "NOT_A_MEMBER")
    direct = owner.post("/api/rooms/direct", {"targetUserId": member.id}).json()["id"]
    for r in (owner.delete(f"/api/rooms/{direct}/members/{member.id}"),
              owner.delete(f"/api/rooms/{direct}")):
        assert (r.status_code, r.json()["error"]["code"]) == (409, "NOT_GROUP")


# --- search ------------------------------------------------------------------------------

def test_public_room_search_by_name_prefix_with_pages():
    owner, searcher = User("owner"), User("searcher")
    p = f"rs{tag()}"
    names = [f"{p} alpha", f"{p.upper()} Beta", f"{p} éclair", f"{p} gamma"]
    ids = {n: owner.group(visibility="public", name=n)["id"] for n in names}
    owner.group(name=f"{p} hidden")
    closed = owner.group(visibility="public", name=f"{p} closed")["id"]
    assert owner.delete(f"/api/rooms/{closed}").status_code == 200
    assert searcher.post(f"/api/rooms/{ids[p + ' gamma']}/join").status_code == 200

    # Ordered by the folded name in byte order (so "é" after "g"), then id.
    names.sort(key=lambda n: n.lower().encode())
    r = searcher.get("/api/rooms/public", params={"q": p.upper()}, base=NODE2)
    assert r.status_code == 200, r.text
    page = r.json()
    assert [x["name"] for x in page["rooms"]] == names
    assert (page["nextCursor"], page["hasNext"]) == (None, False)
    first = page["rooms"][0]
    assert set(first) == {"id", "name", "type", "visibility", "createdBy", "createdAt",
                          "memberCount", "isMember"}
    assert [x["isMember"] for x in page["rooms"]] == [n == f"{p} gamma" for n in names]
    assert {x["memberCount"] for x in page["rooms"]} == {1, 2}
    assert [x["name"] for x in searcher.get(
        "/api/rooms/public", params={"q": f"{p} ÉC"}).json()["rooms"]] == [f"{p} éclair"]
    # Pages of two, by cursor, without gaps or repeats.
    seen, cursor = [], None
    while True:
        params = {"q": p, "size": 2} | ({"cursor": cursor} if cursor else {})
        pg = searcher.get("/api/rooms/public", params=params).json()
        seen += [x["name"] for x in pg["rooms"]]
        if not pg["hasNext"]:
            break
        cursor = pg["nextCursor"]
    assert seen == names
    # No q: every public room, in the same order.
    everything = searcher.get("/api/rooms/public", params={"size": 50})
    assert everything.status_code == 200
    listed = [x["name"].lower().encode() for x in everything.json()["rooms"]]
    assert listed == sorted(listed) and len(listed) >= 1
    for bad in ({"q": "x" * 101}, {"q": p, "size": 0}, {"q": p, "size": 51},
                {"q": p, "cursor": "abc"}, {"q": "a\x01"}):
        r = searcher.get("/api/rooms/public", params=bad)
        assert r.status_code == 400 and r.json()["error"]["code"] == "VALIDATION_FAILED", bad


def test_user_search_prefix_email_blocks_and_pages():
    p = f"us{tag()}"
    searcher = User(f"{p}-searcher")
    found = [User(f"{p}-{n}") for n in ("ann", "bob", "cy")]
    blocker = User(f"{p}-zed")
    assert blocker.post(f"/api/users/{searcher.id}/block").status_code == 200
    blocked_by_me = User(f"{p}-yan")
    assert searcher.post(f"/api/users/{blocked_by_me.id}/block").status_code == 200

    r = searcher.get("/api/users", params={"q": p.upper()}, base=NODE2)
    assert r.status_code == 200, r.text
    body = r.json()
    want = sorted([u.nickname for u in found] + [blocked_by_me.nickname], key=str.lower)
    assert [u["nickname"] for u in body["users"]] == want
    assert all(set(u) == {"id", "nickname", "status"} for u in body["users"])
    assert "@" not in r.text, "an email in the answer"
    # By exact email (any case): the user, never the email.
    r = searcher.get("/api/users", params={"q": found[1].email.upper()})
    assert r.status_code == 200 and "@" not in r.text
    assert [u["id"] for u in r.json()["users"]] == [found[1].id]
    assert searcher.get("/api/users", params={"q": blocker.email}).json()["users"] == []
    # Someone the blocker did not block finds them.
    assert blocker.id in [u["id"] for u in found[0].get(
        "/api/users", params={"q": blocker.nickname}).json()["users"]]
    # Pages.
    seen, cursor = [], None
    while True:
        params = {"q": p, "size": 2} | ({"cursor": cursor} if cursor else {})
        pg = searcher.get("/api/users", params=params).json()
        seen += [u["nickname"] for u in pg["users"]]
        if not pg["hasNext"]:
            break
        cursor = pg["nextCursor"]
    assert seen == want
    for bad in ({"q": "a"}, {}, {"q": ""}, {"q": "x" * 101}, {"q": p, "size": 51}):
        r = searcher.get("/api/users", params=bad)
        assert r.status_code == 400 and r.json()["error"]["code"] == "VALIDATION_FAILED", bad
        assert r.json()["error"]["message"].startswith(("q:", "size:"))


# --- direct rooms in the list ------------------------------------------------------------

def test_direct_rooms_are_named_after_the_peer_with_presence():
    a, b = User("a"), User("b")
    r = a.post("/api/rooms/direct", {"targetUserId": b.id})
    assert r.status_code == 201
    created = r.json()
    assert created["name"] == b.nickname and created["peer"]["id"] == b.id
    group = a.group([b])
    rooms = {x["id"]: x for x in a.get("/api/rooms").json()}
    d = rooms[created["id"]]
    assert d["name"] == b.nickname and d["visibility"] == "private"
    assert d["peer"] == {"id": b.id, "nickname": b.nickname, "status": "OFFLINE",
                         "lastSeenAt": None}
    assert rooms[group["id"]]["peer"] is None and rooms[group["id"]]["name"] == group["name"]
    theirs = {x["id"]: x for x in b.get("/api/rooms", base=NODE2).json()}[created["id"]]
    assert theirs["name"] == a.nickname and theirs["peer"]["id"] == a.id
    detail = b.get(f"/api/rooms/{created['id']}").json()
    assert detail["name"] == a.nickname and detail["peer"]["nickname"] == a.nickname
    # The peer's presence: ONLINE while connected.
    c = stomp(b)
    try:
        def b_status():
            a.post(f"/api/rooms/{group['id']}/read", {})   # drops a's cached list
            return {x["id"]: x for x in a.get("/api/rooms").json()}[created["id"]]["peer"]["status"]
        cnlib.wait_until(lambda: b_status() == "ONLINE", 10 * cnlib.scale(),
                         what="b ONLINE in a's list")
    finally:
        c.close()


# --- blocking ----------------------------------------------------------------------------

def test_blocking_stops_new_direct_rooms_and_adding_the_blocker():
    a, b, c = User("a"), User("b"), User("c")
    r = a.post(f"/api/users/{b.id}/block")
    assert r.status_code == 200 and r.json() == {"userId": b.id, "blocked": True}
    assert a.post(f"/api/users/{b.id}/block", base=NODE2).status_code == 200   # idempotent
    listed = a.get("/api/users/blocked").json()
    assert [(u["id"], u["nickname"]) for u in listed] == [(b.id, b.nickname)]
    assert "blockedAt" in listed[0]

    r = b.post("/api/rooms/direct", {"targetUserId": a.id})
    assert (r.status_code, r.json()["error"]["code"]) == (403, "NOT_ALLOWED")
    assert "block" not in r.json()["error"]["message"]
    r = a.post("/api/rooms/direct", {"targetUserId": b.id})
    assert (r.status_code, r.json()["error"]["code"]) == (403, "USER_BLOCKED")
    assert a.room_ids() == [] and b.room_ids() == []
    # b cannot put a in a room, neither at creation nor later; nothing is created.
    r = b.post("/api/rooms/group", {"name": "trap", "memberIds": [c.id, a.id]})
    assert (r.status_code, r.json()["error"]["code"]) == (403, "NOT_ALLOWED")
    assert str(a.id) in r.json()["error"]["message"] and "block" not in r.json()["error"]["message"]
    assert b.room_ids() == [] and c.room_ids() == []
    rid = b.group([c])["id"]
    r = b.post(f"/api/rooms/{rid}/members", {"userIds": [a.id]})
    assert (r.status_code, r.json()["error"]["code"]) == (403, "NOT_ALLOWED")
    # c (not blocked) may add a; a (the blocker) may add b.
    assert c.post(f"/api/rooms/{rid}/members", {"userIds": [a.id]}).status_code == 200
    assert a.group([b])["memberCount"] == 2

    r = a.delete(f"/api/users/{b.id}/block")
    assert r.status_code == 200 and r.json() == {"userId": b.id, "blocked": False}
    assert a.get("/api/users/blocked").json() == []
    assert b.post("/api/rooms/direct", {"targetUserId": a.id}).status_code == 201
    r = a.post(f"/api/users/{a.id}/block")
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("userId:")
    r = a.post("/api/users/999999997/block")
    assert (r.status_code, r.json()["error"]["code"]) == (404, "USER_NOT_FOUND")
    assert a.post("/api/users/abc/block").status_code == 400
    assert a.get(f"/api/users/{b.id}/block").status_code == 405


def test_a_block_keeps_an_existing_direct_room():
    a, b = User("a"), User("b")
    rid = a.post("/api/rooms/direct", {"targetUserId": b.id}).json()["id"]
    assert b.post(f"/api/users/{a.id}/block").status_code == 200
    r = a.post("/api/rooms/direct", {"targetUserId": b.id})
    assert r.status_code == 200 and r.json()["id"] == rid


# --- budgets -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tight():
    """A node of this test with budgets of 3 (no consumer groups: REST only)."""
    n = cnlib.Node(overrides={"CHAT_LIMITS_ROOMS_PER_HOUR": "3",
                              "CHAT_LIMITS_INVITES_PER_HOUR": "3",
                              "CHAT_LIMITS_USER_SEARCHES_PER_MINUTE": "3",
                              "CHAT_PERSIST_ENABLED": "false",
                              "CHAT_RECEIPTS_ENABLED": "false",
                              "CHAT_FANOUT_BROADCAST_ENABLED": "false"})
    try:
        n.wait_healthy()
        yield n
        rc, _ = n.stop()
        assert rc == 0, n.output()[-4000:]
    finally:
        n.close()


def limited(r):
    assert r.status_code == 429, r.text
    assert r.json()["error"]["code"] == "RATE_LIMITED"
    assert int(r.headers["Retry-After"]) >= 1
    return True


def test_user_searches_are_budgeted_per_user(tight):
    u, other = User("s", tight.url), User("s", tight.url)
    for _ in range(3):
        assert u.get("/api/users", params={"q": "nobody-like-this"}).status_code == 200
    assert limited(u.get("/api/users", params={"q": "nobody-like-this"}))
    assert other.get("/api/users", params={"q": "nobody-like-this"}).status_code == 200
    # An invalid search is refused before it counts.
    assert other.get("/api/users", params={"q": "x"}).status_code == 400


def test_room_creations_are_budgeted_and_reopening_a_direct_room_is_not(tight):
    u, v, w = User("r", tight.url), User("r", tight.url), User("r", tight.url)
    assert u.post("/api/rooms/direct", {"targetUserId": v.id}).status_code == 201
    u.group()
    u.group()
    assert limited(u.post("/api/rooms/group", {"name": "one too many", "memberIds": []}))
    # The pair's existing room is still answered; a new one is not made.
    r = u.post("/api/rooms/direct", {"targetUserId": v.id})
    assert r.status_code == 200, r.text
    assert limited(u.post("/api/rooms/direct", {"targetUserId": w.id}))
    assert len(u.room_ids()) == 3
    # Someone else's budget is their own; opening u's room from v's side is not new either.
    assert w.post("/api/rooms/direct", {"targetUserId": u.id}).status_code == 201
    assert v.post("/api/rooms/direct", {"targetUserId": u.id}).status_code == 200


def test_invites_and_members_added_are_budgeted(tight):
    u = User("i", tight.url)
    others = [User("i", tight.url) for _ in range(3)]
    rid = u.group()["id"]
    for _ in range(2):
        assert u.post(f"/api/rooms/{rid}/invites").status_code == 201
    r = u.post(f"/api/rooms/{rid}/members", {"userIds": [others[0].id]})
    assert r.status_code == 200, r.text
    assert limited(u.post(f"/api/rooms/{rid}/invites"))
    assert limited(u.post(f"/api/rooms/{rid}/members", {"userIds": [others[1].id]}))
    # The members added count one each.
    v = User("i", tight.url)
    vid = v.group()["id"]
    assert v.post(f"/api/rooms/{vid}/members",
                  {"userIds": [o.id for o in others]}).status_code == 200
    assert limited(v.post(f"/api/rooms/{vid}/invites"))


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"]))
