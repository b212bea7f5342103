"""snntopo: prune at initialisation → train → encode as graphs → measure → analyse.

Configuration: config/config.yaml (embedded default) or --configfile config/paper.yaml; validated against
config/schema.yaml before any job is scheduled.
"""

import os
from pathlib import Path

from snakemake.utils import min_version

from snntopo.config import validate_config

min_version("9.0")


configfile: "config/config.yaml"


# Jobs import the library from this checkout whatever their environment (.venv or --sdm conda).
_src = str(Path(workflow.basedir) / "src")
os.environ.update(
    PYTHONPATH=os.pathsep.join(filter(None, [_src, os.environ.get("PYTHONPATH")]))
)


# Fill defaults and fail before scheduling anything, one line per problem naming the key and what is accepted.
config.update(validate_config(config, workflow.source_path("config/schema.yaml")))


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/init.smk"
include: "rules/prune.smk"
include: "rules/train.smk"
include: "rules/metrics.smk"
include: "rules/analysis.smk"
include: "rules/dst.smk"


# Every output of the configured sweep (rules from the includes come first, hence default_target).
rule all:
    default_target: True
    input:
        rules.analyse.output,
        [] if EXTERNAL_TABLES else rules.effect.output,
        DST_TARGETS,
