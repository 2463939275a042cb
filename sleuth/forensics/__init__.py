"""sleuth.forensics: manipulation detection and localisation.

Design
------
Classical, scriptable analyzers, each giving a heatmap (white = suspicious), a raw score, a
reliability flag and a reason: ``ela`` (texture-normalised error level analysis), ``noise``
(wavelet noise-level inconsistency), ``jpeg-ghost`` and ``jpeg-dq`` (JPEG only: ghosts and
aligned double quantisation from the DCT coefficients), ``copy-move`` (SIFT self-matching +
RANSAC + dense check, block fallback), ``resampling`` (interpolation periodicity),
``self-consistency`` (a small CNN embedding of the camera/compression pipeline learnt on real
photos only, :mod:`.selfconsistency`, trained by :mod:`.sctrain`; regions far from the image's
own pipeline), ``scaling-attack`` (Decamouflage-style) and the opt-in ``dense-copy-move`` (Zernike moments +
PatchMatch + dense linear fitting, :mod:`.densecm`). :mod:`.decision` stacks the analyzers'
image-level features into one logistic decision thresholded at 1% false alarms on pristine
development photos (fitted by library code, stored in ``sleuth/data/forensics/decision.json``);
:mod:`.fusion` turns it into the ``manipulation`` item's score and fuses the maps.
:mod:`.evidence` registers everything with the scan pipeline. Block-local analyzers run tile by
tile (bounded memory). Measured results: docs/benchmarks.md (section forensics).
"""
