"""snntopo.encoding"""
