"""snntopo.analysis"""
