"""Shared helpers for the exact recolor tests: tiny synthetic products with ground truth."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.color import deltaE_ciede2000, rgb2lab

from pipelines.recolor.pipeline_recolor import RecolorPipeline

SIZE = 160


def de00(rgb1: np.ndarray, rgb2: np.ndarray) -> np.ndarray:
    """Per-pixel CIEDE2000 between two uint8 Nx3 arrays."""
    return deltaE_ciede2000(rgb2lab(rgb1[None] / 255.0)[0], rgb2lab(rgb2[None] / 255.0)[0])


def lab_of(rgb: np.ndarray) -> np.ndarray:
    return rgb2lab(np.asarray(rgb)[None] / 255.0)[0]


@pytest.fixture(scope="session")
def pipe() -> RecolorPipeline:
    return RecolorPipeline()
