"""An independent NumPy-only reading of spec/parts/watermark.md (aligned detection).

Written from the spec, not from ``synthmark.watermark``: it shares no code with the torch
implementation except the convolutional code's Viterbi decoder (itself pinned by the
codeword vectors). It evaluates one given hypothesis (identity D4 element, a whole-period
scale, a cyclic shift) in float64, with no search and no synchronisation, so that the
conformance vectors are checked by a second implementation on every CPU.

Besides ``z`` and the payload it gives the soft code bits, from which
:func:`decision_margin` measures how far the Viterbi decision is from flipping: a vector
needs a margin far above any float difference between implementations.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from synthmark.watermark._codec import conv_encode, viterbi_decode

TILE = 128
BAND_LOW, BAND_HIGH = 0.03, 0.28
BOX = 7
CLIP = 3.0
CODE_BITS = 204

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ReferenceResult:
    """The statistic and payload at one hypothesis."""

    z: float
    payload_prefix: bytes | None
    soft: FloatArray
    bit_errors: int | None  # against the codeword of the decoded word, when it verifies


def _stream(secret: bytes, label: str, nbytes: int) -> bytes:
    msg = b"synthmark/wm/v1/" + label.encode() + b"/" + TILE.to_bytes(2, "big") + secret
    return hashlib.shake_256(msg).digest(nbytes)


def _band() -> list[tuple[int, int]]:
    half = TILE // 2
    out = []
    for ky in range(TILE):
        fy = (ky if ky < half else ky - TILE) / TILE
        for kx in range(half):
            if kx == 0 and not 1 <= ky < half:
                continue
            if BAND_LOW <= math.hypot(fy, kx / TILE) <= BAND_HIGH:
                out.append((ky, kx))
    return out


def _carriers(secret: bytes) -> tuple[list[tuple[int, int]], FloatArray, list[int], list[int]]:
    """Band, phases, pilot indices and payload indices (spec 2.1-2.4)."""
    band = _band()
    m = len(band)
    words = np.frombuffer(_stream(secret, "phase", 4 * m), dtype="<u4").astype(np.float64)
    phase = 2.0 * np.pi * words / 2.0**32
    order = np.argsort(np.frombuffer(_stream(secret, "perm", 8 * m), dtype="<u8"), kind="stable")
    return band, phase, [int(i) for i in order[: m // 2]], [int(i) for i in order[m // 2 :]]


def _box_mean(x: FloatArray) -> FloatArray:
    """Mean over the 7 x 7 window clipped to the image (spec 4.4)."""
    half = BOX // 2
    padded = np.pad(x, half)
    sums = np.zeros_like(x)
    for dy in range(BOX):
        for dx in range(BOX):
            sums += padded[dy : dy + x.shape[0], dx : dx + x.shape[1]]
    ones = np.pad(np.ones_like(x), half)
    counts = np.zeros_like(x)
    for dy in range(BOX):
        for dx in range(BOX):
            counts += ones[dy : dy + x.shape[0], dx : dx + x.shape[1]]
    return sums / counts


def prefilter(x: FloatArray) -> FloatArray:
    """Spec 5.1: clipped, locally normalised high-pass residual."""
    r = x - _box_mean(x)
    s = np.sqrt(np.maximum(_box_mean(r * r), 0.0))
    return np.clip(r / (s + 0.1 * s.mean() + 1e-6), -CLIP, CLIP)


def fold(u: FloatArray, period: int) -> FloatArray:
    """Spec 5.2: zero-pad to multiples of the period and sum modulo it."""
    h = -(-u.shape[0] // period) * period
    w = -(-u.shape[1] // period) * period
    padded = np.zeros((h, w))
    padded[: u.shape[0], : u.shape[1]] = u
    return padded.reshape(h // period, period, w // period, period).sum(axis=(0, 2))


def tile_spectrum(u: FloatArray, period: int) -> npt.NDArray[np.complex128]:
    """Spec 5.2 and 5.6 (whole periods): the T-tile spectrum that a period-P fold holds."""
    x = np.fft.rfft2(fold(u, period))
    if period == TILE:
        return x
    sigma = period / TILE
    offset = (sigma - 1.0) / 2.0
    kmax = (min(period, TILE) - 1) // 2
    y = np.zeros((TILE, TILE // 2 + 1), dtype=np.complex128)
    for ky in range(-kmax, kmax + 1):
        for kx in range(kmax + 1):
            ramp = np.exp(2j * np.pi * offset * (ky + kx) / period)
            y[ky % TILE, kx] = x[ky % period, kx] * ramp
    return y


def _whiten(y: npt.NDArray[np.complex128]) -> npt.NDArray[np.complex128]:
    mag = np.abs(y)
    out = np.zeros_like(y)
    nz = mag > 0
    out[nz] = y[nz] / mag[nz]
    return out


def _tag(secret: bytes, prefix: bytes) -> bytes:
    return hmac.new(secret, b"synthmark-wm-tag-v1" + prefix, hashlib.sha256).digest()[:4]


def detect_at(
    image: npt.ArrayLike, secret: bytes, *, scale: float = 1.0, shift: tuple[int, int] = (0, 0)
) -> ReferenceResult:
    """z and payload of a single 2-D image at one hypothesis (identity D4 element)."""
    x = np.asarray(image, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError("the reference reads single 2-D slices")
    period = round(scale * TILE)
    if abs(scale * TILE - period) > 1e-9:
        raise ValueError("the reference reads whole-period scales only")
    y = tile_spectrum(prefilter(x), period)
    yw = _whiten(y)
    band, phase, pilot, payload = _carriers(secret)
    sy, sx = shift
    total, count = 0.0, 0
    for i in pilot:
        ky, kx = band[i]
        if yw[ky, kx] == 0:
            continue  # a coefficient the input does not hold drops out of sum and variance
        ramp = np.exp(2j * np.pi * (ky * sy + kx * sx) / TILE)
        total += float((np.exp(-1j * phase[i]) * yw[ky, kx] * ramp).real)
        count += 1
    z = total / math.sqrt(count / 2.0) if count else 0.0

    aligned = np.roll(np.fft.irfft2(y, s=(TILE, TILE)), (-sy, -sx), axis=(0, 1))
    # Spec 5.10: coefficients the hypothesis does not hold stay absent after the round trip.
    y2 = np.where(y != 0, _whiten(np.fft.rfft2(aligned)), 0)
    soft = np.zeros(CODE_BITS)
    for j, i in enumerate(payload):
        ky, kx = band[i]
        soft[j % CODE_BITS] += float((np.exp(-1j * phase[i]) * y2[ky, kx]).real)
    bits = viterbi_decode(soft)
    word = np.packbits(bits).tobytes()
    prefix, tag = word[:8], word[8:]
    if not hmac.compare_digest(tag, _tag(secret, prefix)):
        return ReferenceResult(z, None, soft, None)
    signs = 1.0 - 2.0 * conv_encode(bits).astype(np.float64)
    return ReferenceResult(z, prefix, soft, int(np.sum(soft * signs < 0)))


def decision_margin(soft: FloatArray) -> float:
    """Path-metric gap between the decoded word and the best path that decodes to another.

    Max-sum forward and backward metrics over the K=7 trellis (ending in state 0): for every
    step, the best path taking the other input bit than the decoded one. A difference in
    the soft values smaller than half this gap, however it arises (float rounding on
    another CPU, a GPU's FFT), cannot change the decoded word.
    """
    states = 64
    steps = soft.size // 2
    nxt = np.zeros((states, 2), dtype=np.int64)
    out = np.zeros((states, 2, 2))
    for s in range(states):
        for b in range(2):
            reg = (b << 6) | s
            nxt[s, b] = reg >> 1
            out[s, b, 0] = 1 - 2 * (bin(reg & 0o133).count("1") & 1)
            out[s, b, 1] = 1 - 2 * (bin(reg & 0o171).count("1") & 1)
    branch = np.einsum("sbc,tc->tsb", out, soft.reshape(steps, 2))
    alpha = np.full((steps + 1, states), -np.inf)
    alpha[0, 0] = 0.0
    for t in range(steps):
        for b in range(2):
            np.maximum.at(alpha[t + 1], nxt[:, b], alpha[t] + branch[t, :, b])
    beta = np.full((steps + 1, states), -np.inf)
    beta[steps, 0] = 0.0
    for t in range(steps - 1, -1, -1):
        beta[t] = np.maximum(
            branch[t, :, 0] + beta[t + 1, nxt[:, 0]], branch[t, :, 1] + beta[t + 1, nxt[:, 1]]
        )
    best = alpha[steps, 0]
    info_steps = steps - 6
    gap = math.inf
    for t in range(info_steps):
        through = [np.max(alpha[t] + branch[t, :, b] + beta[t + 1, nxt[:, b]]) for b in range(2)]
        gap = min(gap, best - min(through))
    return float(gap)
