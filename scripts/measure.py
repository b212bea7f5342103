"""Snakemake entry point: encode one sweep point and compute the metric families of one encoding family.

measure_mge computes the MGE families; measure_bge every bipartite encoding of the sweep in one process
(its params.families maps each encoding to its families, and the outputs follow that order).
"""

from pathlib import Path

import torch

from snntopo.encoding import save_graph
from snntopo.metrics.measure import measure
from snntopo.models import load_init
from snntopo.pruning import apply_masks, load_masks, start_from_mask
from snntopo.utils import job_logger, write_json

log = job_logger(f"snntopo.{snakemake.rule}", snakemake.log[0] if snakemake.log else None)
wc, params, inputs = snakemake.wildcards, snakemake.params, snakemake.input
plan = {"mge": params.families} if snakemake.rule == "measure_mge" else dict(params.families)
model, init = load_init(inputs.init)
masks = load_masks(inputs.mask, model)
start_from_mask(model, inputs.start)  # "init" weights = where training started (warm-up, if any)
init_state = {k: v.clone() for k, v in model.state_dict().items()}
if hasattr(inputs, "trained"):  # Namedlist: `in` would test values, not names
    model.load_state_dict(torch.load(inputs.trained, map_location="cpu", weights_only=True)["state_dict"])
apply_masks(model, masks)
for (encoding, families), output in zip(plan.items(), snakemake.output, strict=True):
    values, seconds, graph = measure(
        model, masks, init["input_shape"], encoding, families,
        options=params.options, init_state=init_state, seed=int(wc.seed),
    )  # fmt: skip
    if graph is not None and params.options.get("keep_graphs"):
        # Not a declared output: graphs are large and optional (metrics.keep_graphs).
        save_graph(graph, Path(output).parent.parent / "graphs" / f"{encoding}.gt.xz")
    write_json(output, {"encoding": encoding, "families": values, "seconds": seconds})
    log.info("%s: %s in %s", encoding, ", ".join(values), {k: round(v, 2) for k, v in seconds.items()})
