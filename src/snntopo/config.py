"""Validate a sweep configuration against config/schema.yaml with messages a person can act on.

Snakemake's own ``validate`` prints the whole schema; here every problem is one line that names the key
path, the offending value, what is accepted and, for misspellings, the closest accepted name.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from snntopo.errors import SnntopoError


class ConfigError(SnntopoError, ValueError):
    """The configuration does not satisfy the schema; the message lists every problem."""


def load_schema(path: str | Path) -> dict[str, Any]:
    return yaml.safe_load(Path(path).read_text())


def validate_config(config: Mapping[str, Any], schema: Mapping[str, Any] | str | Path) -> dict[str, Any]:
    """Return a copy of ``config`` with schema defaults filled in, or raise ConfigError listing problems."""
    if not isinstance(schema, Mapping):
        schema = load_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    problems = sorted(
        (_describe(error) for error in validator.iter_errors(dict(config))), key=lambda line: line.lower()
    )
    if problems:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(problems))
    return _with_defaults(dict(copy.deepcopy(config)), schema)


def _path(error: jsonschema.ValidationError) -> str:
    parts = [f"[{p}]" if isinstance(p, int) else str(p) for p in error.absolute_path]
    return ".".join(parts).replace(".[", "[") or "<top level>"


def _suggest(name: str, accepted: list[str]) -> str:
    close = difflib.get_close_matches(name, accepted, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _describe(error: jsonschema.ValidationError) -> str:
    where, schema = _path(error), error.schema
    if error.validator == "additionalProperties" and isinstance(schema, Mapping):
        accepted = sorted(schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(accepted))
        return "; ".join(
            f"{where}: unknown key {key!r}{_suggest(key, accepted)}; accepted keys: {', '.join(accepted)}"
            for key in extra
        )
    if error.validator == "enum":
        accepted = [str(v) for v in error.validator_value]
        suggestion = _suggest(str(error.instance), accepted)
        return f"{where}: {error.instance!r} is not accepted{suggestion}; accepted: {', '.join(accepted)}"
    if error.validator in {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}:
        bounds = {k: schema[k] for k in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum")
                  if k in schema}  # fmt: skip
        return f"{where}: {error.instance!r} is out of range; accepted: {_bounds_text(bounds)}"
    return f"{where}: {error.message}"


def _bounds_text(bounds: Mapping[str, float]) -> str:
    lo = (f"≥ {bounds['minimum']}" if "minimum" in bounds else
          f"> {bounds['exclusiveMinimum']}" if "exclusiveMinimum" in bounds else "")  # fmt: skip
    hi = (f"≤ {bounds['maximum']}" if "maximum" in bounds else
          f"< {bounds['exclusiveMaximum']}" if "exclusiveMaximum" in bounds else "")  # fmt: skip
    return " and ".join(part for part in (lo, hi) if part)


def _with_defaults(config: dict[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """Fill in ``default`` values of the schema's properties, recursing into nested objects."""
    for key, sub in schema.get("properties", {}).items():
        if key not in config and "default" in sub:
            config[key] = copy.deepcopy(sub["default"])
        if isinstance(config.get(key), dict) and sub.get("type") == "object":
            _with_defaults(config[key], sub)
    return config
