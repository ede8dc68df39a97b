"""Views of canonical pixel arrays as stacks of 2-D slices, for the watermark.

Carriers keep their own canonical layouts (spec section 6.2); the watermark works on
``(N, H, W)`` stacks, optionally with a trailing colour axis. This module converts both
ways without copying where it can, and without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from synthmark.carriers import PixelContent


@dataclass(frozen=True)
class SliceView:
    """A stack of slices and how to put it back.

    Attributes:
        stack: ``(N, H, W)`` or ``(N, H, W, C)`` array.
        channel_axis: ``-1`` when the last axis holds colour samples, else ``None``.
        layout: The carrier layout the stack came from.
        shape: The canonical array's shape.
    """

    stack: npt.NDArray[np.generic]
    channel_axis: int | None
    layout: str
    shape: tuple[int, ...]

    def restore(self, stack: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
        """Return ``stack`` (same shape as :attr:`stack`) in the canonical layout."""
        if self.layout.startswith("i,j"):
            if self.channel_axis is None:
                i, j = self.shape[0], self.shape[1]
                rest = self.shape[2:]
                moved = np.moveaxis(stack, 0, -1)  # (i, j, N)
                return moved.reshape((i, j, *rest))
            i, j, c = self.shape[0], self.shape[1], self.shape[-1]
            moved = np.moveaxis(stack, 0, 2)  # (i, j, N, C)
            return moved.reshape((i, j, *self.shape[2:-1], c))
        return stack.reshape(self.shape)


def slice_view(content: PixelContent) -> SliceView:
    """Return the canonical array of ``content`` as a stack of 2-D slices."""
    array: npt.NDArray[np.generic] = content.array
    colour = content.photometric not in ("MONOCHROME1", "MONOCHROME2", "PALETTE COLOR", "")
    if content.layout == "frames,rows,columns,samples":
        frames, rows, columns, samples = array.shape
        if samples == 1:
            stack = array.reshape(frames, rows, columns)
            return SliceView(stack, None, content.layout, array.shape)
        return SliceView(array, -1, content.layout, array.shape)
    if content.layout == "rows,columns,samples":
        rows, columns, samples = array.shape
        if samples == 1:
            return SliceView(array.reshape(1, rows, columns), None, content.layout, array.shape)
        return SliceView(array.reshape(1, rows, columns, samples), -1, content.layout, array.shape)
    # NIfTI: index [i, j, k, t, ...]; slices are (i, j) planes, stacked over every other axis.
    if colour and array.ndim >= 3 and array.shape[-1] in (3, 4):
        i, j, c = array.shape[0], array.shape[1], array.shape[-1]
        colour_planes = array.reshape(i, j, -1, c)
        return SliceView(np.moveaxis(colour_planes, 2, 0), -1, content.layout, array.shape)
    i, j = array.shape[0], array.shape[1]
    planes = array.reshape(i, j, -1)
    return SliceView(np.moveaxis(planes, -1, 0), None, content.layout, array.shape)
