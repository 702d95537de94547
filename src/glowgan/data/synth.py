"""Photograph the procedural HDR world into an "in the wild" LDR collection, with held-back ground truth.

Each image of a synthetic set is made the way a photo is taken (GlowGAN, Wang et al., ICCV 2023,
Sec. 3.2 models the same chain in reverse):

1. render a scene of the chosen family in linear HDR (:mod:`glowgan.data.world`), from a seed;
2. **meter** it like a camera's auto-exposure: the exposure that brings the log-average luminance
   (``metering="mean-log"``, the "key" of Reinhard et al. 2002, Eq. 1) or the median luminance
   (``"median"``) to mid-grey (``MID_GREY``, 0.18);
3. add a random **offset** in stops and pick a random **camera response curve**, both drawn from a
   :class:`~glowgan.camera.CameraPrior` (its exposure mean and std are the offset distribution);
4. photograph with :func:`glowgan.camera.render` (exposure ``2**(meter + offset)``, optional sensor
   noise, clip at 1, CRF, 8-bit quantisation) and store an 8-bit PNG (or a JPEG).

The camera that photographed each image is stored in the manifest with ``exposure_stops = meter +
offset``, so ``render(hdr, CameraParams.from_records([record["camera"]]))`` reproduces the PNG from
the EXR exactly (up to float rounding far below half an 8-bit step). Because the generator learns
HDR at the metered scale, the model prior that matches such a set is the offset distribution plus
the same CRF prior, i.e. this module's camera prior (see DESIGN.md, "What LDR photos can and cannot
teach").

A set folder holds ``ldr/NNNNNN.png`` (what training reads), ``hdr/NNNNNN.exr`` (float32 ground truth,
never read by training) and ``manifest.jsonl``: one header line with the set's specification, then one
line per finished image (index, seed, file names, camera record, meter and offset in stops, over- and
under-exposed pixel counts, HDR dynamic range). Image files are written atomically and a record is
appended only after both files are in place, so a run killed at any point leaves a consistent folder;
running again with the same specification resumes, a larger ``count`` extends the set (image ``i``
depends only on the run seed and ``i``, up to float rounding if it is rendered in another batch), and
a different specification is refused.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch
from tqdm import tqdm

from glowgan import hdrio
from glowgan.camera import CameraParams, CameraPrior, render
from glowgan.data import world
from glowgan.data.stats import (
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    MANIFEST_VERSION,
    exposure_counts_per_image,
    read_manifest,
)
from glowgan.metrics.dynamic_range import REC709_WEIGHTS, dynamic_range_stops

logger = logging.getLogger(__name__)

MID_GREY = 0.18  # metering target: the linear value a metered scene's key maps to before the CRF
METERING = ("mean-log", "median")

# Default photographing: median metering, then offsets N(mean, 1.0) stops per family, the official
# GlowGAN CRF prior (gamma N(0.9, 0.1), beta N(0.6, 0.1)) and 8-bit output. The means were tuned on
# 500-1,000 images at 32x64 so that the `sky` set's over-/under-exposed pixel fractions come close to
# the 2.5 % / 9.2 % the GlowGAN supplementary reports for its landscape set; interiors keep their
# windows mostly clipped and night scenes stay dark, as photos of them do (docs/world/README.md).
DEFAULT_METERING = "median"
DEFAULT_OFFSET_STD_STOPS = 1.0
DEFAULT_OFFSET_MEAN_STOPS = {"sky": -0.9, "window": -1.5, "night": -3.0}

_LUMINANCE_FLOOR = 1e-20  # guards log(0) in metering; the world never renders exact zeros


@dataclass(frozen=True)
class SynthSpec:
    """What defines a synthetic set: the scenes, their size, the run seed and the photographing.

    ``family``: one of :data:`glowgan.data.world.FAMILIES`. ``count``: number of images.
    ``height``, ``width``: pixels (``sky`` panoramas are meant to be 2:1). ``seed``: the run seed;
    image ``i`` uses seeds derived from ``(seed, i)``. ``camera``: offset distribution (exposure
    mean/std, stops, around the metered exposure), CRF prior (one family or a mixture: each photo
    draws its own curve, recorded in the manifest) and noise; it must quantise to 8 bits; None takes
    :func:`default_camera` of the family.
    ``metering``: ``"mean-log"`` or ``"median"``. ``target``: the linear value the metered
    luminance is exposed to. ``jpeg_quality``: None writes PNG; 1-100 writes JPEG at that quality
    (the manifest then no longer reproduces the pixels exactly). ``world_version``: which version of
    the world renders the scenes (:data:`glowgan.data.world.WORLD_VERSIONS`; the latest by default,
    older ones keep old sets reproducible).
    """

    family: str
    count: int
    height: int
    width: int
    seed: int = 0
    camera: CameraPrior | None = None
    metering: str = DEFAULT_METERING
    target: float = MID_GREY
    jpeg_quality: int | None = None
    world_version: int = world.WORLD_VERSION

    def __post_init__(self) -> None:
        if self.world_version not in world.WORLD_VERSIONS:
            raise ValueError(
                f"unknown world version {self.world_version}; choose one of {', '.join(map(str, world.WORLD_VERSIONS))}"
            )
        if self.family not in world.FAMILIES:
            raise ValueError(f"unknown scene family {self.family!r}; choose one of {', '.join(world.FAMILIES)}")
        if self.camera is None:
            object.__setattr__(self, "camera", default_camera(self.family))
        if self.count < 1:
            raise ValueError(f"count must be at least 1, got {self.count}")
        if self.height < 1 or self.width < 1:
            raise ValueError(f"image size must be at least 1x1, got {self.height}x{self.width}")
        if self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed}")
        if self.metering not in METERING:
            raise ValueError(f"unknown metering {self.metering!r}; choose one of {', '.join(METERING)}")
        if not (math.isfinite(self.target) and 0 < self.target < 1):
            raise ValueError(f"metering target must be in (0, 1), got {self.target}")
        if self.camera.quantize_bits != 8:
            raise ValueError(
                f"the camera quantises to {self.camera.quantize_bits} bits but synthetic photos are 8-bit files; "
                "use a CameraPrior with quantize_bits=8"
            )
        if self.jpeg_quality is not None and not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be in [1, 100] or None, got {self.jpeg_quality}")

    @property
    def ldr_suffix(self) -> str:
        return ".png" if self.jpeg_quality is None else ".jpg"

    def identity(self) -> dict[str, Any]:
        """Everything that decides the images' content (all but ``count``), as stored in the manifest."""
        fields = dataclasses.asdict(self)
        del fields["count"]
        fields["camera"] = dataclasses.asdict(self.camera)
        return fields


