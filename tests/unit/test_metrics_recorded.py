"""The reworked metric engine (issue 18) returns the values the code of commit e29f597 returned on small
real MGEs (tests/data/mge_metric_values.json, written by tests/unit/_metric_fixture.py from that commit's
src/), within 1e-9 relative; the motif estimate is excluded (its estimator changed)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _metric_fixture import CASES, COMPATS, FIXTURE, build_case, case_key

from snntopo.metrics import mge_topometrics
from snntopo.topometric_names import MGE_METRICS

RECORDED = json.loads(FIXTURE.read_text())
COMPARED = [m for m in MGE_METRICS if m != "motif"]


@pytest.fixture(scope="module", params=[c[:3] for c in CASES], ids=lambda c: f"{c[0]}-{c[2]}")
def graphs(request):
    return {compat: (request.param, build_case(*request.param, compat)) for compat in COMPATS}


@pytest.mark.parametrize("compat", COMPATS)
def test_values_equal_the_recorded_ones(graphs, compat):
    (model, shape, density), g = graphs[compat]
    want = RECORDED[case_key(model, shape, density, compat)]
    got = mge_topometrics(g, compat=compat, seed=0)
    assert got["nodes"] == want["nodes"] and got["edges"] == want["edges"]
    for name in COMPARED:
        for key in (name, f"{name}_raw"):
            np.testing.assert_allclose(got[key], want[key], rtol=1e-9, atol=0, err_msg=key)
