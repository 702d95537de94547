"""How far above the clip level a generator's clipped highlights typically lie, as a target for the clipped
region of an inversion (:mod:`glowgan.invert`, step 2).

A photo records a clipped pixel as 1.0 whatever its radiance, and the rendering that step 2 compares with
the photo clips too, so nothing in the image loss asks the clipped region to be brighter than the clip.
Measured on held-out sky photos (``docs/itm/README.md``), the fit grows a sun until its rendering clips and
stops there: the fill is the clip level, the trivial method's. The generator knows more: its own samples,
photographed through its camera prior, clip suns that lie on average a stop or so above the clip level.

:class:`ClipLevels` measures that on the generator's samples: for each sample that clips at least
MIN_CLIPPED_SHARE of its pixels, the share it clips and the mean log2 exposed radiance of the clipped
pixels' channels, in stops above the clip (``benchmarks/clipped_levels.py`` compares the same numbers with
the procedural world's truth). :meth:`ClipLevels.target` is the mean of that level over the samples that
clip a similar share to the photo's (a small clipped region is a sun, a large one a bright sky, whose
levels differ), and :func:`clip_level_loss` asks the photo's clipped region for at least that mean level
(a one-sided hinge: a region already brighter is left alone).

What clips: a pixel whose brightest channel reaches the clip level (``white=False``, the benchmarks' sun
statistic), or, for inversion, one whose every channel does (``white=True``: :data:`ITM_WHITE`). A light
far brighter than the clip saturates all three channels; a bright sky a little over the clip saturates
one or two, its colour. Measured on the held-out sky photos of seeds 0-399 (``docs/itm/README.md``): none
of the 27 sunless photos that clip has a single pixel clipped in every channel, while 286 of the 297 with a
sun have, and their white-clipped pixels lie 2.2 stops above the clip on average against 1.3 for all
clipped pixels. Asked of every clipped pixel, the target lit invented suns in sunless skies; asked of the
white-clipped ones, a photo without any asks for nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from glowgan import camera as cam
from glowgan.config import Config
from glowgan.models.generator import Generator

# A sample counts when it clips at least this share of its pixels (glowgan.evaluation's held-out photos too).
MIN_CLIPPED_SHARE = 0.002
# Images clipping less than this share of their pixels clip a small light source (a sun, a lamp).
SMALL_SHARE = 0.01
# Samples whose clipped share is within this factor of the photo's are "similar"; at least NEAREST are used.
SHARE_FACTOR = 2.0
NEAREST = 16
SAMPLES = 512
# Inversion asks the pixels clipped in every channel for the level of the generator's such pixels.
ITM_WHITE = True
LOG_FLOOR = 2.0**-24


@dataclass(frozen=True)
class ClipLevels:
    """Per clipping sample of a generator: the share of its pixels that clip, and their mean level in stops
    above the clip. Both [S]; empty for a generator none of whose samples clips."""

    shares: np.ndarray
    levels: np.ndarray

    @classmethod
    def measure(
        cls, generator: Generator, config: Config, *, samples: int = SAMPLES, seed: int = 0, batch: int = 64, white: bool = False
    ) -> ClipLevels:
        """Photograph ``samples`` images of ``generator`` through its camera prior (latents and cameras from
        ``seed``) and keep those that clip (``white``: in every channel)."""
        device = generator.mapping.w_avg.device
        rng = torch.Generator(device="cpu").manual_seed(seed)
        z = torch.randn(samples, generator.z_dim, generator=rng)
        params = config.camera.prior.sample(samples, rng=rng)
        exposed = []
        with torch.no_grad():
            for first in range(0, samples, batch):
                hdr = generator(z[first : first + batch].to(device), noise_mode="const").float()
                exposed.append(hdr * cam.exposure_gain(params[first : first + batch].to(device), hdr))
        return cls.of_images(torch.cat(exposed), white=white)

    @classmethod
    def of_images(cls, exposed: torch.Tensor, *, white: bool = False) -> ClipLevels:
        """The images of ``exposed`` [N, 3, H, W] (linear, 1 = the clip level) that clip at least
        MIN_CLIPPED_SHARE with a finite level, e.g. the procedural world's truth photographed
        (``benchmarks/clipped_levels.py``)."""
        statistics = clipped_statistics(exposed, white=white)
        shares, levels = (np.asarray(values, dtype=np.float64) for values in statistics)
        keep = (shares >= MIN_CLIPPED_SHARE) & np.isfinite(levels)
        return cls(shares[keep], levels[keep])

    @classmethod
    def of_scenes(cls, hdr: np.ndarray, *, white: bool = False) -> ClipLevels:
        """:meth:`of_images` of scenes [N, H, W, 3] exposed as photographed (1 = the clip level), such as
        the ``hdr`` of :func:`glowgan.evaluation.held_out_photos`."""
        scenes = torch.from_numpy(np.ascontiguousarray(hdr, dtype=np.float32)).permute(0, 3, 1, 2)
        return cls.of_images(scenes, white=white)

    def small_share_level(self) -> float | None:
        """The mean level of the images clipping less than SMALL_SHARE (suns): the one that bounds a fill,
        since a small clipped region hides the brightest radiance. None without any."""
        small = self.shares < SMALL_SHARE
        return float(self.levels[small].mean()) if small.any() else None

    def target(self, share: float) -> float | None:
        """The mean level (stops above the clip) of the samples that clip a share similar to ``share``:
        within SHARE_FACTOR of it, or the NEAREST nearest in log share when fewer are that close. None
        when no sample clips: the generator holds no highlights above the clip to ask for."""
        if len(self.shares) == 0:
            return None
        distance = np.abs(np.log(self.shares) - np.log(max(share, MIN_CLIPPED_SHARE)))
        similar = distance <= np.log(SHARE_FACTOR)
        if similar.sum() < min(NEAREST, len(distance)):
            similar = np.argsort(distance, kind="stable")[:NEAREST]
        return float(self.levels[similar].mean())


def clipped_channels(image: torch.Tensor, *, white: bool) -> torch.Tensor:
    """The channel of each pixel of ``image`` [N, 3, H, W] that decides whether it clips [N, 1, H, W]: the
    darkest (``white``: every channel must clip) or the brightest."""
    return image.amin(dim=1, keepdim=True) if white else image.amax(dim=1, keepdim=True)


def clipped_statistics(exposed: torch.Tensor, *, white: bool = False) -> tuple[list[float], list[float]]:
    """Of each image of ``exposed`` [N, 3, H, W] (linear, 1 = the clip level): the share of pixels that clip
    (whose brightest channel, or with ``white`` every channel, reaches the clip), and the mean log2 of those
    pixels' channels (NaN without any; not finite when a clipped pixel is)."""
    clipped = clipped_channels(exposed, white=white) >= 1.0  # [N, 1, H, W]
    count = clipped.sum(dim=(1, 2, 3)).to(exposed.dtype)
    logs = torch.where(clipped, torch.log2(exposed.clamp_min(LOG_FLOOR)), torch.zeros((), dtype=exposed.dtype))
    share = count / clipped[0].numel()
    level = logs.sum(dim=(1, 2, 3)) / (3 * count)
    return share.tolist(), level.tolist()


def clip_level_loss(exposed: torch.Tensor, mask: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per image ``relu(target - level)^2`` [N]: ``level`` the ``mask``-weighted mean log2 of ``exposed``
    [N, 3, h, w] (linear, 1 = the clip level) over the photo's clipped region ``mask`` [N, 1, h, w], for
    the ``target`` [N] of each (-inf asks for nothing); 0 for an image without a clipped region."""
    weight = mask.sum(dim=(1, 2, 3)) * exposed.shape[1]
    level = (torch.log2(exposed.clamp_min(LOG_FLOOR)) * mask).sum(dim=(1, 2, 3)) / weight.clamp_min(1e-12)
    return torch.relu(target - level).square() * (weight > 0)
