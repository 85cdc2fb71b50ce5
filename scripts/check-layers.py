#!/usr/bin/env python3
"""Checks the module structure of src/: no import circle between files, and
layers that point one way (lower layers never import higher ones: nothing
below routes/ imports routes/, state or startup).

Every `use` and every inline `crate::`/`super::`/`self::` path in a file is
resolved to the file that defines the item (re-exports through `pub use`
are followed), and that is an edge. `pub use` lines themselves are facades,
not dependencies. Run: python3 scripts/check-layers.py [src]
"""

import re
import sys
from pathlib import Path

SRC = Path(sys.argv[1] if len(sys.argv) > 1 else "src")

# Layer ranks: a file may import only files of the same or a lower rank.
LAYERS = [
    ("domain", 0), ("configuration", 0), ("metrics", 0),
    ("store", 1), ("cluster", 1),
    ("auth", 2), ("templates", 2),
    # realtime/, from its shared vocabulary up to its transports
    ("realtime::stream", 3), ("realtime::protocol", 3), ("realtime::outbound", 3), ("realtime::reply", 3),
    ("realtime::ordered", 3), ("realtime::session", 3), ("realtime::limits", 3),
    ("realtime::events", 3), ("realtime::reading", 3), ("realtime::endpoint", 3),
    ("realtime::chat", 4), ("realtime::products", 4),
    ("realtime::bus", 5), ("realtime::engine", 5),
    ("realtime::websocket", 6), ("realtime::socketio", 6),
    ("realtime", 7),
    ("state", 8), ("routes", 9), ("startup", 10), ("", 11),
]


def module_of(path: Path) -> tuple:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def rank_of(module: tuple) -> int:
    name = "::".join(module)
    best = None
    for prefix, rank in LAYERS:
        if name == prefix or name.startswith(prefix + "::") or prefix == "":
            if best is None or len(prefix) > len(best[0]):
                best = (prefix, rank)
    return best[1]


def strip_comments(text: str) -> str:
    """Code only: no comments, no string contents, no unit tests (the
    `#[cfg(test)] mod tests` at the end of a file is not the structure)."""
    text = text.split("#[cfg(test)]\nmod tests")[0]
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    return re.sub(r"//[^\n]*", "", text)


def expand_use(tree: str) -> list:
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e]."""
    tree = tree.strip()
    brace = tree.find("{")
    if brace < 0:
        return [re.sub(r"\s+as\s+\w+$", "", tree).strip()]
    prefix, inner = tree[:brace], tree[brace + 1: tree.rfind("}")]
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(inner):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(inner[start:i])
            start = i + 1
    parts.append(inner[start:])
    out = []
    for part in parts:
        if part.strip():
            out.extend(prefix + p for p in expand_use(part))
    return out


# The library's modules (main.rs is the binary: it only calls startup).
files = {module_of(p): p for p in SRC.rglob("*.rs") if p != SRC / "main.rs"}
texts = {m: strip_comments(p.read_text()) for m, p in files.items()}

# Re-exports: module -> {name: absolute path it stands for}
reexports = {}
for module, text in texts.items():
    names = {}
    for tree in re.findall(r"\bpub(?:\([^)]*\))?\s+use\s+([^;]+);", text):
        for path in expand_use(tree):
            name = path.split("::")[-1]
            names[name] = (module, path)
    reexports[module] = names


def absolute(module: tuple, path: str) -> tuple:
    segments = [s for s in path.split("::") if s]
    if not segments:
        return ()
    base = list(module)
    if segments[0] == "crate":
        base, segments = [], segments[1:]
    elif segments[0] == "self":
        segments = segments[1:]
    elif segments[0] == "super":
        while segments and segments[0] == "super":
            base = base[:-1]
            segments = segments[1:]
    elif tuple(base + [segments[0]]) not in files:
        return ()  # an external crate, or a local item
    return tuple(base + segments)


def resolve(path: tuple, depth: int = 0) -> tuple:
    """The file module defining `path` (following re-exports)."""
    longest = ()
    for i in range(len(path), -1, -1):
        if path[:i] in files:
            longest = path[:i]
            break
    rest = path[len(longest):]
    if rest and depth < 8:
        target = reexports.get(longest, {}).get(rest[0])
        if target:
            origin, relpath = target
            again = absolute(origin, relpath)
            if again:
                return resolve(again + rest[1:], depth + 1)
    return longest


edges = {}
for module, text in texts.items():
    targets = set()
    private_uses = re.sub(r"\bpub(?:\([^)]*\))?\s+use\s+[^;]+;", "", text)
    for tree in re.findall(r"(?<![\w:])use\s+([^;]+);", private_uses):
        for path in expand_use(tree):
            full = absolute(module, path)
            if full:
                targets.add(resolve(full))
    for path in re.findall(r"\b((?:crate|super)(?:::\w+)+)", private_uses):
        full = absolute(module, path)
        if full:
            targets.add(resolve(full))
    targets.discard(module)
    # A parent's `mod child;` is not an import; an import of an ancestor
    # file is (it is where a cycle would show).
    edges[module] = {t for t in targets if t in files}


def name(module: tuple) -> str:
    return str(files[module])


problems = []
for module, targets in sorted(edges.items()):
    for target in sorted(targets):
        if rank_of(target) > rank_of(module):
            problems.append(f"upward import: {name(module)} -> {name(target)}")

# Cycles: Tarjan's strongly connected components.
index, low, stack, on_stack, sccs, counter = {}, {}, [], set(), [], [0]


def connect(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on_stack.add(v)
    for w in edges.get(v, ()):
        if w not in index:
            connect(w)
            low[v] = min(low[v], low[w])
        elif w in on_stack:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        component = []
        while True:
            w = stack.pop()
            on_stack.discard(w)
            component.append(w)
            if w == v:
                break
        if len(component) > 1:
            sccs.append(component)


sys.setrecursionlimit(10000)
for module in sorted(edges):
    if module not in index:
        connect(module)
for component in sccs:
    problems.append("import circle: " + " <-> ".join(sorted(name(m) for m in component)))

edge_count = sum(len(t) for t in edges.values())
if problems:
    print("\n".join(problems))
    print(f"{len(problems)} problem(s) in {len(files)} files, {edge_count} imports")
    sys.exit(1)
print(f"layers: {len(files)} files, {edge_count} imports between them, no circle, no upward import")
