#!/usr/bin/env python3
"""Validates FunnelPulse's JSON Schemas, shipped YAML files and replay outputs.

    check_schemas.py static
        every schemas/*.json against the draft 2020-12 metaschema,
        every deploy/mappings/*.yaml against schemas/mapping.schema.json,
        deploy/funnelpulse.yaml against schemas/config.schema.json.

    check_schemas.py outputs DIR [--events FILE] [--max-lines N]
        DIR/funnel.jsonl, DIR/scores.jsonl, DIR/deadletter.jsonl (each: an even sample of at most
        N lines and about --max-bytes of JSON, always the first and the last line) and
        DIR/summary.json against their schemas,
        the line counts against summary.json's `outputs`, and FILE's first 2000 lines against
        schemas/event.schema.json. scores.jsonl may be absent only when summary.json has no
        `model` block (the model was off). DIR/alerts.jsonl (every line) against
        schemas/alert.schema.json when present (required when summary.json has `alerts`);
        --alert-families funnel,fraud,signal requires alerts of those families.

Each check prints `ok` or `FAIL` with the file; a failure names the file, the line and the JSON
path of the failing value. The last line is `check_schemas: N passed, M failed`; the exit status
is 1 when anything failed, 2 on a usage error. Needs jsonschema (>= 4.18) and PyYAML.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

try:
    import jsonschema
    import yaml
except ImportError as error:  # pragma: no cover - environment problem
    print(f"check_schemas: missing Python package: {error.name} (pip install jsonschema pyyaml)", file=sys.stderr)
    sys.exit(2)

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas"
Validator = jsonschema.Draft202012Validator
MAX_ERRORS_PER_FILE = 10
EVENT_LINES = 2000


# --- YAML the way the daemon reads it (YAML 1.2 core schema) ------------------------------------
class Yaml12Loader(yaml.SafeLoader):
    """SafeLoader without YAML 1.1's surprises: `yes`/`no`/`on`/`off` stay strings, no sexagesimal
    numbers (`1:30`), no timestamps; the daemon's parser (Yams) follows the YAML 1.2 core schema."""


Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers
            if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int",
                           "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789"))
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
               r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."))


def _int12(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = loader.construct_scalar(node)
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)


Yaml12Loader.add_constructor("tag:yaml.org,2002:int", _int12)


