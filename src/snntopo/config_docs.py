"""Render config/schema.yaml as the configuration reference config/README.md.

The schema is the single source: every key's ``description``, ``default`` and constraints (``enum``,
bounds, ``pattern``, item rules) become one row of a Markdown table, one table per section. A test
(tests/unit/test_docs.py) fails when a key has no description or when config/README.md differs from what
this module renders, so the reference cannot fall behind the schema.

Regenerate after changing the schema::

    python -m snntopo.config_docs            # writes config/README.md
    python -m snntopo.config_docs --check    # exit status 1 if config/README.md is out of date

Keys the schema leaves without a ``default`` because the code supplies it (the ``analysis`` keys filled in
by :class:`snntopo.analysis.config.AnalysisConfig`, the recipe keys of ``training``) show the code's
default, read from that dataclass, marked "(code)".
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = ROOT / "config" / "schema.yaml"
README_PATH = ROOT / "config" / "README.md"

#: sections whose missing schema defaults are the fields of a dataclass ("module:Class")
CODE_DEFAULTS: dict[str, str] = {
    "analysis": "snntopo.analysis.config:AnalysisConfig",
    "training": "snntopo.training.recipes:Recipe",
}

#: placeholder for the user-chosen name of a mapping entry (a pruner, an algorithm…)
ANY_NAME = "<name>"

HEADER = """\
# Configuration reference

<!-- GENERATED from config/schema.yaml by `python -m snntopo.config_docs`; do not edit by hand.
     After changing the schema run that command; tests/unit/test_docs.py fails while this file is stale
     or while a schema key has no `description`. -->

Every key a sweep configuration (`config/config.yaml`, `config/paper.yaml` or your own file) may hold.
Before any job runs, the Snakefile checks the configuration against `config/schema.yaml`: an unknown key,
a value outside the accepted ones or a missing required key stops the run with one line per problem,
naming the key and what is accepted, and keys left out get the defaults below.

Regenerate this page after editing the schema:

```bash
python -m snntopo.config_docs          # rewrite config/README.md
python -m snntopo.config_docs --check  # exit status 1 when it is out of date
```

