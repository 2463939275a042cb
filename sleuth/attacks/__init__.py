"""sleuth.attacks"""
