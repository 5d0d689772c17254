#!/usr/bin/env python3
"""The include graph of src/ against the house rules (make lint).

Fails, naming each offence, on:
  - a circle between modules of src/platform other than containers <-> projects
    (the printed cycle is one path around it, file by file);
  - an #include across a layer boundary (the table LAYERS below: the same
    rule the CMake include roots enforce at build time, checked here on the
    text so that a header nobody compiles yet is caught too), in particular
    any store or runtime header reached from src/api, src/proxy or src/ssh;
  - an edge (src/api, src/proxy, src/ssh, src/kit, src/init, src/cli)
    including a header of another edge: what two edges share lives in
    src/common (the reason phrases, the error envelope);
  - a layer below the edges including an edge-only header of src/common
    (EDGE_ONLY: the HTTP status of an error code is an edge fact);
  - a file of src/platform longer than MAX_LINES lines.

A module of src/platform is a .c with its headers, named by the file's stem:
every containers*.c/.h is the module "containers", every proxy*.c/.h the module
"proxy", and a private header <m>_int.h or <m>_internal.h belongs to <m>.

  scripts/include_graph.py [--root DIR]   check the tree at DIR (default: ..)
  scripts/include_graph.py --self-test    prove each rule fails on a bad tree
  scripts/include_graph.py --graph        print the module graph of src/platform
"""

import argparse
import os
import re
import sys
import tempfile

MAX_LINES = 900
# Modules made of several files: every file whose stem is the name or starts
# with "<name>_".
GROUPS = ("containers", "proxy")
PRIVATE_SUFFIXES = ("_internal", "_int")
# The one circle the domain has: a project delete deletes its containers, a
# container create checks its project.
ALLOWED_CYCLES = ({"containers", "projects"},)

# The front doors and programs of their own. None includes another's
# headers; src/daemon, the composition root, is no edge and wires them.
EDGES = ("api", "proxy", "ssh", "kit", "init", "cli")
# Headers of src/common for the edges only ("common-edge" below); a file may
# still include its own header (common/envelope.c).
EDGE_ONLY = ("common/envelope.h",)

# Which directories of src/ a directory may include from. "platform-public"
# is the platform's headers without its private ones (*_int.h, *_internal.h).
LAYERS = {
    "common": {"common"},
    "store": {"common", "store"},
    "runtime": {"common", "runtime"},
    "platform": {"common", "store", "runtime", "platform"},
    "api": {"common", "common-edge", "platform-public", "api"},
    "proxy": {"common", "common-edge", "platform-public", "proxy"},
    "ssh": {"common", "common-edge", "platform-public", "ssh"},
    "daemon": {"common", "common-edge", "store", "runtime", "platform-public", "api", "proxy",
               "ssh", "daemon"},
    "cli": {"common", "cli"},
    "kit": {"common", "kit"},
    "init": {"common", "init"},
}