@dataclass(frozen=True)
class SynthReport:
    """Outcome of :func:`synthesize`: counts, and statistics of the whole set (not just this run)."""

    out_dir: Path
    count: int
    rendered: int  # images made by this run
    reused: int  # images already complete in the folder
    over_fraction: float  # of all pixels of the set, see glowgan.data.stats (before any JPEG compression)
    under_fraction: float
    dynamic_range_median_stops: float  # median per-image HDR dynamic range of the set
    seconds: float

    def summary(self) -> str:
        """A few lines for the CLI to print."""
        return (
            f"{self.out_dir}: {self.count} images ({self.rendered} rendered now, {self.reused} already there) "
            f"in {self.seconds:.1f} s\n"
            f"over-exposed pixels {100 * self.over_fraction:.2f} %, under-exposed {100 * self.under_fraction:.2f} %\n"
            f"median HDR dynamic range {self.dynamic_range_median_stops:.1f} stops (ground truth in hdr/)"
        )


def default_camera(family: str, *, crf: str | None = None) -> CameraPrior:
    """The default photographing of a family: offsets ``N(DEFAULT_OFFSET_MEAN_STOPS[family], 1.0)`` stops
    around the metered exposure, the official GlowGAN CRF prior, 8-bit quantisation, no noise.

    ``crf``: another curve prior instead (one family or a mixture such as ``"srgb:2,filmic"``, each
    family at its default parameters; :meth:`glowgan.camera.CameraPrior.with_crf`), as ``glowgan data
    synth --crf`` photographs."""
    if family not in DEFAULT_OFFSET_MEAN_STOPS:
        raise ValueError(f"unknown scene family {family!r}; choose one of {', '.join(world.FAMILIES)}")
    camera = CameraPrior(
        exposure_mean_stops=DEFAULT_OFFSET_MEAN_STOPS[family],
        exposure_std_stops=DEFAULT_OFFSET_STD_STOPS,
        crf="glowgan",
        quantize_bits=8,
    )
    return camera if crf is None else camera.with_crf(crf)


