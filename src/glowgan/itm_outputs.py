"""What ``glowgan itm`` writes for one inverted photo: the paths beside the HDR file, the JSON record
and the preview sheet (input | output photographed at a few exposures), from a
:class:`glowgan.invert.InversionResult`; with ``--samples K`` also each sample's HDR file and the
picture of their spread (:mod:`glowgan.itm_samples`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from glowgan import camera as cam
from glowgan import tonemap
from glowgan.invert import InversionOptions, InversionResult
from glowgan.itm_photo import downsample, photo_tensor

# The preview sheet's longest side at most (pixels): a screen's width. A 2560x1600 photo gave a
# 10246x1600 sheet (15 MB) before; now 2046x319.
PREVIEW_MAX_SIDE = 2048
# The spread picture's colour scale (stops): 0 to this, and a larger spread in this one's colour. Fixed,
# so that the pictures of different photos compare; two stops is a fill four times brighter or darker.
SPREAD_PICTURE_MAX_STOPS = 2.0
# matplotlib's "viridis" (van der Walt & Smith 2015: perceptually uniform, readable in grey and by
# colour-blind viewers) at 9 evenly spaced points, interpolated linearly.
VIRIDIS = np.array(
    [
        (0.267, 0.0049, 0.3294),
        (0.2788, 0.1755, 0.4834),
        (0.2297, 0.3224, 0.5457),
        (0.1727, 0.4488, 0.5579),
        (0.1276, 0.5669, 0.5506),
        (0.1579, 0.6838, 0.5017),
        (0.3692, 0.7889, 0.3829),
        (0.6785, 0.8637, 0.1895),
        (0.9932, 0.9062, 0.1439),
    ],
    dtype=np.float32,
)
# Outside the fill region the spread picture shows the photo in grey at this fraction of its brightness.
SPREAD_PICTURE_PHOTO_LEVEL = 0.5


# The HDR formats an ITM result can be written in.
HDR_SUFFIXES = (".exr", ".hdr", ".pfm")


def output_paths(out: Path, *, samples: int = 1) -> dict[str, Path]:
    """``OUT.exr`` plus ``OUT.mask.png``, ``OUT.preview.png`` and ``OUT.json`` beside it; with
    ``samples`` K > 1 also ``OUT.sample-1.exr`` ... ``OUT.sample-K.exr`` (each inversion, in the
    output's format), ``OUT.spread.exr`` (their spread in stops, one channel) and ``OUT.spread.png``
    (its picture). The JSON comes last: it is written last."""
    if out.suffix.lower() not in HDR_SUFFIXES:
        raise ValueError(f"{out}: the output must be an HDR file (.exr, .hdr or .pfm)")
    stem = out.with_suffix("")

    def beside(ending: str) -> Path:
        return stem.with_name(stem.name + ending)

    paths = {"hdr": out, "mask": beside(".mask.png"), "preview": beside(".preview.png")}
    if samples > 1:
        paths.update({f"sample-{k}": beside(f".sample-{k}{out.suffix}") for k in range(1, samples + 1)})
        paths.update({"spread": beside(f".spread{out.suffix}"), "spread_picture": beside(".spread.png")})
    paths["json"] = beside(".json")
    return paths


def result_record(result: InversionResult, *, input_path: str | None, options: InversionOptions) -> dict[str, Any]:
    """The JSON written next to an ITM result."""
    return {
        "input": input_path,  # the LDR photo
        "camera": result.camera.to_records()[0],
        "units": "linear; 1.0 = the level at which the photo clips",
        "size": [int(result.hdr.shape[1]), int(result.hdr.shape[0])],
        "generator_size": [int(result.generator_hdr.shape[1]), int(result.generator_hdr.shape[0])],
        "crop": result.crop,  # {top, left, height, width} of the photo, or null
        "wrap": result.wrap,  # the photo's left and right edges were treated as neighbours
        "masked_fraction": float((result.mask > 0).mean()),  # pixels where the generator's content enters
        # the generator's typical level above the clip that the clipped region was asked for (null: not asked)
        "clip_target_stops": result.clip_target_stops,
        "perceptual": result.perceptual,
        "final_latent_loss": result.latent_losses[-1] if result.latent_losses else None,
        "final_tune_loss": result.tune_losses[-1] if result.tune_losses else None,
        "seconds": result.seconds,  # its share of the batch's, when inverted beside others
        "batch_size": result.batch_size,  # inversions run side by side with it (photos, or samples of this photo)
        "options": asdict(options),
    }


def preview_sheet(
    photo_ldr: np.ndarray,
    result: InversionResult,
    *,
    stops: tuple[float, ...] = (-3.0, 0.0, 3.0),
    gap: int = 2,  # pixels between panels
    max_side: int = PREVIEW_MAX_SIDE,  # pixels; the sheet's longest side at most
) -> np.ndarray:
    """Input | output at each of ``stops``, each output photographed with the camera found for the photo.

    At 0 stops the output looks like the input (except inside the mask, where the camera clips it
    again); at -3 stops the recovered highlights show. Sized for a screen: when the sheet would be
    longer than ``max_side`` pixels, every panel is downsampled (antialiased; the output in linear
    radiance before it is photographed, the input in display values) so that it is not.
    """
    hdr = torch.from_numpy(result.hdr).permute(2, 0, 1)[None]  # [1, 3, H, W], linear
    photo = photo_used(photo_ldr, result)  # [1, 3, H, W] ldr
    size = preview_panel_size(tuple(hdr.shape[2:]), panels=len(stops) + 1, gap=gap, max_side=max_side)
    hdr = downsample(hdr, size)
    panels = [downsample(photo, size)[0].permute(1, 2, 0).numpy()]
    for stop in stops:
        camera = dataclasses.replace(result.camera, exposure_stops=torch.tensor([float(stop)]))
        panels.append(cam.render(hdr, camera)[0].permute(1, 2, 0).numpy())
    return tonemap.panel_grid([panels], gap=gap)


def photo_used(photo_ldr: np.ndarray, result: InversionResult) -> torch.Tensor:
    """The part of the photo (as read, [H, W, 3] in [0, 1]) that ``result`` inverted: [1, 3, h, w]
    (the whole photo, or its crop with ``fit="crop"``)."""
    photo = photo_tensor(photo_ldr)  # [1, 3, H, W] ldr
    if result.crop is not None:
        top, left, height, width = (result.crop[key] for key in ("top", "left", "height", "width"))
        photo = photo[:, :, top : top + height, left : left + width]
    return photo


def preview_panel_size(image_size: tuple[int, int], *, panels: int, gap: int, max_side: int) -> tuple[int, int]:
    """(height, width) of each of ``panels`` side-by-side panels of an image of ``image_size`` so that
    the sheet's longest side is at most ``max_side`` pixels (the image's own size if it fits)."""
    height, width = image_size
    room = max_side - (panels - 1) * gap  # pixels across for the panels themselves
    if room < panels:
        raise ValueError(f"a preview of {panels} panels needs max_side of at least {panels + (panels - 1) * gap} pixels, got {max_side}")
    scale = min(1.0, max_side / height, room / (panels * width))
    return max(1, math.floor(height * scale)), max(1, math.floor(width * scale))


def spread_picture(
    photo_ldr: np.ndarray,  # [H, W, 3] the photo as read, in [0, 1]
    result: InversionResult,  # the main fill (its crop and mask)
    spread: np.ndarray,  # [H, W] stops, at the result's size
    *,
    max_stops: float = SPREAD_PICTURE_MAX_STOPS,
) -> np.ndarray:
    """[H, W, 3] in [0, 1]: the spread of the samples in the viridis colour map (0 to ``max_stops``
    stops, clipped above) where the generator's content enters, the photo in dim grey elsewhere."""
    photo = photo_used(photo_ldr, result)[0].permute(1, 2, 0).numpy()  # [H, W, 3] ldr
    position = np.clip(spread / max_stops, 0.0, 1.0) * (len(VIRIDIS) - 1)  # [H, W] in anchor units
    low = np.minimum(np.floor(position).astype(int), len(VIRIDIS) - 2)
    weight = (position - low)[..., None]
    colours = VIRIDIS[low] * (1 - weight) + VIRIDIS[low + 1] * weight  # [H, W, 3]
    grey = np.repeat(photo.mean(axis=2, keepdims=True) * SPREAD_PICTURE_PHOTO_LEVEL, 3, axis=2)
    return np.where((result.mask > 0)[..., None], colours, grey).astype(np.float32)
