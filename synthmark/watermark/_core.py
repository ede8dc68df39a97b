"""Embedding and detection, batched over 2-D slices with torch (float32, CUDA when present)."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
import torch.nn.functional as F

from synthmark.watermark._carriers import (
    D4,
    TILE_SIZES,
    apply_d4,
    carrier_bank,
    invert_d4,
    mark_tile,
)
from synthmark.watermark._codec import (
    CODE_BITS,
    Payload,
    conv_encode,
    decode_payload,
    info_bits,
)
from synthmark.watermark._keys import PUBLIC_DETECTION_KEY, WatermarkKey

ArrayT = TypeVar("ArrayT", np.ndarray[Any, Any], torch.Tensor)

BOX = 7
CLIP = 3.0
MASK_MIN, MASK_MAX = 0.5, 2.0
PEAK_FACTOR = 7.5
AMP_8BIT = 1.3
AMP_NATIVE = 1.97  # 2.0 RMS once integer rounding (variance 1/12) is added
DEFAULT_SCALES = (1.0, 0.5, 2.0)


def _device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def tile_for(height: int, width: int) -> int:
    """Tile size used at embedding (one size for now; the detector searches TILE_SIZES)."""
    del height, width
    return TILE_SIZES[0]


@dataclass(frozen=True)
class SliceDetection:
    """Evidence from one 2-D slice, at the hypothesis that won for the whole input.

    Attributes:
        index: Slice index in the flattened leading axes.
        z: Normalised pilot correlation of this slice alone.
        p_value: Conservative p-value of this slice, with the same search correction.
    """

    index: int
    z: float
    p_value: float


@dataclass(frozen=True)
class Detection:
    """Result of :func:`detect`.

    Attributes:
        detected: True when ``p_value <= fpr``.
        p_value: Bound on the probability that an unmarked input (or one marked with another
            key) scores this high, including every hypothesis searched.
        z: Best normalised pilot correlation.
        fpr: The false-positive rate asked for.
        key_id: Id of the best-matching key when detected, else None.
        payload: Decoded payload when it decodes and its tag verifies, else None.
        slices: Per-slice evidence at the winning hypothesis.
        transform: The winning hypothesis (informative), e.g.
            ``"rot90:1,flip:0,scale:1,tile:128,shift:17:0"``: the input looks like the marked
            image flipped (if flip), then turned k quarter turns, resized by ``scale`` and
            cyclically shifted by ``shift`` relative to the tile grid.
    """

    detected: bool
    p_value: float
    z: float
    fpr: float
    key_id: str | None
    payload: Payload | None
    slices: tuple[SliceDetection, ...]
    transform: str | None


# ---------------------------------------------------------------- layout helpers


@dataclass
class _Layout:
    luma: torch.Tensor  # (B, H, W) float32 on the working device
    channel_axis: int | None  # axis of samples in the original, normalised to >= 0
    colour: int  # number of colour samples the mark goes into (1 or 3)


def _to_tensor(pixels: Any) -> tuple[torch.Tensor, bool]:
    if isinstance(pixels, torch.Tensor):
        return pixels, True
    arr = np.asarray(pixels)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"unsupported pixel dtype {arr.dtype}")
    if arr.dtype.kind in "iu" and arr.dtype.itemsize <= 2:
        return torch.from_numpy(arr.astype(np.float32)), False
    if arr.dtype.kind == "b":
        return torch.from_numpy(arr.astype(np.float32)), False
    return torch.from_numpy(np.ascontiguousarray(arr)), False


def _resolve_channel_axis(shape: Sequence[int], channel_axis: int | None) -> int | None:
    ndim = len(shape)
    if channel_axis is not None:
        axis = channel_axis % ndim
        if ndim - 1 < 2:
            raise ValueError("a channel axis needs at least two spatial axes")
        return axis
    if ndim >= 3 and shape[-1] in (3, 4):
        return ndim - 1
    return None


def _layout(t: torch.Tensor, channel_axis: int | None, device: torch.device) -> _Layout:
    if t.ndim < 2:
        raise ValueError("pixels must have at least two axes (H, W)")
    axis = _resolve_channel_axis(tuple(t.shape), channel_axis)
    x = t.to(device=device, dtype=torch.float32)
    colour = 1
    if axis is not None:
        x = torch.movedim(x, axis, -1)
        samples = x.shape[-1]
        colour = 3 if samples >= 3 else 1
        x = x[..., :colour].mean(dim=-1)
    height, width = x.shape[-2], x.shape[-1]
    return _Layout(luma=x.reshape(-1, height, width), channel_axis=axis, colour=colour)


# ---------------------------------------------------------------- filters


@functools.lru_cache(maxsize=8)
def _box_counts(height: int, width: int, device: torch.device) -> torch.Tensor:
    """(H, W) number of in-image pixels under each BOX x BOX window."""

    def axis(n: int) -> torch.Tensor:
        i = torch.arange(n, device=device)
        half = BOX // 2
        return (torch.clamp(i + half, max=n - 1) - torch.clamp(i - half, min=0) + 1).to(
            torch.float32
        )

    return axis(height)[:, None] * axis(width)[None, :]


def _padded(x: torch.Tensor) -> torch.Tensor:
    """(B, H, W) zero-padded by BOX//2 on every side and laid out flat, plus BOX//2 spare."""
    b, h, w = x.shape
    half = BOX // 2
    n = (h + 2 * half) * (w + 2 * half)
    p = x.new_zeros(b, n + 2 * half)
    _interior(p, h, w).copy_(x)
    return p


