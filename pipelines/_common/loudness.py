"""ITU-R BS.1770 integrated loudness (pyloudnorm), shared by the voice and video pipelines."""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

MIN_LOUDNESS_SECONDS = 0.4  # one BS.1770 gating block


@functools.lru_cache(maxsize=8)
def meter(rate: int) -> Any:
    """One pyloudnorm Meter (K-weighting filters) per sample rate, reused across calls."""
    import pyloudnorm

    return pyloudnorm.Meter(rate)


def integrated_loudness(audio: np.ndarray, rate: int) -> float:
    """Integrated loudness in LUFS of mono ``(n,)`` or multichannel ``(n, ch)`` audio (``-inf`` for silence).

    Audio shorter than one gating block is padded with silence (pyloudnorm needs a full block).
    """
    x = np.asarray(audio, dtype=np.float64)
    min_len = int(math.ceil(MIN_LOUDNESS_SECONDS * rate)) + 1
    if x.shape[0] < min_len:
        x = np.pad(x, [(0, min_len - x.shape[0])] + [(0, 0)] * (x.ndim - 1))
    return float(meter(rate).integrated_loudness(x))
