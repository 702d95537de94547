"""The differentiable, stochastic camera model: linear HDR radiance -> LDR photo.

This is the heart of GlowGAN (Wang et al., ICCV 2023, Sec. 3.2): a generator produces linear HDR
images, this module photographs each one with a random exposure and camera response curve (CRF),
and the discriminator only ever sees the photographs.

Pipeline of :func:`render` (all steps differentiable)::

    hdr --(x 2**stops)--> exposed --(+ sensor noise)--> --(clip to [0, 1])--> --(CRF)--> --(quantise)--> ldr

``CameraPrior`` is the distribution of camera parameters, defined once here and used by training,
previews, generation, inversion and data synthesis. ``CameraParams`` is one draw of it: per-image
tensors that travel together.

CRF families (``CameraPrior.crf``):

- ``"glowgan"``: ``f(x) = (1 + beta) x**gamma / (x**gamma + beta)``, the official code's curve, with
  ``gamma ~ N(0.9, 0.1)``, ``beta ~ N(0.6, 0.1)`` per image (official code defaults);
  inverse ``x = (beta y / (1 + beta - y)) ** (1 / gamma)``.
- ``"gamma"``: ``f(x) = x ** (1 / gamma)``, a display gamma, ``gamma ~ N(2.2, 0.1)`` by default.
- ``"linear"``: ``f(x) = x``.

Exposure is in stops everywhere: gain ``2**stops``. The official code draws ``gain = sqrt(2)**e`` with
``e ~ N(0, 1)``, which is ``stops ~ N(0, 0.5)``; those are our defaults. The official camera has no
quantisation and no noise; both are optional here (8-bit quantisation with a straight-through
gradient; heteroscedastic Gaussian sensor noise ``sigma**2 = read**2 + shot * x`` in linear units).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import torch

CRF_FAMILIES = ("glowgan", "gamma", "linear")

# Lower bound applied before fractional powers: keeps x**gamma differentiable (finite gradient) at 0.
_POW_EPS = 1e-8

# Valid ranges that sampled parameters are clamped to (a normal prior has unbounded tails).
_GLOWGAN_GAMMA_RANGE = (0.3, 3.0)
_GLOWGAN_BETA_RANGE = (0.02, 10.0)
_DISPLAY_GAMMA_RANGE = (1.0, 4.0)

# Per-family default (mean, std) of gamma and beta, used when the prior leaves them unset.
_FAMILY_DEFAULTS = {
    "glowgan": {"gamma": (0.9, 0.1), "beta": (0.6, 0.1)},  # official code: N(0.9, 0.1), N(0.6, 0.1)
    "gamma": {"gamma": (2.2, 0.1), "beta": (0.0, 0.0)},  # sRGB-like display gamma
    "linear": {"gamma": (1.0, 0.0), "beta": (0.0, 0.0)},
}


@dataclass(frozen=True)
class CameraPrior:
    """Distribution of camera parameters; ``sample(n, generator=...)`` draws :class:`CameraParams`.

    Defaults reproduce the official GlowGAN camera: exposure ``N(0, 0.5)`` stops, the ``glowgan``
    CRF with ``gamma ~ N(0.9, 0.1)`` and ``beta ~ N(0.6, 0.1)``, no quantisation, no noise.
    ``gamma_mean/std`` and ``beta_mean/std`` left as ``None`` take the CRF family's defaults.
    """

    exposure_mean_stops: float = 0.0
    exposure_std_stops: float = 0.5  # official code: sqrt(2)**e, e ~ N(0, 1)
    crf: str = "glowgan"
    gamma_mean: float | None = None
    gamma_std: float | None = None
    beta_mean: float | None = None
    beta_std: float | None = None
    quantize_bits: int | None = None
    read_noise: float = 0.0  # std of additive noise, linear units of the exposed image
    shot_noise: float = 0.0  # variance per unit of exposed signal

    def __post_init__(self) -> None:
        if self.crf not in CRF_FAMILIES:
            raise ValueError(f"camera crf {self.crf!r} is unknown; choose one of {', '.join(CRF_FAMILIES)}")
        defaults = _FAMILY_DEFAULTS[self.crf]
        for name in ("gamma", "beta"):
            mean, std = defaults[name]
            if getattr(self, f"{name}_mean") is None:
                object.__setattr__(self, f"{name}_mean", mean)
            if getattr(self, f"{name}_std") is None:
                object.__setattr__(self, f"{name}_std", std)
        for name in ("exposure_std_stops", "gamma_std", "beta_std", "read_noise", "shot_noise"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"camera {name} must be a finite number >= 0, got {value}")
        if not math.isfinite(self.exposure_mean_stops):
            raise ValueError(f"camera exposure_mean_stops must be finite, got {self.exposure_mean_stops}")
        if self.quantize_bits is not None and not 1 <= self.quantize_bits <= 16:
            raise ValueError(f"camera quantize_bits must be between 1 and 16 or None, got {self.quantize_bits}")
        low, high = _gamma_range(self.crf)
        if not low <= self.gamma_mean <= high:
            raise ValueError(f"camera gamma_mean {self.gamma_mean} is outside [{low}, {high}] for crf {self.crf!r}")
        if self.crf == "glowgan" and not _GLOWGAN_BETA_RANGE[0] <= self.beta_mean <= _GLOWGAN_BETA_RANGE[1]:
            raise ValueError(f"camera beta_mean {self.beta_mean} is outside {_GLOWGAN_BETA_RANGE}")

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> CameraParams:
        """Draw ``n`` independent cameras; parameters are clamped to each family's valid range."""
        device = torch.device(device) if device is not None else _generator_device(generator)
        normal = torch.randn(3, n, generator=generator, device=device)
        stops = self.exposure_mean_stops + self.exposure_std_stops * normal[0]
        gamma = (self.gamma_mean + self.gamma_std * normal[1]).clamp(*_gamma_range(self.crf))
        beta = (self.beta_mean + self.beta_std * normal[2]).clamp(*_GLOWGAN_BETA_RANGE)
        return self._params(stops, gamma, beta)

    def mean(self, n: int = 1, *, device: torch.device | str | None = None) -> CameraParams:
        """The prior's mean camera, repeated ``n`` times (e.g. to linearise a vanilla GAN's LDR output)."""
        full = torch.ones(n, device=device)
        return self._params(
            self.exposure_mean_stops * full,
            self.gamma_mean * full,
            (self.beta_mean if self.crf == "glowgan" else _GLOWGAN_BETA_RANGE[0]) * full,
        )

    def _params(self, stops: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> CameraParams:
        noisy = self.read_noise > 0 or self.shot_noise > 0
        return CameraParams(
            exposure_stops=stops,
            crf=self.crf,
            gamma=gamma,
            beta=beta if self.crf == "glowgan" else torch.full_like(stops, _GLOWGAN_BETA_RANGE[0]),
            quantize_bits=self.quantize_bits,
            read_noise=self.read_noise if noisy else 0.0,
            shot_noise=self.shot_noise if noisy else 0.0,
        )


@dataclass
class CameraParams:
    """One camera per image: ``[N]`` tensors plus the family and the (shared) pipeline options.

    ``gamma`` is the CRF exponent of the ``glowgan`` family and the display gamma of the ``gamma``
    family (ignored by ``linear``); ``beta`` is used by ``glowgan`` only.
    """

    exposure_stops: torch.Tensor  # [N], log2 of gain
    crf: str = "glowgan"
    gamma: torch.Tensor | None = None  # [N]
    beta: torch.Tensor | None = None  # [N]
    quantize_bits: int | None = None
    read_noise: float = 0.0
    shot_noise: float = 0.0

    def __post_init__(self) -> None:
        if self.crf not in CRF_FAMILIES:
            raise ValueError(f"camera crf {self.crf!r} is unknown; choose one of {', '.join(CRF_FAMILIES)}")
        if self.exposure_stops.ndim != 1:
            raise ValueError(f"exposure_stops must have shape [N], got {tuple(self.exposure_stops.shape)}")
        defaults = _FAMILY_DEFAULTS[self.crf]
        if self.gamma is None:
            self.gamma = torch.full_like(self.exposure_stops, defaults["gamma"][0])
        if self.beta is None:
            self.beta = torch.full_like(self.exposure_stops, defaults["beta"][0] or _GLOWGAN_BETA_RANGE[0])

    def __len__(self) -> int:
        return self.exposure_stops.shape[0]

    def to(self, device: torch.device | str) -> CameraParams:
        return dataclasses.replace(
            self, exposure_stops=self.exposure_stops.to(device), gamma=self.gamma.to(device), beta=self.beta.to(device)
        )

    def detach(self) -> CameraParams:
        return dataclasses.replace(
            self, exposure_stops=self.exposure_stops.detach(), gamma=self.gamma.detach(), beta=self.beta.detach()
        )

    def __getitem__(self, index: Any) -> CameraParams:
        """Select cameras like a tensor's first dimension (an int keeps the batch dimension)."""
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
        return dataclasses.replace(
            self, exposure_stops=self.exposure_stops[index], gamma=self.gamma[index], beta=self.beta[index]
        )

    def to_records(self) -> list[dict[str, Any]]:
        """Plain per-image dicts (JSON-ready), e.g. for a dataset manifest."""
        records = []
        for stops, gamma, beta in zip(self.exposure_stops.tolist(), self.gamma.tolist(), self.beta.tolist()):
            records.append(
                {
                    "exposure_stops": stops,
                    "crf": self.crf,
                    "gamma": gamma,
                    "beta": beta,
                    "quantize_bits": self.quantize_bits,
                    "read_noise": self.read_noise,
                    "shot_noise": self.shot_noise,
                }
            )
        return records

    @classmethod
    def from_records(cls, records: list[dict[str, Any]], *, device: torch.device | str | None = None) -> CameraParams:
        """Inverse of :meth:`to_records`; all records must share the family and pipeline options."""
        if not records:
            raise ValueError("cannot build CameraParams from an empty list of records")
        shared = ("crf", "quantize_bits", "read_noise", "shot_noise")
        first = records[0]
        for record in records[1:]:
            for key in shared:
                if record[key] != first[key]:
                    raise ValueError(f"camera records disagree on {key!r}: {first[key]!r} vs {record[key]!r}")

        def column(key: str) -> torch.Tensor:
            return torch.tensor([float(r[key]) for r in records], dtype=torch.float32, device=device)

        return cls(
            exposure_stops=column("exposure_stops"),
            crf=first["crf"],
            gamma=column("gamma"),
            beta=column("beta"),
            quantize_bits=first["quantize_bits"],
            read_noise=float(first["read_noise"]),
            shot_noise=float(first["shot_noise"]),
        )


def _gamma_range(crf: str) -> tuple[float, float]:
    return _DISPLAY_GAMMA_RANGE if crf == "gamma" else _GLOWGAN_GAMMA_RANGE


def valid_range(crf: str, name: str) -> tuple[float, float]:
    """The range that ``gamma`` or ``beta`` of a CRF family is kept in (what the prior clamps samples to)."""
    if crf not in CRF_FAMILIES:
        raise ValueError(f"camera crf {crf!r} is unknown; choose one of {', '.join(CRF_FAMILIES)}")
    if name == "gamma":
        return _gamma_range(crf)
    if name == "beta":
        return _GLOWGAN_BETA_RANGE
    raise ValueError(f"camera parameter {name!r} has no range; expected 'gamma' or 'beta'")


def _generator_device(generator: torch.Generator | None) -> torch.device:
    return generator.device if generator is not None else torch.device("cpu")


def _per_image(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """[N] -> [N, 1, 1, 1] (or [N, 1, ...] matching ``like``'s rank) for broadcasting over images."""
    if values.shape[0] != like.shape[0]:
        raise ValueError(f"camera has {values.shape[0]} images but the batch has {like.shape[0]}")
    return values.to(like.dtype).reshape(-1, *([1] * (like.ndim - 1)))


def exposure_gain(params: CameraParams, like: torch.Tensor) -> torch.Tensor:
    """``2**stops`` shaped to broadcast against ``like`` ([N, C, H, W] or any [N, ...])."""
    return torch.exp2(_per_image(params.exposure_stops, like))


def crf_forward(x: torch.Tensor, params: CameraParams) -> torch.Tensor:
    """Apply the CRF to exposed, clipped linear values ``x`` in [0, 1]; returns values in [0, 1]."""
    if params.crf == "linear":
        return x
    gamma = _per_image(params.gamma, x)
    if params.crf == "gamma":
        return x.clamp_min(_POW_EPS).pow(1.0 / gamma)
    beta = _per_image(params.beta, x)
    powered = x.clamp_min(_POW_EPS).pow(gamma)
    return (1.0 + beta) * powered / (powered + beta)  # official code's CRF


def crf_inverse(ldr: torch.Tensor, params: CameraParams) -> torch.Tensor:
    """Exact inverse of :func:`crf_forward` on [0, 1]: LDR values -> exposed linear values in [0, 1]."""
    y = ldr.clamp(0.0, 1.0)
    if params.crf == "linear":
        return y
    gamma = _per_image(params.gamma, y)
    lit = y > 0  # an LDR 0 is black: exactly 0 linear, not the pow epsilon raised to a power
    if params.crf == "gamma":
        return y.clamp_min(_POW_EPS).pow(gamma) * lit
    beta = _per_image(params.beta, y)
    ratio = beta * y / (1.0 + beta - y)  # denominator >= beta > 0 on [0, 1]
    return ratio.clamp_min(_POW_EPS).pow(1.0 / gamma).clamp(0.0, 1.0) * lit


def quantize(ldr: torch.Tensor, bits: int) -> torch.Tensor:
    """Round to ``2**bits`` levels in the forward pass; identity gradient (straight-through)."""
    levels = float(2**bits - 1)
    rounded = torch.round(ldr * levels) / levels
    return ldr + (rounded - ldr).detach()


def add_sensor_noise(
    exposed: torch.Tensor,
    params: CameraParams,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Heteroscedastic Gaussian noise, variance ``read**2 + shot * x`` (reparameterised, differentiable)."""
    if params.read_noise == 0 and params.shot_noise == 0:
        return exposed
    variance = params.read_noise**2 + params.shot_noise * exposed.clamp_min(0.0)
    noise = torch.randn(exposed.shape, generator=generator, device=exposed.device, dtype=exposed.dtype)
    return exposed + variance.sqrt() * noise


def render(
    hdr: torch.Tensor,
    params: CameraParams,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Photograph linear HDR images: expose, add noise, clip at 1, apply the CRF, quantise.

    ``hdr``: [N, C, H, W] (any [N, ...]), linear radiance >= 0. Returns ``ldr`` of the same shape in
    [0, 1]. Differentiable everywhere; the gradient is zero where the exposed value clips
    (GlowGAN Sec. 3.2: the discriminator sees only what a camera would record).
    """
    exposed = hdr * exposure_gain(params, hdr)
    exposed = add_sensor_noise(exposed, params, generator=generator)
    ldr = crf_forward(exposed.clamp(0.0, 1.0), params)
    if params.quantize_bits is not None:
        ldr = quantize(ldr, params.quantize_bits)
    return ldr


def linearize(ldr: torch.Tensor, params: CameraParams) -> torch.Tensor:
    """Invert the camera where it is invertible: LDR -> linear radiance (clipped pixels stay at 2**-stops)."""
    return crf_inverse(ldr, params) / exposure_gain(params, ldr)
