"""The differentiable, stochastic camera model: linear HDR radiance -> LDR photo.

This is the heart of GlowGAN (Wang et al., ICCV 2023, Sec. 3.2): a generator produces linear HDR
images, this module photographs each one with a random exposure and camera response curve (CRF),
and the discriminator only ever sees the photographs.

Pipeline of :func:`render` (all steps differentiable)::

    hdr --(x 2**stops)--> exposed --(+ sensor noise)--> --(clip to [0, 1])--> --(CRF)--> --(quantise)--> ldr

``CameraPrior`` is the distribution of camera parameters, defined once here and used by training,
previews, generation, inversion and data synthesis. ``CameraParams`` is one draw of it: per-image
tensors that travel together.

CRF families (``CameraPrior.crf``; the curves and their inverses live in :mod:`glowgan.crf`):

- ``"glowgan"``: ``f(x) = (1 + beta) x**gamma / (x**gamma + beta)``, the official code's curve, with
  ``gamma ~ N(0.9, 0.1)``, ``beta ~ N(0.6, 0.1)`` per image (official code defaults);
  inverse ``x = (beta y / (1 + beta - y)) ** (1 / gamma)``.
- ``"gamma"``: ``f(x) = x ** (1 / gamma)``, a display gamma, ``gamma ~ N(2.2, 0.1)`` by default.
- ``"linear"``: ``f(x) = x``.
- ``"srgb"``: the IEC 61966-2-1 sRGB curve (no parameters).
- ``"filmic"``: Hable's filmic S-curve (toe and shoulder), then a display gamma ``gamma ~ N(2.2, 0.1)``.
- ``"pca"``: a data-driven family (mean curve + ``crf.PCA_COMPONENTS`` principal components fitted to
  sRGB, gamma, GlowGAN and filmic curves, in the manner of EMoR); coefficients ``coeffs ~ N(0, s_k)``
  with the corpus's spread ``s_k``, scaled by ``pca_spread``.

A **mixture** of families is written ``"srgb:2,filmic,glowgan"`` (weights default to 1 and are
normalised): each image draws its family, then that family's parameters at their defaults.

"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import torch

from glowgan import crf as curves

CRF_FAMILIES = curves.FAMILIES

# Valid ranges that sampled parameters are clamped to (a normal prior has unbounded tails).
_GLOWGAN_GAMMA_RANGE = (0.3, 3.0)
_GLOWGAN_BETA_RANGE = (0.02, 10.0)
_DISPLAY_GAMMA_RANGE = (1.0, 4.0)

# Per-family default (mean, std) of gamma and beta, used when the prior leaves them unset.
_FAMILY_DEFAULTS = {
    "glowgan": {"gamma": (0.9, 0.1), "beta": (0.6, 0.1)},  # official code: N(0.9, 0.1), N(0.6, 0.1)
    "gamma": {"gamma": (2.2, 0.1), "beta": (0.0, 0.0)},  # sRGB-like display gamma
    "linear": {"gamma": (1.0, 0.0), "beta": (0.0, 0.0)},
    "srgb": {"gamma": (1.0, 0.0), "beta": (0.0, 0.0)},
    "filmic": {"gamma": (2.2, 0.1), "beta": (0.0, 0.0)},  # display gamma after the filmic curve
    "pca": {"gamma": (1.0, 0.0), "beta": (0.0, 0.0)},
}
_DISPLAY_GAMMA_FAMILIES = ("gamma", "filmic")


def parse_crf(text: str) -> tuple[tuple[str, float], ...]:
    """``"srgb:2,filmic"`` -> ``(("srgb", 2/3), ("filmic", 1/3))``; a single name is one family of weight 1."""
    parts = [part.strip() for part in str(text).split(",")]
    if not all(parts):
        raise ValueError(f"camera crf {text!r} is not a family or a list like 'srgb:2,filmic,glowgan'")
    mixture = []
    for part in parts:
        name, _, weight_text = part.partition(":")
        name = name.strip()
        if name not in CRF_FAMILIES:
            raise ValueError(f"camera crf {name!r} is unknown; choose one of {', '.join(CRF_FAMILIES)}")
        try:
            weight = float(weight_text) if weight_text else 1.0
        except ValueError:
            raise ValueError(f"camera crf weight {weight_text!r} of {name!r} is not a number") from None
        if not (math.isfinite(weight) and weight > 0):
            raise ValueError(f"camera crf weight of {name!r} must be a finite number > 0, got {weight_text}")
        if name in dict(mixture):
            raise ValueError(f"camera crf {name!r} appears twice in {text!r}")
        mixture.append((name, weight))
    total = sum(weight for _, weight in mixture)
    return tuple((name, weight / total) for name, weight in mixture)


@dataclass(frozen=True)
class CameraPrior:
    """Distribution of camera parameters; ``sample(n, rng=...)`` draws :class:`CameraParams`.

    Defaults reproduce the official GlowGAN camera: exposure ``N(0, 0.5)`` stops, the ``glowgan``
    CRF with ``gamma ~ N(0.9, 0.1)`` and ``beta ~ N(0.6, 0.1)``, no quantisation, no noise.
    ``gamma_mean/std`` and ``beta_mean/std`` left as ``None`` take the CRF family's defaults.
    ``crf`` may be a mixture (``"srgb:2,filmic,glowgan"``, see :func:`parse_crf`); each family of a
    mixture keeps its default parameters, so a mixture leaves ``gamma_*`` and ``beta_*`` unset.
    ``pca_spread`` scales the spread of the ``pca`` family's coefficients (1: the corpus's spread).
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
    pca_spread: float = 1.0

    def __post_init__(self) -> None:
        mixture = parse_crf(self.crf)
        settable = ("gamma_mean", "gamma_std", "beta_mean", "beta_std")
        if len(mixture) > 1:
            given = [name for name in settable if getattr(self, name) is not None]
            if given:
                raise ValueError(
                    f"camera crf {self.crf!r} is a mixture, whose families keep their default parameters; "
                    f"unset {', '.join(given)} or choose a single family"
                )
        else:
            defaults = _FAMILY_DEFAULTS[mixture[0][0]]
            for name in ("gamma", "beta"):
                mean, std = defaults[name]
                if getattr(self, f"{name}_mean") is None:
                    object.__setattr__(self, f"{name}_mean", mean)
                if getattr(self, f"{name}_std") is None:
                    object.__setattr__(self, f"{name}_std", std)
        for name in ("exposure_std_stops", "read_noise", "shot_noise", "pca_spread", *settable[1::2]):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ValueError(f"camera {name} must be a finite number >= 0, got {value}")
        if not math.isfinite(self.exposure_mean_stops):
            raise ValueError(f"camera exposure_mean_stops must be finite, got {self.exposure_mean_stops}")
        bits = self.quantize_bits
        if bits is not None and (isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 16):
            raise ValueError(f"camera quantize_bits must be an integer from 1 to 16, or none (off), got {bits!r}")
        if len(mixture) == 1:
            low, high = _gamma_range(self.crf)
            if not low <= self.gamma_mean <= high:
                raise ValueError(
                    f"camera gamma_mean {self.gamma_mean} is outside [{low}, {high}] for crf {self.crf!r}"
                )
            if self.crf == "glowgan" and not _GLOWGAN_BETA_RANGE[0] <= self.beta_mean <= _GLOWGAN_BETA_RANGE[1]:
                raise ValueError(f"camera beta_mean {self.beta_mean} is outside {_GLOWGAN_BETA_RANGE}")

    @property
    def mixture(self) -> tuple[tuple[str, float], ...]:
        """``((family, probability), ...)``; one entry for a single family."""
        return parse_crf(self.crf)

    def component(self, family: str | None = None) -> CameraPrior:
        """The single-family prior of ``family`` (default: the mixture's most probable family, the first
        on ties) with this prior's exposure, quantisation and noise: ``self`` for its own single family;
        the family's default curve parameters otherwise (a mixture's member, or another family)."""
        mixture = self.mixture
        if family is None:
            family = max(mixture, key=lambda entry: entry[1])[0]
        if family not in CRF_FAMILIES:
            raise ValueError(f"camera crf {family!r} is unknown; choose one of {', '.join(CRF_FAMILIES)}")
        if len(mixture) == 1 and family == self.crf:
            return self
        return self.with_crf(family)

    def with_crf(self, crf: str) -> CameraPrior:
        """This prior with the curve prior ``crf`` (one family or a mixture, see :func:`parse_crf`), each
        family at its default parameters; exposure, quantisation and noise are kept."""
        return dataclasses.replace(self, crf=crf, gamma_mean=None, gamma_std=None, beta_mean=None, beta_std=None)

    def sample(
        self,
        n: int,
        *,
        rng: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> CameraParams:
        """Draw ``n`` independent cameras; parameters are clamped to each family's valid range."""
        device = torch.device(device) if device is not None else _rng_device(rng)
        normal = torch.randn(3, n, generator=rng, device=device)
        stops = self.exposure_mean_stops + self.exposure_std_stops * normal[0]
        mixture = self.mixture
        if len(mixture) == 1:
            families: str | tuple[str, ...] = self.crf
            gamma = self.gamma_mean + self.gamma_std * normal[1]
            beta = self.beta_mean + self.beta_std * normal[2]
        else:
            names = [name for name, _ in mixture]
            cumulative = torch.tensor([weight for _, weight in mixture], dtype=torch.float64).cumsum(0)
            uniform = torch.rand(n, generator=rng, device=device).double().cpu()
            choice = torch.searchsorted(cumulative, uniform * float(cumulative[-1]), right=True).clamp(max=len(names) - 1)
            families = tuple(names[i] for i in choice.tolist())

            def per_family(name: str, index: int) -> torch.Tensor:  # each image's family default (mean or std)
                values = [_FAMILY_DEFAULTS[family][name][index] for family in names]
                return torch.tensor(values, dtype=torch.float32, device=device)[choice.to(device)]

            gamma = per_family("gamma", 0) + per_family("gamma", 1) * normal[1]
            beta = per_family("beta", 0) + per_family("beta", 1) * normal[2]
        coeffs = None
        if "pca" in _per_image_families(families, n):
            spread = curves.pca_basis()[2].to(device) * self.pca_spread
            coeffs = torch.randn(n, curves.PCA_COMPONENTS, generator=rng, device=device) * spread
        return self.clamp(self._params(stops, families, gamma, beta, coeffs))  # draws kept in the valid ranges

    def mean(self, n: int = 1, *, device: torch.device | str | None = None) -> CameraParams:
        """The prior's mean camera, repeated ``n`` times (e.g. to linearise a vanilla GAN's LDR output);
        for a mixture, the mean camera of its most probable family."""
        single = self.component()
        full = torch.ones(n, device=device)
        coeffs = torch.zeros(n, curves.PCA_COMPONENTS, device=device) if single.crf == "pca" else None
        return single._params(single.exposure_mean_stops * full, single.crf, single.gamma_mean * full, single.beta_mean * full, coeffs)

    def clamp(self, params: CameraParams) -> CameraParams:
        """``params`` with each image's curve parameters kept in its family's valid range (what
        :meth:`sample` clamps draws to; ``pca`` coefficients within 4 of the prior's spreads)."""
        families = params.families
        low = torch.tensor([_gamma_range(f)[0] for f in families], device=params.gamma.device)
        high = torch.tensor([_gamma_range(f)[1] for f in families], device=params.gamma.device)
        coeffs = params.coeffs
        if coeffs is not None:
            bound = 4.0 * curves.pca_basis()[2].to(coeffs.device) * max(self.pca_spread, 1e-3)
            coeffs = torch.maximum(torch.minimum(coeffs, bound), -bound)
        return dataclasses.replace(
            params,
            gamma=torch.minimum(torch.maximum(params.gamma, low), high),
            beta=params.beta.clamp(*_GLOWGAN_BETA_RANGE),
            coeffs=coeffs,
        )

    def _params(
        self, stops: torch.Tensor, families: str | tuple[str, ...], gamma: torch.Tensor, beta: torch.Tensor, coeffs: torch.Tensor | None
    ) -> CameraParams:
        noisy = self.read_noise > 0 or self.shot_noise > 0
        glowgan = torch.tensor([f == "glowgan" for f in _per_image_families(families, len(stops))], device=stops.device)
        return CameraParams(
            exposure_stops=stops,
            crf=families,
            gamma=gamma,
            beta=torch.where(glowgan, beta, torch.full_like(beta, _GLOWGAN_BETA_RANGE[0])),
            coeffs=coeffs,
            quantize_bits=self.quantize_bits,
            read_noise=self.read_noise if noisy else 0.0,
            shot_noise=self.shot_noise if noisy else 0.0,
        )


@dataclass
class CameraParams:
    """One camera per image: ``[N]`` tensors plus the family (one for all images, or one per image) and the
    (shared) pipeline options.

    ``gamma`` is the CRF exponent of the ``glowgan`` family and the display gamma of the ``gamma`` and
    ``filmic`` families (ignored by the others); ``beta`` is used by ``glowgan`` only; ``coeffs``
    ``[N, crf.PCA_COMPONENTS]`` by ``pca`` only (None when no image is ``pca``).
    """

    exposure_stops: torch.Tensor  # [N], log2 of gain
    crf: str | tuple[str, ...] = "glowgan"
    gamma: torch.Tensor | None = None  # [N]
    beta: torch.Tensor | None = None  # [N]
    quantize_bits: int | None = None
    read_noise: float = 0.0
    shot_noise: float = 0.0
    coeffs: torch.Tensor | None = None  # [N, PCA_COMPONENTS]

    def __post_init__(self) -> None:
        if self.exposure_stops.ndim != 1:
            raise ValueError(f"exposure_stops must have shape [N], got {tuple(self.exposure_stops.shape)}")
        n = self.exposure_stops.shape[0]
        if not isinstance(self.crf, str):
            self.crf = tuple(self.crf)
            if len(self.crf) != n:
                raise ValueError(f"camera has {len(self.crf)} CRF families for {n} images")
            if len(set(self.crf)) == 1:
                self.crf = self.crf[0]
        families = self.families
        for family in set(families):
            if family not in CRF_FAMILIES:
                raise ValueError(f"camera crf {family!r} is unknown; choose one of {', '.join(CRF_FAMILIES)}")
        if self.gamma is None:
            self.gamma = torch.tensor(
                [_FAMILY_DEFAULTS[f]["gamma"][0] for f in families], dtype=torch.float32, device=self.exposure_stops.device
            )
        if self.beta is None:
            self.beta = torch.tensor(
                [_FAMILY_DEFAULTS[f]["beta"][0] or _GLOWGAN_BETA_RANGE[0] for f in families],
                dtype=torch.float32,
                device=self.exposure_stops.device,
            )
        if "pca" in families and self.coeffs is None:
            self.coeffs = torch.zeros(n, curves.PCA_COMPONENTS, device=self.exposure_stops.device)
        if self.coeffs is not None and tuple(self.coeffs.shape) != (n, curves.PCA_COMPONENTS):
            raise ValueError(f"camera coeffs must have shape [{n}, {curves.PCA_COMPONENTS}], got {tuple(self.coeffs.shape)}")

    @property
    def families(self) -> tuple[str, ...]:
        """The CRF family of each image."""
        return _per_image_families(self.crf, len(self))

    def __len__(self) -> int:
        return self.exposure_stops.shape[0]

    def shifted(self, stops: float | torch.Tensor) -> CameraParams:
        """The same cameras exposed ``stops`` brighter (a bracket around them: ``shifted(-3)``, ...)."""
        return dataclasses.replace(self, exposure_stops=self.exposure_stops + stops)

    def _map(self, fn, crf: str | tuple[str, ...] | None = None) -> CameraParams:
        return dataclasses.replace(
            self,
            exposure_stops=fn(self.exposure_stops),
            crf=self.crf if crf is None else crf,
            gamma=fn(self.gamma),
            beta=fn(self.beta),
            coeffs=None if self.coeffs is None else fn(self.coeffs),
        )

    def to(self, device: torch.device | str) -> CameraParams:
        return self._map(lambda t: t.to(device))

    def detach(self) -> CameraParams:
        return self._map(torch.Tensor.detach)

    def __getitem__(self, index: Any) -> CameraParams:
        """Select cameras like a tensor's first dimension (an int keeps the batch dimension)."""
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
        crf = self.crf
        if not isinstance(crf, str):
            crf = tuple(crf[i] for i in torch.arange(len(self))[index].reshape(-1).tolist())
        selected = self._map(lambda t: t[index], crf)
        if selected.coeffs is not None and "pca" not in selected.families:
            selected.coeffs = None
        return selected

    @classmethod
    def cat(cls, cameras: list[CameraParams]) -> CameraParams:
        """Concatenate cameras that share the pipeline options (families may differ)."""
        if not cameras:
            raise ValueError("cannot concatenate an empty list of cameras")
        first = cameras[0]
        for other in cameras[1:]:
            for key in ("quantize_bits", "read_noise", "shot_noise"):
                if getattr(other, key) != getattr(first, key):
                    raise ValueError(f"cameras disagree on {key!r}: {getattr(first, key)!r} vs {getattr(other, key)!r}")
        families = tuple(f for c in cameras for f in c.families)
        coeffs = None
        if "pca" in families:
            coeffs = torch.cat(
                [c.coeffs if c.coeffs is not None else c.exposure_stops.new_zeros(len(c), curves.PCA_COMPONENTS) for c in cameras]
            )
        return cls(
            exposure_stops=torch.cat([c.exposure_stops for c in cameras]),
            crf=families,
            gamma=torch.cat([c.gamma for c in cameras]),
            beta=torch.cat([c.beta for c in cameras]),
            coeffs=coeffs,
            quantize_bits=first.quantize_bits,
            read_noise=first.read_noise,
            shot_noise=first.shot_noise,
        )

    def to_records(self) -> list[dict[str, Any]]:
        """Plain per-image dicts (JSON-ready), e.g. for a dataset manifest."""
        records = []
        for i, (stops, gamma, beta) in enumerate(zip(self.exposure_stops.tolist(), self.gamma.tolist(), self.beta.tolist())):
            family = self.families[i]
            record = {
                "exposure_stops": stops,
                "crf": family,
                "gamma": gamma,
                "beta": beta,
                "quantize_bits": self.quantize_bits,
                "read_noise": self.read_noise,
                "shot_noise": self.shot_noise,
            }
            if family == "pca":
                record["coeffs"] = self.coeffs[i].tolist()
            records.append(record)
        return records

    @classmethod
    def from_records(cls, records: list[dict[str, Any]], *, device: torch.device | str | None = None) -> CameraParams:
        """Inverse of :meth:`to_records`; all records must share the pipeline options (families may differ)."""
        if not records:
            raise ValueError("cannot build CameraParams from an empty list of records")
        shared = ("quantize_bits", "read_noise", "shot_noise")
        first = records[0]
        for record in records[1:]:
            for key in shared:
                if record[key] != first[key]:
                    raise ValueError(f"camera records disagree on {key!r}: {first[key]!r} vs {record[key]!r}")

        def column(key: str) -> torch.Tensor:
            return torch.tensor([float(r[key]) for r in records], dtype=torch.float32, device=device)

        families = tuple(r["crf"] for r in records)
        coeffs = None
        if "pca" in families:
            zeros = [0.0] * curves.PCA_COMPONENTS
            coeffs = torch.tensor([r.get("coeffs", zeros) for r in records], dtype=torch.float32, device=device)
        return cls(
            exposure_stops=column("exposure_stops"),
            crf=families,
            gamma=column("gamma"),
            beta=column("beta"),
            coeffs=coeffs,
            quantize_bits=first["quantize_bits"],
            read_noise=float(first["read_noise"]),
            shot_noise=float(first["shot_noise"]),
        )


def _per_image_families(crf: str | tuple[str, ...], n: int) -> tuple[str, ...]:
    return (crf,) * n if isinstance(crf, str) else tuple(crf)


def _gamma_range(crf: str) -> tuple[float, float]:
    return _DISPLAY_GAMMA_RANGE if crf in _DISPLAY_GAMMA_FAMILIES else _GLOWGAN_GAMMA_RANGE


def valid_range(crf: str, name: str) -> tuple[float, float]:
    """The range that ``gamma`` or ``beta`` of a CRF family is kept in (what the prior clamps samples to)."""
    if crf not in CRF_FAMILIES:
        raise ValueError(f"camera crf {crf!r} is unknown; choose one of {', '.join(CRF_FAMILIES)}")
    if name == "gamma":
        return _gamma_range(crf)
    if name == "beta":
        return _GLOWGAN_BETA_RANGE
    raise ValueError(f"camera parameter {name!r} has no range; expected 'gamma' or 'beta'")


def _rng_device(rng: torch.Generator | None) -> torch.device:
    return rng.device if rng is not None else torch.device("cpu")


def _per_image(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """[N] -> [N, 1, 1, 1] (or [N, 1, ...] matching ``like``'s rank) for broadcasting over images."""
    if values.shape[0] != like.shape[0]:
        raise ValueError(f"camera has {values.shape[0]} images but the batch has {like.shape[0]}")
    return values.to(like.dtype).reshape(-1, *([1] * (like.ndim - 1)))


def exposure_gain(params: CameraParams, like: torch.Tensor) -> torch.Tensor:
    """``2**stops`` shaped to broadcast against ``like`` ([N, C, H, W] or any [N, ...])."""
    return torch.exp2(_per_image(params.exposure_stops, like))


def _per_family(curve, values: torch.Tensor, params: CameraParams) -> torch.Tensor:
    """Apply ``curve(family, values, gamma, beta, coeffs)`` (glowgan.crf) with each image's own family."""
    gamma, beta = _per_image(params.gamma, values), _per_image(params.beta, values)
    coeffs = None if params.coeffs is None else params.coeffs.to(values.dtype)
    if isinstance(params.crf, str):
        return curve(params.crf, values, gamma, beta, coeffs)
    families = params.families
    out = torch.zeros_like(values)
    for family in dict.fromkeys(families):
        index = torch.tensor([i for i, f in enumerate(families) if f == family], device=values.device)
        part = curve(
            family, values[index], gamma[index], beta[index], None if coeffs is None else coeffs[index]
        )
        out = out.index_copy(0, index, part)
    return out


def crf_forward(x: torch.Tensor, params: CameraParams) -> torch.Tensor:
    """Apply the CRF to exposed, clipped linear values ``x`` in [0, 1]; returns values in [0, 1]."""
    return _per_family(curves.forward, x, params)


def crf_inverse(ldr: torch.Tensor, params: CameraParams) -> torch.Tensor:
    """Exact inverse of :func:`crf_forward` on [0, 1]: LDR values -> exposed linear values in [0, 1]."""
    return _per_family(curves.inverse, ldr.clamp(0.0, 1.0), params)


def to_pca(params: CameraParams) -> CameraParams:
    """The ``pca``-family cameras closest to ``params`` (each curve projected onto the basis), same exposure."""
    grid = torch.linspace(0.0, 1.0, curves.PCA_KNOTS, device=params.exposure_stops.device).expand(len(params), -1)
    table = crf_forward(grid, params.detach())  # [N, PCA_KNOTS]
    return CameraParams(
        exposure_stops=params.exposure_stops,
        crf="pca",
        coeffs=curves.pca_project(table),
        quantize_bits=params.quantize_bits,
        read_noise=params.read_noise,
        shot_noise=params.shot_noise,
    )


def quantize(ldr: torch.Tensor, bits: int) -> torch.Tensor:
    """Round to ``2**bits`` levels in the forward pass; identity gradient (straight-through)."""
    levels = float(2**bits - 1)
    rounded = torch.round(ldr * levels) / levels
    return ldr + (rounded - ldr).detach()


def add_sensor_noise(
    exposed: torch.Tensor,
    params: CameraParams,
    *,
    rng: torch.Generator | None = None,
) -> torch.Tensor:
    """Heteroscedastic Gaussian noise, variance ``read**2 + shot * x`` (reparameterised, differentiable)."""
    if params.read_noise == 0 and params.shot_noise == 0:
        return exposed
    variance = params.read_noise**2 + params.shot_noise * exposed.clamp_min(0.0)
    noise = torch.randn(exposed.shape, generator=rng, device=exposed.device, dtype=exposed.dtype)
    return exposed + variance.sqrt() * noise


def render(
    hdr: torch.Tensor,
    params: CameraParams,
    *,
    rng: torch.Generator | None = None,
) -> torch.Tensor:
    """Photograph linear HDR images: expose, add noise, clip at 1, apply the CRF, quantise.

    ``hdr``: [N, C, H, W] (any [N, ...]), linear radiance >= 0. Returns ``ldr`` of the same shape in
    [0, 1]. Differentiable everywhere; the gradient is zero where the exposed value clips
    (GlowGAN Sec. 3.2: the discriminator sees only what a camera would record).
    """
    exposed = hdr * exposure_gain(params, hdr)
    exposed = add_sensor_noise(exposed, params, rng=rng)
    ldr = crf_forward(exposed.clamp(0.0, 1.0), params)
    if params.quantize_bits is not None:
        ldr = quantize(ldr, params.quantize_bits)
    return ldr


def linearize(ldr: torch.Tensor, params: CameraParams) -> torch.Tensor:
    """Invert the camera where it is invertible: LDR -> linear radiance (clipped pixels stay at 2**-stops)."""
    return crf_inverse(ldr, params) / exposure_gain(params, ldr)
