"""CPU-only machines: torchaudio's wheel here is CUDA-linked. If its native library cannot load,
remove ``torchaudio/lib/*.so`` so torchaudio imports as pure Python (DESIGN.md). No-op otherwise."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path


def main() -> int:
    spec = importlib.util.find_spec("torchaudio")
    if spec is None or spec.origin is None:
        print("torchaudio: not installed, nothing to do")
        return 0
    probe = subprocess.run([sys.executable, "-c", "import torchaudio"], capture_output=True, text=True)
    if probe.returncode == 0:
        print("torchaudio: imports fine, nothing to do")
        return 0
    libs = sorted((Path(spec.origin).parent / "lib").glob("*.so"))
    for lib in libs:
        lib.unlink()
    print(f"torchaudio: native library failed to load; removed {len(libs)} .so file(s) (CPU-only machine)")
    again = subprocess.run([sys.executable, "-c", "import torchaudio"], capture_output=True, text=True)
    if again.returncode != 0:
        print(again.stderr[-2000:], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
