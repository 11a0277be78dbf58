"""Voice benchmark: real-time factor (RTF), first-audio latency and loudness error per engine
and accent.

RTF = synthesis wall time / audio duration, for the whole pipeline (normalise, synthesise,
resample to 48 kHz, loudness + true-peak) on a 3-sentence ad script. First-audio latency =
time from the call until the first sentence's audio exists (normalisation + first sentence
synthesis), i.e. what a streaming consumer would wait. Loudness error = |measured - target|
(pyloudnorm, BS.1770) at -16 LUFS. Median of --repeat runs after one warm-up.

Targets (issue 5): espeak RTF <= 0.01 (engine), Piper RTF <= 0.15, loudness error <= 0.5 LU on
every accent. The Coqui row uses a tiny random VITS (no weights are obtainable here): it
measures the integration overhead, not a real model's speed.

    OMP_NUM_THREADS=1 .venv/bin/python bench/voice.py [--repeat 3] [--accents vi-north,en-us]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

# bench/queue.py would shadow the stdlib ``queue`` (torch imports it): run with the repo root instead
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pipelines.voice.audio import integrated_loudness, true_peak_dbtp  # noqa: E402
from pipelines.voice.engines.base import SynthSettings  # noqa: E402
from pipelines.voice.pipeline_voice import VoiceConfig, VoiceParams, VoicePipeline  # noqa: E402
from pipelines.voice.prosody import split_sentences  # noqa: E402

SCRIPTS = {
    "vi": "Chào bạn! Áo khoác mới của chúng tôi chỉ 150.000đ, giảm 20% đến hết ngày 20/11. "
    "Gọi ngay 0912 345 678 hoặc ghé cửa hàng ở Q.1, TP.HCM để nhận quà.",
    "en": "Hi there! Our new jacket is only $19.99, with 20% off until November 20th. "
    "Call (555) 123-4567 or visit our store on Main St. to get your gift.",
}


def _median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def measure(pipe: VoicePipeline, accent: str, engine: str, repeat: int, target: float = -16.0) -> dict[str, float]:
    spec = pipe.registry.get(accent)
    text = SCRIPTS[spec.language]
    params = VoiceParams(accent=accent, engine=engine, target_lufs=target)
    eng = pipe.engine(engine)
    voice = pipe.voice_for(spec, engine).voice
    pipe(text, params)  # warm-up: model load, caches
    rtf, engine_rtf, first, loud_err, peaks = [], [], [], [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        norm = pipe.normalize(text, spec)
        first_sentence = split_sentences(norm)[0]
        eng.synthesize(first_sentence, voice, SynthSettings(language=spec.language))
        first.append(time.perf_counter() - t0)
        t_eng = time.perf_counter()
        raw = eng.synthesize(norm, voice, SynthSettings(rate=spec.rate, language=spec.language))
        engine_rtf.append((time.perf_counter() - t_eng) / (raw.audio.size / raw.sample_rate))
        t1 = time.perf_counter()
        out = pipe(text, params)
        rtf.append((time.perf_counter() - t1) / out.duration)
        loud_err.append(abs(integrated_loudness(out.audio, out.sample_rate) - target))
        peaks.append(true_peak_dbtp(out.audio))
    return {
        "audio_s": out.duration,
        "rtf": _median(rtf),
        "engine_rtf": _median(engine_rtf),
        "first_ms": _median(first) * 1000,
        "loud_err": max(loud_err),
        "tp": max(peaks),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--accents", default="", help="comma-separated espeak accents (default: all)")
    ap.add_argument("--no-piper", action="store_true")
    ap.add_argument("--no-coqui", action="store_true")
    args = ap.parse_args()
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass

    rows: list[tuple[str, str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        coqui_dir = None
        if not args.no_coqui:
            from pipelines.voice.engines.coqui_tiny import build_tiny_vits

            coqui_dir = Path(tmp) / "tiny_vits"
            build_tiny_vits(coqui_dir, speakers=("p225", "p294"))
        pipe = VoicePipeline(VoiceConfig(coqui_model_dir=coqui_dir))
        accents = [a for a in args.accents.split(",") if a] or pipe.registry.ids()
        for accent in accents:
            rows.append(("espeak", accent, measure(pipe, accent, "espeak", args.repeat)))
        if not args.no_piper:
            rows.append(("piper", "en-us", measure(pipe, "en-us", "piper", args.repeat)))
        if coqui_dir is not None:
            rows.append(("coqui*", "en-us", measure(pipe, "en-us", "coqui", args.repeat)))
    print(
        f"{'engine':8} {'accent':13} {'audio s':>7} {'RTF':>7} {'eng RTF':>8} {'first ms':>9} {'LU err':>7} {'TP dBTP':>8}"
    )
    for engine, accent, r in rows:
        print(
            f"{engine:8} {accent:13} {r['audio_s']:7.2f} {r['rtf']:7.4f} {r['engine_rtf']:8.4f} "
            f"{r['first_ms']:9.1f} {r['loud_err']:7.3f} {r['tp']:8.2f}"
        )
    worst = max(r["loud_err"] for _, _, r in rows)
    esp = max(r["engine_rtf"] for e, _, r in rows if e == "espeak")
    print(f"\nworst loudness error {worst:.3f} LU (target <= 0.5); espeak engine RTF max {esp:.4f} (target <= 0.01)")
    for e, _, r in rows:
        if e == "piper":
            print(f"piper RTF {r['rtf']:.3f} pipeline / {r['engine_rtf']:.3f} engine (target <= 0.15)")
    print("* coqui = tiny random VITS: integration overhead only, not a real model's speed")


if __name__ == "__main__":
    main()
