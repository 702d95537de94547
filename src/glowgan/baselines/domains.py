"""Which gap a supervised U-Net crosses to reach the photos it is scored on (DESIGN.md, "Evaluating honestly").

A U-Net trained on paired photos of exactly the evaluated world (the same scene family in a version of
the world that renders it alike, photographed with the same camera curve prior) is an **oracle**: the test world's own paired data is what no real
user has. One trained on another family or through another curve is **cross-domain**, the baseline
GlowGAN's claim is about (Wang et al., ICCV 2023: supervised methods trained on other HDR data). Tables
name a U-Net row short, by its gap (``unet (oracle)``, ``unet (cross: window, srgb)``: the training
family and curve where they differ from the photos', and the world version where its scenes differ),
and give the long description in a legend. A U-Net whose checkpoint predates recording its world version
is neither: its row says ``world version unknown``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from glowgan.baselines.supervised import UNetConfig, training_camera
from glowgan.camera import CameraPrior
from glowgan.data import world
from glowgan.data.synth import default_camera

T = TypeVar("T")


@dataclass(frozen=True)
class Gap:
    """A U-Net's training world (scene family, curve prior) against the evaluated photos' world."""

    trained_family: str
    trained_curve: str
    photo_family: str
    photo_curve: str
    same_curve: bool  # the same curve prior, parameters included
    trained_version: int | None  # world version of the training scenes; None: unknown (an old checkpoint)
    photo_version: int
    same_scenes: bool | None  # the two versions render the photos' family alike; None: unknown

    @property
    def oracle(self) -> bool:
        return self.trained_family == self.photo_family and self.same_curve and self.same_scenes is True

    @property
    def other_version(self) -> bool:
        """The family is the photos', but the U-Net's world version renders it differently."""
        return self.same_scenes is False and self.trained_family == self.photo_family

    @property
    def tag(self) -> str:
        """Short, for a table row: ``oracle``, ``cross:`` and what differs (``cross: window, srgb``,
        ``cross: world v1``), or ``world version unknown`` where only the unknown version could differ."""
        if self.oracle:
            return "oracle"
        differs = [self.trained_family] if self.trained_family != self.photo_family else []
        differs += [] if self.same_curve else [self.trained_curve]
        if self.other_version:
            differs.append(f"world v{self.trained_version}")
        return "cross: " + ", ".join(differs) if differs else "world version unknown"

    @property
    def description(self) -> str:
        """Long, for a legend."""
        if self.oracle:
            return (
                f"trained on paired photos of the evaluated world itself ({self.photo_family} scenes, "
                f"`{self.photo_curve}` curves): an oracle"
            )
        if self.same_scenes is None and self.trained_family == self.photo_family and self.same_curve:
            return (
                f"trained on paired {self.trained_family} photos with `{self.trained_curve}` curves in a world version "
                f"its checkpoint does not record: an oracle if that was version {self.photo_version}, the photos' "
                "(retrain it to know)"
            )
        versions = ("", "")
        if self.other_version:
            versions = (f" of world version {self.trained_version}", f" of version {self.photo_version}")
        return (
            f"trained on paired {self.trained_family} photos{versions[0]} with `{self.trained_curve}` curves, "
            f"evaluated on {self.photo_family} photos{versions[1]} with `{self.photo_curve}` curves: cross-domain"
        )


def _curve(camera: CameraPrior) -> tuple:
    return camera.crf, camera.gamma_mean, camera.gamma_std, camera.beta_mean, camera.beta_std, camera.pca_spread


def gap(
    config: UNetConfig, *, family: str, camera: CameraPrior | None = None, world_version: int = world.WORLD_VERSION
) -> Gap:
    """The gap from a U-Net trained with ``config`` to photos of scene family ``family`` in world version
    ``world_version`` taken with ``camera`` (default: the family's default camera,
    :func:`glowgan.data.synth.default_camera`). Exposure offsets and noise do not count: only the scene
    family, the scenes its world version renders, and the curve prior."""
    trained = training_camera(config)
    photos = camera or default_camera(family)
    trained_version = config.world_version
    same_scenes = None if trained_version is None else world.same_scenes(family, trained_version, world_version)
    return Gap(
        config.family, trained.crf, family, photos.crf, _curve(trained) == _curve(photos),
        trained_version, world_version, same_scenes,
    )


def row_names(
    methods: Sequence[tuple[str, T, UNetConfig | None]],
    *,
    family: str,
    camera: CameraPrior | None = None,
    world_version: int = world.WORLD_VERSION,
) -> tuple[dict[str, T], dict[str, str]]:
    """Name the rows of one table: ``(name, method, config)`` in order, ``config`` a U-Net's settings or None.

    Returns the methods by row name (a U-Net's is ``"NAME (TAG)"``, :attr:`Gap.tag` against photos of
    ``family`` in world version ``world_version`` taken with ``camera``; others keep ``NAME``) and the legend ``{row name: description}`` of
    the U-Nets. Two rows of one name (a method listed twice, two U-Nets of one world under one name) are
    refused.
    """
    rows: dict[str, T] = {}
    legend: dict[str, str] = {}
    for name, method, config in methods:
        row = name
        if config is not None:
            found = gap(config, family=family, camera=camera, world_version=world_version)
            row = f"{name} ({found.tag})"
            legend[row] = found.description
        if row in rows and config is None:
            raise ValueError(f"the method {row!r} is listed twice; list it once")
        if row in rows:
            raise ValueError(
                f"two U-Nets of one world make the row {row!r}; give each checkpoint its own name "
                "(e.g. unet-a=CKPT, unet-b=CKPT)"
            )
        rows[row] = method
    return rows, legend


def format_legend(legend: dict[str, str]) -> str:
    """One line per U-Net row, ``- unet (oracle): trained on ...`` (empty without U-Nets)."""
    return "\n".join(f"- {row}: {description}" for row, description in legend.items())
