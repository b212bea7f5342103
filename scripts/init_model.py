"""Snakemake entry point: seeded initialisation of one model for one dataset's input shape."""

import json
from pathlib import Path

import torch

from snntopo.models import count_parameters, init_model
from snntopo.utils import atomic_path, job_logger, tensors_checksum

log = job_logger(f"snntopo.{snakemake.rule}", snakemake.log[0] if snakemake.log else None)
info = json.loads(Path(snakemake.input.dataset).read_text())
wc = snakemake.wildcards
model = init_model(wc.model, info["input_shape"], info["num_classes"], seed=int(wc.seed))
state = model.state_dict()
with atomic_path(snakemake.output[0]) as tmp:
    torch.save(
        {
            "model": wc.model,
            "input_shape": info["input_shape"],
            "num_classes": info["num_classes"],
            "seed": int(wc.seed),
            "state_dict": state,
            "checksum": tensors_checksum(state),
        },
        tmp,
    )
log.info("%s seed %s: %d parameters, checksum %s", wc.model, wc.seed, count_parameters(model),
         tensors_checksum(state)[:12])  # fmt: skip
