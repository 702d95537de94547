"""Inverse tone mapping baselines to compare GlowGAN's unsupervised inversion against.

A baseline is a callable ``baseline(ldr) -> hdr``: one photo ``[H, W, 3]`` float32 in [0, 1] in,
linear HDR ``[H, W, 3]`` float32 >= 0 out, in relative units (compare after an exposure alignment).

- ``trivial``, ``akyuz``, ``masia`` (Masia et al. 2017's fit) and ``masia2009``: see
  :mod:`glowgan.baselines.expansion`;
- ``unet``: a supervised HDRCNN-style U-Net trained on paired data, see
  :mod:`glowgan.baselines.supervised` (needs ``ckpt=``); an oracle on photos of the world it was
  trained on, cross-domain on others (:mod:`glowgan.baselines.domains` names its rows).

:func:`get_baseline` builds one by name; ``glowgan.evaluation`` scores them (and GlowGAN's
inversion) on held-out scenes of the procedural world.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable

import numpy as np

from glowgan import hdrio
from glowgan.baselines.expansion import akyuz, as_ldr_rgb, masia, trivial
from glowgan.baselines.supervised import UNetBaseline, UNetConfig

Baseline = Callable[[np.ndarray], np.ndarray]

# Baselines that need no training, by name; each takes the photo and keyword options.
BASELINES: dict[str, Callable[..., np.ndarray]] = {
    "trivial": trivial,
    "akyuz": akyuz,
    "masia": masia,
    "masia2009": functools.partial(masia, regression="2009"),
}
TRAINED = ("unet",)
NAMES = (*BASELINES, *TRAINED)


def get_baseline(name: str, **options) -> Baseline:
    """The baseline ``name`` with keyword ``options`` bound (``unet`` needs ``ckpt=PATH``, optional ``device``)."""
    if name == "unet":
        if options.get("ckpt") is None:
            raise ValueError("the unet baseline needs a checkpoint: pass --ckpt runs/NAME/checkpoint.pt")
        unknown = set(options) - {"ckpt", "device"}
        if unknown:
            raise ValueError(f"the unet baseline takes ckpt and device, not {', '.join(sorted(unknown))}")
        return UNetBaseline(options["ckpt"], device=options.get("device", "cpu"))
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; choose one of {', '.join(NAMES)}")
    function = BASELINES[name]
    try:
        inspect.signature(function).bind(None, **options)
    except TypeError as error:
        raise ValueError(f"baseline {name!r}: {error}") from None
    return functools.partial(function, **options)


def method_entry(item: str, own: dict[str, Baseline]) -> tuple[str, Baseline, UNetConfig | None]:
    """One item of a benchmark's method list -> (name, method, U-Net config or None), for
    :func:`glowgan.baselines.domains.row_names`: ``NAME=CKPT`` is a U-Net of that checkpoint, any other
    name a method of ``own`` or else a baseline of that name."""
    name, equals, ckpt = item.partition("=")  # e.g. unet=runs/unet/checkpoint.pt
    if equals:
        unet = get_baseline("unet", ckpt=ckpt)
        return name, unet, unet.config
    return name, own[name] if name in own else get_baseline(name), None


def apply_to_photo(baseline: Baseline, photo: str | os.PathLike) -> np.ndarray:
    """Read a photo file (grey expanded to RGB) and run ``baseline`` on it: ``[H, W, 3]`` float32 HDR."""
    ldr = as_ldr_rgb(hdrio.read_ldr(photo), name=os.fspath(photo))
    return np.asarray(baseline(ldr), dtype=np.float32)

