"""The documentation stays inside the repository, its links resolve and its generated parts match the code.

* README.md, docs/ and config/ refer to nothing outside the repository except public URLs;
* every Markdown link (file and #anchor) of README.md, docs/ and config/README.md resolves;
* config/README.md documents every key of config/schema.yaml and equals what snntopo.config_docs renders;
* the worked MGE example of docs/method/encodings.md holds the counts the encoding code computes.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from snntopo import config_docs, docs_example

ROOT = Path(__file__).resolve().parents[2]
TEXT_SUFFIXES = {".md", ".yaml", ".yml", ".rst", ".txt", ".cff"}

#: what a user-facing file must not mention: the steering repository's files, paths of one machine
OUTSIDE = re.compile(
    r"\.\./shared|shared/docs|METHOD\.md|DESIGN\.md|contracts\.md|file://"
    r"|(?<![\w.~])/(?:work|home|root|tmp|Users|mnt|opt)/"
)
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
CODE_SPAN = re.compile(r"`[^`\n]*`")


def user_files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "CITATION.cff"]
    for folder in ("docs", "config"):
        files += sorted(p for p in (ROOT / folder).rglob("*") if p.suffix in TEXT_SUFFIXES)
    return files


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", ROOT / "config/README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def outside_references(text: str) -> list[str]:
    return sorted({m.group(0) for m in OUTSIDE.finditer(text)})


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, markup and punctuation dropped, spaces → hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links keep their text
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown file (repeated headings get -1, -2, … as on GitHub)."""
    seen: dict[str, int] = {}
    out = set()
    for line in FENCE.sub("", path.read_text()).splitlines():
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        base = slug(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(path: Path) -> list[str]:
    """Targets of the inline Markdown links and images, outside code blocks and code spans."""
    text = CODE_SPAN.sub("", FENCE.sub("", path.read_text()))
    return [m.group(1) for m in LINK.finditer(text)]


def broken_links(path: Path) -> list[str]:
    """Link targets of ``path`` that do not resolve to a file (and heading) inside the repository."""
    bad = []
    for target in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:… public addresses
            if not target.startswith(("https:", "http:", "mailto:")):
                bad.append(f"{target} (scheme)")
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path.resolve()
        if not dest.is_relative_to(ROOT):
            bad.append(f"{target} (outside the repository)")
        elif not dest.exists():
            bad.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(f"{target} (no heading #{anchor})")
    return bad


# ----------------------------------------------------------------------------------------------------
# (a) nothing outside the repository
# ----------------------------------------------------------------------------------------------------


def test_user_facing_files_refer_to_nothing_outside_the_repository():
    found = {str(p.relative_to(ROOT)): outside_references(p.read_text()) for p in user_files()}
    assert {k: v for k, v in found.items() if v} == {}


#: what code must not cite: the method specification and design the project was built from live outside it
STEERING = re.compile(r"shared/docs|METHOD(?:\.md|\s*§)|DESIGN\.md|contracts\.md")
CODE_DIRS = ("src", "scripts", "rules", "bench", "tests", "profiles", "report", "envs")


def test_code_cites_the_projects_docs_not_files_outside_it():
    """Docstrings and comments point to docs/ (tests may still read test data from ../shared/data)."""
    files = [ROOT / "Snakefile", ROOT / "Makefile", ROOT / "pyproject.toml"]
    for folder in CODE_DIRS:
        files += [
            p
            for p in (ROOT / folder).rglob("*")
            if p.is_file() and p.suffix in {".py", ".smk", ".rst", ".yaml"}
        ]
    this = Path(__file__).resolve()
    found = {
        str(p.relative_to(ROOT)): sorted({m.group(0) for m in STEERING.finditer(p.read_text())})
        for p in files
        if p.resolve() != this
    }
    assert {k: v for k, v in found.items() if v} == {}
    outside_tests = [p for p in files if "tests" not in p.relative_to(ROOT).parts]
    assert [str(p.relative_to(ROOT)) for p in outside_tests if "../shared" in p.read_text()] == []


def test_outside_reference_detector_catches_what_it_must():
    assert outside_references("see ../shared/docs/METHOD.md §5.1") == ["../shared", "METHOD.md"]
    assert outside_references("data under /work/wt/i17/data") == ["/work/"]
    assert outside_references("DESIGN.md beside it") == ["DESIGN.md"]
    assert outside_references("results/data/x.json, ~/tmp/ok, https://example.org/home/x") == []


# ----------------------------------------------------------------------------------------------------
# (b) links resolve
# ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_markdown_links_resolve(path: Path):
    assert broken_links(path) == []


def test_docs_pages_are_all_reachable_from_the_index():
    index = ROOT / "docs/index.md"
    targets = [t.partition("#")[0] for t in links(index) if not t.startswith("http")]
    reached = {(index.parent / t).resolve() for t in targets}
    pages = {p.resolve() for p in (ROOT / "docs").rglob("*.md")} - {index.resolve()}
    assert pages - reached == set()


def test_link_checker_reports_missing_files_anchors_and_escapes(tmp_path, monkeypatch):
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs/a.md").write_text("# Title\n\n## Clean and `released` (mode)\n\n## Title\n")
    page = tmp_path / "docs/b.md"
    page.write_text(
        "[ok](a.md#clean-and-released-mode) [dup](a.md#title-1) ![img](a.md) [web](https://x.org/y)\n"
        "[gone](missing.md) [anchor](a.md#nope) [escape](../../etc/passwd) [self](#here)\n"
        "```\n[in code](nowhere.md)\n```\n`[span](nowhere.md)`\n\n### Here\n"
    )
    assert broken_links(page) == [
        "missing.md (no such file)",
        "a.md#nope (no heading #nope)",
        "../../etc/passwd (outside the repository)",
    ]


def test_slug_follows_github():
    assert slug("Multipartite graph encoding (MGE)") == "multipartite-graph-encoding-mge"
    assert slug("Published layout (`compat: released`)") == "published-layout-compat-released"
    assert slug("`dst_topology`") == "dst_topology"
    assert slug("Extending: the registries") == "extending-the-registries"


# ----------------------------------------------------------------------------------------------------
# (c) the configuration reference covers the schema and is current
# ----------------------------------------------------------------------------------------------------


def test_every_schema_key_has_a_description():
    assert config_docs.undocumented(config_docs.load_schema()) == []


def test_config_reference_is_generated_from_the_current_schema():
    rendered = config_docs.render(config_docs.load_schema())
    assert (ROOT / "config/README.md").read_text() == rendered, "run: python -m snntopo.config_docs"


def test_config_reference_lists_every_schema_key_once():
    text = (ROOT / "config/README.md").read_text()
    rows = re.findall(r"^\| `([^`]+)` \|", text, re.M)
    keys = [path for path, _ in config_docs.iter_keys(config_docs.load_schema())]
    assert sorted(rows) == sorted(keys)  # grouped by section, each key exactly once
    assert {"device", "metrics.compat", "pruners.<name>.sparsities", "analysis.gbt.max_depth"} <= set(keys)


SMALL_SCHEMA = {
    "type": "object",
    "properties": {
        "level": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 1,
            "default": 0.5,
            "description": "a | b",
        },
        "mode": {"type": "string", "enum": ["x", "y"], "description": "the mode"},
        "items": {"$ref": "#/$defs/ints", "description": "own text wins"},
        "opts": {
            "type": "object",
            "additionalProperties": {"type": "object", "properties": {"k": {"type": "integer"}}},
        },
    },
    "$defs": {
        "ints": {"type": "array", "items": {"type": "integer", "minimum": 2}, "description": "ref text"}
    },
}


