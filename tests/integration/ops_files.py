"""The deployment files in ops/ (issue 6) agree with the code: Prometheus accepts the scrape
config and the alert rules (promtool), every metric the alerts and the Grafana dashboard
query is one a node exports, and the compose file and its INI use only configuration keys
that chat-node knows (the keys of the dev stack; `chat-node --help` lists them).
"""
import configparser
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import requests
import yaml

sys.path.insert(0, os.path.dirname(__file__))
import cnlib  # noqa: E402

OPS = os.path.join(os.path.dirname(__file__), "..", "..", "ops")
# PromQL functions, keywords and label names that look like metric names to the regex.
NOT_METRICS = {"rate", "increase", "sum", "max", "min", "by", "histogram_quantile",
               "label_values", "le", "instance", "job", "up", "dep", "partition", "result",
               "reason", "command", "outcome", "node", "group", "route", "status"}


def promtool():
    path = shutil.which("promtool")
    assert path, "promtool missing: ops/dev test installs Debian's prometheus"
    return path


def exported_families():
    text = cnlib.metrics_text(cnlib.need("CN_TEST_NODE1_URL"))
    return set(re.findall(r"^# TYPE (\S+) ", text, re.M))


def exported_label_names(text, family):
    """The label names of the family's samples on a /metrics page."""
    names = set()
    for labels in re.findall(rf"^{family}(?:_bucket|_sum|_count)?\{{(.*)\}} ", text, re.M):
        names |= set(re.findall(r'(\w+)="', labels))
    return names


def metric_names(expr):
    expr = re.sub(r'\{[^}]*\}', "", expr)      # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)     # ranges
    expr = re.sub(r"by \([^)]*\)", "", expr)   # grouping labels
    names = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr)) - NOT_METRICS
    return {re.sub(r"_(bucket|sum|count)$", "", n) for n in names if not n[0].isdigit()}