def _interior(p: torch.Tensor, h: int, w: int) -> torch.Tensor:
    half = BOX // 2
    wp = w + 2 * half
    n = (h + 2 * half) * wp
    return p[:, :n].view(p.shape[0], h + 2 * half, wp)[:, half : half + h, half : half + w]


def _box_sums(p: torch.Tensor, h: int, w: int, *, exact: bool = True) -> torch.Tensor:
    """(B, H, W) sums over the BOX x BOX windows of a :func:`_padded` layout.

    In the flat layout every shifted window is one contiguous run, which is several times
    faster on CPU than avg_pool2d, conv2d or strided 2-D views. With ``exact`` the additions
    keep the left-to-right order of the reference implementation, so embedding stays
    bit-exact; otherwise runs of 2 and 4 are reused (8 passes instead of 12).
    """
    half = BOX // 2
    wp = w + 2 * half
    n = (h + 2 * half) * wp
    m = h * wp
    if exact or BOX != 7:
        rows = p[:, :n] + p[:, 1 : 1 + n]
        for i in range(2, BOX):
            rows += p[:, i : i + n]
        out = rows[:, :m] + rows[:, wp : wp + m]
        for i in range(2, BOX):
            out += rows[:, i * wp : i * wp + m]
    else:
        two = p[:, : n + 4] + p[:, 1 : n + 5]
        rows = two[:, :n] + two[:, 2 : n + 2]
        rows.add_(two[:, 4 : n + 4]).add_(p[:, 6 : n + 6])
        two = rows[:, : m + 4 * wp] + rows[:, wp : m + 5 * wp]
        out = two[:, :m] + two[:, 2 * wp : m + 2 * wp]
        out.add_(two[:, 4 * wp : m + 4 * wp]).add_(rows[:, 6 * wp : m + 6 * wp])
    return out.view(p.shape[0], h, wp)[..., :w]


def _box(x: torch.Tensor) -> torch.Tensor:
    """Mean over the BOX x BOX window inside the image (borders average fewer pixels)."""
    h, w = x.shape[-2], x.shape[-1]
    return _box_sums(_padded(x), h, w) / _box_counts(h, w, x.device)


