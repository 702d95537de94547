"""Inverse tone mapping against ground truth: held-out photos from the procedural world, and their scores.

The procedural world (``glowgan.data.world``) gives HDR scenes; they are photographed like a
synthetic training set (``glowgan.data.synth``: metering, a random exposure offset, a random CRF,
clipping, 8 bits). A method turns the photo back into HDR; its result is scored against the scene
after a least-squares exposure alignment (in log luminance, ``metrics.fidelity.align_exposure``) on
the pixels the photo did not clip, since inverse tone mapping recovers radiance only up to the
camera's exposure:

- PU21-PSNR (Mantiuk & Azimi 2021) over the whole image and over the **clipped region** only (the
  pixels saturated in the photo: where the scene exceeded its clip level in some channel, or came
  close enough that 8-bit rounding saturated it; what the method had to invent), with the clip level shown at 100 cd/m² (``metrics.fidelity.to_display_nits``; PU21 stops
  at 10,000 cd/m², 100x the clip level);
- log-PSNR over the clipped region, and the error there in stops (RMSE and mean of
  ``log2(estimate / truth)``, all channels; a negative bias means highlights too dark), which has no
  upper cut-off;
- the RMSE in stops over the unclipped pixels (how well the rest of the photo is linearised);
- the light restored (``metrics.light``): the **energy** of the clipped region, ``log2`` of restored over
  true summed luminance there (0 is right, negative too little light), its **peak**, ``log2`` of the
  restored over the true brightest luminance there (a sun invented in a bright sky is strongly positive),
  and for panoramas (the ``sky``
  family at 2:1) the **diffuse irradiance error** at the 6 axis normals, in stops: their RMS, and each
  normal's signed error (``irradiance_stops_+y`` is the sky side);
- the colour error in the clipped region (``metrics.fidelity.hue_error_degrees``): the mean angle between
  the restored and true RGB vectors, in degrees, whatever their brightness;
- seconds per image.

Photos differ in kind: a clipped sun hides light many stops over the clip, a bright sky that clips hides
little. :func:`by_light` splits scores by the truth's clipped peak (``HeldOutPhoto.light_stops``), so
that a method's gain on one kind cannot hide its loss on the other (``docs/itm/README.md``, invented suns).

Held-out scenes are scene seeds 0, 1, 2, ... (camera seed = scene seed). Training sets never use
them: ``glowgan data synth`` draws 64-bit scene seeds from ``SeedSequence([seed, index])``, and the
supervised U-Net trains on scene seeds from 1,000,000 up.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from glowgan.camera import CameraParams, CameraPrior
from glowgan.data.synth import scene_photos
from glowgan.data.world import WORLD_VERSION
from glowgan.metrics.dynamic_range import luminance
from glowgan.metrics.fidelity import align_exposure, hue_error_degrees, psnr_log, psnr_pu21, to_display_nits
from glowgan.metrics.light import clipped_energy_stops, clipped_peak_stops, irradiance_error

# A photo enters an evaluation only if at least this fraction of its pixels clipped.
MIN_CLIPPED_FRACTION = 0.002
# Keeps log2 finite where an estimate is black.
_LOG_FLOOR = 1e-12
# A clipped region whose brightest luminance lies less than this many stops over the clip holds no light
# source (a sun, a lamp): on held-out sky photos, 8 % of those that clip (docs/itm/README.md).
LIGHT_STOPS = 1.0
# Families of glowgan.data.world that are equirectangular panoramas (at 2:1 their irradiance is scored).
PANORAMA_FAMILIES = ("sky",)

ItmMethod = Callable[[np.ndarray], np.ndarray]  # ldr [H, W, 3] in [0, 1] -> hdr [H, W, 3], any scale


@dataclass
class HeldOutPhoto:
    seed: int
    ldr: np.ndarray  # [H, W, 3] float32 in [0, 1], 8-bit values
    hdr: np.ndarray  # [H, W, 3] float32, the scene (ground truth), scaled so the photo clips at 1
    clipped: np.ndarray  # [H, W] bool: saturated in the photo (the scene reached the clip level, or rounded up to it)
    panorama: bool = False  # an equirectangular panorama (2:1): its irradiance is scored
    camera: CameraParams | None = None  # the camera that took the photo (one image), for curve recovery

    @property
    def unclipped(self) -> np.ndarray:
        """[H, W] bool: the pixels a reconstruction's exposure is aligned on (neither clipped nor black)."""
        return ~self.clipped & (self.ldr.max(axis=-1) > 0)

    def aligned(self, test_hdr: np.ndarray) -> np.ndarray:
        """``test_hdr`` scaled to the truth by a least-squares exposure alignment on the unclipped pixels."""
        return align_exposure(test_hdr, self.hdr, mask=self.unclipped) * test_hdr

    @property
    def light_stops(self) -> float:
        """How many stops over the clip level the scene's brightest luminance in the clipped region lies."""
        return float(np.log2(luminance(self.hdr)[self.clipped].max()))


