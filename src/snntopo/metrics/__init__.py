"""snntopo.metrics"""
