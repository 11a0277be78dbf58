"""VoicePipeline: an ad script in a regional accent -> 48 kHz loudness-normalised voiceover
with sentence and word timings.

check_inputs -> preprocess (markup, dialect-aware normalisation, sentence chunks) -> engine
(espeak / piper / coqui, loaded once per pipeline) -> postprocess (resample, trim/pad silence,
loudness + true-peak, timings that are monotonic and cover the audio).
"""

from __future__ import annotations

import math
import re
import threading
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from pipelines._common.errors import PipelineInputError
from pipelines._common.loudness import normalize_loudness
from pipelines.voice import VERSION
from pipelines.voice.accents import ENGINES, AccentSpec, EngineVoice, VoiceRegistry, load_registry
from pipelines.voice.audio import OUTPUT_SAMPLE_RATE, resample, silence, speech_bounds
from pipelines.voice.config import (
    LUFS_RANGE,
    MAX_FACTOR,
    MIN_FACTOR,
    TONE_PRESETS,
    TONES,
    VoiceConfig,
    VoiceParams,
)
from pipelines.voice.engines.base import Engine, SynthSettings
from pipelines.voice.pipeline_output import Timing, VoiceOutput
from pipelines.voice.prosody import Segment, check_characters, parse_markup, plain_text, split_sentences
from pipelines.voice.text_en import normalize_en, normalize_en_spans
from pipelines.voice.text_vi import normalize_vi, normalize_vi_spans
from pipelines.voice.textmap import clean_word

__all__ = ["VoiceConfig", "VoiceParams", "VoicePipeline", "VoiceOutput", "Timing"]

PIPELINE_VERSION = VERSION
_SENTENCE_END = re.compile(r"[.!?…]['\"”’)]*$")
EMPHASIS = (0.9, 1.15)  # rate, pitch factors on an *emphasised* span


@dataclass(frozen=True)
class _Plan:
    accent: AccentSpec
    engine: str
    voice: EngineVoice
    settings: SynthSettings
    segments: list[tuple[Segment, list[str]]]  # segment + its normalised sentences
    normalized_text: str
    sources: list[tuple[str, str]]  # (script token(s), spoken words) for the whole script, in order
    owners: list[list[list[int]]]  # per segment, per sentence: index into sources of each spoken word


