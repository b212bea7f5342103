"""snntopo.plots: figures of the analysis stage (seaborn, Agg backend) and graph-tool MGE drawings."""

from snntopo.plots.figures import FIGURE_CAPTIONS, FIGURES, make_figures
from snntopo.plots.mge import draw_mge, example_mge

__all__ = ["FIGURES", "FIGURE_CAPTIONS", "draw_mge", "example_mge", "make_figures"]
