"""A test-only analyzer that never returns for 13-pixel-wide images (a stand-in for a stuck decoder)."""
import time

from sleuth.analyzers import register


@register("stall", kind="file", tier="fast", order=1, description="test: hangs on 13-px-wide images")
def stall(img, ctx):
    if img.width == 13:
        time.sleep(3600)
    return None
