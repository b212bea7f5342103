"""snntopo: topology of sparse neural networks, from pruning at initialization to analysis.

Subpackages follow the pipeline's stages: ``data``, ``models``, ``pruning``, ``training``,
``encoding``, ``metrics``, ``analysis`` and ``plots``. Nothing here imports Snakemake.
"""

__version__ = "0.1.0"
