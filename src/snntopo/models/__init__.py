"""snntopo.models"""
