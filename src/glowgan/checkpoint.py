"""One checkpoint format for resuming, sampling and export: a plain dict, written atomically.

The file is a ``torch.save`` of a dict holding only tensors and primitives (no pickled classes or
code, unlike the official code's pickles), so it loads with ``torch.load(weights_only=True)``::

    {"format": "glowgan-checkpoint", "version": 1,
     "config": Config.to_dict(),
     "G": state_dict, "G_ema": state_dict, "D": state_dict,
     "opt_G": optimizer state_dict, "opt_D": optimizer state_dict,
     "progress": {"images": int, "step": int, "tick": int, ...},
     "rng": {"torch": ByteTensor, "cuda": [ByteTensor, ...], "generators": {name: ByteTensor}},
     "extra": {...}}

A sampling-only export keeps ``G_ema`` and the config. Writes go to a temporary file in the same
folder, are flushed to disk, then renamed over the target (:func:`glowgan.fileio.write_atomically`):
a run killed at any moment leaves either the previous complete checkpoint or the new one, never a
torn file, and :func:`glowgan.fileio.remove_stale_temporaries` clears what the killed write left.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from glowgan import fileio
from glowgan.config import Config
from glowgan.models import Discriminator, Generator
from glowgan.models.projected import ProjectedDiscriminator

FORMAT = "glowgan-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file that is missing, torn, foreign or incompatible."""


def save_checkpoint(path: Path | str, state: dict[str, Any]) -> None:
    """Atomically write ``state`` (tensors and primitives only) to ``path``."""
    payload = {"format": FORMAT, "version": VERSION, **state}

    def write(temporary: str) -> None:
        with open(temporary, "wb") as stream:
            torch.save(payload, stream)

    fileio.write_atomically(path, write, sync_directory=True)  # the rename itself is durable too


