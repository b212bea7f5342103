"""snntopo: prune at initialisation → train → encode as graphs → measure → analyse.

Configuration: config/config.yaml (embedded default) or --configfile config/paper.yaml; validated against
config/schema.yaml before any job is scheduled.
"""

from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "config/schema.yaml")


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/init.smk"


rule all:
    """Every output of the configured sweep."""
    input:
        init_targets(),
    default_target: True