def held_out_photos(
    family: str,
    seeds: Sequence[int],
    *,
    size: tuple[int, int],
    min_clipped: float = MIN_CLIPPED_FRACTION,
    camera: CameraPrior | None = None,
    world_version: int = WORLD_VERSION,
) -> list[HeldOutPhoto]:
    """Photos of scenes ``seeds`` whose highlights clip (at least ``min_clipped`` of the pixels), in order.

    ``camera``: how they are photographed (default: the family's training-set camera,
    :func:`glowgan.data.synth.default_camera`); e.g. an sRGB or filmic curve the model never assumed.
    ``world_version``: the version of the procedural world that renders the scenes.
    """
    height, width = size
    photos: list[HeldOutPhoto] = []
    for start in range(0, len(seeds), 32):
        chunk = [int(seed) for seed in seeds[start : start + 32]]
        ldr, hdr, cameras = scene_photos(
            family, chunk, height=height, width=width, camera=camera, world_version=world_version
        )  # hdr: clip level 1
        for index, (seed, photo, scene) in enumerate(zip(chunk, ldr, hdr)):
            # the scene reached the clip level, or 8-bit rounding saturated the pixel (values just below 1)
            clipped = (scene.max(axis=-1) >= 1.0) | (photo.max(axis=-1) >= 1.0)
            if clipped.mean() >= min_clipped:
                panorama = family in PANORAMA_FAMILIES and width == 2 * height
                photos.append(HeldOutPhoto(seed, photo, scene, clipped, panorama, cameras[index]))
    if not photos:
        raise ValueError(f"none of the {len(seeds)} held-out {family} photos clips; give more seeds")
    return photos


def score(test_hdr: np.ndarray, photo: HeldOutPhoto) -> dict[str, float]:
    """Scores of one reconstruction (see the module docstring), after exposure alignment."""
    if test_hdr.shape != photo.hdr.shape:
        raise ValueError(f"reconstruction has shape {test_hdr.shape}, the scene {photo.hdr.shape}")
    unclipped = photo.unclipped
    aligned = photo.aligned(test_hdr)
    test = to_display_nits(aligned, white=1.0)
    reference = to_display_nits(photo.hdr, white=1.0)
    error_stops = np.log2(np.maximum(aligned, _LOG_FLOOR)) - np.log2(np.maximum(photo.hdr, _LOG_FLOOR))
    scores = {
        "pu21_psnr": psnr_pu21(test, reference),
        "pu21_psnr_clipped": psnr_pu21(test, reference, mask=photo.clipped),
        "log_psnr_clipped": psnr_log(test, reference, mask=photo.clipped),
        "clipped_rmse_stops": float(np.sqrt(np.mean(np.square(error_stops[photo.clipped])))),
        "clipped_bias_stops": float(np.mean(error_stops[photo.clipped])),
        "unclipped_rmse_stops": float(np.sqrt(np.mean(np.square(error_stops[unclipped])))),
        "clipped_energy_stops": clipped_energy_stops(aligned, photo.hdr, photo.clipped),
        "clipped_peak_stops": clipped_peak_stops(aligned, photo.hdr, photo.clipped),
        "clipped_hue_degrees": hue_error_degrees(test_hdr, photo.hdr, mask=photo.clipped),
    }
    if photo.panorama:
        light = irradiance_error(aligned, photo.hdr)
        scores["irradiance_rms_stops"] = light["rms_stops"]
        scores.update({f"irradiance_stops_{name}": value for name, value in light["per_normal_stops"].items()})
    return scores


