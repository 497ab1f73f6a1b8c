#!/usr/bin/env python3
"""Checks that the product's docs describe the product, and that `./ops/dev help` is whole.

Fails (exit 1, one `file:line: what` per finding) when
- README.md, docs/*.md, perf/**/README* or the `note` fields of perf/results/*.jsonl mention
  an issue number ("issue 12", "#12", "issues/12") or a word of the internal process (the
  small DENY list below: "sitting", "engineer", "issue", "ticket", "our session",
  "this session", "lead", "session 5");
- the output of `./ops/dev help` ends mid-sentence (its last line does not end with `.`, `:`
  or `)`, and is not a code fence or a command line), or names the script's internals
  (ops/lib, shell function names).

Words of the product that look alike are not findings: "issued", "issuer", "leader", "a STOMP
session", "session lifecycle".

    check_docs.py [REPO_ROOT]       check a tree (default: the repository holding tests/)
    check_docs.py --self-test [REPO_ROOT]
                                    first prove the check on bundled bad and good samples

Standard library only; run by the test command (ops/dev test, first) and by ctest.
"""
import glob
import json
import os
import re
import subprocess
import sys

# (pattern, what it is). Case-insensitive; word boundaries keep "issued", "issuer",
# "leader", "leads to" and "misleading" out.
DENY = [
    (re.compile(r"\bissues?\s*#?\s*\d+", re.I), "an issue number"),
    (re.compile(r"(?<![\w&/])#\d+\b"), "an issue number (#N)"),
    (re.compile(r"\bissues/\d+", re.I), "an issue link"),
    (re.compile(r"\bissue\b", re.I), "the word 'issue' (say what the product does)"),
    (re.compile(r"\b(the|known|open|these|those|our|other|several|\d+)\s+issues\b", re.I),
     "the word 'issues' (say what the product does)"),
    (re.compile(r"\bsittings?\b", re.I), "a process word ('sitting')"),
    (re.compile(r"\bengineers?\b", re.I), "a process word ('engineer')"),
    (re.compile(r"\btickets?\b", re.I), "a process word ('ticket')"),
    (re.compile(r"\b(our|this) session\b", re.I), "a process word ('our/this session')"),
    (re.compile(r"\bsession[ -]\d+\b", re.I), "a numbered work session"),
    (re.compile(r"\blead\b", re.I), "a process word ('lead')"),
]

# What the help may not name: the script's internals.
HELP_DENY = [
    (re.compile(r"\bops/lib\b"), "names the script's internals (ops/lib)"),
    (re.compile(r"\bcmd_[a-z_]+\b"), "names a shell function of the script"),
    (re.compile(r"\bBASH_SOURCE\b"), "names the script's internals"),
    (re.compile(r"\bbelow\b"), "points at the script's source ('below')"),
]


def first_denied(text):
    """'what: match' of the first deny-list entry text holds, or None."""
    for rx, what in DENY:
        m = rx.search(text)
        if m:
            return f"{what}: '{m.group(0)}'"
    return None


def doc_findings(name, text):
    """[(name, line, what)] of the deny-list in a Markdown/text document."""
    return [(name, n, hit) for n, line in enumerate(text.splitlines(), 1)
            if (hit := first_denied(line))]


def jsonl_findings(name, text):
    """[(name, line, what)] of the deny-list in the `note` field of each JSON line."""
    found = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            note = json.loads(line).get("note", "")
        except (ValueError, AttributeError):
            found.append((name, n, "not a JSON object"))
            continue
        hit = first_denied(str(note))
        if hit:
            found.append((name, n, f"note field: {hit}"))
    return found


def help_findings(name, text):
    """[(name, line, what)] when the help is cut short or names the script's internals."""
    found = []
    lines = text.rstrip("\n").splitlines()
    for n, line in enumerate(lines, 1):
        for rx, what in HELP_DENY:
            m = rx.search(line)
            if m:
                found.append((name, n, f"{what}: '{m.group(0)}'"))
                break
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        return found + [(name, 0, "the help is empty")]
    last = lines[-1].rstrip()
    whole = (
        last.endswith((".", ":", ")"))
        or last.strip().startswith("```")
        or re.match(r"^\s+(\./)?ops/dev\b", last) is not None
    )
    if not whole:
        found.append((name, len(lines), f"ends mid-sentence: '{last.strip()[-60:]}'"))
    return found


