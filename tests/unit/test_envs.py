"""The per-rule conda environments (`snakemake --sdm conda`): pinned, attached, and equal to the venv.

No conda channel is reachable where the suite runs, so the environments cannot be built here; these tests
check what can be checked without building them: every job-running rule names an existing env file, every
package is pinned to one exact version from conda-forge, and those versions are the ones the test suite
itself runs with (so a conda run computes with the same code as the venv).
"""

import importlib.metadata
import platform
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ENV_FILES = sorted((ROOT / "envs").glob("*.yaml"))
# conda-forge name → the distribution (or, for Debian's graph-tool, module) that provides it in the venv
DIST_OF = {"pytorch": "torch", "pyyaml": "PyYAML", "graph-tool": "graph_tool"}
ENV_LINE = re.compile(r"^(?P<name>[a-z0-9_.-]+)=(?P<version>\d+(\.\d+)*)$")


def _pins(path: Path) -> dict[str, str]:
    deps = yaml.safe_load(path.read_text())["dependencies"]
    pins = {}
    for dep in deps:
        m = ENV_LINE.match(str(dep))
        assert m, f"{path.name}: {dep!r} is not pinned as name=version"
        pins[m["name"]] = m["version"]
    return pins


def _installed_version(name: str) -> str | None:
    dist = DIST_OF.get(name, name)
    if dist == "graph_tool":
        import graph_tool

        return graph_tool.__version__.split()[0]
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def test_the_three_environments_exist() -> None:
    assert [p.name for p in ENV_FILES] == ["analysis.yaml", "graph.yaml", "torch.yaml"]


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_pins_exact_conda_forge_versions_equal_to_the_venv(path: Path) -> None:
    spec = yaml.safe_load(path.read_text())
    assert spec["channels"] == ["conda-forge", "nodefaults"]
    pins = _pins(path)
    assert pins.pop("python") == ".".join(platform.python_version_tuple()[:2])
    mismatched = {name: (version, _installed_version(name)) for name, version in pins.items()
                  if _installed_version(name) != version}  # fmt: skip
    assert not mismatched, f"{path.name}: pinned vs installed in the venv: {mismatched}"


def _rule_blocks() -> dict[str, str]:
    blocks = {}
    for smk in sorted((ROOT / "rules").glob("*.smk")):
        parts = re.split(r"^\s*rule (\w+):\s*$", smk.read_text(), flags=re.M)
        blocks.update(dict(zip(parts[1::2], parts[2::2], strict=True)))
    return blocks


def test_every_job_running_rule_attaches_an_existing_env() -> None:
    blocks = _rule_blocks()
    running = {name: text for name, text in blocks.items() if re.search(r"^\s*(script|shell):", text, re.M)}
    assert {"prune", "train", "measure_mge", "measure_bge", "collect", "analyse"} <= set(running)
    for name, text in running.items():
        m = re.search(r'^\s*conda:\s*\n\s*"([^"]+)"', text, re.M)
        assert m, f"rule {name} runs a job but has no conda: directive"
        assert (ROOT / "rules" / m[1]).resolve().is_file(), f"rule {name}: {m[1]} does not exist"
