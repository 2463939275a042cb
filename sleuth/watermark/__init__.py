"""sleuth.watermark"""
