"""What chat-node refuses at start-up, and the deployment steps around it, as an operator
sees them:

- the JWT secrets the repository ships (ops/config/dev.ini, test.ini) and a 20-byte secret
  are refused outside dev mode: the node exits non-zero naming auth.jwt_secret and never
  printing the secret;
- a key given twice in one config file is refused, naming both lines;
- ops/deploy/chat-node.ini passes `chat-node --check-config` with a secret from the
  environment, and `cmake --install` puts the web client where its http.static_dir says;
- two migrators started at once on a fresh database apply every migration once;
- a node refuses a database that lacks the newest migration, naming it, and serves once
  the database is migrated.

Runs against the private stack of `ops/dev test` (CN_TEST_* variables); the databases
it migrates are its own, created and dropped on the stack's PostgreSQL.
"""
import configparser
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import cnlib  # noqa: E402
from explain_hot_queries import (ROOT, admin_target, db_url, psql,  # noqa: E402
                                 run_tests_on_stack)

ENV = os.environ
MIGRATE = os.path.join(ROOT, "ops", "migrate")
SCHEMA_FILES = sorted(glob.glob(os.path.join(ROOT, "schema", "[0-9][0-9][0-9][0-9]_*.sql")))
# A node started by this file must not join the stack's consumer groups (it would take
# partitions from the stack's nodes and store their messages in its own database).
QUIET = {"CHAT_PERSIST_ENABLED": "false", "CHAT_RECEIPTS_ENABLED": "false",
         "CHAT_FANOUT_BROADCAST_ENABLED": "false", "CHAT_PRESENCE_ENABLED": "false"}


def shipped_secret(ini):
    cp = configparser.ConfigParser()
    cp.read(os.path.join(ROOT, "ops", "config", ini))
    return cp["auth"]["jwt_secret"]


def run_node(args, env_over, timeout=60):
    """Runs chat-node to its exit (a refusal ends it at once); (exit code, output)."""
    env = {k: v for k, v in ENV.items() if not k.startswith("CHAT_")}
    env.update(env_over)
    r = subprocess.run([cnlib.need("CN_TEST_NODE_BIN"), *args], env=env, capture_output=True,
                       text=True, timeout=timeout * cnlib.scale())
    return r.returncode, r.stdout + r.stderr


