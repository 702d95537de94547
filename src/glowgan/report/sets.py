"""The image sets an evaluation compares: a synthetic world's ground truth and a model's samples, on one scale.

**Scale.** A GAN trained on LDR photos learns HDR only up to the photos' metering: the generator absorbs
the auto-exposure and outputs radiance at a "metered" scale, whatever the scene's absolute level was
(DESIGN.md, "What LDR photos can and cannot teach"). Absolute scale is therefore not something to
score. Every image, ground truth and sample alike, is put on the scale of the world's own
auto-exposure: multiplied by ``2**meter_stops``, where ``meter_stops`` is the set's metering rule
(``median`` or ``mean-log`` luminance, from the manifest) bringing its key to the set's target
(0.18, mid-grey) (:func:`glowgan.data.synth.meter_stops`). Dynamic range, headroom and highlight share
do not depend on the scale at all; distances (SWD, FID) compare the metered images.

**Observable range.** A radiance level can only be learned if some photos show it unclipped. With
the ground truth metered, a photo with exposure offset ``o`` stops clips at radiance ``2**-o``; the
brightest level that the darkest 1 % of the photos (offset quantile 0.01, over all the set's records)
leave unclipped is ``2**-quantile(o, 0.01)``, the same for every metered image. The observable ground
truth is the ground truth clipped at that level.

Statistics per set: per-image dynamic range (``log2 P99.9 / P0.1`` of luminance, as ``glowgan
info``), **headroom** (``log2 P99.9 / P50``: how far the bright end reaches above the median) and
highlight share (:func:`glowgan.metrics.dynamic_range.highlight_share_batch`), each summarised by its
median, 10th and 90th percentiles and mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from glowgan import hdrio
from glowgan.checkpoint import load_checkpoint, load_generator
from glowgan.config import Config
from glowgan.data.synth import meter_stops as world_meter_stops
from glowgan.data.synth import read_manifest
from glowgan.generate import sample_hdr_batches
from glowgan.metrics.dynamic_range import dynamic_range_stops, dynamic_range_stops_batch, highlight_share_batch
from glowgan.models.generator import Generator

# DESIGN.md: the observable level is the brightest one that 1 % of the photos leave unclipped.
OBSERVABLE_QUANTILE = 0.01
HEADROOM_LOW_PERCENTILE = 50.0


def headroom_stops(hdr: np.ndarray) -> float:
    """Highlight headroom of one image [H, W, C]: ``log2(P99.9 / P50)`` of its luminance, in stops."""
    return dynamic_range_stops(hdr, low_percentile=HEADROOM_LOW_PERCENTILE)


def headroom_stops_batch(hdr_batch: np.ndarray) -> np.ndarray:
    """Per-image :func:`headroom_stops` of a batch [N, H, W, C] -> [N]."""
    return np.array([headroom_stops(image) for image in hdr_batch], dtype=np.float64)


def summary(values: np.ndarray) -> dict[str, float]:
    """Median, 10th and 90th percentile and mean of per-image values [N]."""
    p10, median, p90 = np.percentile(values, [10, 50, 90])
    return {"median": float(median), "p10": float(p10), "p90": float(p90), "mean": float(np.mean(values))}


def image_statistics(hdr: np.ndarray) -> dict[str, np.ndarray]:
    """Per-image dynamic range, headroom (stops) and highlight share of [N, H, W, 3] -> three [N] arrays."""
    return {
        "dynamic_range": dynamic_range_stops_batch(hdr),
        "headroom": headroom_stops_batch(hdr),
        "highlight_share": highlight_share_batch(hdr),
    }


@dataclass(frozen=True)
class World:
    """A synthetic set's specification and the part of its ground truth an evaluation reads."""

    path: Path
    spec: dict[str, Any]  # the manifest header's specification (family, size, seed, camera, metering, ...)
    total: int  # images in the set
    metered_hdr: np.ndarray  # [N, H, W, 3] float32, the first N ground truths on the metered scale
    observable_level: float  # radiance (metered scale) above which 99 % of the photos clip
    offset_quantile_stops: float  # the exposure offset quantile that decides the level

    @property
    def size(self) -> tuple[int, int]:
        return int(self.spec["height"]), int(self.spec["width"])

    @property
    def family(self) -> str:
        return str(self.spec["family"])

    @property
    def world_version(self) -> int:
        """The version of the procedural world that rendered the set (every manifest records it)."""
        return int(self.spec["world_version"])

    def meter(self, hdr: np.ndarray) -> np.ndarray:
        """``hdr`` [N, H, W, 3] on the metered scale of this world (see the module docstring)."""
        return meter(hdr, metering=self.spec["metering"], target=self.spec["target"])

    def observable_hdr(self) -> np.ndarray:
        """The metered ground truth clipped at the observable level [N, H, W, 3]."""
        return np.minimum(self.metered_hdr, np.float32(self.observable_level))

    def beyond_observable_fraction(self) -> float:
        """Fraction of ground-truth pixels whose brightest channel exceeds the observable level."""
        return float((self.metered_hdr.max(axis=-1) > self.observable_level).mean())