INCLUDE_RE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*([<"])([^>"]+)[>"]', re.M)
# Comments, and the string and character literals that could hold "/*".
COMMENT_RE = re.compile(r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'|/\*.*?\*/|//[^\n]*', re.S)


def is_private(path):
    stem = os.path.splitext(os.path.basename(path))[0]
    return stem.endswith(PRIVATE_SUFFIXES)


def module_of(path):
    """The module of a file of src/platform (by its stem)."""
    stem = os.path.splitext(os.path.basename(path))[0]
    for g in GROUPS:
        if stem == g or stem.startswith(g + "_"):
            return g
    for suffix in PRIVATE_SUFFIXES:
        if stem.endswith(suffix):
            return stem[: -len(suffix)]
    return stem


def read_includes(src, rel):
    """[(line number, included path relative to src)] of the project's own
    headers that the file rel (relative to src) includes."""
    with open(os.path.join(src, rel), encoding="utf-8", errors="replace") as f:
        text = f.read()
    # Blank comments out but keep their newlines, so line numbers hold.
    text = COMMENT_RE.sub(
        lambda m: m.group(0) if m.group(0)[0] in "\"'" else "\n" * m.group(0).count("\n"), text)
    out = []
    for m in INCLUDE_RE.finditer(text):
        quote, name = m.group(1), m.group(2)
        line = text.count("\n", 0, m.start()) + 1
        here = os.path.normpath(os.path.join(os.path.dirname(rel), name))
        if quote == '"' and os.path.isfile(os.path.join(src, here)):
            out.append((line, here))
        elif name.split("/")[0] in LAYERS and os.path.isfile(os.path.join(src, name)):
            out.append((line, os.path.normpath(name)))
    return out


def source_files(src):
    for top in sorted(os.listdir(src)):
        d = os.path.join(src, top)
        if not os.path.isdir(d) or top not in LAYERS:
            continue
        for dirpath, _, names in os.walk(d):
            for n in sorted(names):
                if n.endswith((".c", ".h")):
                    yield os.path.relpath(os.path.join(dirpath, n), src)


def layer_of_target(target):
    top = target.split("/")[0]
    if target in EDGE_ONLY:
        return {"common-edge"}
    if top == "platform" and not is_private(target):
        return {"platform", "platform-public"}
    return {top}


def check_edges(includes):
    bad = []
    for rel, incs in includes.items():
        edge = rel.split("/")[0]
        for line, target in incs:
            other = target.split("/")[0]
            if edge in EDGES and other in EDGES and other != edge:
                bad.append(f"{rel}:{line}: includes {target}: the edge {edge} may not include "
                           f"a header of the edge {other}; move what they share to src/common")
    return bad


def own_header(rel, target):
    return os.path.splitext(rel)[0] == os.path.splitext(target)[0]


def check_layers(src, includes):
    bad = []
    for rel, incs in includes.items():
        top = rel.split("/")[0]
        allowed = LAYERS[top]
        for line, target in incs:
            if top in EDGES and target.split("/")[0] in EDGES:
                continue  # check_edges names it
            if not layer_of_target(target) & allowed and not own_header(rel, target):
                bad.append(f"{rel}:{line}: includes {target}: "
                           f"{rel.split('/')[0]} may include only {', '.join(sorted(allowed))}")
    return bad


def module_graph(includes):
    """{module: {module: (file, line, included file)}} of src/platform."""
    graph = {}
    for rel, incs in includes.items():
        if not rel.startswith("platform/"):
            continue
        a = module_of(rel)
        graph.setdefault(a, {})
        for line, target in incs:
            if not target.startswith("platform/"):
                continue
            b = module_of(target)
            if b != a:
                graph[a].setdefault(b, (rel, line, target))
                graph.setdefault(b, {})
    return graph


def components(graph):
    """Strongly connected components (Tarjan, iterative)."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = set()
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.add(w)
                    if w == v:
                        break
                out.append(comp)
    return out


def cycle_in(graph, comp):
    """One shortest cycle of comp, as a module list, through a module outside
    the allowed circles (else the one printed could be an allowed one)."""
    allowed = set().union(*ALLOWED_CYCLES)
    start = sorted(comp, key=lambda m: (m in allowed, m))[0]
    prev = {start: None}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v]):
            if w not in comp:
                continue
            if w == start:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return list(reversed(path)) + [start]
            if w not in prev:
                prev[w] = v
                queue.append(w)
    return [start]


def check_cycles(graph):
    bad = []
    for comp in components(graph):
        if len(comp) < 2 or comp in ALLOWED_CYCLES:
            continue
        cyc = cycle_in(graph, comp)
        steps = []
        for a, b in zip(cyc, cyc[1:]):
            rel, line, target = graph[a][b]
            steps.append(f"  {a} -> {b}   ({rel}:{line} includes {target})")
        bad.append(f"include circle among src/platform modules {{{', '.join(sorted(comp))}}}:\n"
                   f"  {' -> '.join(cyc)}\n" + "\n".join(steps))
    return bad


def check_sizes(src):
    bad = []
    d = os.path.join(src, "platform")
    for n in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        if n.endswith((".c", ".h")):
            with open(os.path.join(d, n), encoding="utf-8", errors="replace") as f:
                lines = sum(1 for _ in f)
            if lines > MAX_LINES:
                bad.append(f"platform/{n}: {lines} lines (at most {MAX_LINES}): split it")
    return bad


def check(root):
    src = os.path.join(root, "src")
    includes = {rel: read_includes(src, rel) for rel in source_files(src)}
    return (check_edges(includes) + check_layers(src, includes) +
            check_cycles(module_graph(includes)) + check_sizes(src))


def print_graph(root):
    src = os.path.join(root, "src")
    includes = {rel: read_includes(src, rel) for rel in source_files(src)}
    graph = module_graph(includes)
    for a in sorted(graph):
        print(f"{a} -> {', '.join(sorted(graph[a])) or '-'}")


# ---- self-test: each rule, on a tree made for it, must fail (and a good
# tree must pass) ----

def write_tree(root, files):
    for rel, text in files.items():
        p = os.path.join(root, "src", rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w", encoding="utf-8") as f:
            f.write(text)


GOOD_TREE = {
    "common/error.h": "",
    "common/envelope.h": '#include "common/error.h"\n',
    "common/envelope.c": '#include "common/envelope.h"\n',
    "api/http.h": '#include "common/envelope.h"\n',
    "proxy/exchange.c": '#include "common/envelope.h"\n#include "platform/containers.h"\n',
    "kit/http.c": '#include "common/error.h"\n',
    "store/store.h": '#include "common/error.h"\n',
    "runtime/runtime.h": "",
    "platform/platform.h": '#include "common/error.h"\n',
    "platform/platform_int.h": '#include "platform/platform.h"\n#include "store/store.h"\n',
    "platform/containers.h": '#include "platform/platform.h"\n',
    "platform/containers_int.h": '#include "platform/containers.h"\n',
    "platform/containers_jobs.c": ('#include "platform/containers_int.h"\n'
                                   '#include "platform/projects.h"\n'
                                   '#include "platform/limits.h"\n'),
    "platform/projects.h": '#include "platform/platform.h"\n',
    "platform/projects.c": '#include "platform/projects.h"\n#include "platform/containers.h"\n',
    "platform/limits.h": '#include "platform/platform.h"\n',
    "platform/limits.c": ('#include "platform/platform_int.h"\n#include "platform/limits.h"\n'
                          '/* #include "platform/containers.h" a comment is no include */\n'
                          'static const char *accept = "*/*";\n'),
    "api/containers.c": '#include "platform/containers.h"\n#include "common/error.h"\n',
    "daemon/main.c": '#include "store/store.h"\n#include "platform/platform.h"\n',
}

BAD_TREES = {
    "a circle limits -> containers -> limits": (
        {"platform/limits.c": '#include "platform/limits.h"\n#include "platform/containers_int.h"\n'},
        "limits -> containers"),
    "an include after a string holding /*": (
        {"platform/limits.c": ('static const char *accept = "*/*";\n'
                               '#include "platform/containers.h"\n/* a comment */\n')},
        "limits -> containers"),
    "a longer circle through a header": (
        {"platform/limits.h": '#include "platform/render.h"\n',
         "platform/render.h": '#include "platform/platform.h"\n',
         "platform/render.c": '#include "platform/render.h"\n#include "platform/containers.h"\n'},
        "limits -> render -> containers -> limits"),
    "the core including a module": (
        {"platform/platform_int.h": '#include "platform/platform.h"\n#include "platform/limits.h"\n'},
        "limits -> platform -> limits"),
    "src/api reaching the store": (
        {"api/containers.c": '#include "platform/containers.h"\n#include "store/store.h"\n'},
        "api/containers.c:2: includes store/store.h"),
    "src/proxy reaching the runtime with <>": (
        {"proxy/conn.c": "#include <runtime/runtime.h>\n"},
        "proxy/conn.c:1: includes runtime/runtime.h"),
    "src/ssh reaching a private platform header": (
        {"ssh/server.c": '#include "platform/platform_int.h"\n'},
        "ssh/server.c:1: includes platform/platform_int.h"),
    "src/proxy reaching into the API's headers": (
        {"proxy/exchange.c": '#include "common/envelope.h"\n#include "api/http.h"\n'},
        "proxy/exchange.c:2: includes api/http.h: the edge proxy may not include a header "
        "of the edge api"),
    "the Kit reaching into the SSH edge with <>": (
        {"kit/http.c": "#include <ssh/ssh.h>\n", "ssh/ssh.h": ""},
        "kit/http.c:1: includes ssh/ssh.h: the edge kit"),
    "the platform including the edges' envelope": (
        {"platform/limits.c": '#include "platform/limits.h"\n#include "common/envelope.h"\n'},
        "platform/limits.c:2: includes common/envelope.h"),
    "the store reaching up into the platform": (
        {"store/db.c": '#include "platform/platform.h"\n'},
        "store/db.c:1: includes platform/platform.h"),
    "a platform file over the bound": (
        {"platform/projects.c": '#include "platform/projects.h"\n' + "\n" * MAX_LINES},
        f"platform/projects.c: {MAX_LINES + 1} lines"),
}


def self_test():
    failures = 0
    with tempfile.TemporaryDirectory() as root:
        write_tree(root, GOOD_TREE)
        bad = check(root)
        if bad:
            print("self-test: the good tree failed:\n" + "\n".join(bad), file=sys.stderr)
            failures += 1
    for name, (change, expect) in BAD_TREES.items():
        with tempfile.TemporaryDirectory() as root:
            write_tree(root, dict(GOOD_TREE, **change))
            bad = "\n".join(check(root))
            if expect not in bad:
                print(f"self-test: {name}: expected a failure naming {expect!r}, got:\n"
                      f"{bad or '(pass)'}", file=sys.stderr)
                failures += 1
    if failures:
        return 1
    print(f"include_graph self-test: the good tree passes, {len(BAD_TREES)} bad trees fail")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("--graph", action="store_true")
    args = ap.parse_args()
    if args.self_test:
        return self_test()
    if args.graph:
        print_graph(args.root)
        return 0
    bad = check(args.root)
    for b in bad:
        print(b, file=sys.stderr)
    if bad:
        print(f"include_graph: {len(bad)} problem(s); the rules: docs/ARCHITECTURE.md "
              "(\"Include graph\")", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
