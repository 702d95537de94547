"""Which gap a supervised U-Net crosses to reach the photos it is scored on (DESIGN.md, "Evaluating honestly").

A U-Net trained on paired photos of exactly the evaluated world (the same scene family, photographed
with the same camera curve prior) is an **oracle**: the test world's own paired data is what no real
user has. One trained on another family or through another curve is **cross-domain**, the baseline
GlowGAN's claim is about (Wang et al., ICCV 2023: supervised methods trained on other HDR data). Tables
name a U-Net row short, by its gap (``unet (oracle)``, ``unet (cross: window, srgb)``: the training
family and curve where they differ from the photos'), and give the long description in a legend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from glowgan.baselines.supervised import UNetConfig, training_camera
from glowgan.camera import CameraPrior
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

    @property
    def oracle(self) -> bool:
        return self.trained_family == self.photo_family and self.same_curve

    @property
    def tag(self) -> str:
        """Short, for a table row: ``oracle``, or ``cross:`` and what differs (``cross: window, srgb``)."""
        if self.oracle:
            return "oracle"
        differs = [self.trained_family] if self.trained_family != self.photo_family else []
        return "cross: " + ", ".join(differs + ([] if self.same_curve else [self.trained_curve]))

    @property
    def description(self) -> str:
        """Long, for a legend."""
        if self.oracle:
            return (
                f"trained on paired photos of the evaluated world itself ({self.photo_family} scenes, "
                f"`{self.photo_curve}` curves): an oracle"
            )
        return (
            f"trained on paired {self.trained_family} photos with `{self.trained_curve}` curves, evaluated on "
            f"{self.photo_family} photos with `{self.photo_curve}` curves: cross-domain"
        )


def _curve(camera: CameraPrior) -> tuple:
    return camera.crf, camera.gamma_mean, camera.gamma_std, camera.beta_mean, camera.beta_std, camera.pca_spread


def gap(config: UNetConfig, *, family: str, camera: CameraPrior | None = None) -> Gap:
    """The gap from a U-Net trained with ``config`` to photos of scene family ``family`` taken with ``camera``
    (default: the family's default camera, :func:`glowgan.data.synth.default_camera`). Exposure offsets
    and noise do not count: only the scene family and the curve prior."""
    trained = training_camera(config)
    photos = camera or default_camera(family)
    return Gap(config.family, trained.crf, family, photos.crf, _curve(trained) == _curve(photos))


def row_names(
    methods: Sequence[tuple[str, T, UNetConfig | None]], *, family: str, camera: CameraPrior | None = None
) -> tuple[dict[str, T], dict[str, str]]:
    """Name the rows of one table: ``(name, method, config)`` in order, ``config`` a U-Net's settings or None.

    Returns the methods by row name (a U-Net's is ``"NAME (TAG)"``, :attr:`Gap.tag` against photos of
    ``family`` taken with ``camera``; others keep ``NAME``) and the legend ``{row name: description}`` of
    the U-Nets. Two rows of one name (a method listed twice, two U-Nets of one world under one name) are
    refused.
    """
    rows: dict[str, T] = {}
    legend: dict[str, str] = {}
    for name, method, config in methods:
        row = name
        if config is not None:
            found = gap(config, family=family, camera=camera)
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