def meter(hdr: np.ndarray, *, metering: str, target: float) -> np.ndarray:
    """Multiply each image of [N, H, W, 3] by its auto-exposure gain (:func:`glowgan.data.synth.meter_stops`)."""
    stops = world_meter_stops(hdr, metering=metering, target=target)  # [N]
    gain = np.exp2(np.clip(stops, -126.0, 126.0)).astype(np.float32)  # float32 range: a black image stays finite
    return (np.asarray(hdr, dtype=np.float32) * gain[:, None, None, None]).astype(np.float32)


def read_world(path: Path | str, count: int, *, progress: bool = False) -> World:
    """Read the first ``count`` ground-truth images of the synthetic set ``path`` (see the module docstring)."""
    path = Path(path)
    header, records = read_manifest(path)
    if count < 2:
        raise ValueError(f"an evaluation needs at least 2 ground-truth images, got a count of {count}")
    if len(records) < count:
        raise ValueError(
            f"{path} holds {len(records)} images but {count} were asked for; pass a count of at most "
            f"{len(records)} or synthesise more with `glowgan data synth --count {count}`"
        )
    spec = header["spec"]
    offsets = np.array([record["offset_stops"] for record in records], dtype=np.float64)
    quantile = float(np.quantile(offsets, OBSERVABLE_QUANTILE))
    hdr = np.stack(
        [
            hdrio.read_hdr(path / record["hdr"])
            for record in tqdm(records[:count], desc="ground truth", unit="img", disable=not progress, leave=False)
        ]
    )  # [N, H, W, 3], as rendered
    if hdr.shape[1:3] != (spec["height"], spec["width"]):
        raise ValueError(
            f"{path}: ground truth is {hdr.shape[2]}x{hdr.shape[1]} but the manifest says "
            f"{spec['width']}x{spec['height']}; synthesise the set again"
        )
    metered = meter(hdr, metering=spec["metering"], target=spec["target"])
    return World(path, spec, len(records), metered, 2.0**-quantile, quantile)


@dataclass(frozen=True)
class Model:
    """A named checkpoint: its generator, configuration and training progress."""

    name: str
    path: Path
    generator: Generator
    config: Config
    kimg: float | None  # thousands of images seen in training (None: the file does not say)

    @property
    def camera(self) -> bool:
        return self.config.camera.enabled

    def describe(self) -> dict[str, Any]:
        """What the report states about the model (JSON-ready)."""
        prior = self.config.camera.prior
        height, width = self.generator.img_resolution
        return {
            "path": str(self.path),
            "kimg": self.kimg,
            "camera": self.camera,
            "exposure_mean_stops": prior.exposure_mean_stops if self.camera else None,
            "exposure_std_stops": prior.exposure_std_stops if self.camera else None,
            "quantize_bits": prior.quantize_bits if self.camera else None,
            "resolution": [height, width],
        }


def load_model(name: str, path: Path | str) -> Model:
    """Load the checkpoint ``path`` as the model ``name`` (kimg from its ``progress`` record, if any)."""
    path = Path(path)
    generator, config = load_generator(path)
    progress = load_checkpoint(path, mmap=True).get("progress", {})
    images = progress.get("images") if isinstance(progress, dict) else None
    return Model(name, path, generator, config, None if images is None else images / 1000.0)


def sample_metered(model: Model, seeds: Sequence[int], world: World, *, batch: int = 50) -> np.ndarray:
    """HDR samples of ``model`` for latent ``seeds`` on the world's metered scale -> [N, H, W, 3] float32.

    A vanilla (camera-off) model's LDR output is linearised as in :mod:`glowgan.generate`.
    """
    if tuple(model.generator.img_resolution) != world.size:
        height, width = model.generator.img_resolution
        raise ValueError(
            f"model {model.name!r} ({model.path}) makes {width}x{height} images but the world {world.path} is "
            f"{world.size[1]}x{world.size[0]}; evaluate it on a set of its own size"
        )
    chunks = [hdr for _, hdr in sample_hdr_batches(model.generator, model.config, list(seeds), batch=batch)]
    return world.meter(np.concatenate(chunks))
