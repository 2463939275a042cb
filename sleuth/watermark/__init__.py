"""sleuth.watermark: sleuth's own robust watermark and the open baselines.

* :mod:`.sleuthmark`: the scheme (embed / detect), design and numbers in its docstring;
* :mod:`.keys`: key parsing and HKDF-SHA256 derivation; :mod:`.ecc`: BCH payload coding;
* :mod:`.methods`: one interface for sleuth, dwtDct, dwtDctSvd, rivaGan and TrustMark;
* :mod:`.api`: file-level mark / verify (alpha and metadata kept); :mod:`.evidence`: the
  ``watermark`` scan analyzer; :mod:`.known` (provenance): known third-party marks.

``sleuth mark`` / ``sleuth verify`` live in :mod:`sleuth.commands.watermark`.
"""
