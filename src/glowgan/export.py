"""Export a trained generator for use outside training: safetensors weights, a JSON description, ONNX.

:func:`export_generator` writes a folder::

    generator.safetensors   the EMA generator's weights (G_ema), the config JSON in its metadata
    config.json             the model config, what the inputs and the output mean, file checksums,
                            and the export check's numbers
    generator.onnx          (optional) the sampling path z, psi -> image, batch dimension dynamic

The ONNX graph is :class:`SamplingPath`: the mapping network, truncation
``w = w_avg + psi (w - w_avg)`` with ``psi`` an input (StyleGAN Sec. 3.1; 1 means none), the synthesis
network with its constant noise buffers (``noise_mode="const"``, as ``glowgan generate``) and the
output activation. It is exported with ``torch.onnx.export(dynamo=True)``, which needs the packages
``onnx`` and ``onnxscript`` (the TorchScript exporter, ``dynamo=False``, cannot translate ``exp2``).

Before anything appears at the destination, the export is loaded back and compared with the
checkpoint's generator on seeded latents at two batch sizes and two truncations: the safetensors
weights in our :class:`~glowgan.models.Generator`, and the ONNX file in ``onnxruntime`` when that is
installed. The folder is built beside the destination and renamed into place only when every
difference is within the tolerance, so a failed or interrupted export leaves no partial folder.
Optional packages: ``pip install glowgan[export]``.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from glowgan import __version__
from glowgan.checkpoint import build_generator, load_checkpoint, load_generator
from glowgan.config import Config
from glowgan.models import Generator

logger = logging.getLogger(__name__)

FORMAT = "glowgan-export"
VERSION = 1
WEIGHTS_NAME = "generator.safetensors"
CONFIG_NAME = "config.json"
ONNX_NAME = "generator.onnx"
# Largest accepted difference between the export and the checkpoint's generator, relative to the
# output's magnitude: |a - b| / max(|b|, RELATIVE_FLOOR), i.e. relative above 0.01 (about 4 stops
# below mid-grey) and absolute (1e-5) below, where float32 rounding of a relu output near 0 is not
# small relative to it. Measured: ONNX Runtime 5e-6 at 16x32; a broken export (wrong padding, noise
# or truncation) differs by 1e-1 or more.
DEFAULT_TOLERANCE = 1e-3
RELATIVE_FLOOR = 1e-2
# The latents of the check: batch sizes (two, so a fixed batch dimension fails) and truncations.
CHECK_BATCHES = (1, 3)
CHECK_PSIS = (1.0, 0.7)
CHECK_SEED = 0
EXPORT_EXTRA = "pip install glowgan[export]"


class SamplingPath(nn.Module):
    """``(z [N, z_dim], psi [1]) -> image [N, 3, H, W]``: a generator's sampling path with psi as a tensor.

    Equals ``generator(z, psi=psi, noise_mode="const")`` (the mapping network's truncation written
    with a tensor ``psi``, so one graph serves every truncation).
    """

    def __init__(self, generator: Generator) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, z: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:
        ws = self.generator.mapping(z)  # [N, num_ws, w_dim], untruncated
        w_avg = self.generator.mapping.w_avg  # [w_dim]
        ws = w_avg + psi * (ws - w_avg)  # StyleGAN Sec. 3.1 truncation; psi = 1 leaves ws as they are
        return self.generator.synthesis(ws, noise_mode="const")


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_generator` wrote and how closely each file reproduces the checkpoint."""

    out_dir: Path
    files: list[str]
    checks: dict[str, dict[str, float]]  # file name -> {"max_abs_diff", "max_rel_diff"}
    skipped_checks: dict[str, str] = field(default_factory=dict)  # file name -> why it was not checked

    def summary(self) -> str:
        """What ``glowgan export`` prints."""
        lines = [f"wrote {', '.join(self.files)} to {self.out_dir}"]
        for name, check in self.checks.items():
            lines.append(
                f"  {name}: max difference from the checkpoint {check['max_abs_diff']:.3g} "
                f"(relative {check['max_rel_diff']:.3g})"
            )
        lines += [f"  {name}: not checked ({reason})" for name, reason in self.skipped_checks.items()]
        return "\n".join(lines)