class Db:
    """A database of this test on the stack's PostgreSQL, owned by chat; dropped on close."""

    def __init__(self):
        self.name = f"startup_{uuid.uuid4().hex[:10]}"
        self.admin = admin_target()
        psql(self.admin, f'CREATE DATABASE "{self.name}" OWNER chat')
        self.url = db_url(self.name)

    def migrate(self, schema_dir=None):
        """Starts ops/migrate on this database (CN_SCHEMA_DIR=schema_dir); the Popen."""
        env = dict(ENV)
        if schema_dir:
            env["CN_SCHEMA_DIR"] = schema_dir
        return subprocess.Popen([MIGRATE, self.url], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    def close(self):
        psql(self.admin, f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


@pytest.fixture
def db():
    d = Db()
    yield d
    d.close()


@pytest.mark.parametrize("ini", ["dev.ini", "test.ini"])
def test_shipped_secret_is_refused_without_dev_mode(ini):
    secret = shipped_secret(ini)
    rc, out = run_node(["--config", cnlib.need("CN_TEST_CONFIG")],
                       {"CHAT_NODE_DEV_MODE": "false", "CHAT_AUTH_JWT_SECRET": secret})
    assert rc != 0, out
    assert "auth.jwt_secret" in out and "dev_mode" in out, out
    assert secret not in out, "the refusal prints the secret"


def repo_secrets():
    """Every JWT secret of 32 bytes or more that a file in ops/, perf/, docs/ or README.md
    assigns (`jwt_secret = ...`, `CHAT_AUTH_JWT_SECRET=...`)."""
    files = subprocess.run(["git", "-C", ROOT, "ls-files", "ops", "perf", "docs", "README.md"],
                           capture_output=True, text=True, check=True).stdout.split()
    pattern = re.compile(r"""(?:jwt_secret|JWT_SECRET)["']?[ \t]*[=:][ \t]*["']?([^"'\s]+)""")
    found = set()
    for rel in files:
        try:
            text = open(os.path.join(ROOT, rel), encoding="utf-8").read()
        except (UnicodeDecodeError, IsADirectoryError, FileNotFoundError):
            continue
        found |= {v for v in pattern.findall(text)
                  if len(v.encode()) >= 32 and not v.startswith("$") and "\\" not in v}
    return found


def test_every_secret_the_repository_ships_is_refused():
    secrets = repo_secrets()
    assert {shipped_secret("dev.ini"), shipped_secret("test.ini")} <= secrets
    for secret in sorted(secrets):
        rc, out = run_node(["--check-config"], {"CHAT_NODE_DEV_MODE": "false",
                                                "CHAT_AUTH_JWT_SECRET": secret})
        assert rc != 0 and "auth.jwt_secret" in out, f"a shipped secret is accepted: {out}"
    # A fresh one is not.
    rc, out = run_node(["--check-config"], {"CHAT_AUTH_JWT_SECRET": uuid.uuid4().hex * 2})
    assert rc == 0, out


def test_short_secret_is_refused():
    secret = "0123456789abcdefghij"  # 20 bytes
    rc, out = run_node(["--config", cnlib.need("CN_TEST_CONFIG")],
                       {"CHAT_NODE_DEV_MODE": "false", "CHAT_AUTH_JWT_SECRET": secret})
    assert rc != 0, out
    assert "auth.jwt_secret" in out and "32 bytes" in out, out
    assert secret not in out


def test_duplicate_key_names_both_lines():
    with open(cnlib.need("CN_TEST_CONFIG")) as f:
        lines = f.read().splitlines()
    first = next(i for i, line in enumerate(lines, 1) if line.startswith("pool_size"))
    lines += ["", "[postgres]", "pool_size = 3"]
    with tempfile.NamedTemporaryFile("w", suffix=".ini", delete=False) as f:
        f.write("\n".join(lines) + "\n")
        path = f.name
    try:
        rc, out = run_node(["--config", path], {})
        assert rc != 0, out
        assert f"{path}:{len(lines)}: postgres.pool_size given again (first at line {first})" \
            in out, out
    finally:
        os.unlink(path)


def test_deploy_ini_checks_and_install_puts_the_web_client_where_it_says():
    build = os.path.dirname(os.path.dirname(cnlib.need("CN_TEST_NODE_BIN")))
    prefix = tempfile.mkdtemp(prefix="cn-install-")
    try:
        r = subprocess.run(["cmake", "--install", build, "--prefix", prefix],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        deploy_ini = os.path.join(ROOT, "ops", "deploy", "chat-node.ini")
        cp = configparser.ConfigParser()
        cp.read(deploy_ini)
        static_dir = cp["http"]["static_dir"]
        assert static_dir.startswith("/usr/local/"), static_dir
        installed_web = os.path.join(prefix, os.path.relpath(static_dir, "/usr/local"))
        assert os.path.isfile(os.path.join(installed_web, "index.html")), \
            f"cmake --install put no web client at {installed_web}"
        for rel in ("bin/chat-node", "bin/chat-admin", "bin/chat-node-migrate"):
            assert os.access(os.path.join(prefix, rel), os.X_OK), rel
        installed_schema = sorted(os.listdir(os.path.join(prefix, "share/chat-node/schema")))
        assert installed_schema == [os.path.basename(f) for f in SCHEMA_FILES]
        assert "jwt_secret =" not in open(deploy_ini).read(), "a secret in the deploy ini"

        env = {"CHAT_AUTH_JWT_SECRET": uuid.uuid4().hex + uuid.uuid4().hex,
               "CHAT_HTTP_STATIC_DIR": installed_web}
        rc, out = run_node(["--check-config", "--config", deploy_ini], env)
        assert rc == 0, out
        assert "configuration OK" in out
        # Without the secret, or without the web client, it says what is wrong.
        rc, out = run_node(["--check-config", "--config", deploy_ini],
                           {"CHAT_HTTP_STATIC_DIR": installed_web})
        assert rc != 0 and "auth.jwt_secret" in out, out
        rc, out = run_node(["--check-config", "--config", deploy_ini],
                           {**env, "CHAT_HTTP_STATIC_DIR": prefix})
        assert rc != 0 and "http.static_dir" in out and "index.html" in out, out
    finally:
        shutil.rmtree(prefix)


def schema_of(url):
    """Every column of the public schema, and the indexes: what migrations make."""
    return psql(url, """
        SELECT c.table_name, c.column_name, c.data_type, c.is_nullable, c.column_default
          FROM information_schema.columns c
          JOIN information_schema.tables t USING (table_schema, table_name)
         WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
         ORDER BY 1, 2;
        SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1;
    """)


def test_two_concurrent_migrators_apply_each_migration_once(db):
    procs = [db.migrate(), db.migrate()]
    outs = [p.communicate(timeout=120 * cnlib.scale())[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    applied = "".join(outs).count("migrate: applying ")
    assert applied == len(SCHEMA_FILES), outs
    rows = psql(db.url, "SELECT version, count(*) FROM schema_migrations GROUP BY 1 ORDER BY 1",
                fields=True)
    assert rows == [[str(int(os.path.basename(f)[:4])), "1"] for f in SCHEMA_FILES]
    # The same schema as the stack's database, which one migrator made.
    assert schema_of(db.url) == schema_of(cnlib.need("CN_TEST_PG_URL"))
    # A third run finds nothing to do.
    p = db.migrate()
    out = p.communicate(timeout=60 * cnlib.scale())[0]
    assert p.returncode == 0 and "schema is up to date" in out, out


def test_node_refuses_a_schema_older_than_it_needs(db):
    partial = tempfile.mkdtemp(prefix="cn-schema-")
    try:
        for f in SCHEMA_FILES[:-1]:
            shutil.copy(f, partial)
        p = db.migrate(partial)
        out = p.communicate(timeout=120 * cnlib.scale())[0]
        assert p.returncode == 0, out
    finally:
        shutil.rmtree(partial)
    last = os.path.basename(SCHEMA_FILES[-1])
    have = os.path.basename(SCHEMA_FILES[-2])[:4]
    node = cnlib.Node({"CHAT_POSTGRES_URL": db.url, **QUIET})
    try:
        cnlib.wait_until(lambda: node.proc.poll() is not None, 60 * cnlib.scale(),
                         what="the node to exit")
        out = node.output()
        assert node.proc.returncode != 0, out
        assert f"schema is at {have}, this node needs {last[:4]} ({last} is missing)" in out, out
        assert "chat-node-migrate" in out
    finally:
        node.close()

    p = db.migrate()
    out = p.communicate(timeout=120 * cnlib.scale())[0]
    assert p.returncode == 0 and f"applying {last[:-4]}" in out, out
    node = cnlib.Node({"CHAT_POSTGRES_URL": db.url, **QUIET})
    try:
        node.wait_healthy(60)
        status, _, _ = cnlib.http("GET", node.url + "/healthz")
        assert status == 200
        assert node.stop()[0] == 0
    finally:
        node.close()


if __name__ == "__main__":
    run_tests_on_stack(__file__)
