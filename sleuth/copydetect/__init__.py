"""sleuth.copydetect"""