def image_seeds(seed: int, index: int) -> tuple[int, int, int]:
    """Scene, camera and noise seeds of image ``index`` of a run with seed ``seed``.

    Derived with ``np.random.SeedSequence([seed, index])``, so they depend on nothing else (a set
    of 10 images is a prefix of a set of 100 with the same seed).
    """
    scene, camera, noise = np.random.SeedSequence([seed, index]).generate_state(3, dtype=np.uint64)
    return int(scene), int(camera), int(noise)


def meter_stops(hdr: np.ndarray, *, metering: str = DEFAULT_METERING, target: float = MID_GREY) -> np.ndarray:
    """Auto-exposure of linear ``hdr`` ``[N, H, W, 3]``: stops that bring its key luminance to ``target``.

    The key is the log-average (geometric mean) luminance for ``"mean-log"`` (Reinhard et al. 2002,
    Eq. 1) or the median for ``"median"``; luminance uses Rec. 709 weights. Returns ``[N]`` float64.
    """
    if metering not in METERING:
        raise ValueError(f"unknown metering {metering!r}; choose one of {', '.join(METERING)}")
    lum = (np.asarray(hdr, dtype=np.float64) @ REC709_WEIGHTS).reshape(len(hdr), -1)
    log_lum = np.log2(np.maximum(lum, _LUMINANCE_FLOOR))
    key = log_lum.mean(axis=1) if metering == "mean-log" else np.median(log_lum, axis=1)
    return math.log2(target) - key


def photograph(
    hdr: np.ndarray,
    camera_seeds: list[int],
    *,
    camera: CameraPrior,
    metering: str = DEFAULT_METERING,
    target: float = MID_GREY,
    noise_seeds: list[int] | None = None,
) -> tuple[np.ndarray, CameraParams, np.ndarray]:
    """Take one photo of each linear ``hdr`` image ``[N, H, W, 3]``.

    Each image's offset and CRF are drawn from ``camera`` with its own generator seeded by
    ``camera_seeds[i]``, so a photo does not depend on the rest of the batch. Returns ``ldr`` as 8-bit
    codes ``[N, H, W, 3]`` uint8, the cameras used (``exposure_stops`` = metering + offset), and
    the metered stops ``[N]``. With sensor noise in ``camera``, ``noise_seeds`` seed each image's noise.
    """
    if len(camera_seeds) != len(hdr):
        raise ValueError(f"got {len(camera_seeds)} camera seeds for {len(hdr)} images")
    noisy = camera.read_noise > 0 or camera.shot_noise > 0
    if noisy and (noise_seeds is None or len(noise_seeds) != len(hdr)):
        raise ValueError("a camera with sensor noise needs one noise seed per image")
    meter = meter_stops(hdr, metering=metering, target=target)
    draws = [camera.sample(1, rng=torch.Generator().manual_seed(s)) for s in camera_seeds]
    params = dataclasses.replace(
        CameraParams.cat(draws),
        exposure_stops=torch.cat([d.exposure_stops for d in draws]) + torch.from_numpy(meter).float(),
        quantize_bits=8,
    )
    hdr_t = torch.from_numpy(np.ascontiguousarray(hdr, dtype=np.float32)).permute(0, 3, 1, 2)  # [N, 3, H, W]
    with torch.inference_mode():
        if noisy:
            ldr = torch.cat(
                [
                    render(hdr_t[i : i + 1], params[i], rng=torch.Generator().manual_seed(noise_seeds[i]))
                    for i in range(len(hdr))
                ]
            )
        else:
            ldr = render(hdr_t, params)
    codes = np.floor(ldr.permute(0, 2, 3, 1).numpy() * 255.0 + 0.5).astype(np.uint8)
    return codes, params, meter


