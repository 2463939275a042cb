"""sleuth.forensics"""