def test_generator_renders_constraints_defaults_and_finds_missing_descriptions():
    assert config_docs.undocumented(SMALL_SCHEMA) == ["opts", "opts.<name>.k"]
    text = config_docs.render(SMALL_SCHEMA)
    assert "| `level` | number | `0.5` | > 0 and ≤ 1 | a \\| b |" in text
    assert "| `mode` | string | — | `x` \\| `y` | the mode |" in text
    assert "| `items` | list of integers | — | each item ≥ 2 | own text wins |" in text
    assert "| `opts.<name>.k` | integer | — |  |  |" in text


def test_generator_check_mode_fails_on_a_stale_reference(tmp_path, capsys):
    out = tmp_path / "README.md"
    schema = ROOT / "config/schema.yaml"
    assert config_docs.main(["--schema", str(schema), "--output", str(out), "--check"]) == 1
    assert config_docs.main(["--schema", str(schema), "--output", str(out)]) == 0
    assert config_docs.main(["--schema", str(schema), "--output", str(out), "--check"]) == 0
    out.write_text(out.read_text().replace("| `device` |", "| `devise` |"))
    assert config_docs.main(["--schema", str(schema), "--output", str(out), "--check"]) == 1
    assert "out of date" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------------
# (d) the worked example is what the code computes
# ----------------------------------------------------------------------------------------------------


def test_worked_example_counts_on_the_page_equal_the_code():
    page = (ROOT / "docs/method/encodings.md").read_text()
    assert docs_example.replace_block(page, docs_example.example_block()) == page, (
        "run: python -m snntopo.docs_example"
    )
    assert (ROOT / "docs/method/img/mge_example.png").is_file()


def test_worked_example_dense_counts_match_hand_counts():
    rows = {(r.encoding, r.graph): r for r in docs_example.example_rows()}
    clean, released = rows["MGE (clean)", "whole network"], rows["MGE (released)", "whole network"]
    # conv1: 2 channels × (4 corners·4 + 8 border·6 + 4 inner·9 real taps); conv2: 2·2·(4 + 6 + 6 + 9)
    assert clean.dense_edges == 2 * (4 * 4 + 8 * 6 + 4 * 9) + 2 * 2 * 25 == 300
    assert (clean.nodes, clean.partitions) == (56, "16 + 32 + 8")
    # released: padded 6×6 input (9 taps everywhere); conv2 keeps the inner 3×3 of its 5×5 grid (2×2 taps)
    assert released.dense_edges == 2 * 16 * 9 + 2 * 2 * 4 * 4 == 352
    assert released.nodes == 36 + 32 + 8
    # a kept weight is one rolled-BGE edge
    _, masks = docs_example.example_network()
    assert rows["rolled BGE", "conv1"].edges == int(masks["conv1.weight"].sum())
    assert rows["rolled BGE", "conv2"].edges == int(masks["conv2.weight"].sum())


def test_replace_block_requires_the_markers():
    with pytest.raises(ValueError, match="markers"):
        docs_example.replace_block("no markers here", "x")


def test_reading_the_report_describes_every_figure_and_table():
    from snntopo.analysis import TABLES
    from snntopo.plots.figures import FIGURES

    page = (ROOT / "docs/reading-the-report.md").read_text()
    tables = [name for names in TABLES.values() for name in names]
    missing = [name for name in [*FIGURES, "dst_topology", *tables] if f"`{name}" not in page]
    assert missing == [], "describe these in docs/reading-the-report.md"
