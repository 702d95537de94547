"""``glowgan export``: a trained generator as safetensors weights, a JSON description and, optionally, ONNX."""

from __future__ import annotations

import argparse
from pathlib import Path

# glowgan.export.DEFAULT_TOLERANCE, repeated here so that --help does not import torch
DEFAULT_TOLERANCE = 1e-3


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "export",
        help="export a trained generator (safetensors + config.json, optionally ONNX)",
        description=(
            "Export the EMA generator of a checkpoint to a folder: generator.safetensors (its weights), "
            "config.json (the model config; what the inputs and the output mean: linear HDR radiance >= 0 in "
            "relative units, or LDR in [0, 1] for a vanilla model; checksums) and, with --onnx, "
            "generator.onnx: inputs z [batch, z_dim] and psi [1] (truncation, 1 for none), output the image "
            "[batch, 3, H, W], constant noise, batch dimension dynamic. Every file is loaded back (ONNX in "
            "onnxruntime, if installed) and compared with the checkpoint's generator; the export fails, "
            "writing nothing, if a difference exceeds the tolerance. Needs `pip install glowgan[export]` "
            "(safetensors; onnx and onnxscript for --onnx; onnxruntime for its check)."
        ),
    )
    parser.add_argument("--ckpt", type=Path, required=True, help="checkpoint.pt or snapshot from a run folder")
    parser.add_argument("--out", type=Path, required=True, help="output folder (new, empty, or an earlier export)")
    parser.add_argument("--onnx", action="store_true", help="also write generator.onnx (z, psi -> image)")
    parser.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
        help=f"largest accepted relative difference |a - b| / max(|b|, 0.01) (default: {DEFAULT_TOLERANCE:g})",
    )
    parser.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    from glowgan.export import export_generator

    result = export_generator(args.ckpt, args.out, onnx=args.onnx, tolerance=args.tolerance)
    print(result.summary())
    return 0
