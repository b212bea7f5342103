"""snntopo.data"""