def _residual(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """High-pass residual and its local RMS, for (B, H, W) input."""
    r = x - _box(x)
    s = _box(r * r).clamp_min(0).sqrt()
    return r, s


@functools.lru_cache(maxsize=8)
def _box_weights(height: int, width: int, device: torch.device) -> torch.Tensor:
    return _box_counts(height, width, device).reciprocal()


def _normalised_residual(x: torch.Tensor) -> torch.Tensor:
    """Locally-optimum pre-filter: residual over (local RMS + floor), clipped at +-3.

    The same quantities as :func:`_residual`, computed in place in two padded buffers to
    save passes over memory (detection only; float rounding may differ in the last bit).
    """
    h, w = x.shape[-2], x.shape[-1]
    inv = _box_weights(h, w, x.device)
    p = _padded(x)
    r = _interior(p, h, w)
    r.addcmul_(_box_sums(p, h, w, exact=False), inv, value=-1.0)
    # Squaring the whole padded buffer keeps its zero border, so it is padded for free.
    s = _box_sums(p * p, h, w, exact=False).mul_(inv).sqrt_()
    floor = 0.1 * s.mean(dim=(-2, -1), keepdim=True) + 1e-6
    return torch.div(r, s.add_(floor)).clamp_(-CLIP, CLIP)


def _fold_axis(x: torch.Tensor, period: int, dim: int) -> torch.Tensor:
    n = x.shape[dim]
    starts = range(0, n, period)
    full = [a for a in starts if a + period <= n]
    rest = n - len(full) * period
    # Adding whole blocks is several times faster on CPU than a sum over a reshaped axis.
    if len(full) >= 2:
        out = x.narrow(dim, 0, period) + x.narrow(dim, period, period)
        for a in full[2:]:
            out += x.narrow(dim, a, period)
    elif full:
        out = x.narrow(dim, 0, period)
        if rest:
            out = out.clone()
    else:
        shape = list(x.shape)
        shape[dim] = period
        out = x.new_zeros(shape)
    if rest:
        out.narrow(dim, 0, rest).add_(x.narrow(dim, n - rest, rest))
    return out


def _fold(u: torch.Tensor, period: int) -> torch.Tensor:
    """Sum a (B, H, W) tensor modulo ``period`` into (B, P, P), as if zero-padded."""
    return _fold_axis(_fold_axis(u, period, -2), period, -1)


# ---------------------------------------------------------------- embedding


def _amplitude(bits: int | None, luma: torch.Tensor, valid: torch.Tensor) -> float:
    if bits is not None:
        return AMP_8BIT if bits <= 8 else AMP_NATIVE
    vals = luma[valid] if bool(valid.any()) else luma.reshape(-1)
    span = float(vals.max() - vals.min()) if vals.numel() else 0.0
    if span > 255.0:
        return AMP_NATIVE
    return AMP_8BIT * max(span, 1e-12) / 255.0


def _int_info(dtype: Any) -> tuple[bool, int, bool] | None:
    """(is_int, bits, signed) of a numpy or torch dtype; None for floating types."""
    if isinstance(dtype, torch.dtype):
        if dtype.is_floating_point or dtype.is_complex:
            return None
        if dtype == torch.bool:
            raise TypeError("boolean pixels cannot carry a watermark")
        info = torch.iinfo(dtype)
        return True, info.bits, info.min < 0
    nd = np.dtype(dtype)
    if nd.kind == "f":
        return None
    if nd.kind not in "iu":
        raise TypeError(f"unsupported pixel dtype {nd}")
    return True, 8 * nd.itemsize, nd.kind == "i"


def _chunks(n: int, pixels: int, device: torch.device) -> list[tuple[int, int]]:
    """Slice ranges processed together: large batches on GPU, cache-sized ones on CPU."""
    budget = (1 << 24) if device.type == "cuda" else (1 << 19)
    step = max(1, budget // max(pixels, 1))
    return [(i, min(step, n - i)) for i in range(0, n, step)]


def _delta(x: torch.Tensor, valid: torch.Tensor, pattern: torch.Tensor, amp: float) -> torch.Tensor:
    """Masked mark for a batch of slices: RMS ``amp`` over valid pixels, peaks capped."""
    _, local = _residual(x)
    validf = valid.to(torch.float32)
    count = validf.sum(dim=(-2, -1), keepdim=True).clamp_min(1.0)
    mean_local = (local * validf).sum(dim=(-2, -1), keepdim=True) / count
    # Noise-adaptive masking: more mark where the image is busy, less where it is flat.
    mask = (local / mean_local.clamp_min(1e-12)).clamp(MASK_MIN, MASK_MAX)
    delta = pattern * mask * validf
    rms = ((delta * delta).sum(dim=(-2, -1), keepdim=True) / count).sqrt()
    delta = delta * (amp / rms.clamp_min(1e-12))
    return delta.clamp(-PEAK_FACTOR * amp, PEAK_FACTOR * amp)


def embed(
    pixels: ArrayT,
    key: WatermarkKey,
    payload: Payload | None = None,
    *,
    strength: float = 1.0,
    bits_stored: int | None = None,
    signed: bool | None = None,
    padding_value: int | float | None = None,
    channel_axis: int | None = None,
) -> ArrayT:
    """Embed a keyed, tiled watermark carrying an optional payload.

    Args:
        pixels: NumPy array or torch tensor: (H, W), (N, H, W) slices, or either with a
            colour/sample axis (last axis of size 3 or 4 is taken as colour unless
            ``channel_axis`` says otherwise). The mark goes into the colour samples equally
            (never into alpha).
        key: The embedding key.
        payload: Information to carry; None embeds the presence mark only.
        strength: Multiplies the mark's RMS amplitude (1.0: 1.3 grey levels on 8-bit
            data, 2 native units, e.g. 2 HU, on deeper integers).
        bits_stored: Stored bits of integer data (e.g. 12); defaults to the dtype's width.
        signed: Whether stored integers are signed; defaults to the dtype's signedness.
        padding_value: Pixels equal to this value are never changed.
        channel_axis: Axis of colour samples, if any.

    Returns:
        Marked pixels of the same kind, shape and dtype (and device, for tensors).
    """
    if strength < 0 or not math.isfinite(strength):
        raise ValueError("strength must be a finite non-negative number")
    src, is_tensor = _to_tensor(pixels)
    device = _device()
    lay = _layout(src, channel_axis, device)
    x = lay.luma
    nslice, height, width = x.shape
    out_dtype = pixels.dtype
    int_info = _int_info(out_dtype)

    # For colour data a pixel counts as padding when its colour mean equals the value; the
    # final per-sample check below still guarantees that no padding sample changes.
    if padding_value is not None:
        valid = x != float(padding_value)
    else:
        valid = torch.ones_like(x, dtype=torch.bool)

    lo = hi = None
    bits = None
    if int_info is not None:
        _, dbits, dsigned = int_info
        bits = min(bits_stored if bits_stored is not None else dbits, dbits)
        sgn = dsigned if signed is None else signed
        lo = float(-(2 ** (bits - 1))) if sgn else 0.0
        hi = float(2 ** (bits - 1) - 1) if sgn else float(2**bits - 1)
        # Never leave the container's own range, whatever bits_stored/signed claim.
        lo = max(lo, -float(2 ** (dbits - 1)) if dsigned else 0.0)
        hi = min(hi, float(2 ** (dbits - 1) - 1) if dsigned else float(2**dbits - 1))
    amp = strength * _amplitude(bits, x, valid)

    tile = tile_for(height, width)
    code = conv_encode(info_bits(key.secret, payload)).tobytes()
    w = mark_tile(key.secret, tile, code, str(device))
    reps_h, reps_w = -(-height // tile), -(-width // tile)
    pattern = w.repeat(reps_h, reps_w)[:height, :width]

    delta = torch.cat(
        [
            _delta(x[i : i + step], valid[i : i + step], pattern, amp)
            for i, step in _chunks(nslice, height * width, device)
        ]
    )

    # Broadcast the (B, H, W) luma delta back onto the original layout.
    shape = tuple(src.shape)
    if lay.channel_axis is None:
        full = delta.reshape(shape)
    else:
        moved = list(shape)
        samples = moved.pop(lay.channel_axis)
        per = delta.reshape(*moved, 1)
        chan = torch.zeros(samples, device=device)
        chan[: lay.colour] = 1.0
        full = torch.movedim(per * chan, -1, lay.channel_axis)

    if is_tensor:
        base = src.to(device=device, dtype=torch.float64 if _wide(out_dtype) else torch.float32)
        new = base + full.to(base.dtype)
        if int_info is not None:
            assert lo is not None and hi is not None
            new = torch.round(new).clamp(lo, hi)
        if padding_value is not None:
            new = torch.where(base == float(padding_value), base, new)
        result: Any = new.to(dtype=out_dtype, device=pixels.device)
        return result  # type: ignore[no-any-return]
    arr = np.asarray(pixels)
    work = np.float64 if _wide(arr.dtype) else np.float32
    new_np = arr.astype(work) + full.cpu().numpy().astype(work)
    if int_info is not None:
        new_np = np.clip(np.rint(new_np), lo, hi)
    if padding_value is not None:
        new_np = np.where(arr == padding_value, arr.astype(work), new_np)
    marked: Any = new_np.astype(arr.dtype)
    return marked  # type: ignore[no-any-return]


def _wide(dtype: Any) -> bool:
    if isinstance(dtype, torch.dtype):
        return dtype in (torch.int32, torch.int64, torch.uint32, torch.uint64, torch.float64)
    nd = np.dtype(dtype)
    return (nd.itemsize >= 4 and nd.kind in "iu") or nd == np.float64


# ---------------------------------------------------------------- detection


def _p(z: float, hypotheses: int) -> float:
    """Chernoff bound exp(-z^2/2) per hypothesis, times the (weighted) hypothesis count."""
    if z <= 0:
        return 1.0
    return math.exp(min(0.0, -0.5 * z * z + math.log(hypotheses)))


@dataclass
class _Best:
    z: float = -math.inf
    key: WatermarkKey | None = None
    tile: int = 0
    scale: float = 1.0
    g: int = 0
    shift: tuple[int, int] = (0, 0)
    spectra: torch.Tensor | None = None  # (B, T, T/2+1) rfft2 of each slice's tile


def _whiten(spec: torch.Tensor) -> torch.Tensor:
    # Phase-only whitening: |X_k| = 1 where the spectrum is non-zero. It rejects the host
    # (whose spectrum is far from flat) and makes the null variance easy to compute.
    mag = spec.abs()
    return torch.where(mag > 1e-20, spec / mag.clamp_min(1e-20), torch.zeros_like(spec))


@functools.lru_cache(maxsize=1024)
def aligned_shift(k: int, f: int, height: int, width: int, tile: int) -> tuple[int, int]:
    """Cyclic shift at which an uncropped image, transformed by D4 element (k, f), aligns.

    Args:
        k: Quarter turns.
        f: Flip flag.
        height: Height of the observed (transformed) image.
        width: Width of the observed image.
        tile: T.

    Returns:
        (sy, sx) such that the observed fold matches ``roll(apply_d4(tile), (sy, sx))``.
    """
    h, w = (height, width) if k % 2 == 0 else (width, height)
    # D4 permutes the four corners the same way whatever the size, so a 2 x 2 array of
    # corner coordinates says which original pixel lands at the observed top-left.
    ci = apply_d4(torch.tensor([[0, 0], [h - 1, h - 1]]), k, f)[0, 0].item()
    cj = apply_d4(torch.tensor([[0, w - 1], [0, w - 1]]), k, f)[0, 0].item()
    grid = torch.arange(tile)
    ti = apply_d4(grid[:, None].expand(tile, tile), k, f)
    tj = apply_d4(grid[None, :].expand(tile, tile), k, f)
    hit = ((ti == ci % tile) & (tj == cj % tile)).nonzero()[0]
    return (-int(hit[0])) % tile, (-int(hit[1])) % tile


@functools.lru_cache(maxsize=32)
def _pilot_band(secret: bytes, tile: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """conj(G_g) and the support weights of the 8 D4 pilots, cut to the columns they use.

    The band ends at |f| = BAND_HIGH, so every column kx beyond T * BAND_HIGH is zero under
    every D4 element; correlating only the first columns skips work on those zeros.
    """
    bank = carrier_bank(secret, tile, device)
    used = bank.pilot_d4_mask.amax(dim=(0, 1)).nonzero()
    cols = int(used.max().item()) + 1 if used.numel() else 1
    conj = torch.conj(bank.pilot_d4[..., :cols]).resolve_conj().contiguous()
    weights = bank.pilot_d4_mask[..., :cols].reshape(len(D4), -1).contiguous()
    return conj, weights


def _zmap_spectrum(spectrum: torch.Tensor, key: WatermarkKey, tile: int) -> torch.Tensor:
    """(..., 8, T, T) pilot z for every D4 element and cyclic shift of (..., T, T/2+1) spectra."""
    conj, weights = _pilot_band(key.secret, tile, str(spectrum.device))
    band = spectrum[..., : conj.shape[-1]]
    parts = torch.view_as_real(band)
    mag2 = parts[..., 0] * parts[..., 0] + parts[..., 1] * parts[..., 1]
    # Whitening: unit magnitude, exact zeros stay zero (a zero times any finite weight).
    clamped = mag2.clamp_min(1e-30)
    var = (mag2 / clamped).flatten(-2) @ weights.T / 2.0
    prod = conj * (band * clamped.rsqrt()).unsqueeze(-3)
    # Inverse FFT over rows on the used columns only, then a real inverse FFT over columns
    # (irfft zero-pads the missing ones): the same as irfft2 on the full spectrum.
    z: torch.Tensor = torch.fft.irfft(torch.fft.ifft(prod, dim=-2), n=tile, dim=-1)
    z.mul_((var.clamp_min(1e-20).rsqrt() * (tile * tile / 2.0))[..., None, None])
    return z


def _zmap(folded: torch.Tensor, key: WatermarkKey, tile: int) -> torch.Tensor:
    """(8, T, T) pilot z for every D4 element and cyclic shift of (B, T, T) folds."""
    # Slices share the tile, so their folds add up coherently before whitening.
    return _zmap_spectrum(torch.fft.rfft2(folded.sum(dim=0)), key, tile)


def pilot_z_map(
    pixels: np.ndarray[Any, Any] | torch.Tensor,
    key: WatermarkKey,
    *,
    tile: int = TILE_SIZES[0],
    channel_axis: int | None = None,
) -> torch.Tensor:
    """The detector's (8, T, T) z statistics at scale 1, for analysis and tests.

    Under H0 every entry is, over the key, sub-Gaussian with variance proxy 1.
    """
    src, _ = _to_tensor(pixels)
    device = _device()
    luma = _layout(src, channel_axis, device).luma
    return _zmap(_fold(_normalised_residual(luma), tile), key, tile)


def _slice_z(best: _Best) -> list[float]:
    assert best.spectra is not None and best.key is not None
    conj, weights = _pilot_band(best.key.secret, best.tile, str(best.spectra.device))
    tile, cols = best.tile, conj.shape[-1]
    band = best.spectra[..., :cols]
    parts = torch.view_as_real(band)
    mag2 = parts[..., 0] * parts[..., 0] + parts[..., 1] * parts[..., 1]
    clamped = mag2.clamp_min(1e-30)
    w = weights[best.g].view(tile, cols)
    var = (w * (mag2 / clamped)).sum(dim=(-2, -1)) / 2.0
    # One shift only: evaluate the inverse transform at that point instead of everywhere.
    sy, sx = best.shift
    ky = torch.arange(tile, device=band.device, dtype=torch.float64)
    kx = torch.arange(cols, device=band.device, dtype=torch.float64)
    angle = 2.0 * math.pi * (ky[:, None] * sy + kx[None, :] * sx) / tile
    ramp = torch.polar(torch.ones_like(angle), angle).to(band.dtype)
    num = (w * (conj[best.g] * ramp * band * clamped.rsqrt()).real).sum(dim=(-2, -1))
    vals = num / var.clamp_min(1e-20).sqrt()
    return [float(v) for v in vals.cpu()]


def _aligned_support(spectrum: torch.Tensor, k: int, f: int) -> torch.Tensor:
    """1 where the aligned tile spectrum holds a coefficient of ``spectrum``, else 0 (spec 5.10).

    A scale hypothesis leaves tile coefficients at exactly zero (above the input's Nyquist
    limit). After the round trip through the spatial tile they come back as float rounding
    noise, which whitening would turn into unit-magnitude terms of random phase: noise in
    the soft bits that differs between CPUs. A D4 element only permutes magnitudes, so the
    support is carried through the same transform as an indicator and kept where it is 1.
    """
    present = (spectrum.abs() > 0).to(torch.float32)
    if bool(present.all()):
        return present
    size = (spectrum.shape[-2], spectrum.shape[-2])
    moved = invert_d4(torch.fft.irfft2(present.to(spectrum.dtype), s=size), k, f)
    support: torch.Tensor = torch.fft.rfft2(moved).abs() > 0.5
    return support.to(torch.float32)


def _decode(best: _Best) -> Payload | None:
    assert best.spectra is not None and best.key is not None
    device = best.spectra.device
    bank = carrier_bank(best.key.secret, best.tile, str(device))
    k, f = D4[best.g]
    summed = best.spectra.sum(dim=0)
    tile = torch.fft.irfft2(summed, s=(best.tile, best.tile))
    aligned = torch.roll(tile, shifts=(-best.shift[0], -best.shift[1]), dims=(-2, -1))
    aligned = invert_d4(aligned, k, f)
    y = _whiten(torch.fft.rfft2(aligned)) * _aligned_support(summed, k, f)
    vals = (torch.conj(bank.payload) * y)[bank.pay_ky, bank.pay_kx].real
    soft = torch.zeros(CODE_BITS, device=device).index_add_(0, bank.pay_bit, vals)
    return decode_payload(
        soft.cpu().numpy().astype(np.float64),
        best.key.secret,
        key_id=best.key.key_id,
        public=best.key.public,
    )


def _scaled_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """Size after undoing a resize by ``scale`` (i.e. resampling by 1/scale)."""
    if scale == 1.0:
        return height, width
    return max(1, round(height / scale)), max(1, round(width / scale))


def _resample(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == size:
        return x
    shrinking = size[0] < x.shape[-2]
    out = F.interpolate(
        x.unsqueeze(1), size=size, mode="bilinear", align_corners=False, antialias=shrinking
    )
    return out.squeeze(1)


def _period(scale: float, tile: int) -> int | None:
    """Period of the tile in an image resized by ``scale``, when it is a whole number."""
    p = scale * tile
    n = round(p)
    return n if n >= 2 and abs(p - n) < 1e-9 else None


@functools.lru_cache(maxsize=64)
def _spectrum_phase(period: int, tile: int, device: torch.device) -> torch.Tensor:
    """Phase factors carrying a period-P fold's harmonics onto the T-tile's (see below).

    Rows are ky = 0..K then -K..-1 and columns kx = 0..K, K = (min(P, T) - 1) // 2: the
    frequencies below both Nyquist limits.
    """
    kmax = (min(period, tile) - 1) // 2
    ky = torch.cat([torch.arange(0, kmax + 1), torch.arange(-kmax, 0)]).to(torch.float64)
    kx = torch.arange(0, kmax + 1, dtype=torch.float64)
    # Resizing with half-pixel centres maps tile pixel n to observed position
    # s n + (s - 1)/2, s = P/T: a sub-pixel offset, applied here as a phase ramp.
    offset = (period / tile - 1.0) / 2.0
    k = ky[:, None] + kx[None, :]
    phase = torch.polar(torch.ones_like(k), 2.0 * math.pi * offset / period * k)
    return phase.to(device=device, dtype=torch.complex64)


def _tile_spectra(fold: torch.Tensor, tile: int) -> torch.Tensor:
    """(B, T, T/2+1) spectrum of the T-tile that a (B, P, P) fold at period P holds.

    For P = T this is rfft2 of the fold. Otherwise the frequencies that both periods resolve
    are carried over: the fold's k-th harmonic is the tile's k-th (P = T s).
    """
    period = fold.shape[-1]
    spec: torch.Tensor = torch.fft.rfft2(fold)
    if period == tile:
        return spec
    phase = _spectrum_phase(period, tile, fold.device)
    k = phase.shape[-1]
    out: torch.Tensor = spec.new_zeros(fold.shape[0], tile, tile // 2 + 1)
    torch.mul(spec[:, :k, :k], phase[:k], out=out[:, :k, :k])
    if k > 1:
        torch.mul(spec[:, period - k + 1 :, :k], phase[k:], out=out[:, tile - k + 1 :, :k])
    return out


def _folds(u: torch.Tensor, periods: Sequence[int]) -> dict[int, torch.Tensor]:
    """Folds of (B, H, W) at every period, each from the smallest multiple already folded."""
    out: dict[int, torch.Tensor] = {}
    for p in sorted(set(periods), reverse=True):
        src = next((out[q] for q in sorted(out) if q % p == 0), u)
        out[p] = _fold(src, p)
    return out


def hypothesis_counts(n_keys: int, n_scales: int) -> tuple[int, int]:
    """Weighted Bonferroni counts (aligned, full search).

    Half the error budget goes to the 8 x keys "aligned" hypotheses (uncropped input at its
    native scale, any D4 element), half to the full search over keys x scales x D4 x every
    cyclic shift of every tile size; each count is therefore doubled.
    """
    aligned = 2 * n_keys * len(D4) * len(TILE_SIZES)
    full = 2 * n_keys * n_scales * len(D4) * sum(t * t for t in TILE_SIZES)
    return aligned, full


def _scale_folds(
    luma: torch.Tensor, scales: Sequence[float], device: torch.device
) -> dict[tuple[float, int], torch.Tensor]:
    """(B, P, P) folds for every (scale, tile) whose period P = T * scale is a whole number.

    The pre-filter runs once at the native resolution, chunk by chunk, and each chunk is
    folded at every period; slices are kept apart for the per-slice evidence.
    """
    periods = {(s, t): p for s in scales for t in TILE_SIZES if (p := _period(s, t)) is not None}
    if not periods:
        return {}
    parts: dict[int, list[torch.Tensor]] = {p: [] for p in periods.values()}
    for i, step in _chunks(luma.shape[0], luma.shape[-2] * luma.shape[-1], device):
        for p, fold in _folds(_normalised_residual(luma[i : i + step]), list(parts)).items():
            parts[p].append(fold)
    folds = {p: torch.cat(f) for p, f in parts.items()}
    return {key: folds[p] for key, p in periods.items()}


def _scale_spectra(
    luma: torch.Tensor, scales: Sequence[float], device: torch.device
) -> dict[tuple[float, int], torch.Tensor]:
    """(B, T, T/2+1) tile spectra of every (scale, tile); see :func:`_scale_folds`."""
    out = {key: _tile_spectra(f, key[1]) for key, f in _scale_folds(luma, scales, device).items()}
    for scale in scales:
        if any((scale, t) not in out for t in TILE_SIZES):
            out.update({(scale, t): v for t, v in _resampled_spectra(luma, scale, device).items()})
    return out


def _resampled_spectra(
    luma: torch.Tensor, scale: float, device: torch.device
) -> dict[int, torch.Tensor]:
    """Tile spectra for a scale whose period is fractional: resample, pre-filter, fold."""
    out_hw = _scaled_size(luma.shape[-2], luma.shape[-1], scale)
    folds: dict[int, list[torch.Tensor]] = {t: [] for t in TILE_SIZES}
    # Resample chunk by chunk so that a large volume never exists at 2x in memory.
    for i, step in _chunks(luma.shape[0], luma.shape[-2] * luma.shape[-1], device):
        u = _normalised_residual(_resample(luma[i : i + step], out_hw))
        for t in TILE_SIZES:
            folds[t].append(_fold(u, t))
    return {t: torch.fft.rfft2(torch.cat(f)) for t, f in folds.items()}


def detect(
    pixels: np.ndarray[Any, Any] | torch.Tensor,
    keys: Sequence[WatermarkKey] | None = None,
    *,
    fpr: float = 1e-6,
    scales: Sequence[float] = DEFAULT_SCALES,
    channel_axis: int | None = None,
    decode: bool = True,
) -> Detection:
    """Detect a watermark and decode its payload.

    The search covers every key, every scale in ``scales``, the 8 rotations/flips, every
    tile size and every cyclic shift. The p-value is a weighted union bound over all of
    them (see :func:`hypothesis_counts`), valid however many were actually evaluated:
    further scales are skipped once the input is detected.

    Args:
        pixels: Same layouts as :func:`embed`; several slices are combined into one
            decision (their whitened spectra are summed before correlation, which is a
            Stouffer-style combination whose null is still exact).
        keys: Keys to try; None tries the public detection key.
        fpr: False-positive rate; ``detected`` is ``p_value <= fpr``.
        scales: Candidate factors the input may have been resized by (1.0 first).
        channel_axis: Axis of colour samples, if any.
        decode: Decode the payload when detected.

    Returns:
        A :class:`Detection`.
    """
    key_list = list(dict.fromkeys(keys)) if keys is not None else [PUBLIC_DETECTION_KEY]
    if not key_list:
        raise ValueError("keys must not be empty")
    scale_list = list(dict.fromkeys(float(s) for s in scales)) or [1.0]
    if any(s <= 0 for s in scale_list):
        raise ValueError("scales must be positive")
    if 1.0 not in scale_list:
        scale_list.insert(0, 1.0)
    src, _ = _to_tensor(pixels)
    device = _device()
    luma = _layout(src, channel_axis, device).luma
    height, width = luma.shape[-2], luma.shape[-1]
    n_aligned, n_full = hypothesis_counts(len(key_list), len(scale_list))
    # Scales that would leave fewer than 16 pixels once undone are not searched.
    scale_list = [s for s in scale_list if min(_scaled_size(height, width, s)) >= 16]
    folds = _scale_folds(luma, scale_list, device)
    spectra: dict[tuple[float, int], torch.Tensor] = {}
    best_full = _Best()
    best_aligned = _Best()
    # Scale 1 first: a marked input usually stops there. The other scales go together.
    stages = [[s for s in scale_list if s == 1.0], [s for s in scale_list if s != 1.0]]
    for stage in (st for st in stages if st):
        for scale in stage:
            spectra.update({k: _tile_spectra(f, k[1]) for k, f in folds.items() if k[0] == scale})
            if any((scale, t) not in spectra for t in TILE_SIZES):
                resampled = _resampled_spectra(luma, scale, device)
                spectra.update({(scale, t): v for t, v in resampled.items()})
        for tile in TILE_SIZES:
            per_scale = [spectra[(scale, tile)] for scale in stage]
            summed = torch.stack([sp[0] if sp.shape[0] == 1 else sp.sum(dim=0) for sp in per_scale])
            for key in key_list:
                # The search itself is a few scalar look-ups: NumPy on the host is cheaper
                # than torch's per-call overhead (and its slow CPU argmax).
                zmaps = _zmap_spectrum(summed, key, tile).cpu().numpy()
                for scale, spec, zmap in zip(stage, per_scale, zmaps, strict=True):
                    flat = int(zmap.argmax())
                    g, rest = divmod(flat, tile * tile)
                    z = float(zmap.reshape(-1)[flat])
                    if z > best_full.z:
                        best_full = _Best(z, key, tile, scale, g, divmod(rest, tile), spec)
                    if scale != 1.0:
                        continue
                    shifts = [aligned_shift(k, f, height, width, tile) for k, f in D4]
                    za_all = zmap[range(len(D4)), [a for a, _ in shifts], [b for _, b in shifts]]
                    gi = int(za_all.argmax())
                    za = float(za_all[gi])
                    if za > best_aligned.z:
                        best_aligned = _Best(za, key, tile, scale, gi, shifts[gi], spec)
        if min(_p(best_full.z, n_full), _p(best_aligned.z, n_aligned)) <= fpr:
            break
    p_full, p_aligned = _p(best_full.z, n_full), _p(best_aligned.z, n_aligned)
    best, n_hyp = (best_aligned, n_aligned) if p_aligned <= p_full else (best_full, n_full)
    p_value = min(p_full, p_aligned)
    detected = p_value <= fpr
    slices: tuple[SliceDetection, ...] = ()
    transform: str | None = None
    payload: Payload | None = None
    if best.key is not None:
        assert best.spectra is not None
        # A single slice's own statistic is the combined one already computed.
        zs = _slice_z(best) if best.spectra.shape[0] > 1 else [best.z]
        slices = tuple(SliceDetection(index=i, z=z, p_value=_p(z, n_hyp)) for i, z in enumerate(zs))
        k, f = D4[best.g]
        transform = (
            f"rot90:{k},flip:{f},scale:{best.scale:g},tile:{best.tile},"
            f"shift:{best.shift[0]}:{best.shift[1]}"
        )
        if detected and decode:
            payload = _decode(best)
    return Detection(
        detected=detected,
        p_value=p_value,
        z=best.z,
        fpr=fpr,
        key_id=best.key.key_id if detected and best.key is not None else None,
        payload=payload,
        slices=slices,
        transform=transform,
    )
