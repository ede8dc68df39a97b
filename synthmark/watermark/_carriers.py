"""Keyed carriers: a flat-magnitude, random-phase spectrum on a T x T tile.

Every quantity here is derived from the key secret with SHAKE-256 so that another
implementation can reproduce it bit for bit from the spec (no library PRNG is involved).
"""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from synthmark.watermark._codec import CODE_BITS

TILE_SIZES = (128,)
BAND_LOW = 0.03
BAND_HIGH = 0.28
DOMAIN = b"synthmark/wm/v1/"

# The 8 elements of the dihedral group D4 as (quarter turns, horizontal flip first).
D4: tuple[tuple[int, int], ...] = tuple((k, f) for f in (0, 1) for k in range(4))


def apply_d4(x: torch.Tensor, k: int, f: int) -> torch.Tensor:
    """Apply a D4 element to the last two axes: flip the last axis if f, then k quarter turns."""
    if f:
        x = torch.flip(x, dims=(-1,))
    return torch.rot90(x, k, dims=(-2, -1)) if k % 4 else x


def invert_d4(x: torch.Tensor, k: int, f: int) -> torch.Tensor:
    """Undo :func:`apply_d4`."""
    if k % 4:
        x = torch.rot90(x, -k, dims=(-2, -1))
    return torch.flip(x, dims=(-1,)) if f else x


def independent_band(tile: int) -> npt.NDArray[np.int64]:
    """Return the (ky, kx) rfft2 indices of the independent in-band coefficients, in order.

    Order is row-major over the rfft2 layout (ky in 0..T-1, kx in 0..T/2). A coefficient is
    independent when it is not the conjugate mirror of another stored one: columns
    1..T/2-1, plus column 0 for ky in 1..T/2-1 only. The band is BAND_LOW <= |f| <= BAND_HIGH
    cycles per pixel.
    """
    half = tile // 2
    out: list[tuple[int, int]] = []
    for ky in range(tile):
        fy = (ky if ky < half else ky - tile) / tile
        for kx in range(half + 1):
            if kx == half or (kx == 0 and not 1 <= ky < half):
                continue
            f = math.hypot(fy, kx / tile)
            if BAND_LOW <= f <= BAND_HIGH:
                out.append((ky, kx))
    return np.asarray(out, dtype=np.int64)


def keyed_stream(secret: bytes, label: str, tile: int, nbytes: int) -> bytes:
    """SHAKE-256(DOMAIN || label || "/" || T as 2 bytes big-endian || secret), nbytes long."""
    msg = DOMAIN + label.encode() + b"/" + tile.to_bytes(2, "big") + secret
    return hashlib.shake_256(msg).digest(nbytes)


@dataclass(frozen=True)
class CarrierBank:
    """The carriers of one key at one tile size, as tensors on one device.

    Attributes:
        tile: T.
        pilot: (T, T/2+1) complex pilot spectrum, unit magnitude on its support, mirrored.
        pilot_d4: (8, T, T/2+1) the pilot as seen after each D4 element (see :data:`D4`).
        pilot_d4_mask: (8, T, T/2+1) real weights: 1 on independent support, 1/2 on column 0.
        payload: (T, T/2+1) complex payload carrier phases (unit magnitude, mirrored).
        bit_map: (T, T/2+1) int64 code-bit index of each payload coefficient, -1 elsewhere.
        pay_ky, pay_kx, pay_bit: independent payload coefficients and their code bit.
    """

    tile: int
    pilot: torch.Tensor
    pilot_d4: torch.Tensor
    pilot_d4_mask: torch.Tensor
    payload: torch.Tensor
    bit_map: torch.Tensor
    pay_ky: torch.Tensor
    pay_kx: torch.Tensor
    pay_bit: torch.Tensor


