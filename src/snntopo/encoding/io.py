"""Saving graphs in graph-tool's binary format (optionally compressed), atomically."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import graph_tool as gt

from snntopo.errors import InvalidValueError

GRAPH_SUFFIXES = (".gt", ".gt.gz", ".gt.bz2", ".gt.xz")


def save_graph(g: gt.Graph, path: str | os.PathLike[str]) -> Path:
    """Write ``g`` to ``path`` (``.gt``, ``.gt.gz``, ``.gt.bz2`` or ``.gt.xz``; compression from the name).

    The file is written beside its target under a temporary name with the same suffix (graph-tool picks
    the compressor from it) and renamed into place, so a killed job never leaves a truncated graph.
    """
    path = Path(path)
    suffix = next((s for s in GRAPH_SUFFIXES[::-1] if path.name.endswith(s)), None)
    if suffix is None:
        raise InvalidValueError("graph file name", str(path), "a name ending in " + ", ".join(GRAPH_SUFFIXES))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name[: -len(suffix)]}.{uuid.uuid4().hex}{suffix}")
    try:
        g.save(str(tmp), fmt="gt")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def load_graph(path: str | os.PathLike[str]) -> gt.Graph:
    """Load a graph written by :func:`save_graph` (internal properties included)."""
    return gt.load_graph(str(path))
