"""Diffusion recolor benchmark: images/min and peak memory per batch size and resolution.

Runs ``DiffusionRecolorPipeline`` end to end (mask, prompt, batched inpaint, composite, hue-lock,
quality report) on synthetic 1:1 product photos, for every (resolution, batch size) pair, on
whatever device is present (CUDA fp16 if visible, else CPU fp32).

Without ``--model-dir`` it builds a tiny random SD-inpainting model: on CPU that measures the
engine's own overhead only (pre/post-processing, batching, tiny UNet), NOT real diffusion speed.
Point ``--model-dir`` at a local SD inpainting model (see docs/diffusion.md) for real figures.

Memory: peak process RSS above the pre-run baseline (sampled every 5 ms; includes torch's CPU
allocations), peak Python-heap growth by tracemalloc (numpy/PIL buffers, not torch), and on CUDA
``torch.cuda.max_memory_allocated``.

Usage: ``python bench/recolor_diffusion.py [--model-dir DIR] [--controlnet-dir DIR] [--device auto]
[--batch-sizes 1,2,4] [--resolutions 64,128] [--steps 4] [--repeats 2]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

# bench/ holds queue.py, which would shadow the stdlib `queue` that torch imports: drop bench/ from the path.
_HERE = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if p not in ("", _HERE) and Path(p).resolve() != Path(_HERE)]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ["HF_HUB_OFFLINE"] = "1"


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class PeakRss:
    """Samples RSS in a thread while the block runs (torch allocations are invisible to tracemalloc)."""

    def __enter__(self) -> PeakRss:
        self.base = rss_mib()
        self.peak = self.base
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mib())
            time.sleep(0.005)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, rss_mib())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--model-dir", default=None)
    ap.add_argument("--controlnet-dir", default=None)
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--batch-sizes", default="1,2,4")
    ap.add_argument("--resolutions", default="64,128")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = ap.parse_args()

    import numpy as np
    import torch

    from maydo_testing.diffusion_tiny import build_tiny_controlnet, build_tiny_inpaint_model
    from maydo_testing.synthetic import render_product
    from pipelines.recolor.config import DiffusionRecolorConfig, DiffusionRecolorParams
    from pipelines.recolor.pipeline_recolor_diffusion import DiffusionRecolorPipeline

    torch.set_num_threads(args.threads)
    tmp = tempfile.TemporaryDirectory()
    tiny = args.model_dir is None
    model_dir = args.model_dir or str(build_tiny_inpaint_model(Path(tmp.name) / "sd"))
    cn_dir = args.controlnet_dir
    if tiny and cn_dir == "tiny":
        cn_dir = str(build_tiny_controlnet(Path(tmp.name) / "cn"))
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    resolutions = [int(r) for r in args.resolutions.split(",")]

    t0 = time.perf_counter()
    pipe = DiffusionRecolorPipeline.from_config(
        DiffusionRecolorConfig(model_dir=model_dir, controlnet_dir=cn_dir, device=args.device,
                               max_batch_size=max(batch_sizes))
    )
    load_s = time.perf_counter() - t0
    cuda = pipe.device.startswith("cuda")
    label = "tiny random model (CPU: engine overhead only, not real diffusion speed)" if tiny else model_dir
    print(f"model: {label}")
    print(f"device: {pipe.device}  dtype: {str(pipe.dtype).replace('torch.', '')}  torch threads: "
          f"{torch.get_num_threads()}  steps: {args.steps}  controlnet: {bool(cn_dir)}  load: {load_s:.2f} s")
    header = (f"{'res':>5} {'batch':>5} {'img/min':>9} {'s/img':>8} {'model s/img':>12} {'overhead ms/img':>16} "
              f"{'peak RSS +MiB':>14} {'py heap MiB':>12}")
    if cuda:
        header += f" {'cuda max MiB':>13}"
    header += f" {'median dE00':>11}"
    print(header)
    print("-" * len(header))
    for res in resolutions:
        prods = [render_product(kind, res, color=(200, 40, 40), seed=i)
                 for i, kind in zip(range(max(batch_sizes)), ("sphere", "mug", "shirt") * 8, strict=False)]
        for bs in batch_sizes:
            pipe.max_batch_size = bs
            imgs = [p.rgb for p in prods[:bs]]
            masks = [p.coverage for p in prods[:bs]]
            params = DiffusionRecolorParams(to_colors=["#1E5AA8"], steps=args.steps, resolution=res, seed=1)
            pipe(imgs[:1], replace(params, mask=masks[:1]))  # warm-up (allocator, kernels, gamut LUT)
            if cuda:
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            tracemalloc.start()
            with PeakRss() as mem:
                t = time.perf_counter()
                for _ in range(args.repeats):
                    out = pipe(imgs, replace(params, mask=masks))
                if cuda:
                    torch.cuda.synchronize()
                dt = time.perf_counter() - t
            heap_peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
            n = bs * args.repeats
            de = float(np.median([r.median_de00 for r in out.reports]))
            model_s = float(np.mean([t["model"] for t in out.timings_ms])) / 1000.0
            # preprocess is per image, shared by its colourways; postprocess is per output
            overhead_ms = float(np.mean([t["preprocess"] + t["postprocess"] for t in out.timings_ms]))
            row = (f"{res:>5} {bs:>5} {60.0 * n / dt:>9.1f} {dt / n:>8.3f} {model_s:>12.3f} {overhead_ms:>16.1f} "
                   f"{mem.peak - mem.base:>14.1f} {heap_peak:>12.1f}")
            if cuda:
                row += f" {torch.cuda.max_memory_allocated() / 2**20:>13.1f}"
            row += f" {de:>11.2f}"
            print(row, flush=True)
    if tiny and not cuda:
        print("note: CPU + tiny random model -> these figures are the engine's overhead (masking, batching, "
              "compositing, hue-lock, report), not real diffusion throughput.")
    tmp.cleanup()


if __name__ == "__main__":
    main()
