"""Shared real-photo helpers: the installed U²-Net-p model and the coffee photo (scikit-image)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[3]
MODELS_DIR = REPO / "maydo-data" / "models"  # where `make test` runs `maydo models install`


def models_dir() -> Path:
    """The models directory holding u2netp.onnx; fails (not skips) with the command that installs it."""
    if not (MODELS_DIR / "u2netp.onnx").is_file():
        pytest.fail(f"U²-Net-p is not installed in {MODELS_DIR}: run `make test` or "
                    f"`maydo models install --dir {MODELS_DIR}` once", pytrace=False)
    return MODELS_DIR


def coffee() -> np.ndarray:
    """The real espresso-cup photo scikit-image ships (uint8 400x600x3)."""
    from skimage import data

    return np.ascontiguousarray(data.coffee())