class VoicePipeline:
    """Load once (registry, engines on first use), run many: ``pipe(text, VoiceParams(...))``."""

    version = PIPELINE_VERSION

    def __init__(self, config: VoiceConfig | None = None) -> None:
        """Load the accent registry (``configs/voices.yaml`` or ``config.registry_path``); engines
        load on first use. Raises ``PipelineInputError`` for an unreadable or invalid registry."""
        self.config = config or VoiceConfig()
        self.registry: VoiceRegistry = load_registry(self.config.registry_path)
        self._engines: dict[str, Any] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------------------ engines

    def engine(self, name: str) -> Engine:
        """The loaded engine ``name`` (loaded on first use, then reused)."""
        if name not in ENGINES:
            raise PipelineInputError(f"unknown engine {name!r}; allowed: {', '.join(ENGINES)}", field="engine")
        with self._lock:
            if name not in self._engines:
                self._engines[name] = self._load_engine(name)
            engine: Engine = self._engines[name]
        return engine

    def _load_engine(self, name: str) -> Any:
        if name == "espeak":
            from pipelines.voice.engines.espeak import EspeakEngine

            return EspeakEngine()
        if name == "flite":
            from pipelines.voice.engines.flite import FliteEngine

            return FliteEngine()
        if name == "piper":
            from pipelines.voice.engines.piper import PiperEngine

            return PiperEngine(self.config.piper_model, self.config.piper_config, device=self.config.device)
        from pipelines.voice.engines.coqui import CoquiEngine

        if self.config.coqui_model_dir is None:
            raise PipelineInputError(
                "engine 'coqui' needs a local model directory (VoiceConfig.coqui_model_dir / "
                "settings voice.coqui_model_dir); none is configured",
                field="engine",
            )
        return CoquiEngine(self.config.coqui_model_dir, device=self.config.device)

    # ------------------------------------------------------------------------------------- checks

    def voice_for(self, accent: AccentSpec, engine: str) -> EngineVoice:
        """Voice + licence terms for ``accent`` on ``engine`` (operator models included)."""
        if engine == "coqui" and self.config.coqui_model_dir is not None:
            from pipelines.voice.engines.coqui import model_licence

            licence, commercial = model_licence(self.config.coqui_model_dir)
            if self.config.coqui_licence is not None and licence is None:
                licence = self.config.coqui_licence
            if self.config.coqui_commercial_use is not None and commercial is None:
                commercial = self.config.coqui_commercial_use
            base = accent.alternatives.get("coqui")
            return EngineVoice(
                "coqui",
                base.voice if base else "",
                licence or (base.licence if base else "operator-provided model (licence unknown)"),
                bool(commercial if commercial is not None else (base.commercial_use if base else False)),
            )
        if engine == "piper" and self.config.piper_model is not None:
            spec = accent.voice_for("piper") if "piper" in accent.engines() else None
            if spec is None or spec.voice not in _packaged_piper():
                return EngineVoice(
                    "piper",
                    spec.voice if spec is not None else Path(self.config.piper_model).stem,
                    self.config.piper_licence or (spec.licence if spec else "operator-provided model (licence unknown)"),
                    bool(self.config.piper_commercial_use if self.config.piper_commercial_use is not None
                         else (spec.commercial_use if spec else False)),
                    spec.wer if spec else None, spec.quality if spec else "", spec.note if spec else "",
                )  # fmt: skip
        return accent.voice_for(engine)

    def check_inputs(self, text: str, params: VoiceParams) -> tuple[AccentSpec, str, EngineVoice]:
        """Validate the job; every problem is a PipelineInputError naming the field and the rule.

        ``text``: the script (str, at most ``params.max_chars`` characters, printable). Returns
        (accent, engine name, the engine voice with its licence terms). Raises
        ``PipelineInputError`` for: empty/too long text or characters the engines cannot read
        (``text``), an unknown accent (``accent``, with close matches), engine (``engine``) or tone
        (``tone``), ``rate``/``pitch`` outside 0.5..2.0, ``target_lufs`` outside -40..-5 LUFS,
        ``word_gap_ms`` outside 0..200 ms, or a voice whose licence forbids commercial use when
        ``commercial`` is set (``engine``, listing the voices that allow it).
        """
        if not isinstance(text, str) or not plain_text(text):
            raise PipelineInputError("text is empty; give the script to speak", field="text")
        if len(text) > params.max_chars:
            raise PipelineInputError(
                f"script is {len(text)} characters; the maximum is {params.max_chars} (split it into several jobs)",
                field="text",
            )
        check_characters(plain_text(text))
        accent = self.registry.get(params.accent)
        engine = (params.engine or self.default_engine(accent)).lower()
        if engine not in ENGINES:
            raise PipelineInputError(f"unknown engine {engine!r}; allowed: {', '.join(ENGINES)}", field="engine")
        voice = self.voice_for(accent, engine)
        if params.voice:
            voice = EngineVoice(engine, params.voice, voice.licence, voice.commercial_use,
                                rate=voice.rate, pitch=voice.pitch, word_gap_ms=voice.word_gap_ms)  # fmt: skip
        if params.tone is not None and params.tone not in TONES:
            raise PipelineInputError(f"unknown tone {params.tone!r}; allowed: {', '.join(TONES)}", field="tone")
        for name, value in (("rate", params.rate), ("pitch", params.pitch)):
            if value is not None and not (MIN_FACTOR <= value <= MAX_FACTOR):
                raise PipelineInputError(
                    f"{name} {value} is out of range; allowed {MIN_FACTOR}..{MAX_FACTOR} (1.0 = normal)", field=name
                )
        if params.word_gap_ms is not None and not (0.0 <= params.word_gap_ms <= 200.0):
            raise PipelineInputError(
                f"word_gap_ms {params.word_gap_ms} is out of range; allowed 0..200 (extra ms between words)",
                field="word_gap_ms",
            )
        lo, hi = LUFS_RANGE
        if not (lo <= params.target_lufs <= hi) or not math.isfinite(params.target_lufs):
            raise PipelineInputError(
                f"target_lufs {params.target_lufs} is out of range; allowed {lo:g}..{hi:g} (-16 social, -23 broadcast)",
                field="target_lufs",
            )
        if params.commercial and not voice.commercial_use:
            ok = [f"{a.id}/{e}" for a in self.registry for e in a.engines() if self._commercial_ok(a, e)]
            raise PipelineInputError(
                f"voice {voice.voice!r} ({engine}) for accent {accent.id!r} is licensed {voice.licence!r}, "
                f"which does not allow commercial use; commercial-use voices: {', '.join(ok)}",
                field="engine",
            )
        return accent, engine, voice

    def default_engine(self, accent: AccentSpec) -> str:
        """The accent's default engine, or — when that is flite and libflite is not installed on
        this machine — its next engine (the output then carries a warning naming the fix)."""
        if accent.engine == "flite":
            from pipelines.voice.engines.flite import available

            if not available():
                rest = [e for e in accent.engines() if e not in ("flite", "coqui", "piper")]
                if rest:
                    return rest[0]
        return accent.engine

    def _commercial_ok(self, accent: AccentSpec, engine: str) -> bool:
        try:
            return self.voice_for(accent, engine).commercial_use
        except PipelineInputError:
            return False

    # --------------------------------------------------------------------------------- preprocess

    def normalize(self, text: str, accent: AccentSpec, *, colloquial: bool = False) -> str:
        """Dialect-aware text normalisation for ``accent``'s language."""
        if accent.language == "vi":
            return normalize_vi(text, accent.dialect, colloquial=colloquial)
        return normalize_en(text, accent.dialect)

    def normalize_spans(self, text: str, accent: AccentSpec, *, colloquial: bool = False) -> list[tuple[str, str]]:
        """``normalize`` as (script token(s), spoken words) pairs, in order."""
        if accent.language == "vi":
            return normalize_vi_spans(text, accent.dialect, colloquial=colloquial)
        return normalize_en_spans(text, accent.dialect)

    def plan(self, text: str, params: VoiceParams) -> _Plan:
        accent, engine, voice = self.check_inputs(text, params)
        tone = TONE_PRESETS[params.tone or "neutral"]
        base_rate = voice.rate if voice.rate is not None else accent.rate  # a voice's own tuning wins
        base_pitch = voice.pitch if voice.pitch is not None else accent.pitch
        base_gap = voice.word_gap_ms if voice.word_gap_ms is not None else accent.word_gap_ms
        settings = SynthSettings(
            rate=float(np.clip(base_rate * tone.rate * (params.rate or 1.0), MIN_FACTOR, MAX_FACTOR)),
            pitch=float(np.clip(base_pitch * tone.pitch * (params.pitch or 1.0), MIN_FACTOR, MAX_FACTOR)),
            expressiveness=tone.expressiveness,
            language=accent.language,
            speaker_wav=params.speaker_wav or _str_or_none(self.config.speaker_wavs.get(accent.id)),
            word_gap_ms=float(params.word_gap_ms if params.word_gap_ms is not None else base_gap),
        )
        segments: list[tuple[Segment, list[str]]] = []
        spoken: list[str] = []
        sources: list[tuple[str, str]] = []
        owners: list[list[list[int]]] = []
        for seg in parse_markup(text, max_pause_s=self.config.max_pause_s):
            norm = self.normalize(seg.text, accent, colloquial=params.colloquial) if seg.text else ""
            spans = self.normalize_spans(seg.text, accent, colloquial=params.colloquial) if seg.text else []
            sentences = split_sentences(norm, self.config.max_sentence_chars)
            segments.append((seg, sentences))
            owners.append(_sentence_owners(sentences, spans, len(sources)))
            sources.extend(spans)
            spoken.extend(sentences)
        if not spoken:
            raise PipelineInputError("text has nothing to speak after removing markup", field="text")
        return _Plan(accent, engine, voice, settings, segments, " ".join(spoken), sources, owners)

    def phonemes(self, text: str, accent_id: str, *, normalize: bool = True) -> str:
        """IPA phonemes espeak-ng would speak for ``text`` in ``accent_id`` (after normalisation)."""
        accent = self.registry.get(accent_id)
        from pipelines.voice.engines.espeak import EspeakEngine

        spoken = self.normalize(plain_text(text), accent) if normalize else text
        return EspeakEngine().phonemes(spoken, accent.voice if accent.engine == "espeak" else _espeak_voice(accent))

    # ------------------------------------------------------------------------------------ __call__

    def __call__(self, text: str, params: VoiceParams) -> VoiceOutput:
        """Speak ``text`` in ``params.accent``; returns a :class:`VoiceOutput`.

        The output audio is float32 mono ``(n,)`` at 48 kHz, full scale 1.0, normalised to
        ``params.target_lufs`` (ITU-R BS.1770 integrated loudness, pyloudnorm) with the true peak
        (4x oversampling, BS.1770-4 Annex 2) at or below -1 dBTP (``_common/loudness.py``);
        ``sentences``/``words`` are timings in seconds from the start of the audio;
        ``duration`` in seconds. Text is normalised per accent first (numbers, prices, dates,
        codes: ``text_vi.py`` / ``text_en.py``). Raises ``PipelineInputError`` for bad input
        (see :meth:`check_inputs`); engine failures propagate.
        """
        plan = self.plan(text, params)
        engine = self.engine(plan.engine)
        sr = OUTPUT_SAMPLE_RATE
        pieces: list[np.ndarray] = []
        sentences: list[Timing] = []
        group_times: dict[int, tuple[float, float]] = {}  # script token(s) -> time their words took
        next_group = 0  # first script token not yet in a caption sentence
        t = 0.0
        gap = self.config.sentence_gap_s if plan.engine != "espeak" else 0.0  # espeak pads clauses itself
        for (seg, seg_sentences), seg_owners in zip(plan.segments, plan.owners, strict=True):
            settings = plan.settings
            if seg.emphasis:
                settings = replace(
                    settings,
                    rate=settings.rate * EMPHASIS[0],
                    pitch=min(MAX_FACTOR, settings.pitch * EMPHASIS[1]),
                    expressiveness=settings.expressiveness * 1.2,
                )
            for sentence, owner in zip(seg_sentences, seg_owners, strict=True):
                last_group = max(owner, default=next_group - 1)
                source = " ".join(src for src, _ in plan.sources[next_group : last_group + 1])
                next_group = max(next_group, last_group + 1)
                if not any(c.isalnum() for c in sentence):  # stray punctuation after markup
                    if sentences:
                        last = sentences[-1]
                        sentences[-1] = replace(
                            last, text=_join(last.text, source, glue=""), spoken=(last.spoken or "") + sentence
                        )
                    continue
                out = engine.synthesize(sentence, plan.voice.voice, settings)
                audio = resample(out.audio, out.sample_rate, sr)
                if gap:
                    audio = np.concatenate([audio, silence(gap, sr)])
                dur = audio.size / sr
                if sentences and (not source or not _SENTENCE_END.search(sentences[-1].spoken or "")):
                    # an emphasised span or a pause mid-sentence: still one caption sentence
                    last = sentences[-1]
                    sentences[-1] = Timing(
                        _join(last.text, source), last.start, t + dur, _join(last.spoken or "", sentence)
                    )
                else:
                    sentences.append(Timing(source, t, t + dur, sentence))
                for j, span in enumerate(_token_times(sentence.split(), out.words)):
                    if span is None or j >= len(owner):
                        continue
                    a, b = t + span[0], t + min(span[1], dur)
                    old = group_times.get(owner[j])
                    group_times[owner[j]] = (min(old[0], a), max(old[1], b)) if old else (a, b)
                pieces.append(audio)
                t += dur
            if seg.pause_after > 0:
                pause = silence(seg.pause_after, sr)
                pieces.append(pause)
                if sentences:  # the pause belongs to the sentence before it
                    last = sentences[-1]
                    sentences[-1] = replace(last, end=last.end + pause.size / sr)
                t += pause.size / sr
        if sentences and next_group < len(plan.sources):  # unspoken script tokens at the very end
            rest = " ".join(src for src, _ in plan.sources[next_group:])
            sentences[-1] = replace(sentences[-1], text=_join(sentences[-1].text, rest))
        words = _source_words(plan.sources, group_times)
        audio = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
        audio, offset = self._trim(audio, sr)
        audio, loudness, peak = normalize_loudness(audio, sr, params.target_lufs)
        duration = audio.size / sr
        sentences, words = _fix_timings(sentences, words, offset, duration)
        phon = ""
        if plan.engine in ("espeak", "piper"):
            phon = self.engine("espeak").phonemes(plan.normalized_text, _espeak_voice(plan.accent, plan.engine))
        return VoiceOutput(
            audio=audio,
            sample_rate=sr,
            duration=duration,
            loudness_lufs=loudness,
            true_peak_dbtp=peak,
            sentences=sentences,
            words=words,
            accent=plan.accent.id,
            engine=plan.engine,
            voice=plan.voice.voice,
            normalized_text=plan.normalized_text,
            target_lufs=params.target_lufs,
            phonemes=phon,
            warnings=_language_warnings(plain_text(text), plan.accent) + _engine_warnings(plan, params),
        )

    def _trim(self, audio: np.ndarray, sr: int) -> tuple[np.ndarray, float]:
        """Cut leading/trailing silence to a fixed lead/tail; returns audio and the time shift."""
        start, end = speech_bounds(audio, sr)
        if end <= start:
            raise RuntimeError("engine produced silence only")
        lead = int(self.config.lead_silence_s * sr)
        tail = int(self.config.tail_silence_s * sr)
        a, b = max(0, start - lead), min(audio.size, end + tail)
        body = audio[a:b]
        pad_front = lead - (start - a)
        pad_back = tail - (b - end)
        body = np.concatenate([silence(pad_front / sr, sr), body, silence(pad_back / sr, sr)])
        return body.astype(np.float32), (pad_front - a) / sr


