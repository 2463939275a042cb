"""sleuth.commands"""
