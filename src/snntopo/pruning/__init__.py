"""snntopo.pruning"""