def _espeak_voice(accent: AccentSpec, engine: str = "espeak") -> str:
    if engine == "espeak" and accent.engine == "espeak":
        return accent.voice
    if engine == "espeak" or accent.engine == "espeak":
        return accent.voice if accent.engine == "espeak" else ("vi" if accent.language == "vi" else "en-us")
    return "vi" if accent.language == "vi" else "en-us"


_VI_ONLY = set("ăâđêôơưĂÂĐÊÔƠƯ") | set("ảãạằắẳẵặầấẩẫậẻẽẹềếểễệỉĩịỏõọồốổỗộờớởỡợủũụừứửữựỳỷỹỵ")


def _language_warnings(text: str, accent: AccentSpec) -> list[str]:
    """Flag a script that looks Vietnamese voiced by an English accent (it would sound wrong).
    Decomposed (NFD) text is composed first, so its diacritics count."""
    words = unicodedata.normalize("NFC", text).split()
    vi_words = sum(1 for w in words if any(c in _VI_ONLY for c in w))
    if accent.language == "en" and words and vi_words / len(words) > 0.2:
        return [f"script looks Vietnamese ({vi_words}/{len(words)} words) but accent {accent.id} is English"]
    if accent.language == "vi" and len(words) >= 5 and vi_words == 0:
        return [f"script has no Vietnamese diacritics but accent {accent.id} is Vietnamese"]
    return []


