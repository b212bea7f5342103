"""snntopo.plots: figures of the analysis stage (seaborn, Agg backend) and graph-tool MGE drawings."""

import warnings

# graph-tool comes from Debian, whose python3-matplotlib puts an mpl_toolkits beside the venv's
# matplotlib; matplotlib then warns that 3D axes are unavailable. No figure here is 3D.
warnings.filterwarnings("ignore", message="Unable to import Axes3D", category=UserWarning)

from snntopo.plots.figures import FIGURE_CAPTIONS, FIGURES, make_figures  # noqa: E402 (after the filter)
from snntopo.plots.mge import draw_mge, example_mge  # noqa: E402

__all__ = ["FIGURES", "FIGURE_CAPTIONS", "draw_mge", "example_mge", "make_figures"]
