#!/usr/bin/env python3
"""Turns protocol/protocol.json into each implementation's tables, and checks them.

    generate.py --cpp OUT.hpp     the C++ header (the build runs this; never committed)
    generate.py                   rewrites the committed binding tables:
                                  bindings/python/proletariat/_spec.py, bindings/node/lib/spec.js
    generate.py --check           fails (exit 1) if the committed tables are not what this
                                  file would write, or docs/PROTOCOL.md disagrees with the
                                  description (error table, limits, waiting reasons, states)

Only the standard library, so any python3 runs it.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import sys
from typing import Any, Dict, List, Tuple

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPEC_PATH = ROOT / "protocol" / "protocol.json"
PYTHON_OUT = ROOT / "bindings" / "python" / "proletariat" / "_spec.py"
NODE_OUT = ROOT / "bindings" / "node" / "lib" / "spec.js"
PROTOCOL_MD = ROOT / "docs" / "PROTOCOL.md"

BANNER = "Generated from protocol/protocol.json by protocol/generate.py. Do not edit: change the description and run the generator."


def load() -> Dict[str, Any]:
    return json.loads(SPEC_PATH.read_text(encoding="utf-8"))


def camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def upper(name: str) -> str:
    return name.upper()


def cpp_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=True)


def scalar_constants(spec: Dict[str, Any]) -> List[Tuple[str, Any, str]]:
    """(NAME, value, doc) of every scalar the Python and Node tables export, in order."""
    out: List[Tuple[str, Any, str]] = [
        ("SIGNATURE", spec["signature"], ""),
        ("PROTOCOL_VERSION", spec["version"], ""),
        ("FIXED_FRAMES", spec["fixed_frames"], ""),
        ("MAX_SAFE_INTEGER", spec["max_safe_integer"], ""),
        ("LONGEST_TIMEOUT_MS", spec["longest_timeout_ms"], ""),
        ("TO_MANAGER", spec["to_manager"], ""),
    ]
    out += [(f"DEFAULT_{upper(name)}", value, "") for name, value in spec["defaults"].items()]
    out += [(upper(limit["name"]), limit["default"], limit["doc"]) for limit in spec["limits"]]
    out += [(upper(name), value, "") for name, value in spec["peer_strategy"].items() if isinstance(value, int)]
    offer = spec["offer"]
    out += [
        ("SLOTS_MIN", offer["slots_min"], ""),
        ("SLOTS_MAX", offer["slots_max"], ""),
        ("SLOTS_DEFAULT", offer["slots_default"], ""),
        ("ZERO_START_GUARANTEE_IGNORED", offer["zero_start_guarantee"] == "ignored", ""),
        ("RANGE_START_PATTERN", offer["range_start_pattern"], "a prioritySlots key: JSON number syntax, no sign"),
    ]
    out += [(upper(name), value, "") for name, value in spec["lifecycle"].items() if name != "about"]
    return out


# ------------------------------------------------------------------------------ C++


# The type names of "peer_checks" (see "peer_checks_about" in protocol.json).
_UINT_ALIASES = {"uint32": 2**32 - 1, "uint16": 2**16 - 1}
_PLAIN_TYPES = ("nonempty", "string", "bool", "uint", "nonnegative", "uint[]")


def peer_check_fields(checks: Dict[str, Any], max_safe: int) -> List[Dict[str, Any]]:
    """A command's peer_checks as a list of uniform field rules:
    {name, type, optional, max (uint), fields (list, object), payloads (list)}."""
    out = []
    for name, rule in checks.items():
        if isinstance(rule, dict):
            kind = "list" if "list" in rule else "object"
            if kind not in rule:
                raise ValueError(f"peer_checks field {name!r}: a rule object needs 'list' or 'object'")
            field = {"name": name, "type": kind, "optional": bool(rule.get("optional", False)),
                     "fields": peer_check_fields(rule[kind], max_safe)}
            if kind == "list":
                field["payloads"] = bool(rule.get("payloads", False))
            out.append(field)
            continue
        optional = rule.endswith("?")
        kind = rule.rstrip("?")
        field = {"name": name, "optional": optional}
        if kind in _UINT_ALIASES:
            field.update(type="uint", max=_UINT_ALIASES[kind])
        elif kind.startswith("uint<="):
            field.update(type="uint", max=int(kind[len("uint<="):]))
        elif kind == "uint":
            field.update(type="uint", max=max_safe)
        elif kind in _PLAIN_TYPES:
            field["type"] = kind
        else:
            raise ValueError(f"peer_checks field {name!r}: unknown type {rule!r}")
        out.append(field)
    return out


def from_manager(spec: Dict[str, Any]) -> Dict[str, List[Dict[str, Any]]]:
    """command -> its field rules, for every command the manager sends."""
    return {c["name"]: peer_check_fields(c["peer_checks"], spec["max_safe_integer"])
            for c in spec["commands"] if "peer_checks" in c}


def render_cpp(spec: Dict[str, Any]) -> str:
    out: List[str] = []
    w = out.append
    w(f"// {BANNER}")
    w("#pragma once")
    w("")
    w("#include <cstddef>")
    w("#include <cstdint>")
    w("#include <string_view>")
    w("")
    w("namespace proletariat::protocol::spec {")
    w("")
    w(f"inline constexpr std::string_view kSignature = {cpp_string(spec['signature'])};")
    w(f"inline constexpr int kVersion = {spec['version']};")
    w(f"inline constexpr std::size_t kFixedFrames = {spec['fixed_frames']};")
    w(f"inline constexpr std::uint64_t kMaxSafeInteger = {spec['max_safe_integer']}ull;")
    w(f"inline constexpr std::uint64_t kLongestTimeoutMs = {spec['longest_timeout_ms']}ull;")
    w(f"inline constexpr std::string_view kToManager = {cpp_string(spec['to_manager'])};")
    w("")
    w("// Defaults of a manager and its peers.")
    for name, value in spec["defaults"].items():
        w(f"inline constexpr std::uint64_t kDefault{camel(name)} = {value};")
    w("")
    w("// Limits: the defaults a manager applies (PROTOCOL §10).")
    for limit in spec["limits"]:
        w(f"// {limit['doc']}")
        w(f"inline constexpr std::uint64_t k{camel(limit['name'])} = {limit['default']};")
    w("")
    w("// How peer libraries split what they send (one strategy for every binding).")
    for name, value in spec["peer_strategy"].items():
        if isinstance(value, int):
            w(f"inline constexpr std::size_t k{camel(name)} = {value};")
    w("")
    offer = spec["offer"]
    w("// OFFER rules (PROTOCOL §4).")
    w(f"inline constexpr unsigned kSlotsMin = {offer['slots_min']};")
    w(f"inline constexpr unsigned kSlotsMax = {offer['slots_max']};")
    w(f"inline constexpr unsigned kSlotsDefault = {offer['slots_default']};")
    w(f"inline constexpr bool kZeroStartGuaranteeIgnored = {'true' if offer['zero_start_guarantee'] == 'ignored' else 'false'};")
    w("")
    life = spec["lifecycle"]
    w("// Job lifecycle (PROTOCOL §14): retry policy defaults.")
    w(f"inline constexpr std::uint64_t kRetryInitialMs = {life['retry_initial_ms']};")
    w(f"inline constexpr double kRetryFactor = {float(life['retry_factor'])};")
    w(f"inline constexpr std::uint64_t kRetryMaxDelayMs = {life['retry_max_delay_ms']};")
    w(f"inline constexpr double kRetryJitter = {float(life['retry_jitter'])};")
    w(f"inline constexpr std::size_t kDeadListDefaultLimit = {life['dead_list_default_limit']};")
    for name in ("retry_default_excludes", "never_retried", "dead_ops", "group_limit_ops"):
        w(f"inline constexpr std::string_view k{camel(name)}[] = {{{', '.join(cpp_string(x) for x in life[name])}}};")
    w("")
    w("struct ErrorSpec {")
    w("  std::string_view code;")
    w("  std::string_view cls;  // retry, request or fault")
    w("  std::string_view meaning;")
    w("};")
    w("inline constexpr ErrorSpec kErrors[] = {")
    for e in spec["errors"]:
        w(f"    {{{cpp_string(e['code'])}, {cpp_string(e['class'])}, {cpp_string(e['meaning'])}}},")
    w("};")
    w("")
    w("struct CommandSpec {")
    w("  std::string_view name;")
    w("  std::string_view from;      // peer, manager or both")
    w("  std::string_view payloads;  // none, one, or the header list that owns one frame per entry")
    w("};")
    w("inline constexpr CommandSpec kCommands[] = {")
    for c in spec["commands"]:
        w(f"    {{{cpp_string(c['name'])}, {cpp_string(c['from'])}, {cpp_string(c['payloads'])}}},")
    w("};")
    w("")
    for table in ("waiting_reasons", "worker_states", "roles"):
        w(f"inline constexpr std::string_view k{camel(table)}[] = {{")
        for entry in spec[table]:
            w(f"    {cpp_string(entry['name'])},")
        w("};")
    w("")
    w("}  // namespace proletariat::protocol::spec")
    w("")
    return "\n".join(out)


# ------------------------------------------------------------------------------ Python


def py_literal(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def render_python(spec: Dict[str, Any]) -> str:
    out: List[str] = []
    w = out.append
    w(f'"""The protocol description (PROTOCOL.md, PRO1) as Python tables.')
    w("")
    w(f"{BANNER}")
    w('"""')
    w("")
    for name, value, doc in scalar_constants(spec):
        if doc:
            w(f"#: {doc}")
        if name == "SIGNATURE":
            w(f"SIGNATURE = {py_literal(value)}.encode('ascii')")
        else:
            w(f"{name} = {py_literal(value) if isinstance(value, str) else repr(value)}")
    w("")
    w("#: code -> (class, meaning)")
    w("ERRORS = {")
    for e in spec["errors"]:
        w(f"    {py_literal(e['code'])}: ({py_literal(e['class'])}, {py_literal(e['meaning'])}),")
    w("}")
    w("")
    w("#: command -> (from, payloads)")
    w("COMMANDS = {")
    for c in spec["commands"]:
        w(f"    {py_literal(c['name'])}: ({py_literal(c['from'])}, {py_literal(c['payloads'])}),")
    w("}")
    w("")
    w("#: command -> the rules a peer checks in it (protocol.json \"peer_checks\"); a")
    w("#: command the manager sends has an entry, others are malformed from the manager.")
    w("FROM_MANAGER = {")
    for name, fields in from_manager(spec).items():
        w(f"    {py_literal(name)}: {fields!r},")
    w("}")
    w("")
    for table in ("waiting_reasons", "worker_states", "roles"):
        names = ", ".join(py_literal(e["name"]) for e in spec[table])
        w(f"{upper(table)} = ({names},)")
    w("")
    return "\n".join(out)