def _packaged_piper() -> set[str]:
    from pipelines.voice.engines.piper import PACKAGED_VOICES

    return set(PACKAGED_VOICES)


def _engine_warnings(plan: _Plan, params: VoiceParams) -> list[str]:
    out = []
    if params.engine is None and plan.engine != plan.accent.engine and plan.accent.engine == "flite":
        from pipelines.voice.engines.flite import INSTALL_HINT

        out.append(f"accent {plan.accent.id}'s default engine flite is not installed ({INSTALL_HINT}); "
                   f"spoke with {plan.engine} instead")  # fmt: skip
    if plan.voice.note:
        out.append(f"voice {plan.voice.voice} ({plan.engine}) is {plan.voice.note}")
    return out


def _str_or_none(p: Path | str | None) -> str | None:
    return str(p) if p is not None else None


def _fix_timings(
    sentences: list[Timing], words: list[Timing], offset: float, duration: float
) -> tuple[list[Timing], list[Timing]]:
    """Shift by ``offset``, clip to the audio, make sentences contiguous over [0, duration] and
    words monotonic, non-overlapping and inside their sentence."""
    eps = 1e-4
    shifted = [replace(s, start=min(max(s.start + offset, 0.0), duration), end=min(max(s.end + offset, 0.0), duration))
               for s in sentences]  # fmt: skip
    fixed_s: list[Timing] = []
    for i, s in enumerate(shifted):
        start = 0.0 if i == 0 else fixed_s[-1].end
        end = duration if i == len(shifted) - 1 else max(s.end, start)
        fixed_s.append(replace(s, start=start, end=end))
    fixed_w: list[Timing] = []
    prev_end = 0.0
    for w in words:
        start = min(max(w.start + offset, prev_end), duration)
        end = min(max(w.end + offset, start + eps), duration)
        if end - start < eps:
            continue
        fixed_w.append(replace(w, start=start, end=end))
        prev_end = end
    return fixed_s, fixed_w


