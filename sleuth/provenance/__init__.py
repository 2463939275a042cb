"""sleuth.provenance"""