def export_generator(
    ckpt: Path | str,
    out_dir: Path | str,
    *,
    onnx: bool = False,
    tolerance: float = DEFAULT_TOLERANCE,
) -> ExportResult:
    """Export the EMA generator of the checkpoint ``ckpt`` to the folder ``out_dir`` (see the module docstring).

    ``onnx``: also write ``generator.onnx``. ``tolerance``: largest accepted relative difference
    between an exported file's output and the checkpoint generator's (``|a - b| / max(|b|, 0.01)``).
    ``out_dir`` may exist only as an empty folder or an earlier export, which is replaced. Raises
    ``ValueError`` naming the fix for a missing optional package, a foreign destination or a check
    that fails; nothing is left at ``out_dir`` then.
    """
    if not tolerance >= 0:
        raise ValueError(f"the tolerance must be >= 0, got {tolerance}")
    _require("safetensors", "write generator.safetensors")
    if onnx:
        _require("onnx", "write generator.onnx")
        _require("onnxscript", "write generator.onnx (torch.onnx.export with dynamo=True)")
    out_dir = Path(out_dir)
    _check_destination(out_dir)
    generator, config = load_generator(ckpt)  # on the CPU, in eval mode
    progress = load_checkpoint(ckpt, mmap=True).get("progress", {})
    images = progress.get("images") if isinstance(progress, dict) else None

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".export", dir=out_dir.parent))
    try:
        os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes 0700; give the usual permissions
        _write_weights(staging / WEIGHTS_NAME, generator, config)
        files = [WEIGHTS_NAME]
        if onnx:
            _write_onnx(staging / ONNX_NAME, generator)
            files.append(ONNX_NAME)
        checks, skipped = _check(staging, generator, config, onnx=onnx)
        for name, check in checks.items():
            if not check["max_rel_diff"] <= tolerance:
                raise ValueError(
                    f"the exported {name} differs from the checkpoint's generator by {check['max_rel_diff']:.3g} "
                    f"(relative; tolerance {tolerance:g}), so nothing was written to {out_dir}; report this with "
                    "the checkpoint, or pass a larger --tolerance if the difference is acceptable"
                )
        description = describe(config, ckpt=ckpt, kimg=None if images is None else images / 1000.0)
        description["files"] = {name: {"sha256": _sha256(staging / name)} for name in files}
        description["check"] = {"tolerance": tolerance, "results": checks, "skipped": skipped}
        text = json.dumps(description, indent=2, allow_nan=False) + "\n"
        (staging / CONFIG_NAME).write_text(text, encoding="utf-8")
        _move_into_place(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ExportResult(out_dir=out_dir, files=[*files, CONFIG_NAME], checks=checks, skipped_checks=skipped)


def load_exported_generator(folder: Path | str, *, device: torch.device | str = "cpu") -> tuple[Generator, Config]:
    """The generator of an export folder (``config.json`` + ``generator.safetensors``), in eval mode, with its config.

    The weights file's checksum must match the one ``config.json`` records.
    """
    folder = Path(folder)
    description = _read_description(folder)
    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        raise ValueError(f"{folder}: no {WEIGHTS_NAME}; export the generator again with `glowgan export`")
    recorded = description.get("files", {}).get(WEIGHTS_NAME, {}).get("sha256")
    if recorded != _sha256(weights):
        raise ValueError(
            f"{weights} does not match the checksum in {folder / CONFIG_NAME}; the export was changed or is "
            "incomplete: export it again with `glowgan export`"
        )
    _require("safetensors", f"read {WEIGHTS_NAME}")
    from safetensors.torch import load_file

    config = Config.from_dict(description["config"], source=str(folder / CONFIG_NAME))
    generator = build_generator(config)
    generator.load_state_dict(load_file(str(weights)))
    return generator.to(device).eval().requires_grad_(False), config


def describe(config: Config, *, ckpt: Path | str, kimg: float | None) -> dict[str, Any]:
    """``config.json`` of an export (without its checksums and check results): config, inputs, output."""
    height, width = config.model.resolution
    if config.camera.enabled:
        mean = config.camera.prior.exposure_mean_stops
        output = {
            "name": "hdr",
            "domain": "linear radiance, >= 0, unbounded above",
            "units": (
                "relative, no absolute scale (the generator learned the scale at which the training photos were "
                "metered): radiance L clips in a photo taken at e stops when L * 2**e >= 1, so at the camera "
                f"prior's mean exposure ({mean:g} stops) values from {2.0**-mean:g} up are clipped in a photo"
            ),
            "activation": config.model.hdr_activation,
        }
    else:
        output = {
            "name": "ldr",
            "domain": "display-referred LDR in [0, 1] (vanilla GAN, camera off)",
            "units": (
                "none; glowgan generate turns it into linear radiance by rounding to 8 bits and inverting the "
                "mean camera response of the default prior (gamma 0.9, beta 0.6)"
            ),
            "activation": "sigmoid",
        }
    output.update({"shape": ["batch", 3, height, width], "layout": "NCHW, RGB", "dtype": "float32"})
    return {
        "format": FORMAT,
        "version": VERSION,
        "glowgan_version": __version__,
        "source": {"checkpoint": str(ckpt), "kimg": kimg, "weights": "G_ema (the exponential moving average)"},
        "config": config.to_dict(),
        "inputs": {
            "z": {
                "shape": ["batch", config.model.z_dim],
                "dtype": "float32",
                "meaning": (
                    "standard normal latents; glowgan's seed s is torch.randn(z_dim, "
                    "generator=torch.Generator().manual_seed(s))"
                ),
            },
            "psi": {
                "shape": [1],
                "dtype": "float32",
                "meaning": "truncation w = w_avg + psi (w - w_avg) (StyleGAN Sec. 3.1); 1 means none",
            },
        },
        "noise": "constant: the generator's fixed per-layer noise buffers (noise_mode='const', as glowgan generate)",
        "output": output,
        "loading": (
            "glowgan.export.load_exported_generator(FOLDER); or build glowgan.checkpoint.build_generator("
            "glowgan.config.Config.from_dict(config)) and load generator.safetensors as its state dict"
        ),
    }


def _require(module: str, purpose: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise ValueError(f"the package {module!r} is needed to {purpose}; install it with `{EXPORT_EXTRA}`")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _check_destination(out_dir: Path) -> None:
    """Accept a missing or empty folder, or an earlier export (replaced); refuse anything else."""
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise ValueError(f"--out {out_dir} is a file; give a folder name")
    if not any(out_dir.iterdir()):
        return
    try:
        _read_description(out_dir)
    except ValueError:
        raise ValueError(
            f"{out_dir} is not empty and holds no glowgan export, so it is not replaced; choose a new or empty folder"
        ) from None
    foreign = sorted(p.name for p in out_dir.iterdir() if p.name not in (WEIGHTS_NAME, CONFIG_NAME, ONNX_NAME))
    if foreign:
        raise ValueError(
            f"{out_dir} holds an earlier export and other files ({', '.join(foreign)}); move them away or choose "
            "another folder"
        )


def _read_description(folder: Path) -> dict[str, Any]:
    path = folder / CONFIG_NAME
    try:
        description = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{folder}: no {CONFIG_NAME}; pass a folder written by `glowgan export`") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not valid JSON ({error}); export the generator again") from None
    if not isinstance(description, dict) or description.get("format") != FORMAT:
        raise ValueError(f"{path}: not a glowgan export description (no {FORMAT!r} format marker)")
    if description.get("version") != VERSION:
        raise ValueError(
            f"{path}: export format version {description.get('version')} is not supported (expects {VERSION}); "
            "use the glowgan version that wrote it"
        )
    return description


def _write_weights(path: Path, generator: Generator, config: Config) -> None:
    from safetensors.torch import save_file

    tensors = {name: tensor.detach().contiguous() for name, tensor in generator.state_dict().items()}
    save_file(tensors, str(path), metadata={"format": FORMAT, "config": json.dumps(config.to_dict())})


def _example_inputs(generator: Generator, batch: int, psi: float) -> tuple[torch.Tensor, torch.Tensor]:
    z = torch.randn(batch, generator.z_dim, generator=torch.Generator().manual_seed(CHECK_SEED + batch))
    return z, torch.tensor([psi], dtype=torch.float32)


def _write_onnx(path: Path, generator: Generator) -> None:
    """``torch.onnx.export`` (dynamo) of :class:`SamplingPath` with a dynamic batch dimension."""
    z, psi = _example_inputs(generator, 2, 1.0)  # batch 2: torch.export specialises sizes 0 and 1
    batch = torch.export.Dim("batch", min=1)
    try:
        with _quiet_exporter():
            program = torch.onnx.export(
                SamplingPath(generator).eval(),
                (z, psi),
                dynamo=True,
                input_names=["z", "psi"],
                output_names=["image"],
                dynamic_shapes=({0: batch}, None),
                external_data=False,
                verbose=False,
            )
    except Exception as error:  # the exporter raises many types; say which step failed and keep the cause
        first_line = str(error).splitlines()[0] if str(error) else ""
        raise ValueError(
            f"torch.onnx.export could not export the generator ({type(error).__name__}: {first_line}); "
            "set GLOWGAN_DEBUG=1 for the traceback"
        ) from error
    program.save(str(path))


@contextlib.contextmanager
def _quiet_exporter():
    """Silence the exporter's progress logs and torch.export's deprecation warnings (none are ours to act on)."""
    levels = {"torch.onnx": logging.ERROR, "onnxscript": logging.WARNING, "onnx_ir": logging.WARNING}
    previous = {name: logging.getLogger(name).level for name in levels}
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        for name, level in previous.items():
            logging.getLogger(name).setLevel(level)


def _differences(output: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    difference = np.abs(output.astype(np.float64) - reference.astype(np.float64))
    if not np.all(np.isfinite(difference)):
        return {"max_abs_diff": float("inf"), "max_rel_diff": float("inf")}
    relative = difference / np.maximum(np.abs(reference.astype(np.float64)), RELATIVE_FLOOR)
    return {"max_abs_diff": float(difference.max()), "max_rel_diff": float(relative.max())}


def _check(
    folder: Path, generator: Generator, config: Config, *, onnx: bool
) -> tuple[dict[str, dict[str, float]], dict[str, str]]:
    """Compare each written file's outputs with ``generator``'s on the check latents (worst case over all)."""
    from safetensors.torch import load_file

    reloaded = build_generator(config)
    reloaded.load_state_dict(load_file(str(folder / WEIGHTS_NAME)))
    reloaded = reloaded.eval().requires_grad_(False)
    session = None
    skipped: dict[str, str] = {}
    if onnx:
        if importlib.util.find_spec("onnxruntime") is None:
            skipped[ONNX_NAME] = f"onnxruntime is not installed; `{EXPORT_EXTRA}` installs it"
        else:
            import onnxruntime

            session = onnxruntime.InferenceSession(str(folder / ONNX_NAME), providers=["CPUExecutionProvider"])
    worst: dict[str, list[dict[str, float]]] = {WEIGHTS_NAME: []}
    if session is not None:
        worst[ONNX_NAME] = []
    with torch.no_grad():
        for batch in CHECK_BATCHES:
            for psi in CHECK_PSIS:
                z, psi_tensor = _example_inputs(generator, batch, psi)
                reference = generator(z, psi=psi, noise_mode="const").numpy()
                worst[WEIGHTS_NAME].append(_differences(reloaded(z, psi=psi, noise_mode="const").numpy(), reference))
                if session is not None:
                    (image,) = session.run(None, {"z": z.numpy(), "psi": psi_tensor.numpy()})
                    worst[ONNX_NAME].append(_differences(image, reference))
    checks = {
        name: {key: max(result[key] for result in results) for key in ("max_abs_diff", "max_rel_diff")}
        for name, results in worst.items()
    }
    return checks, skipped


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _move_into_place(staging: Path, out_dir: Path) -> None:
    """Rename the finished staging folder to ``out_dir``, replacing an earlier export (checked before)."""
    for path in staging.iterdir():  # usual permissions, and on disk before the rename makes the folder visible
        os.chmod(path, 0o666 & ~_umask())
        with open(path, "rb") as stream:
            os.fsync(stream.fileno())
    if out_dir.exists():
        retired = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".old", dir=out_dir.parent))
        os.replace(out_dir, retired / out_dir.name)
        os.replace(staging, out_dir)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.replace(staging, out_dir)
    with contextlib.suppress(OSError):  # make the renames durable where the platform allows it
        directory = os.open(out_dir.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
