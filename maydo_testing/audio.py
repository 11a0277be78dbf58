"""Reference audio measures for tests: the plain definitions the fast paths must agree with."""

from __future__ import annotations

import numpy as np
from scipy.signal import resample_poly


def full_oversampled_dbtp(x: np.ndarray) -> float:
    """True peak (dBTP) of mono ``(n,)`` or ``(n, ch)`` audio by the plain definition: every channel
    of the whole signal oversampled 4x in float64 (scipy ``resample_poly``, no block selection),
    and the samples themselves."""
    x = np.asarray(x, dtype=np.float64)
    chans = [x] if x.ndim == 1 else list(x.T)
    return max(float(20 * np.log10(max(np.max(np.abs(resample_poly(c, 4, 1))), np.max(np.abs(c))))) for c in chans)
