"""snntopo.training"""