def evaluate_methods(
    methods: dict[str, ItmMethod],
    photos: Sequence[HeldOutPhoto],
    *,
    progress: bool = True,
) -> dict[str, dict[str, list[float]]]:
    """Run every method on every photo; per method, lists of scores and seconds (one entry per photo)."""
    results: dict[str, dict[str, list[float]]] = {}
    with tqdm(total=len(methods) * len(photos), unit="img", desc="evaluating", disable=not progress) as bar:
        for name, method in methods.items():
            bar.set_postfix(method=name)
            rows: dict[str, list[float]] = {"seconds": []}
            for photo in photos:
                started = time.perf_counter()
                hdr = method(photo.ldr)
                rows["seconds"].append(time.perf_counter() - started)
                for key, value in score(hdr, photo).items():
                    rows.setdefault(key, []).append(value)
                bar.update(1)
            results[name] = rows
    return results


def summarise(results: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, float]]:
    """Mean of every score (infinite PSNRs of exact reconstructions are capped at 100 dB) per method."""
    return {
        name: {key: float(np.mean(np.minimum(values, 100.0))) for key, values in rows.items()}
        for name, rows in results.items()
    }


def by_light(
    results: dict[str, dict[str, list[float]]], photos: Sequence[HeldOutPhoto]
) -> dict[str, dict[str, dict[str, list[float]]]]:
    """:func:`evaluate_methods`'s ``results`` of ``photos`` split by kind: "with a light" (the truth's
    clipped peak at least LIGHT_STOPS over the clip: a sun, a lamp) and "without" (a bright area a little
    over the clip); a kind no photo has is left out."""
    lit = np.array([photo.light_stops >= LIGHT_STOPS for photo in photos])
    kinds = {}
    for kind, members in (("with a light", lit), ("without", ~lit)):
        if members.any():
            kinds[kind] = {
                name: {key: np.asarray(values)[members].tolist() for key, values in rows.items()}
                for name, rows in results.items()
            }
    return kinds


SUMMARY_COLUMNS = (
    ("pu21_psnr", "PU21 dB", ".2f"),
    ("pu21_psnr_clipped", "PU21 clipped", ".2f"),
    ("clipped_rmse_stops", "clipped RMSE st", ".2f"),
    ("clipped_bias_stops", "clipped bias st", "+.2f"),
    ("unclipped_rmse_stops", "rest RMSE st", ".2f"),
    ("clipped_energy_stops", "clipped energy st", "+.2f"),
    ("clipped_peak_stops", "clipped peak st", "+.2f"),
    ("clipped_hue_degrees", "clipped hue °", ".1f"),
    ("irradiance_rms_stops", "irradiance RMS st", ".2f"),
    ("seconds", "s/image", ".3g"),
)


def format_table(summary: dict[str, dict[str, float]]) -> str:
    """A Markdown table of :func:`summarise`'s output, one row per method ("n/a" for a score a set lacks,
    such as the irradiance of photos that are not panoramas)."""
    header = "| method | " + " | ".join(title for _, title, _ in SUMMARY_COLUMNS) + " |"
    lines = [header, "|" + "---|" * (len(SUMMARY_COLUMNS) + 1)]
    for name, row in summary.items():
        cells = (format(row[key], spec) if key in row else "n/a" for key, _, spec in SUMMARY_COLUMNS)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
