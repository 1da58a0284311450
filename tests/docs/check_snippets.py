#!/usr/bin/env python3
"""Every C and C++ snippet of the READMEs is code that the build compiles.

Issue 10 (defect 1): the README's headline client example did not compile. Each
```cpp / ```c block of README.md and bindings/*/README.md must appear, line for line
and in order (other lines may come between, to give the snippet a scope), in one of
the compiled source files below; CMake builds those files, so a snippet that stops
compiling breaks the build, and one that is edited away from them fails this check.

    check_snippets.py ROOT
"""

from __future__ import annotations

import pathlib
import re
import sys
from typing import Iterable, List, Tuple

READMES = ["README.md", "bindings/c/README.md", "bindings/python/README.md", "bindings/node/README.md"]
COMPILED = ["examples/*.cpp", "bindings/c/examples/*.c", "bindings/c/tests/*.c"]
FENCE = re.compile(r"^```(\w*)\s*$")


def snippets(readme: pathlib.Path) -> Iterable[Tuple[int, str, List[str]]]:
    lang, start, body = None, 0, []
    for number, line in enumerate(readme.read_text(encoding="utf-8").splitlines(), 1):
        fence = FENCE.match(line)
        if fence and lang is None:
            lang, start, body = fence.group(1), number, []
        elif line.strip() == "```" and lang is not None:
            yield start, lang, body
            lang = None
        elif lang is not None:
            body.append(line)


def contains_in_order(haystack: List[str], needle: List[str]) -> bool:
    wanted = [line.strip() for line in needle if line.strip()]
    at = 0
    for line in haystack:
        if at < len(wanted) and line.strip() == wanted[at]:
            at += 1
    return at == len(wanted)


def main() -> int:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    sources = {path: path.read_text(encoding="utf-8").splitlines() for pattern in COMPILED for path in sorted(root.glob(pattern))}
    checked, problems = 0, []
    for name in READMES:
        readme = root / name
        if not readme.exists():
            continue
        for line, lang, body in snippets(readme):
            if lang not in ("c", "cpp", "c++"):
                continue
            checked += 1
            if not any(contains_in_order(text, body) for text in sources.values()):
                problems.append(f"{name}:{line}: this {lang} snippet is not in any compiled file ({', '.join(COMPILED)})")
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{checked} C/C++ snippets checked, {len(problems)} not compiled")
    return 1 if problems or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
