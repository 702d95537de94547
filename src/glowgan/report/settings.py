"""What the report measures and with which seeds (:class:`ReportSettings`), and the names it uses."""

from __future__ import annotations

from dataclasses import dataclass, field

from glowgan.invert import InversionOptions
from glowgan.itm_defaults import FAST_LATENT_STEPS, FAST_TUNE_STEPS

MAIN_MODELS = ("glowgan", "vanilla")
BASELINE_METHODS = ("trivial", "akyuz", "masia", "masia2009")
# Latent seeds of model samples: SAMPLE_SEED_BASE * (seed + 1) onwards (the training grids use 0-63).
SAMPLE_SEED_BASE = 100_000
# Exposure of the inverse tone mapping examples, stops relative to the photo (1.0 = its clip level).
EXAMPLE_STOPS = -3.0
# The fast inversion mode of `glowgan itm --encoder` (glowgan.cli.itm: 100 latent + 50 tuning steps).
FAST_OPTIONS = InversionOptions(latent_steps=FAST_LATENT_STEPS, tune_steps=FAST_TUNE_STEPS)
REPORT_NAME = "report.md"
JSON_NAME = "report.json"
FIGURES = "figures"
STATISTICS = (
    ("dynamic_range", "DR"),
    ("headroom", "headroom"),
    ("shadow_span", "shadow span"),
)


@dataclass(frozen=True)
class ReportSettings:
    """How much to measure, and the seeds that make the report reproducible.

    ``count``: ground-truth images read (the first ``count`` of the set) and samples drawn per model
    for the per-image statistics; distances use halves of it. ``seed``: the ground truth's split, the
    SWD and KID draws, and the latent seeds (``SAMPLE_SEED_BASE * (seed + 1)`` onwards).
    ``fid_count``: LDR renderings per set for FID/KID (0 skips them; at most ``count // 2``).
    ``itm_seeds``: held-out scene seeds; the first ``itm_count`` whose photos clip are used, the first
    ``itm_full_count`` of those also by GlowGAN's full recipe (``itm_full_options``; 0 skips it).
    ``itm_fast_options``: the encoder-initialised mode. ``examples``: photos in the example figure.
    ``fid_device``: the device of the Inception network (features are the same up to float rounding).
    ``other_curves``: curve families the distances are also measured with (``by_curve`` in the JSON).
    """

    count: int = 1000
    seed: int = 0
    fid_count: int = 500
    itm_seeds: tuple[int, ...] = tuple(range(200))
    itm_count: int = 50
    itm_full_count: int = 4
    itm_full_options: InversionOptions = field(default_factory=InversionOptions)
    itm_fast_options: InversionOptions = FAST_OPTIONS
    examples: int = 3
    batch: int = 50
    fid_device: str = "cpu"  # where the Inception network runs (e.g. "cuda")
    # Curve families, besides the official mean camera's, that bracket SWD and FID renderings are also
    # shot with: curves the model never assumed (DESIGN.md, "Evaluating honestly").
    other_curves: tuple[str, ...] = ("srgb", "filmic")

    def __post_init__(self) -> None:
        if self.count < 4:
            raise ValueError(f"count must be at least 4 (two halves of two images), got {self.count}")
        if not 0 <= self.fid_count <= self.count // 2:
            raise ValueError(
                f"the FID count (--fid-count) {self.fid_count} must be between 0 and count // 2 = {self.count // 2} "
                "(FID compares against half of the ground truth); raise the count or lower the FID count"
            )
        if self.fid_count == 1:
            raise ValueError("the FID count (--fid-count) must be 0 (skip FID) or at least 2")
        if self.itm_count < 1 or self.itm_full_count < 0 or self.itm_full_count > self.itm_count:
            raise ValueError(
                f"need 1 <= itm_count and 0 <= itm_full_count <= itm_count (--itm-count, --itm-full-count), "
                f"got {self.itm_count} and {self.itm_full_count}"
            )
        if not self.itm_seeds:
            raise ValueError("itm_seeds is empty; give held-out scene seeds such as 0-199")
        if self.examples < 0 or self.batch < 1 or self.seed < 0:
            raise ValueError("examples must be >= 0, batch >= 1 and seed >= 0")

    @property
    def sample_seeds(self) -> list[int]:
        first = SAMPLE_SEED_BASE * (self.seed + 1)
        return list(range(first, first + self.count))