def _join(a: str, b: str, glue: str = " ") -> str:
    return f"{a}{glue}{b}" if a and b else a or b


def _sentence_owners(sentences: list[str], spans: list[tuple[str, str]], base: int) -> list[list[int]]:
    """For each spoken word of each sentence, the index (from ``base``) of the script token(s)
    it was said for. Sentences are cut from the same normalised words, in the same order."""
    flat = [base + gi for gi, (_, spoken) in enumerate(spans) for _ in spoken.split()]
    out: list[list[int]] = []
    k = 0
    for sentence in sentences:
        n = len(sentence.split())
        if flat:  # (a sentence cut inside an over-long word would shift counts: clamp)
            out.append([flat[min(k + j, len(flat) - 1)] for j in range(n)])
        else:
            out.append([])
        k += n
    return out


def _key(word: str) -> str:
    return clean_word(word).lower()


def _token_times(tokens: list[str], words: list[Timing]) -> list[tuple[float, float] | None]:
    """The time span of each whitespace token of a synthesised sentence, from the engine's word
    timings (each a token of the same text, possibly with punctuation stripped; tokens the
    engine did not time are None)."""
    keys = [_key(t) for t in tokens]
    out: list[tuple[float, float] | None] = [None] * len(tokens)
    j = 0
    for w in words:
        k = _key(w.text)
        if not k:
            continue
        hit = next((i for i in range(j, len(keys)) if keys[i] == k), None)
        if hit is None:
            hit = next((i for i in range(max(0, j - 1), min(len(keys), j + 3)) if k in keys[i]), None)
        if hit is None:
            continue
        old = out[hit]
        out[hit] = (min(old[0], w.start), max(old[1], w.end)) if old else (w.start, w.end)
        j = hit + 1
    return out


def _source_words(sources: list[tuple[str, str]], times: dict[int, tuple[float, float]]) -> list[Timing]:
    """One word timing per script token (or tokens a rewrite merged), with the time its spoken
    words took; a token with no speech of its own joins its neighbour's caption word."""
    words: list[Timing] = []
    pending = ""
    for gi, (src, spoken) in enumerate(sources):
        if gi not in times:
            if words:
                last = words[-1]
                words[-1] = replace(last, text=clean_word(f"{last.text} {src}"))
            else:
                pending = _join(pending, src)
            continue
        a, b = times[gi]
        words.append(Timing(clean_word(_join(pending, src)), a, b, clean_word(spoken)))
        pending = ""
    return words
