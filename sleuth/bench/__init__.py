"""sleuth.bench"""
