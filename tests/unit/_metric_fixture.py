"""Small real MGEs whose topometric values were recorded before the metric engine was reworked (issue 18).

``python tests/unit/_metric_fixture.py [SRC_DIR]`` rewrites tests/data/mge_metric_values.json from the
code in SRC_DIR (default: this checkout's src/); it was run once on the src/ of commit e29f597 (before any
change) so that the test can check that faster code returns the same values. The motif estimate is
recorded but not compared (its estimator changed).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "mge_metric_values.json"
#: (model, input shape, mask density): ResNet-20 (skip edges, non-bipartite) and CONV-6 (bipartite layers)
CASES = [
    ("resnet20", (3, 8, 8), 0.02),
    ("resnet20", (3, 8, 8), 0.10),
    ("resnet20", (3, 8, 8), 0.40),
    ("conv6", (3, 8, 8), 0.02),
    ("conv6", (3, 8, 8), 0.10),
]
COMPATS = ("clean", "released")


def case_key(model: str, shape: tuple[int, ...], density: float, compat: str) -> str:
    return f"{model}/{'x'.join(map(str, shape))}/{density}/{compat}"


def build_case(model_name: str, shape: tuple[int, ...], density: float, compat: str):
    from snntopo import encoding, models

    model = models.init_model(model_name, shape, 10, seed=0)
    g = torch.Generator().manual_seed(1)
    masks = {
        name: torch.rand(p.shape, generator=g) < density
        for name, p in models.prunable_parameters(model).items()
    }
    with torch.no_grad():
        for name, p in models.prunable_parameters(model).items():
            p.mul_(masks[name])
    return encoding.encode("mge", model, masks, shape, compat="released" if compat == "released" else None)


def record() -> dict[str, dict[str, float]]:
    from snntopo.metrics import mge_topometrics

    return {
        case_key(m, s, d, c): mge_topometrics(build_case(m, s, d, c), compat=c, seed=0)
        for m, s, d in CASES
        for c in COMPATS
    }


if __name__ == "__main__":
    # optional argument: the src/ directory of the code to record (default: this checkout's)
    sys.path.insert(0, sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).resolve().parents[2] / "src"))
    values = record()
    FIXTURE.write_text(json.dumps(values, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(values)} cases to {FIXTURE}")