def scene_photos(
    family: str,
    seeds: list[int],
    *,
    height: int,
    width: int,
    camera_seeds: list[int] | None = None,
    camera: CameraPrior | None = None,
    world_version: int = world.WORLD_VERSION,
) -> tuple[np.ndarray, np.ndarray, CameraParams]:
    """Photograph scenes of the procedural world as :func:`synthesize` does, in memory: (ldr, hdr, cameras).

    ``ldr``: ``[N, H, W, 3]`` float32, the 8-bit photos divided by 255. ``hdr``: ``[N, H, W, 3]`` the
    ground truth multiplied by each photo's exposure gain (metering + offset), so the clip level is 1.
    ``cameras``: the camera of each photo. ``camera_seeds`` default to the scene seeds; ``camera`` to
    the family's :func:`default_camera` (a mixture photographs each scene with its own curve).
    """
    hdr = world.render_scenes(family, seeds, height=height, width=width, version=world_version)  # [N, H, W, 3]
    codes, params, _ = photograph(
        hdr, list(seeds) if camera_seeds is None else camera_seeds, camera=camera or default_camera(family)
    )
    gain = np.exp2(params.exposure_stops.numpy().astype(np.float64))[:, None, None, None]
    return (codes / np.float32(255.0)).astype(np.float32), (hdr * gain).astype(np.float32), params


def synthesize(
    out_dir: str | os.PathLike,
    spec: SynthSpec,
    *,
    batch_size: int = 256,
    workers: int = 4,
    progress: bool = True,
) -> SynthReport:
    """Write (or complete) the synthetic set ``spec`` in ``out_dir``; see the module docstring.

    ``batch_size``: images rendered together (memory grows with it). ``workers``: threads writing
    files while the next batch renders. Raises ``ValueError`` if ``out_dir`` holds something else: a
    set with a different specification or more images than ``spec.count``, or files that are not a
    synthetic set.
    """
    if batch_size < 1 or workers < 1:
        raise ValueError(f"batch_size and workers must be at least 1, got {batch_size} and {workers}")
    start = time.perf_counter()
    root = Path(out_dir)
    records = _open_set(root, spec)
    todo = [i for i in range(spec.count) if i not in records]
    reused = spec.count - len(todo)
    if reused:
        logger.info("%s: %d of %d images already there, rendering %d", root, reused, spec.count, len(todo))
    noisy = spec.camera.read_noise > 0 or spec.camera.shot_noise > 0
    with (
        tqdm(total=spec.count, initial=reused, unit="img", desc=f"synth {spec.family}", disable=not progress) as bar,
        ThreadPoolExecutor(max_workers=workers) as pool,
        open(root / MANIFEST_NAME, "a", encoding="utf-8") as manifest,
    ):
        pending: tuple[list[dict[str, Any]], list[Future]] | None = None
        for first in range(0, len(todo), batch_size):
            indices = todo[first : first + batch_size]
            seeds = [image_seeds(spec.seed, i) for i in indices]
            hdr = world.render_scenes(
                spec.family, [s[0] for s in seeds], height=spec.height, width=spec.width, version=spec.world_version
            )
            codes, params, meter = photograph(
                hdr,
                [s[1] for s in seeds],
                camera=spec.camera,
                metering=spec.metering,
                target=spec.target,
                noise_seeds=[s[2] for s in seeds] if noisy else None,
            )
            over, under = exposure_counts_per_image(codes)
            batch_records, futures = [], []
            for k, (index, camera_record) in enumerate(zip(indices, params.to_records(), strict=True)):
                record = {
                    "index": index,
                    "seed": seeds[k][0],
                    "camera_seed": seeds[k][1],
                    "ldr": f"ldr/{index:06d}{spec.ldr_suffix}",
                    "hdr": f"hdr/{index:06d}.exr",
                    "camera": camera_record,
                    "meter_stops": float(meter[k]),
                    "offset_stops": camera_record["exposure_stops"] - float(meter[k]),
                    "over_pixels": int(over[k]),
                    "under_pixels": int(under[k]),
                    "dynamic_range_stops": dynamic_range_stops(hdr[k]),
                }
                if noisy:
                    record["noise_seed"] = seeds[k][2]
                batch_records.append(record)
                futures.append(pool.submit(_write_image, root, record, hdr[k], codes[k], spec.jpeg_quality))
            if pending is not None:
                _commit(manifest, records, *pending, bar)
            pending = (batch_records, futures)
        if pending is not None:
            _commit(manifest, records, *pending, bar)
    chosen = [records[i] for i in range(spec.count)]
    pixels = spec.count * spec.height * spec.width
    return SynthReport(
        out_dir=root,
        count=spec.count,
        rendered=len(todo),
        reused=reused,
        over_fraction=sum(r["over_pixels"] for r in chosen) / pixels,
        under_fraction=sum(r["under_pixels"] for r in chosen) / pixels,
        dynamic_range_median_stops=float(np.median([r["dynamic_range_stops"] for r in chosen])),
        seconds=time.perf_counter() - start,
    )


