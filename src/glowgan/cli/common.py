"""Small helpers shared by the command modules."""

from __future__ import annotations


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