def check_tree(root):
    found = []
    docs = [os.path.join(root, "README.md")] + sorted(glob.glob(os.path.join(root, "docs", "*.md")))
    # Our own READMEs only: npm packages installed under perf/ bring theirs.
    docs += sorted(p for p in glob.glob(os.path.join(root, "perf", "**", "README*"), recursive=True)
                   if "node_modules" not in p.split(os.sep))
    for path in docs:
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                found += doc_findings(os.path.relpath(path, root), f.read())
    for path in sorted(glob.glob(os.path.join(root, "perf", "results", "*.jsonl"))):
        with open(path, encoding="utf-8") as f:
            found += jsonl_findings(os.path.relpath(path, root), f.read())
    dev = os.path.join(root, "ops", "dev")
    run = subprocess.run(["bash", dev, "help"], cwd=root, capture_output=True, text=True, timeout=60)
    if run.returncode != 0:
        found.append(("./ops/dev help", 0, f"exits {run.returncode}: {run.stderr.strip()[-200:]}"))
    found += help_findings("./ops/dev help", run.stdout)
    return found


# Bundled samples: each BAD line must be found, no GOOD line may be.
BAD_DOCS = [
    "Fixed in issue 12.",
    "See #12 for the numbers.",
    "https://example.org/chat/issues/12",
    "This was measured in the second sitting.",
    "Another engineer ran the soak.",
    "The ticket asked for it.",
    "We measured this in our session yesterday.",
    "The lead asked for a flame graph.",
    "session 5: coalesced writes",
    "A known issue with the broker.",
]
GOOD_DOCS = [
    "Each refresh issues a new token; the issuer is `chat-node`.",
    "A STOMP session ends when the socket closes.",
    "The broker that is the partition's leader answers; that leads to one round trip.",
    "Session lifecycle: live token expiry.",
    "Misleading figures are not kept. Rooms are sorted (#rooms in the UI is the count).",
    "Headings link as [Capacity](#capacity-planning).",
]
BAD_HELP = [
    "ops/dev up   start the stack\n\nEnvironment knobs: CN_TEST_PRESETS builds only that preset and\n",
    "ops/dev up   start the stack\n\nEnvironment knobs: see ops/lib/stack.sh.\n",
    "ops/dev test   run every test (knobs: see cmd_test).\n",
]
GOOD_HELP = [
    "ops/dev up   start the stack\n\nEnvironment: CN_SKIP_BUILD=1 skips the build.\n",
    "Usage:\n  ops/dev help\n",
    "Commands (docs/OPERATIONS.md)\n",
]


def self_test():
    bad_note = json.dumps({"bench": "fanout", "note": "session 5: box shared with other engineers"})
    good_note = json.dumps({"bench": "fanout", "note": "quiet machine, fresh bench stack"})
    # (what, check, samples it must flag, samples it must pass)
    cases = [
        ("doc line", lambda t: doc_findings("sample", t), BAD_DOCS, GOOD_DOCS),
        ("note field", lambda t: jsonl_findings("sample.jsonl", t), [bad_note], [good_note]),
        ("help text", lambda t: help_findings("help", t), BAD_HELP, GOOD_HELP),
    ]
    ok = True
    for what, check, bad, good in cases:
        for text in bad:
            if not check(text):
                print(f"self-test: the check missed a bad {what}: {text!r}")
                ok = False
        for text in good:
            if check(text):
                print(f"self-test: the check flagged a good {what}: {text!r}")
                ok = False
    return ok


def main(argv):
    args = argv[1:]
    selftest = "--self-test" in args
    args = [a for a in args if a != "--self-test"]
    root = args[0] if args else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if selftest and not self_test():
        print("check_docs: self-test FAILED")
        return 1
    found = check_tree(root)
    for name, line, what in found:
        print(f"{name}:{line}: {what}")
    if found:
        print(f"check_docs: {len(found)} finding(s); docs describe the product, not how it was built")
        return 1
    print("check_docs: OK" + (" (self-test passed)" if selftest else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
