"""The REST API of DESIGN.md "Contracts" against the test stack's nodes (pytest + requests).

Each test signs up its own users (unique emails), so tests do not depend on each other.
Messages are written straight into PostgreSQL with the same statement shape the
persistence pipeline uses, so these tests do not depend on Kafka for them. Reads go
through Kafka (chat-read-receipt): their effect is awaited with a deadline.
"""
import base64
import concurrent.futures
import configparser
import hashlib
import hmac
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid

import pytest
import requests

sys.path.insert(0, os.path.dirname(__file__))
import cnlib  # noqa: E402

NODE1 = cnlib.need("CN_TEST_NODE1_URL")
NODE2 = cnlib.need("CN_TEST_NODE2_URL")
PG_URL = cnlib.need("CN_TEST_PG_URL")


def secret():
    cp = configparser.ConfigParser()
    cp.read(cnlib.need("CN_TEST_CONFIG"))
    return cp["auth"]["jwt_secret"].encode()


def token_names():
    """The stack's (iss, aud): [auth] issuer and audience, "chat-node" by default."""
    cp = configparser.ConfigParser()
    cp.read(cnlib.need("CN_TEST_CONFIG"))
    auth = cp["auth"] if cp.has_section("auth") else {}
    return auth.get("issuer", "chat-node"), auth.get("audience", "chat-node")


def claims(user_id, iat, exp, **extra):
    """The claims the node issues (iss, aud, sub, iat, exp, jti) for a forged token."""
    iss, aud = token_names()
    return {"iss": iss, "aud": aud, "sub": str(user_id), "iat": iat, "exp": exp,
            "jti": str(uuid.uuid4()), **extra}


