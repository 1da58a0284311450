#!/usr/bin/env python3
"""Checks the include rules that keep the architecture visible (docs/architecture.md).

- The scheduler (libproletariat/src/scheduler/) is pure state: none of its headers,
  followed through every project header they include, reaches a ZeroMQ header. The
  payload rides in it as detail::OpaqueFrame.
- The broker's status view (broker/status_view.hpp) reads peers and scheduler and
  changes nothing: it includes neither the dispatcher nor the outbox.

Usage: check_includes.py PROJECT_ROOT
"""
import pathlib
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)
ZMQ_HEADERS = {"zmq.h", "zmq.hpp", "zmq_addon.hpp"}


def closure(src: pathlib.Path, header: pathlib.Path):
    """Every (includer, include) pair reachable from header through project headers."""
    seen, stack, edges = set(), [header], []
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        for kind, name in INCLUDE.findall(current.read_text()):
            edges.append((current.relative_to(src), name))
            if kind == '"' and (src / name).is_file():
                stack.append(src / name)
    return edges


def main() -> int:
    root = pathlib.Path(sys.argv[1])
    src = root / "libproletariat" / "src"
    problems = []
    headers = sorted((src / "scheduler").glob("*.hpp"))
    if not headers:
        problems.append("no scheduler headers found under libproletariat/src/scheduler")
    for header in headers:
        for includer, name in closure(src, header):
            if name in ZMQ_HEADERS:
                problems.append(f"{header.relative_to(src)} reaches <{name}> through {includer}")
    status_view = src / "broker" / "status_view.hpp"
    if not status_view.is_file():
        problems.append("broker/status_view.hpp is missing")
    else:
        for includer, name in closure(src, status_view):
            if name in ("broker/dispatcher.hpp", "broker/outbox.hpp"):
                problems.append(f"broker/status_view.hpp reaches {name} through {includer}")
    for problem in problems:
        print(f"check_includes: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
