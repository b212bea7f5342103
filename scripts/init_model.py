"""Snakemake entry point: seeded initialisation of one model for one dataset's input shape."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup_logging  # noqa: E402

import torch  # noqa: E402

from snntopo.models import count_parameters, init_model  # noqa: E402
from snntopo.utils import atomic_path, tensors_checksum  # noqa: E402

log = setup_logging(snakemake)
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
