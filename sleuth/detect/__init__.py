"""sleuth.detect"""
