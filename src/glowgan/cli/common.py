"""Small helpers shared by the command modules."""

from __future__ import annotations


def parse_size(text: str, *, example: str = "32x64") -> tuple[int, int]:
    """'32x64' -> (32, 64) as height x width, each at least 1; a clear error naming ``--size`` otherwise."""
    height, sep, width = text.lower().partition("x")
    if not (sep and height.strip().isdigit() and width.strip().isdigit() and int(height) > 0 and int(width) > 0):
        raise ValueError(f"--size must look like {example} (height x width, at least 1x1), got {text!r}")
    return int(height), int(width)


def resolve_device(name: str, *, local_rank: int = 0):
    """'auto' -> this process's GPU or the CPU; 'cuda' -> cuda:LOCAL_RANK; a clear error without CUDA."""
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"--device {name}: this PyTorch build or machine has no CUDA GPU; use --device cpu")
        if device.index is None:
            device = torch.device("cuda", local_rank)
    return device