# ------------------------------------------------------------------------------ Node


def render_node(spec: Dict[str, Any]) -> str:
    out: List[str] = []
    w = out.append
    w("'use strict';")
    w(f"// The protocol description (PROTOCOL.md, PRO1) as JavaScript tables.")
    w(f"// {BANNER}")
    w("")
    consts = {name: value for name, value, _doc in scalar_constants(spec)}
    for name, value in consts.items():
        w(f"const {name} = {json.dumps(value)};")
    w("")
    w("// code -> {class, meaning}")
    w("const ERRORS = Object.freeze({")
    for e in spec["errors"]:
        w(f"  {e['code']}: Object.freeze({{ class: {json.dumps(e['class'])}, meaning: {json.dumps(e['meaning'])} }}),")
    w("});")
    w("")
    w("// command -> {from, payloads}")
    w("const COMMANDS = Object.freeze({")
    for c in spec["commands"]:
        w(f"  {c['name']}: Object.freeze({{ from: {json.dumps(c['from'])}, payloads: {json.dumps(c['payloads'])} }}),")
    w("});")
    w("")
    w("// command -> the rules a peer checks in it (protocol.json \"peer_checks\"); a")
    w("// command the manager sends has an entry, others are malformed from the manager.")
    w("const FROM_MANAGER = Object.freeze({")
    for name, fields in from_manager(spec).items():
        w(f"  {name}: {json.dumps(fields)},")
    w("});")
    w("")
    for table in ("waiting_reasons", "worker_states", "roles"):
        names = ", ".join(json.dumps(e["name"]) for e in spec[table])
        w(f"const {upper(table)} = Object.freeze([{names}]);")
    w("")
    exported = list(consts) + ["ERRORS", "COMMANDS", "FROM_MANAGER", "WAITING_REASONS", "WORKER_STATES", "ROLES"]
    w("module.exports = {")
    for name in exported:
        w(f"  {name},")
    w("};")
    w("")
    return "\n".join(out)


