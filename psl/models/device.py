"""Choosing the torch device: ``auto``, ``cpu`` or ``cuda``."""

from __future__ import annotations

import torch

from psl.choices import DEVICES
from psl.errors import PslError

__all__ = ["DEVICES", "resolve_device"]


def resolve_device(device: str) -> torch.device:
    """``auto`` -> CUDA if available else CPU; ``cpu``; ``cuda``.

    Raises:
        ValueError: an unknown name, or ``cuda`` without a GPU.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device == "cuda":
        if not torch.cuda.is_available():
            raise PslError("device 'cuda' requested but no CUDA device is available")
        return torch.device("cuda")
    raise PslError(f"unknown device {device!r} (expected auto, cpu or cuda)")