def load_checkpoint(
    path: Path | str,
    *,
    map_location: str | torch.device = "cpu",
    mmap: bool = False,
) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`, refusing anything else with a clear error.

    ``mmap=True`` maps tensors lazily instead of reading them: cheap when only the config is needed.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found; pass a .pt file written by glowgan train")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except Exception as error:  # torch raises many types for torn or foreign files
        raise CheckpointError(
            f"{path}: not a readable glowgan checkpoint ({type(error).__name__}: {str(error).splitlines()[0]}); "
            "it may be truncated or from another program"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a glowgan checkpoint (no '{FORMAT}' marker)")
    if payload.get("version") != VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {payload.get('version')} is not supported by this glowgan "
            f"(expects {VERSION}); use the glowgan version that wrote it"
        )
    return payload


def capture_rng(
    generators: dict[str, torch.Generator],
    *,
    devices: Sequence[torch.device | str] = (),
) -> dict[str, Any]:
    """Every random state this process depends on: torch's global CPU RNG, the global CUDA RNG of
    each CUDA device in ``devices`` and the named generators.

    ``devices`` are the ones this process computes on: in a ``torchrun`` job every rank captures its
    own GPU's state (and never touches, or creates a context on, another rank's GPU). ``"cuda"``
    lists those states in the order of ``devices`` and ``"cuda_devices"`` their indices.
    """
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "generators": {name: generator.get_state() for name, generator in generators.items()},
    }
    cuda = _cuda_indices(devices)
    if cuda:
        state["cuda"] = [torch.cuda.get_rng_state(index) for index in cuda]
        state["cuda_devices"] = cuda
    return state


def restore_rng(
    state: dict[str, Any],
    generators: dict[str, torch.Generator],
    *,
    devices: Sequence[torch.device | str] = (),
) -> list[str]:
    """Put back what :func:`capture_rng` saved; returns notes on CUDA states it could not restore.

    The i-th CUDA device in ``devices`` gets the i-th saved state, so a rank that resumes on another
    GPU index still continues its stream; a checkpoint holding fewer states than ``devices`` (or,
    from older versions that saved every visible GPU's state by index, none for this index) leaves
    the rest as they are, with a note for the caller to log. Named generators must all be present
    and of the kind (CPU or CUDA) they were saved from, else CheckpointError, before anything changes.
    """
    missing = set(generators) - set(state["generators"])
    if missing:
        raise CheckpointError(f"checkpoint has no random state for {sorted(missing)}")
    for name, generator in generators.items():
        if state["generators"][name].numel() != generator.get_state().numel():
            raise CheckpointError(
                f"the random state of generator {name!r} was saved from a {'CUDA' if generator.device.type == 'cpu' else 'CPU'} "
                f"generator and cannot continue on {generator.device.type}"
            )
    torch.set_rng_state(state["torch"])
    for name, generator in generators.items():
        generator.set_state(state["generators"][name])
    wanted = _cuda_indices(devices)
    saved = state.get("cuda", [])
    if "cuda_devices" in state:  # this process's devices, in order
        pairs = list(zip(wanted, saved))
    else:  # older checkpoints: the state of every GPU visible to the process, by index
        pairs = [(index, saved[index]) for index in wanted if index < len(saved)]
    for index, cuda_state in pairs:
        torch.cuda.set_rng_state(cuda_state, index)
    if len(pairs) < len(wanted):
        restored = {index for index, _ in pairs}
        return [
            f"the checkpoint holds no CUDA random state for cuda:{index} (it saved {len(saved)}); "
            "its global CUDA random stream starts afresh"
            for index in wanted
            if index not in restored
        ]
    return []


def _cuda_indices(devices: Sequence[torch.device | str]) -> list[int]:
    """Indices of the CUDA devices among ``devices`` (``cuda`` without an index: the current one)."""
    indices = []
    for device in map(torch.device, devices):
        if device.type == "cuda":
            indices.append(device.index if device.index is not None else torch.cuda.current_device())
    return indices


def build_generator(config: Config) -> Generator:
    """The generator a config describes: HDR output with the camera on, LDR output for the vanilla GAN."""
    model = config.model
    return Generator(
        z_dim=model.z_dim,
        w_dim=model.w_dim,
        resolution=model.resolution,
        channel_base=model.g_channel_base,
        channel_max=model.g_channel_max,
        mapping_layers=model.mapping_layers,
        output="hdr" if config.camera.enabled else "ldr",
        circular=model.circular,
        hdr_activation=model.hdr_activation,
    )


def build_discriminator(config: Config) -> Discriminator | ProjectedDiscriminator:
    """The discriminator a config describes; the projected one reads the installed EfficientNet-lite0 weights."""
    model = config.model
    if model.discriminator == "projected":
        return ProjectedDiscriminator(
            resolution=model.resolution,
            projected_size=model.projected_size,
            branch=model.projected_branch,
            branch_channel_base=model.d_channel_base,
            branch_channel_max=model.d_channel_max,
            mbstd_group=model.mbstd_group,
            circular=model.circular,
            highlight_head=model.highlight_head,
            shadow_statistics=model.shadow_statistics,
            head_gain=model.head_gain,
        )
    return Discriminator(
        resolution=model.resolution,
        channel_base=model.d_channel_base,
        channel_max=model.d_channel_max,
        mbstd_group=model.mbstd_group,
        circular=model.circular,
        highlight_head=model.highlight_head,
        shadow_statistics=model.shadow_statistics,
        head_gain=model.head_gain,
    )


def load_generator(path: Path | str, *, device: str | torch.device = "cpu") -> tuple[Generator, Config]:
    """The EMA generator of a training checkpoint or snapshot export, in eval mode, with its config."""
    payload = load_checkpoint(path, map_location=device)
    if "G_ema" not in payload or "config" not in payload:
        raise CheckpointError(f"{path}: checkpoint holds no generator (G_ema); pass a file written by glowgan train")
    config = Config.from_dict(payload["config"], source=str(path))
    generator = build_generator(config).to(device)
    try:
        generator.load_state_dict(payload["G_ema"])
    except RuntimeError as error:
        raise CheckpointError(
            f"{path}: generator weights do not match its configuration ({str(error).splitlines()[0]})"
        ) from None
    return generator.eval().requires_grad_(False), config