# ------------------------------------------------------------------------------ docs check


def markdown_table_after(text: str, heading: str) -> List[List[str]]:
    """Rows (cells stripped of backticks) of the first table after `heading`."""
    start = text.find(heading)
    if start < 0:
        return [["(missing heading)", heading]]
    rows: List[List[str]] = []
    in_table = False
    for line in text[start:].splitlines()[1:]:
        if line.startswith("|"):
            in_table = True
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            # A cell's name is its first identifier: "`max_frames` per message" -> max_frames.
            first = re.match(r"`?([A-Za-z0-9_]+)", cells[0])
            cells[0] = first.group(1) if first else cells[0]
            cells = [cells[0]] + [c.strip("`") for c in cells[1:]]
            if set("".join(cells)) <= set("-: "):
                continue
            rows.append(cells)
        elif in_table:
            break
    return rows[1:]  # without the heading row


def check_docs(spec: Dict[str, Any]) -> List[str]:
    problems: List[str] = []
    text = PROTOCOL_MD.read_text(encoding="utf-8")
    documented = {row[0]: row[1] for row in markdown_table_after(text, "## 6. Error codes")}
    described = {e["code"]: e["class"] for e in spec["errors"]}
    if documented != described:
        for code in sorted(set(documented) | set(described)):
            if documented.get(code) != described.get(code):
                problems.append(f"PROTOCOL.md §6 says {code} is {documented.get(code)!r}, the description {described.get(code)!r}")
    limits = {row[0]: row[1] for row in markdown_table_after(text, "## 10. Limits")}
    for limit in spec["limits"]:
        if limit["name"] not in limits:
            problems.append(f"PROTOCOL.md §10 does not list the limit {limit['name']}")
            continue
        written = re.sub(r"[,_ ]", "", limits[limit["name"]])
        value = limit["default"]
        forms = {str(value)}
        if value % (1 << 20) == 0:
            forms.add(f"{value >> 20}MiB")
        if not any(written.startswith(f) for f in forms):
            problems.append(f"PROTOCOL.md §10 gives {limit['name']} as {limits[limit['name']]!r}, the description {value}")
    for table, heading in (("waiting_reasons", "### 8.3 Waiting reasons"), ("worker_states", "### 8.4 Worker states")):
        rows = {row[0] for row in markdown_table_after(text, heading)}
        names = {e["name"] for e in spec[table]}
        if rows != names:
            problems.append(f"PROTOCOL.md {heading.strip('# ')} lists {sorted(rows)}, the description {sorted(names)}")
    return problems


# ------------------------------------------------------------------------------ main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpp", metavar="OUT", help="write the C++ header to OUT")
    parser.add_argument("--check", action="store_true", help="check the committed tables and PROTOCOL.md")
    args = parser.parse_args()
    spec = load()
    if args.cpp:
        out = pathlib.Path(args.cpp)
        out.parent.mkdir(parents=True, exist_ok=True)
        text = render_cpp(spec)
        if not out.exists() or out.read_text(encoding="utf-8") != text:
            out.write_text(text, encoding="utf-8")
        return 0
    generated = {PYTHON_OUT: render_python(spec), NODE_OUT: render_node(spec)}
    if args.check:
        problems = []
        for path, text in generated.items():
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                problems.append(f"{path.relative_to(ROOT)} is not what protocol/protocol.json gives: run protocol/generate.py")
        problems += check_docs(spec)
        for p in problems:
            print(f"protocol check: {p}", file=sys.stderr)
        if not problems:
            print("protocol check: bindings' tables and PROTOCOL.md agree with protocol/protocol.json")
        return 1 if problems else 0
    for path, text in generated.items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
