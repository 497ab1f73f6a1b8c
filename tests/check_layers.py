#!/usr/bin/env python3
"""Checks the dependency rule of docs/ARCHITECTURE.md "Layers" on every #include under src/.

    base <- proto, actors/runtime <- io <- the chat actors (actors/<part>) <- node, programs

A file may include its own layer and the layers below it, never one above or beside it
(proto and the runtime do not know each other). The chat actors also must not include the
client libraries the adapters wrap (libpq, hiredis, libwebsockets, librdkafka, libuv): they
see replies in our own types. Prints one line per forbidden include and exits 1 when there
is any, 0 otherwise.

    check_layers.py [SRC_DIR]       check a tree (default: the src/ next to tests/)
    check_layers.py --self-test     also prove the check fails on a planted include

Standard library only; run by ctest (tests/CMakeLists.txt) in the test command.
"""
import os
import re
import shutil
import sys
import tempfile

# What each layer may include (its own name included).
ALLOWED = {
    "base": {"base"},
    "proto": {"base", "proto"},
    "runtime": {"base", "runtime"},
    "io": {"base", "proto", "runtime", "io"},
    "chat": {"base", "proto", "runtime", "io", "chat"},
    "node": {"base", "proto", "runtime", "io", "chat", "node"},
}

# System headers a layer must not include: the chat actors get rows, Redis values and
# socket output through the adapters' own types.
FOREIGN = {
    "chat": ("libpq-fe.h", "hiredis/", "libwebsockets.h", "librdkafka/", "uv.h"),
}

INCLUDE = re.compile(r'^\s*#\s*include\s+([<"])([^>"]+)[>"]', re.M)


def layer_of(rel):
    """The layer of a path relative to src/ (a file or an include target), or None."""
    parts = rel.split("/")
    if len(parts) == 1:
        return "node"  # src/*.c: the program entry points
    top = parts[0]
    if top == "actors":
        return "runtime" if len(parts) > 2 and parts[1] == "runtime" else "chat"
    if top in ("base", "proto", "io", "node"):
        return top
    return None  # src/web and the like: no C


def scan(src):
    """{rel path: [(line, kind, target)]} for every C file of a layer under src."""
    files = {}
    for dirpath, _dirs, names in os.walk(src):
        for name in sorted(names):
            if not name.endswith((".c", ".h")):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, src)
            if layer_of(rel) is None:
                continue
            with open(path, encoding="utf-8") as f:
                text = f.read()
            files[rel] = [
                (text.count("\n", 0, m.start()) + 1, m.group(1), m.group(2))
                for m in INCLUDE.finditer(text)
            ]
    return files


def resolve(files, rel, target):
    """The src-relative path an #include "target" in file rel names, or None."""
    for cand in (target, os.path.join(os.path.dirname(rel), target)):
        cand = os.path.normpath(cand)
        if cand in files:
            return cand
    return None


def system_headers(files, rel, seen=None):
    """{<header>: via} of everything file rel pulls in, through our headers too."""
    seen = set() if seen is None else seen
    out = {}
    for _line, kind, target in files.get(rel, ()):
        if kind == "<":
            out.setdefault(target, rel)
            continue
        dep = resolve(files, rel, target)
        if dep and dep not in seen:
            seen.add(dep)
            for h, via in system_headers(files, dep, seen).items():
                out.setdefault(h, via)
    return out


def foreign(layer, header):
    for bad in FOREIGN.get(layer, ()):
        if header == bad or (bad.endswith("/") and header.startswith(bad)):
            return True
    return False


def check(src):
    files = scan(src)
    problems = []
    for rel, includes in files.items():
        layer = layer_of(rel)
        for line, kind, target in includes:
            if kind == "<":
                if foreign(layer, target):
                    problems.append(f"src/{rel}:{line}: the {layer} layer includes <{target}>")
                continue
            dep = resolve(files, rel, target)
            tl = layer_of(dep) if dep else None
            if tl is not None and tl not in ALLOWED[layer]:
                problems.append(f'src/{rel}:{line}: the {layer} layer includes "{target}" ({tl})')
                continue
            # What an allowed header drags in counts too: a chat actor must not see
            # libpq through an adapter's header.
            if dep and FOREIGN.get(layer):
                for h, via in sorted(system_headers(files, dep, {dep}).items()):
                    if foreign(layer, h):
                        problems.append(
                            f'src/{rel}:{line}: the {layer} layer gets <{h}> through "{target}" (from src/{via})'
                        )
    return problems


def self_test(src):
    """A forbidden include planted in a copy of the tree must be reported."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = os.path.join(tmp, "src")
        shutil.copytree(src, copy, ignore=shutil.ignore_patterns("node_modules", "*.js", "*.css"))
        plants = [
            ("io/http_server.c", '#include "actors/session/session.h"\n', "io includes a chat actor"),
            ("proto/stomp_frame.c", '#include "actors/runtime/runtime.h"\n', "proto includes the runtime"),
            ("actors/room/room_actor.c", "#include <hiredis/hiredis.h>\n", "a chat actor includes hiredis"),
            ("actors/session/session.c", '#include "node/metrics.h"\n', "a chat actor includes node"),
        ]
        for rel, line, what in plants:
            target = os.path.join(copy, rel)
            with open(target, encoding="utf-8") as f:
                before = f.read()
            with open(target, "w", encoding="utf-8") as f:
                f.write(line + before)
            found = [p for p in check(copy) if p.startswith(f"src/{rel}:1:")]
            with open(target, "w", encoding="utf-8") as f:
                f.write(before)
            if not found:
                print(f"self-test: a planted include went unreported ({what}: {line.strip()} in src/{rel})")
                return False
    return True


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    args = [a for a in argv if not a.startswith("--")]
    src = args[0] if args else os.path.join(here, "..", "src")
    problems = check(src)
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} forbidden include(s): see docs/ARCHITECTURE.md \"Layers\"")
        return 1
    if "--self-test" in argv and not self_test(src):
        return 1
    print("layers: every include follows the dependency rule")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