def psql(sql, *args):
    """Runs one statement with psql variables :v1..:vn; returns rows as lists of str."""
    cmd = ["psql", PG_URL, "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1"]
    for i, a in enumerate(args, 1):
        cmd += ["-v", f"v{i}={a}"]
    out = subprocess.run(cmd, input=sql, capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def unique_email(tag="u"):
    return f"{tag}-{uuid.uuid4().hex[:12]}@example.com"


def strong_password():
    return "tr0ub4dor-" + uuid.uuid4().hex[:12]


def unique_nickname(tag="nick"):
    """Nicknames are unique case-insensitively: every test user gets a suffix."""
    return f"{tag}-{uuid.uuid4().hex[:8]}"


def signup(base=NODE1, nickname="nick", email=None, password=None, exact=False):
    """Signs a user up; the nickname gets a random suffix unless exact."""
    email = email or unique_email()
    password = password or strong_password()
    nickname = nickname if exact else unique_nickname(nickname)
    r = requests.post(f"{base}/api/auth/signup",
                      json={"email": email, "password": password, "nickname": nickname})
    assert r.status_code == 201, r.text
    return r.json(), email, password


def login(email, password, base=NODE1):
    r = requests.post(f"{base}/api/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    return r.json()


class User:
    def __init__(self, nickname="nick", base=NODE1):
        self.base = base
        self.user, self.email, self.password = signup(base, nickname)
        self.id = self.user["id"]
        self.nickname = self.user["nickname"]
        self.token = login(self.email, self.password, base)["accessToken"]
        self.h = {"Authorization": f"Bearer {self.token}"}

    def get(self, path, base=None, **kw):
        return requests.get((base or self.base) + path, headers=self.h, **kw)

    def post(self, path, body=None, base=None):
        return requests.post((base or self.base) + path, headers=self.h, json=body)


def insert_messages(room_id, sender_id, n, prefix="m"):
    """Stores n messages like the persistence pipeline does."""
    psql("""
        WITH ins AS (
          INSERT INTO messages (message_key, room_id, sender_id, content, type,
                                kafka_partition, kafka_offset)
          SELECT gen_random_uuid(), :v1, :v2, :'v3' || g, 'TEXT', 0,
                 coalesce((SELECT max(kafka_offset) FROM messages), 0) + g
            FROM generate_series(1, :v4) g
          RETURNING room_id)
        SELECT count(*) FROM ins
    """, room_id, sender_id, prefix, n)


def metric(base, name, labels=""):
    text = cnlib.metrics_text(base)
    m = re.search(rf"^{re.escape(name + labels)} ([0-9.e+]+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def b64(d):
    return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()


def forge(header, payload, key):
    signing = f"{b64(header)}.{b64(payload)}"
    sig = hmac.new(key, signing.encode(), hashlib.sha256).digest() if key else b""
    return signing + "." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()


# --- accounts -----------------------------------------------------------------------------

def test_signup_returns_the_user_and_never_the_password():
    email = unique_email("Mixed")
    nick = unique_nickname("Ann")
    r = requests.post(f"{NODE1}/api/auth/signup",
                      json={"email": email, "password": strong_password(), "nickname": nick})
    assert r.status_code == 201
    body = r.json()
    assert set(body) == {"id", "email", "nickname", "status", "lastSeenAt"}
    assert body["email"] == email and body["nickname"] == nick and body["status"] == "OFFLINE"
    assert "password" not in r.text
    stored = psql("SELECT password_hash FROM users WHERE id = :v1", body["id"])[0][0]
    assert stored.startswith("$argon2id$")


def test_email_is_unique_case_insensitively():
    _, email, _ = signup()
    r = requests.post(f"{NODE2}/api/auth/signup",
                      json={"email": email.upper(), "password": strong_password(),
                            "nickname": unique_nickname("x")})
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "EMAIL_TAKEN"


@pytest.mark.parametrize("body,field", [
    ({"email": "not-an-email", "password": "tr0ub4dor-long", "nickname": "a"}, "email"),
    ({"email": "a@b.example", "password": "short", "nickname": "a"}, "password"),
    ({"email": "a@b.example", "password": "tr0ub4dor-long", "nickname": ""}, "nickname"),
    ({"email": "a@b.example", "password": "tr0ub4dor-long", "nickname": "x" * 31}, "nickname"),
    ({"email": "a@b.example", "password": "tr0ub4dor-long"}, "nickname"),
])
def test_signup_validation_names_the_field(body, field):
    r = requests.post(f"{NODE1}/api/auth/signup", json=body)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "VALIDATION_FAILED"
    assert err["message"].startswith(field + ":")


def test_malformed_json_is_400_not_500():
    for raw in (b"{", b"[]", b"\xff\xfe", b'{"email": 1}', b""):
        r = requests.post(f"{NODE1}/api/auth/signup", data=raw,
                          headers={"Content-Type": "application/json"})
        assert r.status_code == 400, (raw, r.status_code, r.text)
        assert r.json()["error"]["code"] in ("INVALID_JSON", "VALIDATION_FAILED")


def test_login_issues_a_bearer_token():
    user, email, password = signup()
    body = login(email.upper(), password, NODE2)
    assert body["tokenType"] == "Bearer" and body["expiresIn"] > 0
    assert body["user"]["id"] == user["id"]
    header = json.loads(base64.urlsafe_b64decode(body["accessToken"].split(".")[0] + "=="))
    assert header["alg"] == "HS256"


def test_wrong_password_and_unknown_email_look_the_same():
    _, email, _ = signup()
    a = requests.post(f"{NODE1}/api/auth/login", json={"email": email, "password": "wrongwrong"})
    b = requests.post(f"{NODE1}/api/auth/login",
                      json={"email": unique_email(), "password": "wrongwrong"})
    assert a.status_code == b.status_code == 401
    assert a.json() == b.json()


# --- password and nickname rules ---------------------------------------------------------

@pytest.mark.parametrize("password,message", [
    ("", "password: must be at least 10 characters"),
    ("nine-char", "password: must be at least 10 characters"),
    ("éééééééé", "password: must be at least 10 characters"),   # 8 characters, 16 bytes
    (" " * 12, "password: must not be only white space"),
    ("\t\n \u3000" * 3, "password: must not be only white space"),
    ("1234567890", "password: is too common"),
    ("basketball", "password: is too common"),
    ("BasketBall", "password: is too common"),    # the list is compared ignoring case
    ("q" * 129, "password: must be at most 128 characters"),
])
def test_weak_passwords_are_refused_at_signup(password, message):
    r = requests.post(f"{NODE1}/api/auth/signup",
                      json={"email": unique_email(), "password": password,
                            "nickname": unique_nickname()})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == {"code": "VALIDATION_FAILED", "message": message}


def test_a_strong_password_of_ten_characters_is_enough():
    user, email, password = signup(password="x7$Lq!2pZm")
    assert login(email, password)["user"]["id"] == user["id"]


@pytest.mark.parametrize("nickname,message", [
    ("ad\u200bmin", "must not contain invisible formatting characters"),     # zero-width space
    ("\u202egpj.exe", "must not contain invisible formatting characters"),   # RIGHT-TO-LEFT OVERRIDE
    ("a\u2066b\u2069", "must not contain invisible formatting characters"), # isolates
    ("zero\u200djoiner", "must not contain invisible formatting characters"),
    ("line\nbreak", "must not contain control characters"),
    ("bell\u0007", "must not contain control characters"),
    ("   ", "must not be blank"),
    ("\u3164\u3164", "must not be blank"),                                   # HANGUL FILLER
])
def test_nicknames_that_hide_or_disguise_are_refused(nickname, message):
    r = requests.post(f"{NODE1}/api/auth/signup",
                      json={"email": unique_email(), "password": strong_password(),
                            "nickname": nickname})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "VALIDATION_FAILED"
    assert err["message"].startswith("nickname: " + message), err


def test_nicknames_are_stored_trimmed_and_in_nfc():
    tag = uuid.uuid4().hex[:8]
    user, _, _ = signup(nickname=f"  Rene\u0301-{tag}\t", exact=True)
    assert user["nickname"] == f"Ren\u00e9-{tag}"
    stored = psql("SELECT nickname, nickname_key FROM users WHERE id = :v1", user["id"])[0]
    assert stored == [f"Ren\u00e9-{tag}", f"ren\u00e9-{tag}"]


@pytest.mark.parametrize("first,second", [
    ("Zo\u00eb-{tag}", "zoe\u0308-{tag}"),    # precomposed vs decomposed: one name
    ("Kim-{tag}", "KIM-{tag}"),                # case
    ("Stra\u00dfe-{tag}", "STRASSE-{tag}"),   # full case folding
    ("ann-{tag}", "  Ann-{tag} "),             # white space around
])
def test_nicknames_that_look_the_same_are_taken(first, second):
    tag = uuid.uuid4().hex[:8]
    signup(nickname=first.format(tag=tag), exact=True)
    r = requests.post(f"{NODE2}/api/auth/signup",
                      json={"email": unique_email(), "password": strong_password(),
                            "nickname": second.format(tag=tag)})
    assert r.status_code == 409, r.text
    assert r.json()["error"] == {"code": "NICKNAME_TAKEN", "message": "nickname: is already taken"}


def test_a_taken_email_is_named_before_a_taken_nickname():
    user, email, _ = signup()
    r = requests.post(f"{NODE1}/api/auth/signup",
                      json={"email": email, "password": strong_password(),
                            "nickname": user["nickname"].upper()})
    assert r.status_code == 409 and r.json()["error"]["code"] == "EMAIL_TAKEN"


def test_concurrent_signups_of_one_nickname_make_one_user():
    nick = unique_nickname("race")

    def attempt(i):
        base = NODE1 if i % 2 else NODE2
        r = requests.post(f"{base}/api/auth/signup",
                          json={"email": unique_email("race"), "password": strong_password(),
                                "nickname": nick.upper() if i % 3 else nick})
        return r.status_code, r.json().get("error", {}).get("code")

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(attempt, range(8)))
    assert sorted(s for s, _ in results).count(201) == 1, results
    assert all(s == 201 or (s == 409 and c in ("NICKNAME_TAKEN", "CONFLICT"))
               for s, c in results), results
    assert psql("SELECT count(*) FROM users WHERE nickname_key = :'v1'", nick.lower()) == [["1"]]


def test_bad_tokens_are_401():
    u = User()
    key = secret()
    now = int(time.time())
    good = claims(u.id, now, now + 600)
    tokens = {
        "missing": None,
        "garbage": "not.a.token",
        "alg none": forge({"alg": "none", "typ": "JWT"}, good, None),
        "wrong key": forge({"alg": "HS256", "typ": "JWT"}, good, b"another-secret-0123456789abcdef0"),
        "expired": forge({"alg": "HS256", "typ": "JWT"}, {**good, "exp": now - 10}, key),
        "no sub": forge({"alg": "HS256", "typ": "JWT"},
                        {k: v for k, v in good.items() if k != "sub"}, key),
        "no iss": forge({"alg": "HS256", "typ": "JWT"},
                        {k: v for k, v in good.items() if k != "iss"}, key),
        "no aud": forge({"alg": "HS256", "typ": "JWT"},
                        {k: v for k, v in good.items() if k != "aud"}, key),
        "other issuer": forge({"alg": "HS256", "typ": "JWT"}, {**good, "iss": "sso"}, key),
        "other audience": forge({"alg": "HS256", "typ": "JWT"}, {**good, "aud": "billing"}, key),
        "audience list": forge({"alg": "HS256", "typ": "JWT"}, {**good, "aud": [good["aud"]]},
                               key),
        "no such user": forge({"alg": "HS256", "typ": "JWT"}, {**good, "sub": "987654321"}, key),
    }
    for name, tok in tokens.items():
        h = {} if tok is None else {"Authorization": f"Bearer {tok}"}
        r = requests.get(f"{NODE1}/api/rooms", headers=h)
        assert r.status_code == 401, (name, r.status_code, r.text)
        assert r.json()["error"]["code"] == "UNAUTHORIZED"
    ok = forge({"alg": "HS256", "typ": "JWT"}, good, key)
    assert requests.get(f"{NODE1}/api/rooms", headers={"Authorization": f"Bearer {ok}"}).status_code == 200


def test_a_token_that_worked_is_refused_once_it_expires():
    # The node remembers verified tokens; a remembered one must still expire on time.
    u = User()
    now = int(time.time())
    exp = now + 2
    tok = forge({"alg": "HS256", "typ": "JWT"}, claims(u.id, now, exp, jti="short"), secret())
    h = {"Authorization": f"Bearer {tok}"}
    for _ in range(3):
        assert requests.get(f"{NODE1}/api/rooms", headers=h).status_code == 200
    while time.time() < exp + 0.05:  # the token's own deadline, not a guess
        time.sleep(0.05)
    r = requests.get(f"{NODE1}/api/rooms", headers=h)
    assert r.status_code == 401, r.text
    assert r.json()["error"]["message"] == "token expired"


def test_one_connection_carries_many_answers():
    # Each answer (status line, headers, body) leaves in one write; keep-alive must
    # still frame every answer exactly, whatever its status and size.
    u = User()
    other = User()
    third = User()
    # Public: an outsider's GET of it is 403 (a private room would be 404, like no room).
    room = u.post("/api/rooms/group", {"name": "big", "memberIds": [third.id],
                                       "visibility": "public"}).json()
    insert_messages(room["id"], u.id, 100, "x" * 3000)
    host, port = NODE1.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    auth = {"Authorization": f"Bearer {u.token}"}
    calls = [
        ("GET", "/api/rooms", auth, None, 200),
        ("GET", f"/api/rooms/{room['id']}/messages?size=100", auth, None, 200),
        ("GET", "/api/nope", auth, None, 404),
        ("GET", "/api/rooms", {}, None, 401),
        ("GET", f"/api/rooms/{room['id']}", {"Authorization": f"Bearer {other.token}"}, None, 403),
        ("POST", "/api/rooms/group", {**auth, "Content-Type": "application/json"}, b"{bad", 400),
        ("GET", "/healthz", {}, None, 200),
        ("GET", f"/api/rooms/{room['id']}/messages?size=100", auth, None, 200),
    ]
    sock = None
    for method, path, headers, body, status in calls:
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        assert r.status == status, (path, r.status, data[:200])
        assert len(data) == int(r.getheader("content-length"))
        json.loads(data)
        if path.endswith("size=100"):
            assert len(json.loads(data)["messages"]) == 100
        sock = sock or conn.sock
        assert conn.sock is sock, f"the connection was not kept after {method} {path}"
    conn.close()


# --- rooms --------------------------------------------------------------------------------

def test_direct_room_is_one_per_pair():
    a, b = User("a"), User("b")
    r1 = a.post("/api/rooms/direct", {"targetUserId": b.id})
    assert r1.status_code == 201, r1.text
    r2 = b.post("/api/rooms/direct", {"targetUserId": a.id}, )
    assert r2.status_code == 200
    assert r1.json()["id"] == r2.json()["id"]
    assert r1.json()["type"] == "DIRECT" and r1.json()["memberCount"] == 2


def test_direct_room_refusals():
    a = User()
    assert a.post("/api/rooms/direct", {"targetUserId": a.id}).status_code == 400
    r = a.post("/api/rooms/direct", {"targetUserId": 999999999})
    assert r.status_code == 404 and r.json()["error"]["code"] == "USER_NOT_FOUND"


def test_concurrent_direct_room_creation_makes_one_room():
    a, b = User("a"), User("b")

    def create(i):
        who, other = (a, b) if i % 2 else (b, a)
        base = NODE1 if i % 3 else NODE2
        r = requests.post(f"{base}/api/rooms/direct", headers=who.h, json={"targetUserId": other.id})
        return r.status_code, r.json().get("id")

    with concurrent.futures.ThreadPoolExecutor(max_workers=25) as pool:
        results = list(pool.map(create, range(50)))
    assert all(status in (200, 201) for status, _ in results), results
    ids = {rid for _, rid in results}
    assert len(ids) == 1
    rid = ids.pop()
    assert psql("SELECT count(*) FROM chat_room_members WHERE room_id = :v1", rid) == [["2"]]
    pair = f"{min(a.id, b.id)}:{max(a.id, b.id)}"
    assert psql("SELECT count(*) FROM chat_rooms WHERE direct_key = :'v1'", pair) == [["1"]]


def test_group_room_create_and_join():
    a, b, c = (User(f"{t}-{uuid.uuid4().hex[:8]}") for t in "abc")
    r = a.post("/api/rooms/group", {"name": "team", "memberIds": [b.id], "visibility": "public"})
    assert r.status_code == 201, r.text
    room = r.json()
    assert room["type"] == "GROUP" and room["name"] == "team" and room["memberCount"] == 2
    assert room["visibility"] == "public" and room["peer"] is None
    j1 = c.post(f"/api/rooms/{room['id']}/join")
    assert j1.status_code == 200 and j1.json()["memberCount"] == 3
    j2 = c.post(f"/api/rooms/{room['id']}/join")
    assert j2.status_code == 200 and j2.json()["memberCount"] == 3
    assert c.post("/api/rooms/999999999/join").status_code == 404


def test_group_room_refusals():
    a = User()
    r = a.post("/api/rooms/group", {"name": "x", "memberIds": [999999998]})
    assert r.status_code == 404 and "999999998" in r.json()["error"]["message"]
    assert a.post("/api/rooms/group", {"name": "", "memberIds": []}).status_code == 400
    assert a.post("/api/rooms/group", {"name": "x" * 101, "memberIds": []}).status_code == 400
    assert a.post("/api/rooms/group", {"name": "x", "memberIds": ["1"]}).status_code == 400


def test_direct_room_cannot_be_joined():
    a, b, c = (User(f"{t}-{uuid.uuid4().hex[:8]}") for t in "abc")
    rid = a.post("/api/rooms/direct", {"targetUserId": b.id}).json()["id"]
    # Someone else's direct room does not exist for c; one's own cannot be joined.
    r = c.post(f"/api/rooms/{rid}/join")
    assert r.status_code == 404 and r.json()["error"]["code"] == "ROOM_NOT_FOUND"
    r = a.post(f"/api/rooms/{rid}/join")
    assert r.status_code == 409 and r.json()["error"]["code"] == "NOT_JOINABLE"


def test_room_detail_for_members_only():
    tag = uuid.uuid4().hex[:8]
    a, b, c = User(f"ann-{tag}"), User(f"bob-{tag}"), User(f"cy-{tag}")
    rid = a.post("/api/rooms/group", {"name": "g", "memberIds": [b.id],
                                      "visibility": "public"}).json()["id"]
    r = b.get(f"/api/rooms/{rid}")
    assert r.status_code == 200
    members = r.json()["members"]
    assert sorted(m["nickname"] for m in members) == sorted([a.nickname, b.nickname])
    assert all({"id", "nickname", "status", "lastSeenAt"} <= set(m) for m in members)
    assert c.get(f"/api/rooms/{rid}").status_code == 403
    assert c.get("/api/rooms/999999997").status_code == 404
    assert c.get("/api/rooms/abc").status_code == 400


def test_my_rooms_with_last_message_unread_and_order():
    a, b, c = User("a"), User("b"), User("c")
    r1 = a.post("/api/rooms/direct", {"targetUserId": b.id}).json()["id"]
    r2 = a.post("/api/rooms/group", {"name": "g", "memberIds": [c.id]}).json()["id"]
    insert_messages(r1, b.id, 3, "hello ")
    insert_messages(r2, c.id, 1, "latest ")
    rooms = a.get("/api/rooms").json()
    assert [r["id"] for r in rooms] == [r2, r1]
    by_id = {r["id"]: r for r in rooms}
    assert by_id[r1]["unreadCount"] == 3 and by_id[r2]["unreadCount"] == 1
    assert by_id[r1]["lastMessage"]["content"] == "hello 3"
    assert by_id[r1]["lastMessage"]["senderNickname"] == b.nickname
    assert set(by_id[r1]["lastMessage"]) >= {"id", "messageKey", "roomId", "senderId",
                                             "content", "type", "createdAt", "position"}


def test_my_rooms_is_one_statement_then_cached():
    a = User()
    others = [User() for _ in range(10)]
    for o in others:
        a.post("/api/rooms/direct", {"targetUserId": o.id})
    a.post(f"/api/rooms/{a.get('/api/rooms').json()[0]['id']}/read", {})  # drops the cache
    q0 = metric(NODE1, "chat_pg_queries_total")
    h0 = metric(NODE1, "chat_cache_lookups_total", '{result="hit"}')
    assert len(a.get("/api/rooms").json()) == 10
    q1 = metric(NODE1, "chat_pg_queries_total")
    assert q1 - q0 == 1, "GET /api/rooms must be ONE SQL statement"
    assert len(a.get("/api/rooms").json()) == 10
    assert metric(NODE1, "chat_pg_queries_total") - q1 == 0, "a warm cache answers alone"
    assert metric(NODE1, "chat_cache_lookups_total", '{result="hit"}') - h0 >= 1


def test_cache_is_invalidated_on_membership_change_and_read():
    a, b, c = (User(f"{t}-{uuid.uuid4().hex[:8]}") for t in "abc")
    rid = a.post("/api/rooms/group", {"name": "g", "memberIds": [b.id],
                                      "visibility": "public"}).json()["id"]
    assert a.get("/api/rooms").json()[0]["memberCount"] == 2   # now cached
    assert c.post(f"/api/rooms/{rid}/join").status_code == 200
    assert a.get("/api/rooms").json()[0]["memberCount"] == 3   # fresh after a join
    insert_messages(rid, b.id, 2)
    requests.post(f"{NODE1}/api/rooms/{rid}/read", headers=b.h, json={})  # b's read drops b's list
    # a's list was cached before the messages: a read by a drops it.
    assert a.post(f"/api/rooms/{rid}/read", {}).status_code == 200
    # The read is applied by the chat-read-receipt pipeline, which then drops a's list:
    # until then a's list is the one cached before the messages (no lastMessage), or a
    # fresh one still counting them; after it, fresh with nothing unread.
    cnlib.wait_until(lambda: [(r["unreadCount"], r["lastMessage"] is not None)
                              for r in a.get("/api/rooms").json()] == [(0, True)],
                     10 * cnlib.scale(), what="a's list fresh after the read")


def test_new_room_appears_at_once_in_both_lists():
    a, b = User(), User()
    assert a.get("/api/rooms").json() == [] and b.get("/api/rooms").json() == []  # cached empty
    rid = a.post("/api/rooms/direct", {"targetUserId": b.id}).json()["id"]
    assert [r["id"] for r in a.get("/api/rooms").json()] == [rid]
    assert [r["id"] for r in b.get("/api/rooms", base=NODE2).json()] == [rid]


# --- history and read -----------------------------------------------------------------

def test_history_pages_without_gaps_or_duplicates_while_messages_arrive():
    a, b = User(), User()
    rid = a.post("/api/rooms/direct", {"targetUserId": b.id}).json()["id"]
    insert_messages(rid, b.id, 45, "old ")
    seen, cursor, pages = [], None, 0
    while True:
        params = {"size": 20} | ({"cursor": cursor} if cursor else {})
        r = a.get(f"/api/rooms/{rid}/messages", params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        assert set(page) == {"messages", "nextCursor", "hasNext"}
        seen += [m["id"] for m in page["messages"]]
        pages += 1
        insert_messages(rid, b.id, 3, "new ")     # arrivals never disturb older pages
        if not page["hasNext"]:
            assert page["nextCursor"] is None
            break
        cursor = page["nextCursor"]
    assert pages == 3
    assert len(seen) == 45 == len(set(seen))
    assert seen == sorted(seen, reverse=True)


def test_history_defaults_limits_and_membership():
    a, b, c = (User(f"{t}-{uuid.uuid4().hex[:8]}") for t in "abc")
    rid = a.post("/api/rooms/direct", {"targetUserId": b.id}).json()["id"]
    insert_messages(rid, a.id, 25)
    page = a.get(f"/api/rooms/{rid}/messages").json()
    assert len(page["messages"]) == 20 and page["hasNext"] is True
    for bad in ("size=0", "size=101", "size=x", "cursor=-1", "cursor=abc"):
        assert a.get(f"/api/rooms/{rid}/messages?{bad}").status_code == 400, bad
    # Someone else's direct room answers like no room at all.
    assert c.get(f"/api/rooms/{rid}/messages").status_code == 404
    assert c.get("/api/rooms/999999996/messages").status_code == 404


def test_read_zeroes_unread_and_refuses_non_members():
    a, b, c = (User(f"{t}-{uuid.uuid4().hex[:8]}") for t in "abc")
    rid = a.post("/api/rooms/direct", {"targetUserId": b.id}).json()["id"]
    insert_messages(rid, b.id, 4)
    assert a.get("/api/rooms").json()[0]["unreadCount"] == 4
    r = a.post(f"/api/rooms/{rid}/read")
    assert r.status_code == 200 and r.json()["unreadCount"] == 0
    assert r.json()["lastReadMessageId"] is not None
    cnlib.wait_until(lambda: a.get("/api/rooms").json()[0]["unreadCount"] == 0,
                     10 * cnlib.scale(), what="the receipt applied by the pipeline")
    assert c.post(f"/api/rooms/{rid}/read", {}).status_code == 404   # not c's direct room
    assert a.post(f"/api/rooms/{rid}/read", {"messageId": 1}).status_code in (200, 404)


def test_sql_metacharacters_and_unicode_are_stored_verbatim():
    nick = "Bob'); DROP TABLE u;-- ✓" + uuid.uuid4().hex[:6]
    user, email, password = signup(nickname=nick, exact=True)
    assert user["nickname"] == nick
    u = User()
    r = u.post("/api/rooms/group", {"name": "'; DELETE FROM chat_rooms; -- 🎉", "memberIds": []})
    assert r.status_code == 201 and r.json()["name"] == "'; DELETE FROM chat_rooms; -- 🎉"
    assert psql("SELECT count(*) > 0 FROM users") == [["t"]]


def test_non_json_body_is_415():
    r = requests.post(f"{NODE1}/api/auth/login", data="email=a&password=b",
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415
    assert r.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    r = requests.post(f"{NODE1}/api/auth/login", data=b'{"email":"x@y.co","password":"12345678"}',
                      headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 401


def test_rooms_answer_from_postgres_while_redis_is_down_and_log_it_once():
    """A node of this test with a Redis of its own, stopped under it."""
    port = cnlib.free_port()
    workdir = tempfile.mkdtemp(prefix="cn-redis-")

    def start_redis():
        return subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                 "--save", "", "--appendonly", "no", "--dir", workdir]
                                + cnlib.redis_server_acl_args(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    redis = start_redis()
    node = cnlib.Node({"CHAT_REDIS_PORT": str(port), "CHAT_HEALTH_INTERVAL_MS": "200"})
    try:
        node.wait_healthy()
        u = User(base=node.url)
        other = User(base=node.url)
        u.post("/api/rooms/direct", {"targetUserId": other.id}, base=node.url)
        assert len(u.get("/api/rooms", base=node.url).json()) == 1
        redis.kill()
        redis.wait()
        for _ in range(20):
            r = u.get("/api/rooms", base=node.url)
            assert r.status_code == 200 and len(r.json()) == 1
        third = User(base=node.url)
        assert u.post("/api/rooms/direct", {"targetUserId": third.id}, base=node.url).status_code == 201
        assert len(u.get("/api/rooms", base=node.url).json()) == 2
        log = node.output()
        assert log.count("unreachable") >= 1
        # Once per outage from the adapter (and once per transition from the health probe),
        # never once per request.
        assert log.count("unreachable") <= 3, log
        redis = start_redis()
        cnlib.wait_until(lambda: node.healthz()[0] == 200, 10 * cnlib.scale(), what="redis back")
        assert len(u.get("/api/rooms", base=node.url).json()) == 2
    finally:
        assert node.stop()[0] == 0
        node.close()
        redis.kill()
        redis.wait()


def test_unknown_routes_and_methods():
    u = User()
    assert u.get("/api/nope").status_code == 404
    assert requests.delete(f"{NODE1}/api/rooms", headers=u.h).status_code == 405
    assert requests.get(f"{NODE1}/api/auth/login").status_code == 405


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"]))