`<name>` in a key stands for a name you choose from the listed ones (a pruner, a DST algorithm…).
Defaults marked "(code)" are not in the schema but filled in by the library. The method behind the
options is described in [the documentation](../docs/index.md).
"""


def load_schema(path: str | Path = SCHEMA_PATH) -> dict[str, Any]:
    return yaml.safe_load(Path(path).read_text())


def _resolve(node: Mapping[str, Any], root: Mapping[str, Any]) -> dict[str, Any]:
    """``node`` with a local ``$ref`` merged in (the node's own keys, e.g. its description, win)."""
    node = dict(node)
    ref = node.pop("$ref", None)
    if ref is None:
        return node
    if not ref.startswith("#/"):
        raise ValueError(f"schema $ref {ref!r}: only local references (#/...) are supported")
    target: Any = root
    for part in ref[2:].split("/"):
        target = target[part]
    return {**_resolve(target, root), **node}


def iter_keys(schema: Mapping[str, Any], root: Mapping[str, Any] | None = None,
              prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:  # fmt: skip
    """Every documented key as ``(dotted path, resolved sub-schema)``, depth first, in schema order.

    Nested ``properties`` are keys; the ``properties`` of an ``additionalProperties`` object (options
    shared by every entry of a name → options mapping) appear under ``<name>``."""
    root = schema if root is None else root
    for key, sub in schema.get("properties", {}).items():
        node = _resolve(sub, root)
        path = f"{prefix}{key}"
        yield path, node
        yield from iter_keys(node, root, path + ".")
        extra = node.get("additionalProperties")
        if isinstance(extra, Mapping) and "properties" in extra:
            yield from iter_keys(_resolve(extra, root), root, f"{path}.{ANY_NAME}.")


def undocumented(schema: Mapping[str, Any]) -> list[str]:
    """Keys whose schema node has no (non-blank) ``description``."""
    return [path for path, node in iter_keys(schema) if not str(node.get("description", "")).strip()]


def _code(value: Any) -> str:
    return "`" + json.dumps(value, ensure_ascii=False) + "`" if not isinstance(value, str) else f"`{value}`"


def _type(node: Mapping[str, Any]) -> str:
    kind = node.get("type", "")
    kinds = kind if isinstance(kind, list) else [kind]
    words = []
    for k in kinds:
        if k == "array":
            item = node.get("items", {}).get("type")
            words.append(f"list of {item}s" if item else "list")
        elif k == "object":
            words.append("mapping")
        elif k == "null":
            words.append("null")
        elif k:
            words.append(str(k))
    return " or ".join(words)


def _bounds(node: Mapping[str, Any]) -> list[str]:
    signs = (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<"))
    return [f"{sign} {node[key]}" for key, sign in signs if key in node]


def _accepted(node: Mapping[str, Any]) -> str:
    """The constraints of a key in words."""
    parts: list[str] = []
    if "enum" in node:
        parts.append(" \\| ".join(_code(v) for v in node["enum"]))
    if _bounds(node):
        parts.append(" and ".join(_bounds(node)))
    if "pattern" in node:
        parts.append(f"matching `{node['pattern']}`")
    items = node.get("items")
    if isinstance(items, Mapping):
        inner = _accepted(items)
        if inner:
            parts.append(f"each item {inner}")
    if "minItems" in node:
        parts.append(f"at least {node['minItems']} item{'s' if node['minItems'] != 1 else ''}")
    if node.get("uniqueItems"):
        parts.append("no repeats")
    names = node.get("propertyNames")
    if isinstance(names, Mapping) and "enum" in names:
        parts.append("names: " + ", ".join(_code(v) for v in names["enum"]))
    if "minProperties" in node:
        parts.append(f"at least {node['minProperties']} entr{'ies' if node['minProperties'] != 1 else 'y'}")
    extra = node.get("additionalProperties")
    if extra is False and "properties" in node:
        parts.append("only the keys below")
    elif isinstance(extra, Mapping) and "enum" in extra:
        parts.append("values: " + " \\| ".join(_code(v) for v in extra["enum"]))
    return "; ".join(parts)


def _code_defaults(section: str) -> dict[str, Any]:
    target = CODE_DEFAULTS.get(section)
    if target is None:
        return {}
    module, name = target.split(":")
    cls = getattr(importlib.import_module(module), name)
    instance = cls()
    out = {}
    for f in dataclasses.fields(cls):
        value = getattr(instance, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def _default(path: str, node: Mapping[str, Any], code: Mapping[str, Mapping[str, Any]]) -> str:
    if "default" in node:
        return _code(node["default"])
    section, *parts = path.split(".")
    value: Any = code.get(section, {})
    for part in parts:  # nested code defaults, e.g. analysis.gbt.max_depth
        if not isinstance(value, Mapping) or part not in value:
            return "—"
        value = value[part]
    return f"{_code(value)} (code)" if parts else "—"


def _description(node: Mapping[str, Any]) -> str:
    return " ".join(str(node.get("description", "")).split()).replace("|", "\\|")


def render(schema: Mapping[str, Any]) -> str:
    """config/README.md for ``schema``: the header, the required keys and one table per section."""
    keys = list(iter_keys(schema))
    code = {section: _code_defaults(section) for section in CODE_DEFAULTS}
    required = schema.get("required", [])
    lines = [HEADER]
    if schema.get("description"):
        lines += [" ".join(str(schema["description"]).split()), ""]
    if required:
        lines += ["Required keys: " + ", ".join(f"`{k}`" for k in required) + ".", ""]
    sections: dict[str, list[tuple[str, dict[str, Any]]]] = {"": []}
    for path, node in keys:
        top = path.split(".")[0]
        if "." in path:
            sections.setdefault(top, []).append((path, node))
        else:
            sections[""].append((path, node))
    for section, rows in sections.items():
        title = "Top-level keys" if not section else f"`{section}`"
        lines += [f"## {title}", ""]
        if section:
            lines += [_description(dict(keys)[section]), ""]
        lines += ["| key | type | default | accepted | meaning |", "|---|---|---|---|---|"]
        for path, node in rows:
            lines.append(
                f"| `{path}` | {_type(node)} | {_default(path, node, code)} | {_accepted(node)} | "
                f"{_description(node)} |"
            )
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render config/schema.yaml as config/README.md.")
    parser.add_argument("--check", action="store_true", help="only check that config/README.md is current")
    parser.add_argument("--schema", default=str(SCHEMA_PATH))
    parser.add_argument("--output", default=str(README_PATH))
    args = parser.parse_args(argv)
    schema = load_schema(args.schema)
    missing = undocumented(schema)
    if missing:
        print("schema keys without a description: " + ", ".join(missing), file=sys.stderr)
        return 1
    text = render(schema)
    out = Path(args.output)
    if args.check:
        if not out.exists() or out.read_text() != text:
            print(f"{out} is out of date; run: python -m snntopo.config_docs", file=sys.stderr)
            return 1
        return 0
    out.write_text(text)
    print(f"wrote {out} ({len(list(iter_keys(schema)))} keys)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
