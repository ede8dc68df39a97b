"""Marking synthetic images where they are generated (docs/generation-time-marking.md).

* :mod:`synthmark.integrations.torch`: :func:`~synthmark.integrations.torch.mark_batch`
  watermarks a batch of generated tensors on their device and returns one record per
  image (fresh record id, watermark payload linked to it).
* :mod:`synthmark.integrations.monai`: MONAI transforms that mark images inside a pipeline
  and stamp what ``SaveImage`` wrote (extra ``synthmark[monai]``).

Nothing is imported here, so ``import synthmark.integrations`` costs nothing; torch and
MONAI load only when the submodules are used.
"""

from __future__ import annotations
