#!/usr/bin/env python3
"""Checks the workspace's declared rust-version against the dependency graph.

Reads `cargo metadata` on standard input. Fails when any package outside the workspace
declares a `rust_version` newer than the one the workspace declares (the workspace would then
promise a toolchain its own dependencies refuse), or when the workspace members disagree.
"""
import json
import sys


def parse(v):
    return tuple(int(x) for x in v.split("."))


meta = json.load(sys.stdin)
members = set(meta["workspace_members"])
declared = {p["rust_version"] for p in meta["packages"] if p["id"] in members}
if len(declared) != 1 or None in declared:
    sys.exit(f"workspace members declare differing rust-version values: {sorted(map(str, declared))}")
(declared,) = declared
needed = max(
    ((parse(p["rust_version"]), p["name"], p["rust_version"])
     for p in meta["packages"]
     if p["id"] not in members and p.get("rust_version")),
    default=((0,), "none", "0"),
)
if needed[0] > parse(declared):
    sys.exit(f"rust-version {declared} is older than {needed[1]}'s {needed[2]}")
print(f"rust-version {declared} covers the dependency graph (newest: {needed[1]} {needed[2]})")