def _mirror(
    ky: npt.NDArray[np.int64], kx: npt.NDArray[np.int64], tile: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    col0 = kx == 0
    return (tile - ky[col0]) % tile, kx[col0], col0


@functools.lru_cache(maxsize=32)
def carrier_bank(secret: bytes, tile: int, device: str) -> CarrierBank:
    """Derive (and cache) the carriers of a key for one tile size.

    Derivation (normative, see spec): M independent in-band coefficients; phases
    phi_i = 2 pi u_i / 2^32 with u_i the little-endian uint32 words of the "phase" stream;
    a permutation from a stable argsort of the little-endian uint64 words of the "perm"
    stream; the first floor(M/2) permuted coefficients are the pilot, the rest carry code
    bit i mod 204 for the i-th of them.
    """
    idx = independent_band(tile)
    m = idx.shape[0]
    u = np.frombuffer(keyed_stream(secret, "phase", tile, 4 * m), dtype="<u4")
    phase = 2.0 * np.pi * (u.astype(np.float64) / 2.0**32)
    order_keys = np.frombuffer(keyed_stream(secret, "perm", tile, 8 * m), dtype="<u8")
    perm = np.argsort(order_keys, kind="stable")
    n_pilot = m // 2
    pilot_sel, pay_sel = perm[:n_pilot], perm[n_pilot:]
    half = tile // 2 + 1

    def spectrum(sel: npt.NDArray[np.int64]) -> npt.NDArray[np.complex128]:
        spec = np.zeros((tile, half), dtype=np.complex128)
        ky, kx = idx[sel, 0], idx[sel, 1]
        values = np.exp(1j * phase[sel])
        spec[ky, kx] = values
        mky, mkx, col0 = _mirror(ky, kx, tile)
        spec[mky, mkx] = np.conj(values[col0])
        return spec

    pilot = spectrum(pilot_sel)
    payload = spectrum(pay_sel)
    pay_bit = (np.arange(pay_sel.size) % CODE_BITS).astype(np.int64)
    bit_map = np.full((tile, half), -1, dtype=np.int64)
    pky, pkx = idx[pay_sel, 0], idx[pay_sel, 1]
    bit_map[pky, pkx] = pay_bit
    mky, mkx, col0 = _mirror(pky, pkx, tile)
    bit_map[mky, mkx] = pay_bit[col0]

    pilot_tile = torch.fft.irfft2(torch.from_numpy(pilot), s=(tile, tile))
    d4 = torch.stack([torch.fft.rfft2(apply_d4(pilot_tile, k, f)) for k, f in D4])
    mag = d4.abs()
    support = mag > 0.5
    d4 = torch.where(support, d4 / mag.clamp_min(1e-12), torch.zeros_like(d4))
    weight = support.to(torch.float64)
    weight[..., 0] *= 0.5
    weight[..., -1] = 0.0
    dev = torch.device(device)
    return CarrierBank(
        tile=tile,
        pilot=torch.from_numpy(pilot).to(dev, torch.complex64),
        pilot_d4=d4.to(dev, torch.complex64),
        pilot_d4_mask=weight.to(dev, torch.float32),
        payload=torch.from_numpy(payload).to(dev, torch.complex64),
        bit_map=torch.from_numpy(bit_map).to(dev),
        pay_ky=torch.from_numpy(pky).to(dev),
        pay_kx=torch.from_numpy(pkx).to(dev),
        pay_bit=torch.from_numpy(pay_bit).to(dev),
    )


@functools.lru_cache(maxsize=64)
def mark_tile(secret: bytes, tile: int, code: bytes, device: str) -> torch.Tensor:
    """Return the unit-RMS spatial mark tile (T, T) float32 for a key and a codeword.

    Args:
        secret: Key secret.
        tile: T.
        code: The 204 code bits, one byte (0 or 1) each.
        device: Torch device string.
    """
    bank = carrier_bank(secret, tile, device)
    bits = torch.frombuffer(bytearray(code), dtype=torch.uint8).to(bank.bit_map.device)
    signs = 1.0 - 2.0 * bits.to(torch.float32)
    sign_map = torch.where(
        bank.bit_map >= 0, signs[bank.bit_map.clamp_min(0)], torch.zeros((), device=bits.device)
    )
    spec = bank.pilot + bank.payload * sign_map
    w = torch.fft.irfft2(spec, s=(tile, tile))
    unit: torch.Tensor = (w / w.pow(2).mean().sqrt()).to(torch.float32)
    return unit
