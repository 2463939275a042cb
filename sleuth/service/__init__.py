"""sleuth.service"""