# --- Reporting -----------------------------------------------------------------------------------
class Report:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def ok(self, what: str) -> None:
        self.passed += 1
        print(f"ok    {what}")

    def fail(self, what: str, problems: list[str]) -> None:
        self.failed += 1
        print(f"FAIL  {what}")
        for problem in problems:
            print(f"      {problem}")

    def finish(self) -> int:
        print(f"check_schemas: {self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0


def rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def json_path(error: jsonschema.ValidationError) -> str:
    out = "$"
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def describe(error: jsonschema.ValidationError) -> str:
    message = error.message
    if len(message) > 300:
        message = message[:300] + "..."
    schema_path = "/".join(str(p) for p in error.absolute_schema_path)
    return f"at {json_path(error)}: {message} (schema: {schema_path})"


def schema_errors(validator: Validator, instance: object) -> list[str]:
    errors = sorted(validator.iter_errors(instance), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    return [describe(e) for e in errors[:MAX_ERRORS_PER_FILE]]


class _Cycle(Exception):
    pass


def inline_refs(node: object, root: dict, stack: tuple[str, ...] = ()) -> object:
    """The schema with its local `#/...` references replaced by their targets: the same meaning,
    validated about 1.6 times faster by jsonschema (no reference resolution per value)."""
    if isinstance(node, list):
        return [inline_refs(item, root, stack) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        if not ref.startswith("#/") or ref in stack:
            raise _Cycle(ref)
        target: object = root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            target = target[int(part)] if isinstance(target, list) else target[part]  # type: ignore[index]
        resolved = inline_refs(target, root, stack + (ref,))
        rest = {k: inline_refs(v, root, stack) for k, v in node.items() if k != "$ref"}
        return {"allOf": [resolved], **rest} if rest else resolved
    return {k: inline_refs(v, root, stack) for k, v in node.items()}


_validators: dict[str, Validator] = {}


def load_validator(name: str) -> Validator:
    if name not in _validators:
        schema = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
        try:
            flat = inline_refs(schema, schema)
            if isinstance(flat, dict):
                flat.pop("$defs", None)
                schema = flat
        except (_Cycle, KeyError, IndexError, ValueError, TypeError):
            pass  # recursive or external references: validate with the schema as written
        _validators[name] = Validator(schema, format_checker=Validator.FORMAT_CHECKER)
    return _validators[name]


# --- static ----------------------------------------------------------------------------------------
def check_static(report: Report) -> None:
    schema_files = sorted(SCHEMAS.glob("*.json"))
    if not schema_files:
        report.fail(rel(SCHEMAS), ["no *.json schemas found"])
    for path in schema_files:
        what = f"{rel(path)} (draft 2020-12 metaschema)"
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            report.fail(what, [f"{rel(path)}: not valid JSON: {error}"])
            continue
        if schema.get("$schema") != "https://json-schema.org/draft/2020-12/schema":
            report.fail(what, [f"{rel(path)}: $schema is {schema.get('$schema')!r}, expected draft 2020-12"])
            continue
        problems = schema_errors(Validator(Validator.META_SCHEMA), schema)
        if problems:
            report.fail(what, [f"{rel(path)}: {p}" for p in problems])
        else:
            report.ok(what)

    def check_yaml(path: Path, schema_name: str) -> None:
        what = f"{rel(path)} against schemas/{schema_name}"
        try:
            validator = load_validator(schema_name)
        except (OSError, ValueError) as error:
            report.fail(what, [f"schemas/{schema_name}: cannot load: {error}"])
            return
        try:
            document = yaml.load(path.read_text(encoding="utf-8"), Loader=Yaml12Loader)
        except (OSError, yaml.YAMLError) as error:
            report.fail(what, [f"{rel(path)}: not readable YAML: {error}"])
            return
        if document is None:
            document = {}  # an empty file: every key takes its default
        problems = schema_errors(validator, document)
        if problems:
            report.fail(what, [f"{rel(path)}: {p}" for p in problems])
        else:
            report.ok(what)

    mappings = sorted((ROOT / "deploy" / "mappings").glob("*.yaml"))
    if not mappings:
        report.fail("deploy/mappings", ["no *.yaml mappings found"])
    for path in mappings:
        check_yaml(path, "mapping.schema.json")
    check_yaml(ROOT / "deploy" / "funnelpulse.yaml", "config.schema.json")


# --- outputs ---------------------------------------------------------------------------------------
def count_lines(path: Path) -> int:
    lines = 0
    last = b"\n"
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (0 if last == b"\n" else 1)


def sample_indices(total: int, limit: int) -> set[int]:
    """0-based line indices: all when total <= limit, else an even spread incl. first and last."""
    if total <= limit:
        return set(range(total))
    picked = {round(i * (total - 1) / (limit - 1)) for i in range(limit)}
    picked.update((0, total - 1))
    return picked


def check_jsonl(report: Report, path: Path, schema_name: str, limit: int, max_bytes: int = 0,
                first_only: bool = False) -> int | None:
    """Validates sampled lines of a JSON-lines file; returns its line count (None if unreadable).
    At most `limit` lines, and (when max_bytes > 0) about max_bytes of JSON, first and last included."""
    try:
        total = count_lines(path)
        size = path.stat().st_size
    except OSError as error:
        report.fail(f"{rel(path)} against schemas/{schema_name}", [f"{rel(path)}: cannot read: {error}"])
        return None
    if first_only:
        picked = set(range(min(total, limit)))
        scope = f"first {len(picked)} of {total} lines"
    else:
        if max_bytes > 0 and total > 0:
            limit = min(limit, max(2, max_bytes * total // max(size, 1)))
        picked = sample_indices(total, limit)
        scope = f"{len(picked)} of {total} lines" if len(picked) < total else f"all {total} lines"
    what = f"{rel(path)} against schemas/{schema_name} ({scope})"
    validator = load_validator(schema_name)
    problems: list[str] = []
    bad_lines = 0
    with path.open("rb") as handle:
        for index, raw in enumerate(handle):
            if first_only and index >= limit:
                break
            if index not in picked:
                continue
            where = f"{rel(path)}:{index + 1}"
            try:
                record = json.loads(raw)
            except ValueError as error:
                found = [f"not valid JSON: {error}"]
            else:
                found = schema_errors(validator, record)
            if found:
                bad_lines += 1
                if len(problems) < MAX_ERRORS_PER_FILE:
                    problems += [f"{where}: {p}" for p in found[: MAX_ERRORS_PER_FILE - len(problems)]]
    if bad_lines:
        report.fail(what, problems + ([f"... {bad_lines} failing lines in all"] if bad_lines > 1 else []))
    else:
        report.ok(what)
    return total


def check_alert_families(report: Report, path: Path, families: list[str]) -> None:
    what = f"{rel(path)} holds alerts of families {', '.join(families)}"
    seen: set[str] = set()
    try:
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                seen.add(json.loads(line).get("family", "?"))
    except (OSError, ValueError) as error:
        report.fail(what, [f"{rel(path)}: cannot read: {error}"])
        return
    missing = [f for f in families if f not in seen]
    if missing:
        report.fail(what, [f"{rel(path)}: no {', '.join(missing)} alert (families seen: {sorted(seen)})"])
    else:
        report.ok(what)


def check_outputs(report: Report, directory: Path, events: Path | None, limit: int, max_bytes: int,
                  alert_families: list[str] | None = None) -> None:
    if not directory.is_dir():
        report.fail(rel(directory), [f"{rel(directory)}: not a directory"])
        return

    summary_path = directory / "summary.json"
    summary: dict | None = None
    what = f"{rel(summary_path)} against schemas/summary.schema.json"
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        report.fail(what, [f"{rel(summary_path)}: cannot read as JSON: {error}"])
    else:
        problems = schema_errors(load_validator("summary.schema.json"), summary)
        if problems:
            report.fail(what, [f"{rel(summary_path)}: {p}" for p in problems])
        else:
            report.ok(what)
    if not isinstance(summary, dict):
        summary = None

    counts: dict[str, int | None] = {}
    model_on = summary is None or "model" in summary
    for name, schema_name in (("funnel.jsonl", "funnel-snapshot.schema.json"),
                              ("scores.jsonl", "score.schema.json"),
                              ("deadletter.jsonl", "deadletter.schema.json")):
        path = directory / name
        if not path.exists():
            if name == "scores.jsonl" and not model_on:
                continue  # the model was off: replay writes no scores
            report.fail(f"{rel(path)} against schemas/{schema_name}", [f"{rel(path)}: missing"])
            continue
        counts[name] = check_jsonl(report, path, schema_name, limit, max_bytes)

    alerts_path = directory / "alerts.jsonl"
    alerts_on = summary is None or "alerts" in summary
    if alerts_path.exists():
        # Every alert line, not a sample: alerts are few and each kind has its own fields.
        counts["alerts.jsonl"] = check_jsonl(report, alerts_path, "alert.schema.json", 1 << 30)
        if alert_families:
            check_alert_families(report, alerts_path, alert_families)
    elif alerts_on:
        report.fail(f"{rel(alerts_path)} against schemas/alert.schema.json", [f"{rel(alerts_path)}: missing"])

    if summary is not None and isinstance(summary.get("outputs"), dict):
        what = f"{rel(directory)}: line counts match summary.json outputs"
        problems = []
        for name, lines in counts.items():
            recorded = summary["outputs"].get(name)
            if lines is not None and recorded != lines:
                problems.append(f"{rel(directory / name)}: {lines} lines, summary.json $.outputs[{name!r}] = {recorded}")
        deadletters = counts.get("deadletter.jsonl")
        if deadletters is not None and summary.get("rejected_total") != deadletters:
            problems.append(f"{rel(directory / 'deadletter.jsonl')}: {deadletters} lines, "
                            f"summary.json $.rejected_total = {summary.get('rejected_total')}")
        if problems:
            report.fail(what, problems)
        else:
            report.ok(what)

    if events is not None:
        if not events.is_file():
            report.fail(f"{rel(events)} against schemas/event.schema.json", [f"{rel(events)}: missing"])
        else:
            check_jsonl(report, events, "event.schema.json", EVENT_LINES, first_only=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("static", help="schemas against the metaschema; shipped YAML against their schemas")
    outputs = commands.add_parser("outputs", help="a replay output directory against the output schemas")
    outputs.add_argument("dir", type=Path)
    outputs.add_argument("--events", type=Path, help="input events file (first 2000 lines are checked)")
    outputs.add_argument("--max-lines", type=int, default=5000,
                         help="lines validated per output file, first and last always included (default 5000)")
    outputs.add_argument("--alert-families", default="",
                         help="comma-separated alert families (funnel, fraud, signal) alerts.jsonl must contain")
    outputs.add_argument("--max-bytes", type=int, default=2 << 20,
                         help="about this much JSON validated per output file (large funnel snapshots "
                              "take ~10 ms each); 0 = no byte limit (default 2 MiB)")
    args = parser.parse_args(argv)

    report = Report()
    if args.command == "static":
        check_static(report)
    else:
        if args.max_lines < 2:
            parser.error("--max-lines must be at least 2")
        families = [f for f in args.alert_families.split(",") if f]
        check_outputs(report, args.dir, args.events, args.max_lines, args.max_bytes, families)
    return report.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
