"""The drop's between-configuration / within-configuration (seed) variance ratio on hand-computed tables."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from snntopo.analysis.effect import effect_table, variance_ratio


def _drops(values: dict[tuple[str, float], list[float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"pruner": p, "sparsity": s, "seed": i, "y": y}
            for (p, s), ys in values.items()
            for i, y in enumerate(ys)
        ]
    )


def test_variance_ratio_by_hand():
    # configuration means 0.1, 0.3, 0.5 → between variance ((−.2)² + 0 + .2²) / 2 = 0.04
    # seed variances (ddof 1): (0,.2)→0.02, (.3,.3)→0, (.4,.6)→0.02 → within = 0.04/3
    stats = variance_ratio(_drops({("a", 0.9): [0.0, 0.2], ("b", 0.9): [0.3, 0.3], ("a", 0.5): [0.4, 0.6]}))
    assert stats["configurations"] == 3 and stats["seeds"] == 2
    assert stats["between_var"] == pytest.approx(0.04)
    assert stats["within_var"] == pytest.approx(0.04 / 3)
    assert stats["ratio"] == pytest.approx(3.0)


def test_variance_ratio_of_pure_noise_and_of_no_noise():
    # Equal configuration means: no effect at all, whatever the seed noise.
    assert variance_ratio(_drops({("a", 0.9): [0.0, 0.2], ("b", 0.9): [0.2, 0.0]}))["ratio"] == 0.0
    # Seeds agree exactly but configurations differ: an infinitely clear effect.
    assert variance_ratio(_drops({("a", 0.9): [0.1, 0.1], ("b", 0.9): [0.3, 0.3]}))["ratio"] == math.inf
    # One seed per configuration: no within-configuration variance to compare with.
    assert math.isnan(variance_ratio(_drops({("a", 0.9): [0.1], ("b", 0.9): [0.3]}))["ratio"])


def test_effect_table_uses_the_relative_drop_against_the_same_seed():
    # dense accuracy 0.8 (seed 0) and 1.0 (seed 1); relative drops: a → 0.5, 0.5; b → 0.25, 0.3.
    rows = [
        ("a", 0.9, 0, 0.4, 0.8), ("a", 0.9, 1, 0.5, 1.0),
        ("b", 0.9, 0, 0.6, 0.8), ("b", 0.9, 1, 0.7, 1.0),
        ("b", 0.5, 0, 0.8, 0.8), ("b", 0.5, 1, 1.0, 1.0),
    ]  # fmt: skip
    table = pd.DataFrame(rows, columns=["pruner", "sparsity", "seed", "accuracy", "dense_accuracy"])
    table = table.assign(dataset="digits", model="cnn")
    out = effect_table(table).set_index("scope")
    # highest sparsity 0.9: means 0.5 and 0.275 → between 0.0253125; within (0 + 0.00125) / 2
    top = out.loc["highest sparsity"]
    assert top["sparsity"] == 0.9 and top["configurations"] == 2 and top["seeds"] == 2
    assert top["between_var"] == pytest.approx(0.0253125)
    assert top["within_var"] == pytest.approx(0.000625)
    assert top["ratio"] == pytest.approx(40.5)
    # all: means 0.5, 0.275, 0 → between var 0.0626042; within (0 + 0.00125 + 0) / 3
    everything = out.loc["all"]
    assert everything["configurations"] == 3
    assert everything["between_var"] == pytest.approx(((0.5 - 0.775 / 3) ** 2 + (0.275 - 0.775 / 3) ** 2
                                                       + (0.775 / 3) ** 2) / 2)  # fmt: skip
    assert everything["within_var"] == pytest.approx(0.00125 / 3)
