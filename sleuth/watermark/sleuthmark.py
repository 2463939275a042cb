"""sleuth's own watermark: a keyed, periodic spread-spectrum mark in a canonical-scale domain.

Design (CPU only, no learned weights)
-------------------------------------
* **Canonical domain.** The luminance is resized so that its short side is ``CANON`` = 256 px;
  a resize of any factor lands on the same canonical grid, so resizing needs no search.
* **Periodic tile.** A key-derived T x T tile (T = 32 canonical px, 16 x 16 chips of 2 x 2 px,
  circularly smoothed) repeats over the whole canonical image: 128 chips carry a pseudo-random
  *sync* sequence, the other 128 the BCH-coded payload (64 data + 64 parity bits, one chip
  each, key-whitened, key-permuted; see *Layouts* for 128 bits). Periodicity turns any crop into a cyclic shift of the tile
  (found by one 32 x 32 FFT correlation) and lets all tiles add up coherently ("folding").
* **Embedding.** The tiled pattern is rendered at canonical scale, upsampled (bilinear) to full
  resolution, weighted by a texture mask (local activity ** 0.5, clipped to [0.5, 2]) and added
  equally to R, G and B (a pure luminance change, so colour, alpha and metadata are untouched),
  scaled to the target PSNR (``40.5 dB - 20 log10(strength)``). *Informed embedding* (improved
  spread spectrum): the chip values the decoder would read from the unmarked host are measured
  first and the per-chip amplitudes are set so that every chip reaches the same margin at the
  same energy, instead of fighting host texture that happens to anti-correlate.
* **Decoder whitening.** High-pass (minus a sigma 2.5 blur) divided by local activity ** 1.5.
* **Synchronisation (coherent lattice search).** Folding the image at a geometry (rotation,
  scale, horizontal stretch) and correlating the mean tile with the sync tile is, in the Fourier
  domain, sampling the image spectrum on the geometry's rotated, scaled lattice of tile
  frequencies (aliases summed), multiplying by the sync tile's conjugate spectrum and taking
  one 32 x 32 inverse FFT, which gives the correlation at every cyclic shift at once. The
  decoder computes one 2x zero-padded FFT of the whitened canonical image (at most 512 px a
  side, its centre at the origin so that lattice peaks keep a flat phase under bilinear
  interpolation), divides it by its local rms (unit-variance noise without a mark) and scores
  every geometry of two coarse grids by the maximum correlation over shifts: rotation x scale
  (-17..17 deg in 1 deg, 0.6..2.4 in 1.5 % steps: crops to 50 %, rotations with or without
  canvas growth) and, at angle 0, horizontal stretch x scale (0.75..1.33, scales 0.72..1.4:
  aspect-ratio changes). The N_CANDIDATES and N_ASPECT best local maxima are refined on local
  grids (0.25 deg, 0.4 %). Unlike a magnitude-only lattice search, this uses the key's phases,
  so a weak mark's true geometry ranks first instead of among the host's own peaks.
* **Detection (two stages, honest count).** For a geometry the whitened image is warped back
  to period T, folded modulo T, correlated with the sync tile; at the (sub-pixel) peak the
  sync chips are read and the one-sample t statistic of chip * pn is taken. Without a mark it
  is Student-t (nsync - 1 dof) whatever the host texture. Stage 1 tests the identity geometry
  (2 x T x T hypotheses: shifts x mirror); stage 2 the search's candidates, whose Bonferroni
  count is every geometry the coherent score ranked (coarse and refinement grids) x shifts x
  mirror (:func:`search_tests`), because the candidates are chosen by the same correlation the
  t statistic measures. Each stage gets half the false-positive budget: p = 2 min(p1, p2).
  When the identity alone decides at the requested fpr the search is skipped (its p-value is
  then an upper bound); a mirrored image is checked at every candidate, the search itself
  assumes no mirror.
* **Payload.** Payload chips read at the decided geometry, un-whitened, Chase-II soft BCH
  decoding (:mod:`sleuth.watermark.ecc`). Only when that fails (and the mark is detected):
  the skipped search is run, the geometry refined (local coherent grid, then small steps on
  t), and the chips equalised (inter-chip interference from blur or resampling: a small
  kernel fitted on the known sync chips, their interference subtracted, the payload solved by
  least squares), accepted only with at most EQ_MAX_CORRECTED corrections. A message is
  reported only when detection fires.
* **Layouts.** 64 bits: 128 sync + 128 coded chips (64 data + 64 BCH parity). 128 bits
  (``bits=128``): 64 sync + 192 coded chips (128 data + the same 64 parity), derived from the
  key under its own label; half the sync chips make detection weaker (t grows with the square
  root of the sync count), which its own benchmark table measures. Verify must be told the
  layout (``--bits``).

Choices that were compared on bench photos before being kept (the measurements are in the git
history of this docstring and in docs/benchmarks.md; no threshold is fitted, p-values are analytic):

* statistic: the chip t statistic instead of a MAD-normalised correlation peak, which saturated
  (the mark's own side lobes) and was fooled by host periodic content;
* whitening 1/activity ** 1.5 instead of 1/activity: larger t at the true geometry, clean,
  cropped and JPEG-compressed;
* sync spectrum on the periodic component instead of a Hann window (narrower lattice peaks:
  more syncs found after crops); an autocorrelation search did worse (ridges from edges);
* key-weighted lattice search instead of the plain excess sum, with the same candidates and
  Bonferroni count: more crops and rotations synchronised, null rate unchanged;
* the coherent (phase) lattice search instead of that magnitude search, even though its
  honest Bonferroni count is about 900 times larger (every ranked geometry): on development
  photos (aigen_modern real, not the benchmark's) the magnitude search ranked the true
  geometry of missed crops and rotations in the tens to hundreds, the coherent one first;
  choosing the geometry on half the sync chips and testing on the other half (a count of
  candidates only) detected fewer;
* informed embedding: fewer clean payload failures and a higher clean t;
* speed: the search costs one padded FFT, about two million interpolated spectrum samples and
  some 5,500 32 x 32 inverse FFTs, where a brute-force warp search at the accuracy folding needs
  would take thousands of warps; a clean image decides at the identity and reads its payload
  there without any of it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from ..errors import UsageError
from . import ecc
from .keys import WatermarkKey, parse_key

CANON = 256  # canonical short side
T = 32  # tile period (canonical px)
CHIP = 2  # chip size (canonical px)
NCHIP = (T // CHIP) ** 2  # 256 chips per tile
NSYNC = NCHIP - ecc.CODED_BITS  # 128 sync chips (64-bit payload)
# payload bits -> sync chips; the rest of the tile's 256 chips carry the BCH-coded payload
# (data + 64 parity bits): 64 bits = 128 sync + 128 coded, 128 bits = 64 sync + 192 coded
LAYOUTS = {64: NSYNC, 128: NCHIP - 128 - ecc.PARITY_BITS}
SMOOTH_SIGMA = 0.7  # circular smoothing of the chip pattern (canonical px)
TARGET_PSNR = 40.5
MIN_SIDE = 256  # embedding needs at least this short side
MIN_DECODE_SIDE = 64
ANGLES = np.arange(-17.0, 17.01, 1.0)
SCALES = np.exp(np.arange(math.log(0.6), math.log(2.4) + 1e-9, 0.015))
BAND = (0.04, 0.30)  # cycles per canonical px used for sync
N_CANDIDATES = 5
REFINE_ANGLES = np.arange(-0.75, 0.76, 0.25)  # local grid around each coarse peak
REFINE_SCALES = np.exp(np.arange(-0.012, 0.0121, 0.004))
ASPECTS = np.exp(np.arange(math.log(0.75), math.log(1.34), 0.015))  # horizontal stretch searched at angle 0
ASPECT_SCALES = SCALES[(SCALES > 0.72) & (SCALES < 1.4)]  # scales searched with a stretch (no large crop at once)
N_ASPECT = 3
REFINE_ASPECTS = np.exp(np.arange(-0.012, 0.0121, 0.004))
COH_MIRRORS = 1
PAYLOAD_ANGLES = np.arange(-1.0, 1.01, 0.25)  # local grid searched again before reading the payload
PAYLOAD_SCALES = np.exp(np.arange(-0.03, 0.0301, 0.004))


@dataclass
class Detection:
    detected: bool
    p_value: float
    z: float
    message: bytes | None  # decoded payload when detected and BCH decoding succeeded
    bits: np.ndarray | None  # 64 best-guess data bits (for bit accuracy), even when undetected
    corrected: int  # BCH bit errors corrected (-1 failure)
    ecc_ok: bool
    angle: float = 0.0
    scale: float = 1.0
    flipped: bool = False
    aspect: float = 1.0  # horizontal stretch of the mark found (an aspect-ratio change)
    details: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- key material

@dataclass(frozen=True)
class _Material:
    perm: np.ndarray  # chip index permutation: first nsync -> sync, rest -> coded payload bit i
    pn: np.ndarray  # +-1 per chip
    whiten: np.ndarray  # bits XOR-ed onto the coded payload
    sync_tile: np.ndarray  # T x T float, sync chips only, smoothed
    sync_fft_conj: np.ndarray
    sync_spec: np.ndarray  # conj(DFT) of the sync tile, plain and mirrored (2 x T*T)
    nsync: int = NSYNC

    @property
    def data_bytes(self) -> int:
        return (NCHIP - self.nsync - ecc.PARITY_BITS) // 8


def _smooth_circular(tile: np.ndarray, sigma: float) -> np.ndarray:
    f = np.fft.fftfreq(tile.shape[0])
    g = np.exp(-2 * (math.pi * sigma) ** 2 * (f[:, None] ** 2 + f[None, :] ** 2))
    return np.real(np.fft.ifft2(np.fft.fft2(tile) * g))


def _chips_to_tile(chips: np.ndarray) -> np.ndarray:
    grid = chips.reshape(T // CHIP, T // CHIP)
    return _smooth_circular(np.kron(grid, np.ones((CHIP, CHIP))), SMOOTH_SIGMA)


@lru_cache(maxsize=16)
def _material_cached(fp_secret: bytes, nsync: int = NSYNC) -> _Material:
    rng = np.random.default_rng(int.from_bytes(fp_secret[:32], "big"))
    perm = rng.permutation(NCHIP)
    pn = rng.choice(np.array([-1.0, 1.0]), NCHIP)
    whiten = rng.integers(0, 2, NCHIP - nsync).astype(np.uint8)
    chips = np.zeros(NCHIP)
    chips[perm[:nsync]] = pn[perm[:nsync]]
    sync = _chips_to_tile(chips)
    sync -= sync.mean()
    spec = np.stack([np.conj(np.fft.fft2(sync)).ravel(),
                     np.conj(np.fft.fft2(np.ascontiguousarray(sync[:, ::-1]))).ravel()]).astype(np.complex64)
    return _Material(perm, pn, whiten, sync, np.conj(np.fft.fft2(sync)), spec, nsync)


def _material(key: WatermarkKey, bits: int = 64) -> _Material:
    """The key's tile material for a payload of ``bits`` (64 or 128; each its own derivation,
    so a mark of one length never synchronises as the other)."""
    if bits not in LAYOUTS:
        raise UsageError(f"--bits must be 64 or 128, got {bits}")
    label = "sleuthmark/tile" if bits == 64 else f"sleuthmark/tile/{bits}"
    return _material_cached(key.derive(label, 32), LAYOUTS[bits])


def _signs(mat: _Material, coded: np.ndarray) -> np.ndarray:
    """+-1 per chip: the sync sequence on sync chips, pn * (whitened coded bit) on payload chips."""
    chips = np.zeros(NCHIP)
    chips[mat.perm[:mat.nsync]] = mat.pn[mat.perm[:mat.nsync]]
    bits = (coded ^ mat.whiten).astype(float) * 2 - 1
    pay = mat.perm[mat.nsync:]
    chips[pay] = mat.pn[pay] * bits
    return chips


def _tile(signs: np.ndarray, amps: np.ndarray | None = None) -> np.ndarray:
    tile = _chips_to_tile(signs * (1.0 if amps is None else amps))
    return tile / np.sqrt(np.mean(tile ** 2))


# ----------------------------------------------------------------------------- helpers

def luma(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.float32)
    return 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]


def canonical_size(h: int, w: int) -> tuple[int, int]:
    sc = CANON / min(h, w)
    return max(1, int(round(h * sc))), max(1, int(round(w * sc)))


def _texture_mask(y: np.ndarray) -> np.ndarray:
    import cv2

    hp = y - cv2.GaussianBlur(y, (0, 0), 1.5)
    act = np.sqrt(cv2.GaussianBlur(hp * hp, (0, 0), 4.0)) + 1.0
    m = np.sqrt(act / np.median(act))
    return np.clip(m, 0.5, 2.0).astype(np.float32)


ISS_MIN_AMP = 0.3  # smallest chip amplitude left by host-interference cancellation


def _render(rgb: np.ndarray, tile: np.ndarray, mask: np.ndarray, target_mse: float) -> np.ndarray:
    """Full-resolution luminance offset: the tiled pattern at canonical scale, upsampled,
    masked and scaled to the target MSE."""
    import cv2

    h, w = rgb.shape[:2]
    hc, wc = canonical_size(h, w)
    pat_c = np.tile(tile.astype(np.float32), (hc // T + 1, wc // T + 1))[:hc, :wc]
    pat = pat_c if (hc, wc) == (h, w) else cv2.resize(pat_c, (w, h), interpolation=cv2.INTER_LINEAR)
    delta = pat * mask
    return delta * math.sqrt(max(target_mse, 1e-3) / float(np.mean(delta.astype(np.float64) ** 2)))


def _identity_chips(rgb_f: np.ndarray) -> np.ndarray:
    """Chip values the decoder reads at the embedding geometry (no attack)."""
    fd = _fold(_canonical_whitened(rgb_f), 0.0, 1.0)
    assert fd is not None  # the embedding's own canonical image is never too small to fold
    return _chips(fd, 0.0, 0.0)


def embed(rgb: np.ndarray, key, payload: bytes, strength: float = 1.0) -> np.ndarray:
    """Return the marked RGB uint8 image (same size). ``payload``: 8 bytes (the 64-bit layout)
    or 16 bytes (the 128-bit layout: half the sync chips, so a weaker, separately measured mark).

    Informed embedding (improved spread spectrum): the decoder's chip values of the *unmarked*
    image (host interference) are measured first; a first pass with equal chip amplitudes
    measures the chip gain; the final amplitudes a_j = max(ISS_MIN_AMP, (M - h_j s_j) / g)
    bring every chip to the same margin M at the same total energy, so the host no longer
    fights the mark where it happens to correlate with the pattern.
    """
    key = parse_key(key)
    h, w = rgb.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise UsageError(f"image too small for the payload: {w}x{h}, sleuth's mark needs a short side of at least {MIN_SIDE} px")
    if not (0.05 <= strength <= 8):
        raise UsageError(f"--strength must be between 0.05 and 8, got {strength}")
    if len(payload) * 8 not in LAYOUTS:
        raise UsageError(f"payload must be 8 or 16 bytes (64 or 128 bits), got {len(payload)}")
    mat = _material(key, len(payload) * 8)
    signs = _signs(mat, ecc.encode(payload))
    rgb_f = rgb.astype(np.float32)
    mask = _texture_mask(luma(rgb))
    target_mse = 255.0 ** 2 / 10 ** ((TARGET_PSNR - 20 * math.log10(strength)) / 10) - 1 / 12
    delta = _render(rgb, _tile(signs), mask, target_mse)
    if ISS_MIN_AMP < 1:
        host = _identity_chips(rgb_f) * signs
        marked = _identity_chips(np.clip(rgb_f + delta[..., None], 0, 255)) * signs
        g = float(np.median(marked - host))
        if g > 0:
            lo, hi = float(host.min()), float(host.max()) + 10 * g
            for _ in range(40):  # margin M such that mean(a^2) = 1 (same energy as equal amplitudes)
                mid = 0.5 * (lo + hi)
                amps = np.maximum(ISS_MIN_AMP, (mid - host) / g)
                lo, hi = (mid, hi) if np.mean(amps ** 2) < 1 else (lo, mid)
            amps = np.maximum(ISS_MIN_AMP, (0.5 * (lo + hi) - host) / g)
            delta = _render(rgb, _tile(signs, amps), mask, target_mse)
    out = rgb_f + delta[..., None]
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- detection

def _whitened(y: np.ndarray) -> np.ndarray:
    import cv2

    hp = y - cv2.GaussianBlur(y, (0, 0), 2.5)
    loc = np.sqrt(cv2.GaussianBlur(hp * hp, (0, 0), 3.0))
    r = hp / (loc ** 1.5 + 0.5)  # weight ~ 1/sigma^1.5: between contrast normalisation and 1/variance
    r = r / (np.std(r) + 1e-9)
    return np.clip(r, -4, 4).astype(np.float32)


def _canonical_whitened(rgb: np.ndarray) -> np.ndarray:
    import cv2

    h, w = rgb.shape[:2]
    hc, wc = canonical_size(h, w)
    y = luma(rgb)
    interp = cv2.INTER_AREA if hc < h else cv2.INTER_LINEAR
    yc = cv2.resize(y, (wc, hc), interpolation=interp) if (hc, wc) != (h, w) else y
    return _whitened(yc)


@lru_cache(maxsize=1)
def _lattice() -> tuple[np.ndarray, np.ndarray]:
    r = int(BAND[1] * T * SCALES[-1]) + 2
    gu, gv = np.meshgrid(np.arange(-r, r + 1), np.arange(0, r + 1))
    u, v = gu.ravel(), gv.ravel()
    keep = (v > 0) | (u > 0)
    return u[keep].astype(np.float64), v[keep].astype(np.float64)


def _periodic(u: np.ndarray) -> np.ndarray:
    """Moisan's periodic component: removes the FFT boundary cross without a window."""
    h, w = u.shape
    v = np.zeros_like(u)
    v[0, :] += u[-1, :] - u[0, :]
    v[-1, :] += u[0, :] - u[-1, :]
    v[:, 0] += u[:, -1] - u[:, 0]
    v[:, -1] += u[:, 0] - u[:, -1]
    cy = np.cos(2 * np.pi * np.arange(h) / h)[:, None]
    cx = np.cos(2 * np.pi * np.arange(w) / w)[None, :]
    den = 2 * cx + 2 * cy - 4
    den[0, 0] = 1
    sf = np.fft.fft2(v) / den
    sf[0, 0] = 0
    return u - np.real(np.fft.ifft2(sf))


