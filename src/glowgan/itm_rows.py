"""GlowGAN's rows of an inverse tone mapping evaluation, inverted a batch of photos at a time.

:func:`glowgan.evaluation.evaluate_methods` calls a method once per photo, but GlowGAN inverts several
photos side by side much faster than one at a time (:func:`glowgan.invert.invert_photos`; each photo
gets the result it gets alone, up to float rounding). :class:`Inversions` therefore inverts a table's
photos ahead, ``batch`` at a time (:meth:`Inversions.prepare`), and its rows (:meth:`Inversions.row`)
look each photo's result up; a photo that was not prepared is inverted alone when its row asks. Rows
that differ only in how the generator's image is blended into the photo share one set of inversions.
:func:`evaluate` does both for a table: it prepares every set of inversions for the photos, scores the
rows with ``evaluate_methods``, and, since a row's own call only blends, adds each photo's share of its
batch's time to the seconds measured for the rows named in its ``inversions``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from glowgan.evaluation import HeldOutPhoto, evaluate_methods
from glowgan.invert import InversionResult
from glowgan.itm_photo import blend, photo_tensor


class Inversions:
    """Every photo's inversion by ``invert`` (photos [H, W, 3] in [0, 1] -> one result each), made
    ``batch`` photos at a time and kept by photo (the very array a table passes to its methods), blended
    with ``fill`` (the fill colour the inversions were made with)."""

    def __init__(
        self,
        invert: Callable[[list[np.ndarray]], list[InversionResult]],
        *,
        batch: int,
        fill: str,
        name: str,
        progress: bool = True,
    ) -> None:
        if batch < 1:
            raise ValueError(f"batch must be at least 1, got {batch}")
        self.invert, self.batch, self.fill, self.name, self.progress = invert, batch, fill, name, progress
        self._found: dict[int, tuple[np.ndarray, InversionResult]] = {}  # id(photo) -> (photo, kept alive; result)

    def prepare(self, photos: Sequence[np.ndarray]) -> None:
        """Invert the photos not inverted yet, ``batch`` at a time."""
        pending = [photo for photo in photos if id(photo) not in self._found]
        firsts = range(0, len(pending), self.batch)
        for first in tqdm(firsts, desc=f"inverting ({self.name})", unit="batch", disable=not self.progress, leave=False):
            chunk = pending[first : first + self.batch]
            for photo, result in zip(chunk, self.invert(chunk)):
                self._found[id(photo)] = (photo, result)

    def result(self, photo: np.ndarray) -> InversionResult:
        """The inversion of ``photo`` (inverted alone now if it was not prepared)."""
        if id(photo) not in self._found:
            self._found[id(photo)] = (photo, self.invert([photo])[0])
        return self._found[id(photo)][1]

    def seconds(self, photos: Sequence[np.ndarray]) -> list[float]:
        """Each photo's share of its batch's seconds, in order."""
        return [sum(self.result(photo).seconds.values()) for photo in photos]

    def row(self, fill: str | None = None) -> Callable[[np.ndarray], np.ndarray]:
        """A table row: a photo's HDR result, blended with ``fill`` (default: the inversions' own)."""
        fill = self.fill if fill is None else fill

        def method(photo: np.ndarray) -> np.ndarray:
            result = self.result(photo)
            if fill == self.fill:
                return result.hdr
            generator_hdr = torch.from_numpy(result.generator_hdr).permute(2, 0, 1)[None]
            hdr, _ = blend(photo_tensor(photo), generator_hdr, result.camera, circular=result.wrap, fill=fill)
            return hdr[0].permute(1, 2, 0).numpy()

        return method


def evaluate(
    methods: dict[str, Callable[[np.ndarray], np.ndarray]],
    photos: Sequence[HeldOutPhoto],
    inversions: dict[str, Inversions],
    *,
    progress: bool = True,
) -> dict[str, dict[str, list[Any]]]:
    """``evaluate_methods(methods, photos)`` with every set of ``inversions`` prepared for the photos first,
    and each row named in ``inversions`` given its photos' share of their batches' time on top of the
    seconds of its own call (which only blended)."""
    ldrs = [photo.ldr for photo in photos]
    for inverted in inversions.values():
        inverted.prepare(ldrs)
    results = evaluate_methods(methods, photos, progress=progress)
    for row, inverted in inversions.items():
        if row in results:
            results[row]["seconds"] = [own + share for own, share in zip(results[row]["seconds"], inverted.seconds(ldrs))]
    return results
