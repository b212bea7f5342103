"""snntopo.plots"""