COH_MAX = 512  # longest side of the canonical window the coherent sync search transforms


def _complex_spectrum(r: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Spectrally whitened, 2x zero-padded FFT of the central window of the whitened image.

    The window's centre sits at the origin, so a lattice peak's phase is flat across its main
    lobe and bilinear interpolation keeps it; frequency 0 is at (ph // 2, pw // 2). Returns the
    spectrum as a 2-channel float32 image (real, imaginary) and the padded size.
    """
    from scipy import fft as sfft
    from scipy.ndimage import uniform_filter

    h, w = r.shape
    wh, ww = min(h, COH_MAX), min(w, COH_MAX)
    y0, x0 = (h - wh) // 2, (w - ww) // 2
    win = r[y0:y0 + wh, x0:x0 + ww].astype(np.float64)
    win = _periodic(win - win.mean()).astype(np.float32)
    ph, pw = 2 * wh, 2 * ww
    pad = np.zeros((ph, pw), np.float32)
    pad[:wh, :ww] = win
    pad = np.roll(pad, (-(wh // 2), -(ww // 2)), axis=(0, 1))
    f = np.fft.fftshift(sfft.fft2(pad, workers=1))
    power = uniform_filter(f.real ** 2 + f.imag ** 2, 15, mode="wrap")
    f /= np.sqrt(power + 1e-12)
    return np.ascontiguousarray(f).view(np.float32).reshape(ph, pw, 2), ph, pw


@lru_cache(maxsize=4096)
def _lattice_plan(sc: float, band: tuple[float, float]):
    """Lattice points of one scale inside the band, sorted by tile frequency, with where each
    aliased sum lands in the half spectrum (T x (T/2 + 1)) of a real tile: directly, and as the
    conjugate of its mirror point."""
    u, v = _lattice()
    fr = np.hypot(u, v) / (T * sc)
    sel = (fr >= band[0]) & (fr <= band[1])
    if sel.sum() < 8:
        return None
    us, vs = u[sel].astype(int), v[sel].astype(int)
    km = (vs % T) * T + (us % T)
    order = np.argsort(km, kind="stable")
    km_s = km[order]
    starts = np.flatnonzero(np.r_[True, km_s[1:] != km_s[:-1]])
    uniq = km_s[starts]
    ku, kv = uniq % T, uniq // T
    half = T // 2 + 1
    direct = np.flatnonzero(ku < half)
    mirror = np.flatnonzero((-ku) % T < half)
    pos_d = kv[direct] * half + ku[direct]
    pos_m = ((-kv) % T)[mirror] * half + ((-ku) % T)[mirror]
    return (u[sel][order] / (T * sc), v[sel][order] / (T * sc), starts, uniq, direct, pos_d, mirror, pos_m, km)


def _coherent_grid(spec: tuple[np.ndarray, int, int], sconj: np.ndarray, angles: np.ndarray,
                   scales: np.ndarray, band: tuple[float, float] = BAND, aspects: np.ndarray | None = None) -> np.ndarray:
    """Coherent sync score for every (scale, angle), as a z value.

    The DFT of the folded tile at a geometry is the image spectrum sampled on the rotated,
    scaled lattice (aliases summed), so the sync correlation at every cyclic shift is one
    T x T inverse FFT of those samples times the sync tile's conjugate spectrum. The score is
    its maximum over the shifts and the given sync spectra (plain, mirrored), divided by its
    standard deviation without a mark (the whitened spectrum is unit-variance noise there).
    ``aspects`` (one per angle, default 1) adds a horizontal stretch to each column's geometry.
    """
    import cv2
    from scipy import fft as sfft

    f2, ph, pw = spec
    na, half = len(angles), T // 2 + 1
    th = np.deg2rad(angles)[:, None]
    c, sn = np.cos(th), np.sin(th)
    stretch = 1.0 if aspects is None else 1.0 / np.asarray(aspects, float)[:, None]
    blocks, norms, valid = [], [], []
    for sc in scales:
        plan = _lattice_plan(float(sc), band)
        valid.append(plan is not None)
        if plan is None:
            continue
        uu, vv, starts, uniq, direct, pos_d, mirror, pos_m, km = plan
        uu = uu * stretch
        mx = ((c * uu - sn * vv) * pw + pw // 2).astype(np.float32).reshape(1, -1)
        my = ((sn * uu + c * vv) * ph + ph // 2).astype(np.float32).reshape(1, -1)
        smp = cv2.remap(f2, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
        d = np.ascontiguousarray(smp).view(np.complex64).reshape(na, -1)
        acc = np.add.reduceat(d, starts, axis=1)  # aliases of one tile frequency add up
        for sconj_m in sconj:
            a = acc * sconj_m[uniq][None, :]
            hz = np.zeros((na, T * half), np.complex64)
            hz[:, pos_d] = a[:, direct]
            hm = np.zeros((na, T * half), np.complex64)
            hm[:, pos_m] = np.conj(a[:, mirror])
            blocks.append(hz + hm)  # Hermitian completion: Re(ifft2(a)) = irfft2(half spectrum) / 2
            norms.append(math.sqrt(0.5 * float(np.sum(np.abs(sconj_m[km]) ** 2)) + 1e-12) / (T * T))
    out = np.full((len(scales), na), -np.inf)
    if not blocks:
        return out
    hs = np.concatenate(blocks).reshape(-1, T, half)
    corr = sfft.irfft2(hs, s=(T, T), workers=1).reshape(len(blocks), na, -1).max(axis=2) / 2
    out[np.asarray(valid)] = (corr / np.asarray(norms)[:, None]).reshape(-1, len(sconj), na).max(axis=1)
    return out


def _grid_peaks(grid: np.ndarray, k: int) -> np.ndarray:
    """Indices (row, column) of the k highest local maxima of a score grid."""
    import cv2

    g32 = np.where(np.isfinite(grid), grid, -1e9).astype(np.float32)
    peaks = (g32 == cv2.dilate(g32, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE)) & np.isfinite(grid)
    idx = np.argwhere(peaks)
    return idx[np.argsort(-grid[peaks])][:k]


def _coherent_candidates(spec: tuple[np.ndarray, int, int], mat: _Material) -> list[tuple[float, float, float]]:
    """Candidate geometries (angle, scale, aspect): the N_CANDIDATES best local maxima of the
    coherent score over (scale, angle) and the N_ASPECT best over (scale, aspect) at angle 0,
    each refined on a finer local grid."""
    sconj = mat.sync_spec[:COH_MIRRORS]
    out = []
    for si, ai in _grid_peaks(_coherent_grid(spec, sconj, ANGLES, SCALES), N_CANDIDATES):
        fa, fs = ANGLES[ai] + REFINE_ANGLES, SCALES[si] * REFINE_SCALES
        bi, bj = np.unravel_index(np.argmax(_coherent_grid(spec, sconj, fa, fs)), (len(fs), len(fa)))
        out.append((float(fa[bj]), float(fs[bi]), 1.0))
    zeros = np.zeros(len(ASPECTS))
    for si, ai in _grid_peaks(_coherent_grid(spec, sconj, zeros, ASPECT_SCALES, aspects=ASPECTS), N_ASPECT):
        fa, fs = ASPECTS[ai] * REFINE_ASPECTS, ASPECT_SCALES[si] * REFINE_SCALES
        g = _coherent_grid(spec, sconj, np.zeros(len(fa)), fs, aspects=fa)
        bi, bj = np.unravel_index(np.argmax(g), g.shape)
        out.append((0.0, float(fs[bi]), float(fa[bj])))
    return out


def _fold(r: np.ndarray, angle: float, scale: float, aspect: float = 1.0) -> np.ndarray | None:
    """Warp the whitened image back to period T and fold it modulo T (the mean tile).

    The geometry maps tile coordinates x to image coordinates R(angle) diag(scale * aspect,
    scale) x + c: a rotation, a scale and a horizontal stretch (an aspect-ratio change).
    """
    import cv2

    h, w = r.shape
    th = math.radians(angle)
    a = np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]]) @ np.diag([scale * aspect, scale])
    inv = np.linalg.inv(a)
    ext = np.abs(inv) @ np.array([w, h], float)  # bounding box of the image in tile coordinates
    ow, oh = int(math.ceil(ext[0])), int(math.ceil(ext[1]))
    if min(ow, oh) < T:
        return None
    if abs(angle) < 1e-9 and abs(scale - 1) < 1e-9 and abs(aspect - 1) < 1e-9:
        o, val = r, np.ones_like(r)
    elif abs(angle) < 1e-9:
        interp = cv2.INTER_AREA if scale > 1.2 else cv2.INTER_LINEAR
        o = cv2.resize(r, (max(1, int(round(w / (scale * aspect)))), max(1, int(round(h / scale)))), interpolation=interp)
        val = np.ones_like(o)
    else:
        c_in = np.array([(w - 1) / 2, (h - 1) / 2])
        c_out = np.array([(ow - 1) / 2, (oh - 1) / 2])
        m = np.hstack([a, (c_in - a @ c_out)[:, None]]).astype(np.float64)
        o = cv2.warpAffine(r, m, (ow, oh), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        val = cv2.warpAffine(np.ones_like(r), m, (ow, oh), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    oh, ow = o.shape
    ph, pw = -oh % T, -ow % T
    o = np.pad(o * val, ((0, ph), (0, pw)))
    val = np.pad(val, ((0, ph), (0, pw)))
    ty, tx = o.shape[0] // T, o.shape[1] // T
    tiles = o.reshape(ty, T, tx, T).transpose(0, 2, 1, 3).reshape(ty * tx, T, T)
    wts = val.reshape(ty, T, tx, T).transpose(0, 2, 1, 3).reshape(ty * tx, T, T)
    used = wts.sum(axis=(1, 2)) > 0
    tiles, wts = tiles[used], wts[used]
    if len(tiles) < 2:
        return None
    fw = wts.sum(0)
    if fw.min() <= 0:
        return None
    norm = np.sqrt(fw / fw.mean()) / fw
    fd = tiles.sum(0) * norm
    return fd - fd.mean()


def _correlate(fd: np.ndarray, mat: _Material) -> tuple[int, int]:
    """Cyclic shift of the folded tile that best matches the sync tile (one 32 x 32 FFT)."""
    c = np.real(np.fft.ifft2(np.fft.fft2(fd) * mat.sync_fft_conj))
    dy, dx = np.unravel_index(np.argmax(c), c.shape)
    return int(dy), int(dx)


def _sync_t(chips: np.ndarray, mat: _Material) -> float:
    """One-sample t statistic of chip * pn over the sync chips (normalised correlation).

    Under no mark the products have mean 0 whatever the host's texture or periodic content,
    so the statistic is Student-t with nsync - 1 degrees of freedom; it is scale-free and
    does not saturate when the mark is strong (no self-noise from the mark's side lobes).
    """
    sync = mat.perm[:mat.nsync]
    x = chips[sync] * mat.pn[sync]
    sd = x.std(ddof=1)
    return float(x.mean() / (sd / math.sqrt(len(x)) + 1e-12))


def _peak_offset(fd: np.ndarray, mat: _Material, dy: int, dx: int) -> tuple[float, float]:
    """Sub-pixel position of the sync correlation peak (parabolic fit per axis)."""
    c = np.real(np.fft.ifft2(np.fft.fft2(fd) * mat.sync_fft_conj))

    def par(m1: float, c0: float, p1: float) -> float:
        den = m1 - 2 * c0 + p1
        return 0.0 if den >= 0 else float(np.clip(0.5 * (m1 - p1) / den, -0.5, 0.5))

    oy = par(c[(dy - 1) % T, dx], c[dy, dx], c[(dy + 1) % T, dx])
    ox = par(c[dy, (dx - 1) % T], c[dy, dx], c[dy, (dx + 1) % T])
    return dy + oy, dx + ox


def _chips(fd: np.ndarray, dy: float, dx: float) -> np.ndarray:
    """All chip values of the folded tile after shifting it back by the (sub-pixel) offset."""
    f = np.fft.fftfreq(T)
    ph = np.exp(2j * math.pi * (f[:, None] * dy + f[None, :] * dx))
    shifted = np.real(np.fft.ifft2(np.fft.fft2(fd) * ph))
    return shifted.reshape(T // CHIP, CHIP, T // CHIP, CHIP).sum(axis=(1, 3)).ravel()


def _payload_soft(chips: np.ndarray, mat: _Material) -> np.ndarray:
    """Soft values of the 128 coded bits (positive = 1 after un-whitening)."""
    pay = mat.perm[mat.nsync:]
    soft = chips[pay] * mat.pn[pay]
    return np.where(mat.whiten == 1, -soft, soft)


EQ_RADIUS = 2  # the interference kernel spans (2 EQ_RADIUS + 1)^2 chips
EQ_ITER = 4
# an equalised read is accepted only within this many corrected bits (of BCH's 8 plus the Chase
# flips): a model misfit can push the word towards a wrong codeword, and a wrong message is worse
# than none
EQ_MAX_CORRECTED = 5


@lru_cache(maxsize=1)
def _grid_index() -> tuple[np.ndarray, np.ndarray]:
    """Index maps of the 16 x 16 chip grid: (256 x (2r+1)^2) circular neighbourhood shifts, and
    (256 x 256) circulant positions, so that rolls become one fancy-indexing each."""
    n = T // CHIP
    iy, ix = np.divmod(np.arange(NCHIP), n)
    r = range(-EQ_RADIUS, EQ_RADIUS + 1)
    shifts = np.stack([((iy - dy) % n) * n + (ix - dx) % n for dy in r for dx in r], axis=1)
    circ = ((iy[:, None] - iy[None, :]) % n) * n + (ix[:, None] - ix[None, :]) % n
    return shifts, circ


def _shifts(x: np.ndarray) -> np.ndarray:
    """The circular neighbourhood shifts of a 16 x 16 chip grid, as columns (256 x (2r+1)^2)."""
    return x[_grid_index()[0]]


def _equalised_payload_soft(chips: np.ndarray, mat: _Material) -> np.ndarray:
    """Payload soft values after removing inter-chip interference (blur, resampling, JPEG).

    The folded chip grid is modelled as a circular convolution of the chip signs with a small
    unknown kernel. The kernel is fitted by least squares on the known sync chips plus the
    current payload decisions; the known sync chips' interference is then subtracted and the
    payload chips are solved for by least squares (256 equations, 128 unknowns). Repeated
    EQ_ITER times, starting from the plain decisions.

    Parameters
    ----------
    chips : numpy.ndarray
        The 256 chip values read at the detected geometry.
    mat : _Material
        The key's material.

    Returns
    -------
    numpy.ndarray
        128 soft values (positive = 1 after un-whitening), as :func:`_payload_soft`.
    """
    sync, pay = mat.perm[:mat.nsync], mat.perm[mat.nsync:]
    y = chips / (np.std(chips) + 1e-12)
    x = np.zeros(NCHIP)
    x[sync] = mat.pn[sync]
    x[pay] = np.where(y[pay] >= 0, 1.0, -1.0)
    basis = _shifts(np.eye(NCHIP)[0])  # response positions of a unit chip at index 0
    xp = y[pay]
    for _ in range(EQ_ITER):
        h, *_ = np.linalg.lstsq(_shifts(x), y, rcond=None)
        g0 = (basis @ h).reshape(T // CHIP, T // CHIP)  # kernel image around chip 0
        op = g0.ravel()[_grid_index()[1]]  # column j: the kernel centred on chip j
        xp, *_ = np.linalg.lstsq(op[:, pay], y - op[:, sync] @ mat.pn[sync], rcond=None)
        x[pay] = np.where(xp >= 0, 1.0, -1.0)
    soft = xp * mat.pn[pay]
    return np.where(mat.whiten == 1, -soft, soft)


def _t_to_p(t: float, n_tests: int, dof: int = NSYNC - 1) -> float:
    """Bonferroni-corrected one-sided p-value of the sync t statistic."""
    from scipy.stats import t as student

    return float(min(1.0, student.sf(t, dof) * n_tests))


def _evaluate(r: np.ndarray, mat: _Material, angle: float, scale: float, aspect: float = 1.0):
    """The sync t statistic at one geometry, plain and mirrored (folding the mirrored image at
    -angle equals mirroring this fold up to a cyclic shift, which the correlation absorbs: one
    warp serves both). Returns the better (t, chips, angle, scale, flipped, aspect), or None."""
    fd0 = _fold(r, angle, scale, aspect)
    if fd0 is None:
        return None
    best = None
    for flipped, fd in ((False, fd0), (True, np.ascontiguousarray(fd0[:, ::-1]))):
        dy, dx = _correlate(fd, mat)
        py, px = _peak_offset(fd, mat, dy, dx)
        chips = _chips(fd, py, px)
        t = _sync_t(chips, mat)
        if best is None or t > best[0]:
            best = (t, chips, angle, scale, flipped, aspect)
    return best


def search_tests() -> int:
    """Hypotheses the geometric search stands for in its Bonferroni count: every coarse and
    refinement geometry the coherent score ranks (rotation and aspect grids), times the cyclic
    shifts, times the mirror."""
    rot = len(ANGLES) * len(SCALES) + N_CANDIDATES * len(REFINE_ANGLES) * len(REFINE_SCALES)
    asp = len(ASPECTS) * len(ASPECT_SCALES) + N_ASPECT * len(REFINE_ASPECTS) * len(REFINE_SCALES)
    return (rot + asp) * 2 * T * T


def _synchronise(r: np.ndarray, mat: _Material, fpr: float):
    """Two stages, each at half the false-positive budget: the identity geometry (no search:
    2 x T x T hypotheses), then, unless the identity already decides at ``fpr``, the coherent
    search's candidates (counted as :func:`search_tests`). Returns (best, p, stage, tried, spectrum
    or None when the search did not run)."""
    ident = _evaluate(r, mat, 0.0, 1.0)
    p_id = _t_to_p(ident[0], 2 * T * T, mat.nsync - 1) if ident is not None else 1.0
    if 2 * p_id <= fpr:
        return ident, min(1.0, 2 * p_id), "identity", 1, None
    best, p_s, tried = None, 1.0, 1
    spec = _complex_spectrum(r)
    for angle, scale, aspect in _coherent_candidates(spec, mat):
        ev = _evaluate(r, mat, angle, scale, aspect)
        tried += 1
        if ev is not None and (best is None or ev[0] > best[0]):
            best = ev
    if best is not None:
        p_s = _t_to_p(best[0], search_tests(), mat.nsync - 1)
    if ident is None and best is None:
        return None, 1.0, "none", tried, spec
    if best is None or (ident is not None and p_id <= p_s):
        return ident, min(1.0, 2 * p_id), "identity", tried, spec
    return best, min(1.0, 2 * p_s), "search", tried, spec


def _decode_payload(chips: np.ndarray, mat: _Material, equalise: bool = True) -> tuple[ecc.Decoded, str]:
    """Chase-II decoding of the chips as read; when that fails (and ``equalise``), of the
    equalised chips (inter-chip interference from blur or resampling), accepted within
    EQ_MAX_CORRECTED."""
    dec = ecc.decode_soft(_payload_soft(chips, mat), data_bytes=mat.data_bytes)
    if dec.ok or not equalise:
        return dec, "plain" if dec.ok else "none"
    eq = ecc.decode_soft(_equalised_payload_soft(chips, mat), data_bytes=mat.data_bytes)
    if eq.ok and eq.corrected <= EQ_MAX_CORRECTED:
        return eq, "equalised"
    return dec, "none"


def _refine(r: np.ndarray, mat: _Material, best: tuple, spec) -> tuple:
    """A finer geometry for reading the payload: the coherent score's best point near the
    decided geometry (an identity decision can be a few per cent off in scale, after a
    screenshot's crop), then small steps on the t statistic itself."""
    spec = _complex_spectrum(r) if spec is None else spec
    fa, fs = best[2] + PAYLOAD_ANGLES, best[3] * PAYLOAD_SCALES
    g = _coherent_grid(spec, mat.sync_spec[:1], fa, fs, aspects=np.full(len(fa), best[5]))
    bi, bj = np.unravel_index(np.argmax(g), g.shape)
    ev = _evaluate(r, mat, float(fa[bj]), float(fs[bi]), best[5])
    if ev is not None and ev[0] > best[0]:
        best = ev
    for step_a, step_s in ((0.12, 0.002), (0.06, 0.001)):
        for da, ds in ((-step_a, 0), (step_a, 0), (0, -step_s), (0, step_s)):
            ev = _evaluate(r, mat, best[2] + da, best[3] * (1 + ds), best[5])
            if ev is not None and ev[0] > best[0]:
                best = ev
    return best


def detect(rgb: np.ndarray, key, fpr: float = 1e-6, bits: int = 64) -> Detection:
    """Zero-bit detection (p-value, decision at ``fpr``) and payload decoding.

    Parameters
    ----------
    rgb : numpy.ndarray
        H x W x 3 uint8 image.
    key : str, bytes or WatermarkKey
        The marking key.
    fpr : float
        False-positive rate of the decision ``p_value <= fpr``; also ends the search early when
        the identity geometry alone decides (the p-value is then that stage's, an upper bound).
    bits : int
        Payload length the image was marked with (64 or 128).

    Returns
    -------
    Detection
        Decision, p-value, statistic, geometry and the payload when detected and decoded.
    """
    key = parse_key(key)
    h, w = rgb.shape[:2]
    if min(h, w) < MIN_DECODE_SIDE:
        raise UsageError(f"image too small to verify: {w}x{h} (needs a short side of at least {MIN_DECODE_SIDE} px)")
    mat = _material(key, bits)
    r = _canonical_whitened(rgb)
    best, p, stage, tried, spec = _synchronise(r, mat, fpr)
    if best is None:
        return Detection(False, 1.0, 0.0, None, None, -1, False)
    detected = p <= fpr
    # without a detection only the plain read is made (its bits serve bit-accuracy statistics;
    # no message is reported), so an unmarked image costs no refinement or equalisation
    dec, how = _decode_payload(best[1], mat, equalise=detected)
    if detected and not dec.ok and spec is None:
        # decided at the identity but unreadable there (an aspect change or crop can leave the
        # identity fold partly coherent): run the search that was skipped; its p-value is the
        # full two-stage one
        best, p, stage, more, spec = _synchronise(r, mat, 0.0)
        tried += more - 1
        dec, how = _decode_payload(best[1], mat)
    if detected and not dec.ok:  # read again at a refined geometry (the p-value stays the decision's)
        best = _refine(r, mat, best, spec)
        dec, how = _decode_payload(best[1], mat)
    t, chips, angle, scale, flipped, aspect = best
    data_bits = np.unpackbits(np.frombuffer(dec.data, np.uint8))
    return Detection(detected=detected, p_value=p, z=t, message=dec.data if (detected and dec.ok) else None,
                     bits=data_bits, corrected=dec.corrected, ecc_ok=dec.ok, angle=angle, scale=scale, flipped=flipped,
                     aspect=aspect, details={"sync": stage, "candidates": tried, "payload_decoded_by": how})
