#!/usr/bin/env python3
"""layers.py - checks the floor plan of src/ (docs/architecture.md).

Layers, lowest first:  core < image, nn < align, detect, embed < pipeline
< eval < gallery < server, tools.  A file may include and call only files of
its own layer or lower ones. Two checks:

1. Includes, read from the sources: every #include "dir/file.h" of a file in
   src/ or tools/ must name a layer at or below the file's own.
2. Calls, read from the built objects with nm: every symbol an object uses
   must be defined in an object of its own layer or a lower one, and no
   group of files may call each other in a loop, except the image decoder
   dispatch (image.c and decode_*.c), which is one component by design.
3. Allocation: in the library only src/core/alloc.c calls the C library's
   malloc family; everything else uses fr__malloc and friends, which go to
   the application's allocator (fr_set_allocator).

Usage: python3 tests/layers.py BUILD   (BUILD: the folder with obj/ inside)
Prints ok/FAIL lines and "N passed, N failed".
"""
import os
import re
import subprocess
import sys

RANK = {"core": 0, "image": 1, "nn": 1, "align": 2, "detect": 2, "embed": 2,
        "pipeline": 3, "eval": 4, "gallery": 5, "server": 6, "tools": 6}
# Files that may form a call loop among themselves (their own component).
ALLOWED_LOOPS = [re.compile(r"src/image/(image|decode_\w+)\.c$")]

passed = failed = 0


def check(cond, what, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok   " + what)
    else:
        failed += 1
        print("FAIL " + what + ("  [" + detail + "]" if detail else ""))


def layer_of(path):
    """The layer of a path such as src/nn/kernels/avx2/conv.c or tools/x.c."""
    parts = path.split("/")
    if parts[0] == "tools":
        return "tools"
    if parts[0] == "src" and len(parts) > 2:
        return parts[1]
    return None


def sources():
    for root in ("src", "tools"):
        for d, _, files in os.walk(root):
            for f in sorted(files):
                if f.endswith((".c", ".h")):
                    yield os.path.join(d, f)


def check_includes():
    bad = []
    for path in sources():
        me = layer_of(path)
        if me not in RANK:
            bad.append("%s: unknown layer" % path)
            continue
        for line in open(path, encoding="utf-8", errors="replace"):
            m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
            if not m:
                continue
            inc = m.group(1)
            top = inc.split("/")[0]
            if "/" not in inc or top not in RANK:
                continue  # facerec.h, local headers of tools/ and tests
            if RANK[top] > RANK[me]:
                bad.append("%s (%s) includes %s (%s)" % (path, me, inc, top))
    check(not bad, "no file includes a header of a higher layer (%d sources)" % sum(1 for _ in sources()),
          "; ".join(bad[:12]) + (" ... %d in all" % len(bad) if len(bad) > 12 else ""))


def nm(obj, defined):
    args = ["nm", "--defined-only" if defined else "--undefined-only", obj]
    out = subprocess.run(args, capture_output=True, text=True).stdout
    syms = set()
    for line in out.splitlines():
        f = line.split()
        if defined and len(f) >= 3 and f[1] in "TDBRtdbrVWvw" and f[1].isupper():
            syms.add(f[2])
        elif not defined and len(f) >= 2 and f[0] == "U":
            syms.add(f[1])
    return syms


def check_calls(build):
    objs = {}
    for root in ("src", "tools"):
        for d, _, files in os.walk(os.path.join(build, "obj", root)):
            for f in files:
                if f.endswith(".o"):
                    obj = os.path.join(d, f)
                    src = os.path.relpath(obj, os.path.join(build, "obj"))[:-2] + ".c"
                    if os.path.exists(src):  # objects of moved or deleted files are stale
                        objs[src] = obj
    check(len(objs) > 40, "objects found in %s/obj (%d)" % (build, len(objs)))
    where = {}
    for src, obj in objs.items():
        for s in nm(obj, True):
            where.setdefault(s, src)
    edges = {src: set() for src in objs}
    bad = []
    for src, obj in objs.items():
        me = layer_of(src)
        for s in nm(obj, False):
            dst = where.get(s)
            if not dst or dst == src:
                continue
            edges[src].add(dst)
            if RANK[layer_of(dst)] > RANK[me]:
                bad.append("%s (%s) calls %s of %s (%s)" % (src, me, s, dst, layer_of(dst)))
    # Allocation goes through the application's allocator (fr_set_allocator):
    # only src/core/alloc.c may call the C library's functions directly
    # (the server is not part of libfacerec).
    raw = []
    for src, obj in objs.items():
        if src.startswith("src/") and not src.startswith("src/server/") and src != "src/core/alloc.c":
            used = nm(obj, False) & {"malloc", "calloc", "realloc", "free", "strdup", "strndup",
                                      "posix_memalign", "aligned_alloc"}
            if used:
                raw.append("%s: %s" % (src, ", ".join(sorted(used))))
    check(not raw, "only src/core/alloc.c calls malloc/calloc/realloc/free in the library", "; ".join(raw))
    check(not bad, "no object uses a symbol of a higher layer",
          "; ".join(sorted(bad)[:12]) + (" ... %d in all" % len(bad) if len(bad) > 12 else ""))
    # Loops: strongly connected components (Tarjan) of the file call graph.
    index, low, on, stack, comps, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    loops = [c for c in comps if not all(any(p.search(f) for p in ALLOWED_LOOPS) for f in c)]
    check(not loops, "no call loops between files (besides the image decoder dispatch)",
          "; ".join(" <-> ".join(c) for c in loops))


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    check_includes()
    check_calls(build)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