def _write_image(
    root: Path, record: dict[str, Any], hdr: np.ndarray, codes: np.ndarray, jpeg_quality: int | None
) -> None:
    hdrio.write_hdr(root / record["hdr"], hdr)
    if jpeg_quality is None:
        hdrio.write_ldr(root / record["ldr"], codes)
    else:
        hdrio.write_ldr(root / record["ldr"], codes, quality=jpeg_quality)


def _commit(
    manifest: TextIO, records: dict[int, dict[str, Any]], batch: list[dict[str, Any]], futures: list[Future], bar: tqdm
) -> None:
    """Wait for a batch's files, then append its records to the manifest and sync it."""
    for future in futures:
        future.result()
    manifest.write("".join(json.dumps(r, sort_keys=True) + "\n" for r in batch))
    manifest.flush()
    os.fsync(manifest.fileno())
    for record in batch:
        records[record["index"]] = record
    bar.update(len(batch))


def _open_set(root: Path, spec: SynthSpec) -> dict[int, dict[str, Any]]:
    """Check or create the set folder; return the complete records by index (manifest rewritten clean)."""
    identity = spec.identity()
    header = {"format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, "spec": identity}
    if not (root / MANIFEST_NAME).exists():
        if root.exists() and any(root.iterdir()):
            raise ValueError(
                f"{root} is not empty and has no {MANIFEST_NAME}, so it is not a synthetic set to resume; "
                "choose a new or empty output folder"
            )
        _write_manifest(root, header, [])
        return {}
    old_header, old_records = read_manifest(root)
    old = _upgrade_identity(old_header["spec"])
    if old != identity:
        before, after = _flatten(old), _flatten(identity)
        changed = sorted(key for key in set(before) | set(after) if before.get(key) != after.get(key))
        details = ", ".join(f"{key} {before.get(key)!r} there, {after.get(key)!r} now" for key in changed)
        raise ValueError(
            f"{root} already holds a synthetic set made with different settings ({details}); "
            "use the same settings to resume it, or a new output folder"
        )
    records = {}
    for record in old_records:
        if (root / record["ldr"]).is_file() and (root / record["hdr"]).is_file():
            records[record["index"]] = record
    beyond = [i for i in records if i >= spec.count]
    if beyond:
        raise ValueError(
            f"{root} already holds {max(beyond) + 1} images, more than the {spec.count} asked for; "
            f"pass a count of at least {max(beyond) + 1} or use a new output folder"
        )
    _write_manifest(root, header, [records[i] for i in sorted(records)])
    return records


def _upgrade_identity(identity: dict[str, Any]) -> dict[str, Any]:
    """A set written before a setting existed was made with that setting's neutral value."""
    camera = identity.get("camera")
    if isinstance(camera, dict) and "pca_spread" not in camera:
        identity = {**identity, "camera": {**camera, "pca_spread": 1.0}}  # no pca family before it existed
    return identity


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> one dict with dotted keys (``camera.exposure_mean_stops``)."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _write_manifest(root: Path, header: dict[str, Any], records: list[dict[str, Any]]) -> None:
    """Write the whole manifest atomically (temporary file, fsync, rename)."""
    hdrio.write_text(root / MANIFEST_NAME, "".join(json.dumps(item, sort_keys=True) + "\n" for item in [header, *records]))