def test_prometheus_config_and_rules_pass_promtool():
    for args in (["check", "config", os.path.join(OPS, "prometheus.yml")],
                 ["check", "rules", os.path.join(OPS, "prometheus-alerts.yml")]):
        r = subprocess.run([promtool()] + args, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, (args, r.stdout, r.stderr)


def test_alerts_and_dashboard_query_exported_metrics():
    families = exported_families() | {"up"}
    rules = yaml.safe_load(open(os.path.join(OPS, "prometheus-alerts.yml")))
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    dash = json.load(open(os.path.join(OPS, "grafana", "chat-node.json")))
    exprs += [t["expr"] for p in dash["panels"] for t in p["targets"]]
    exprs += [v["definition"] for v in dash["templating"]["list"] if "definition" in v]
    assert len(exprs) > 20
    unknown = {n for e in exprs for n in metric_names(e)} - families
    assert not unknown, f"queried but not exported: {sorted(unknown)}"


def test_dashboard_node_selector_is_the_scrape_label():
    """The dashboard selects nodes by the label the scrape config puts on every series
    (ops/prometheus-targets.yml), and no exported series has a label of that name: it
    would become exported_<name> and the selector would match nothing."""
    targets = yaml.safe_load(open(os.path.join(OPS, "prometheus-targets.yml")))
    target_labels = {k for t in targets for k in t.get("labels", {})}
    assert target_labels == {"node"}, target_labels
    dash = json.load(open(os.path.join(OPS, "grafana", "chat-node.json")))
    var = [v for v in dash["templating"]["list"] if v.get("type") == "query"][0]
    assert var["name"] == "node" and var["definition"] == "label_values(chat_node_info, node)"
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    assert all('node=~"$node"' in e for e in exprs), [e for e in exprs if "$node" not in e]
    assert not any("instance" in e for e in exprs)
    text = cnlib.metrics_text(cnlib.need("CN_TEST_NODE1_URL"))
    clashing = [line for line in text.splitlines()
                if not line.startswith("#") and re.search(r'[{,]node="', line)]
    assert not clashing, clashing[:5]
    assert exported_label_names(text, "chat_node_info") == {"node_id", "version"}


def test_alerts_cover_the_operators_cases():
    rules = yaml.safe_load(open(os.path.join(OPS, "prometheus-alerts.yml")))
    exprs = {r["alert"]: r["expr"] for g in rules["groups"] for r in g["rules"]}
    wanted = {"chat_http_requests_total": 'status="5xx"',
              "chat_kafka_consumer_lag_messages": "by (group)",
              "chat_kafka_consumer_assigned_partitions": "chat_kafka_consumer_topic_partitions",
              "chat_persist_dlt_records_total": "increase",
              "chat_read_receipts_dlt_records_total": "increase",
              "chat_ws_slow_consumer_closes_total": "rate"}
    for metric, also in wanted.items():
        assert any(metric in e and also in e for e in exprs.values()), (metric, also)


def config_keys():
    out = subprocess.run([cnlib.need("CN_TEST_NODE_BIN"), "--help"], capture_output=True,
                         text=True, timeout=30).stdout
    return dict(re.findall(r"^  (\S+\.\S+)\s+(CHAT_\S+)", out, re.M))


def test_deploy_files_use_chat_node_keys():
    keys = config_keys()
    assert "admin.socket" in keys
    ini = configparser.ConfigParser()
    ini.read(os.path.join(OPS, "deploy", "chat-node.ini"))
    for section in ini.sections():
        for k in ini[section]:
            assert f"{section}.{k}" in keys, f"ops/deploy/chat-node.ini: unknown key {section}.{k}"
    dev = configparser.ConfigParser()
    dev.read(os.path.join(OPS, "config", "dev.ini"))
    assert set(dev.sections()) <= set(ini.sections()) | {"auth"}, "the dev stack's sections"
    compose = yaml.safe_load(open(os.path.join(OPS, "deploy", "docker-compose.yml")))
    services = compose["services"]
    assert {"kafka", "redis", "postgres", "node1", "node2", "prometheus", "grafana"} <= \
        set(services)
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    env_names = set(keys.values())
    for name in ("node1", "node2"):
        for var in services[name]["environment"]:
            assert var in env_names, f"compose {name}: {var} is not a chat-node variable"


def test_operations_md_lists_every_key():
    doc = open(os.path.join(OPS, "..", "docs", "OPERATIONS.md")).read()
    missing = [k for k, v in config_keys().items() if f"| `{k}` | `{v}` |" not in doc]
    assert not missing, f"docs/OPERATIONS.md's configuration reference lacks {missing}"


def test_systemd_unit_is_hardened():
    unit = open(os.path.join(OPS, "systemd", "chat-node.service")).read()
    for directive in ("NoNewPrivileges=true", "ProtectSystem=strict", "PrivateTmp=true",
                      "LimitNOFILE=", "RuntimeDirectory=chat-node", "ExecStop=-"):
        assert directive in unit, directive
    if shutil.which("systemd-analyze"):
        r = subprocess.run(["systemd-analyze", "verify", os.path.join(OPS, "systemd",
                                                                      "chat-node.service")],
                           capture_output=True, text=True, timeout=60)
        # Only the installed binary's absence may be reported on a build machine.
        problems = [line for line in (r.stdout + r.stderr).splitlines()
                    if line.strip() and "/usr/local/bin/chat-" not in line]
        assert not problems, problems



def test_unit_migrates_before_the_node_and_deploy_ini_is_production():
    unit = open(os.path.join(OPS, "systemd", "chat-node.service")).read()
    assert unit.index("ExecStartPre=/usr/local/bin/chat-node-migrate") < \
        unit.index("ExecStart=/usr/local/bin/chat-node ")
    ini = configparser.ConfigParser()
    ini.read(os.path.join(OPS, "deploy", "chat-node.ini"))
    assert ini["node"]["dev_mode"] == "false"
    assert ini["http"]["static_dir"], "the deploy ini serves no web client"
    assert "jwt_secret" not in ini["auth"], "a secret in ops/deploy/chat-node.ini"
    url = ini["postgres"]["url"]
    userinfo = url.split("//", 1)[1].split("@")[0] if "@" in url else ""
    assert ":" not in userinfo, "a password in ops/deploy/chat-node.ini's postgres.url"

if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"]))
