"""CMU flite through ctypes on the system ``libflite`` (Debian package ``flite``/``libflite1``).

Voices: ``slt`` (US female), ``rms`` (US male), ``awb`` (Scottish male) — clustergen, 16 kHz —
and ``kal`` / ``kal16`` (US male diphone, 8 / 16 kHz). Licence: BSD-style (CMU/Edinburgh flite
licence), commercial use allowed.

Word timings are flite's own: the utterance's ``Token`` relation holds every input token with its
``Word`` daughters, each word's syllables and segments (phones) carry the segment end times the
waveform was generated from. A token starts where the segment before its first phone ends and
ends where its last phone ends (``R:SylStructure.daughter1.daughter1.R:Segment.p.end`` /
``...daughtern.daughtern.R:Segment.end``), so captions follow the audio exactly, pauses excluded.

Rate and pitch map to the voice features ``duration_stretch`` (1 / rate) and
``int_f0_target_mean`` (× pitch); the voice's own values are restored after every call.
libflite keeps per-voice state, so one process-wide lock serialises calls.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import re
import shutil
import threading
from typing import Any

import numpy as np

from pipelines._common.errors import PipelineInputError
from pipelines.voice.engines.base import EngineAudio, SynthSettings, proportional_words
from pipelines.voice.pipeline_output import Timing
from pipelines.voice.textmap import clean_word

VOICES = {"slt": "cmu_us_slt", "rms": "cmu_us_rms", "awb": "cmu_us_awb", "kal": "cmu_us_kal", "kal16": "cmu_us_kal16"}
LICENCE = "BSD-style (CMU flite licence)"
INSTALL_HINT = "install it with: apt-get install -y flite (Debian/Ubuntu; as root or with sudo)"

_LOCK = threading.RLock()
_STATE: dict[str, Any] = {}


class FliteUnavailable(PipelineInputError):
    """libflite (or one of its voice libraries) is not installed on this machine.

    A ``PipelineInputError`` (field ``engine``): retrying cannot help, and the message names the
    fix (install flite) and the other engine to choose."""

    def __init__(self, message: str) -> None:
        super().__init__(f"{message}; or choose engine 'espeak'", field="engine")


class _Wave(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_char_p),
        ("sample_rate", ctypes.c_int),
        ("num_samples", ctypes.c_int),
        ("num_channels", ctypes.c_int),
        ("samples", ctypes.POINTER(ctypes.c_short)),
    ]


class _Voice(ctypes.Structure):  # cst_voice: name, features, ffunctions, utt_init
    _fields_ = [("name", ctypes.c_char_p), ("features", ctypes.c_void_p), ("ffunctions", ctypes.c_void_p)]


def _cdll(stem: str) -> ctypes.CDLL:
    for name in (f"lib{stem}.so.1", ctypes.util.find_library(stem)):
        if not name:
            continue
        try:
            return ctypes.CDLL(name, mode=ctypes.RTLD_GLOBAL)
        except OSError:
            continue
    raise FliteUnavailable(f"flite library lib{stem} is not installed; {INSTALL_HINT}")


def available() -> bool:
    """True when libflite and its English voices can be loaded here."""
    try:
        _lib()
    except FliteUnavailable:
        return False
    return True


def status() -> str:
    """One line for ``maydo doctor``: what is installed and how to get it otherwise."""
    if not available():
        return f"not installed — {INSTALL_HINT}"
    cli = shutil.which("flite")
    return f"libflite ok (voices {', '.join(v for v in VOICES if _voice_lib_ok(v))})" + (f"; CLI {cli}" if cli else "")


def _voice_lib_ok(voice: str) -> bool:
    try:
        _cdll(f"flite_{VOICES[voice]}")
    except FliteUnavailable:
        return False
    return True


def _lib() -> Any:
    with _LOCK:
        if "lib" not in _STATE:
            lib = _cdll("flite")
            _cdll("flite_usenglish")
            _cdll("flite_cmulex")
            lib.flite_init.restype = ctypes.c_int
            lib.flite_synth_text.restype = ctypes.c_void_p
            lib.flite_synth_text.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
            lib.utt_wave.restype = ctypes.POINTER(_Wave)
            lib.utt_wave.argtypes = [ctypes.c_void_p]
            lib.utt_relation.restype = ctypes.c_void_p
            lib.utt_relation.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
            lib.relation_head.restype = ctypes.c_void_p
            lib.relation_head.argtypes = [ctypes.c_void_p]
            lib.item_next.restype = ctypes.c_void_p
            lib.item_next.argtypes = [ctypes.c_void_p]
            lib.item_daughter.restype = ctypes.c_void_p
            lib.item_daughter.argtypes = [ctypes.c_void_p]
            lib.ffeature_string.restype = ctypes.c_char_p
            lib.ffeature_string.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
            lib.ffeature_float.restype = ctypes.c_float
            lib.ffeature_float.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
            lib.feat_float.restype = ctypes.c_float
            lib.feat_float.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
            lib.feat_present.restype = ctypes.c_int
            lib.feat_present.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
            lib.feat_set_float.restype = None
            lib.feat_set_float.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_float]
            lib.delete_utterance.restype = None
            lib.delete_utterance.argtypes = [ctypes.c_void_p]
            lib.flite_init()
            _STATE.update(lib=lib, voices={})
        return _STATE["lib"]


def _voice(voice: str) -> tuple[Any, int, dict[str, float]]:
    """(cst_voice*, features*, default prosody features) of ``voice``, registered once."""
    if voice not in VOICES:
        raise PipelineInputError(f"unknown flite voice {voice!r}; allowed: {', '.join(VOICES)}", field="voice")
    lib = _lib()
    with _LOCK:
        cache: dict[str, tuple[Any, int, dict[str, float]]] = _STATE["voices"]
        if voice not in cache:
            vlib = _cdll(f"flite_{VOICES[voice]}")
            register = getattr(vlib, f"register_{VOICES[voice]}")
            register.restype = ctypes.c_void_p
            register.argtypes = [ctypes.c_char_p]
            ptr = register(None)
            if not ptr:
                raise FliteUnavailable(f"flite voice {voice!r} failed to register")
            feats = int(_Voice.from_address(ptr).features)
            defaults = {
                k: float(lib.feat_float(feats, k.encode())) if lib.feat_present(feats, k.encode()) else dflt
                for k, dflt in (("duration_stretch", 1.0), ("int_f0_target_mean", 100.0))
            }
            cache[voice] = (ptr, feats, defaults)
        return cache[voice]


class FliteEngine:
    """English voices from CMU flite; loads voices on first use, reuses them afterwards."""

    name = "flite"

    def __init__(self) -> None:
        _lib()  # fail at load time (actor __init__), with the install hint, not inside a job

    def load(self, voice: str) -> None:
        """Register ``voice`` now (actors call this in ``__init__``)."""
        _voice(voice)

    def synthesize(self, text: str, voice: str, settings: SynthSettings) -> EngineAudio:
        """Speak ``text`` (already normalised English words) with flite voice ``voice``.

        Returns mono float32 in [-1, 1] at the voice's rate (16 kHz; 8 kHz for ``kal``) and one
        word timing per whitespace token of ``text`` taken from flite's segment relation.
        """
        lib = _lib()
        ptr, feats, defaults = _voice(voice)
        data = text.encode("utf-8", errors="replace")
        with _LOCK:
            lib.feat_set_float(feats, b"duration_stretch", defaults["duration_stretch"] / max(settings.rate, 0.1))
            lib.feat_set_float(feats, b"int_f0_target_mean", defaults["int_f0_target_mean"] * settings.pitch)
            utt = lib.flite_synth_text(data, ptr)
            try:
                if not utt:
                    raise RuntimeError(f"flite_synth_text failed for voice {voice!r}")
                wave = lib.utt_wave(utt)
                if not wave:
                    raise RuntimeError(f"flite produced no waveform for voice {voice!r}")
                w = wave.contents
                n = int(w.num_samples) * max(int(w.num_channels), 1)
                pcm = np.ctypeslib.as_array(w.samples, shape=(n,)).copy() if n > 0 else np.zeros(0, np.int16)
                rate = int(w.sample_rate)
                spans = _token_spans(lib, utt)
            finally:
                if utt:
                    lib.delete_utterance(utt)
                lib.feat_set_float(feats, b"duration_stretch", defaults["duration_stretch"])
                lib.feat_set_float(feats, b"int_f0_target_mean", defaults["int_f0_target_mean"])
        audio = pcm.astype(np.float32) / np.float32(32768.0)
        total = audio.size / rate if rate else 0.0
        return EngineAudio(audio=audio, sample_rate=rate, words=_match_words(text, spans, total))

    def phonemes(self, text: str, voice: str) -> str:
        """flite's phone string for ``text`` (CMU/US phone set, 'pau' = pause)."""
        lib = _lib()
        ptr, _, _ = _voice(voice)
        with _LOCK:
            utt = lib.flite_synth_text(text.encode("utf-8", errors="replace"), ptr)
            try:
                phones = []
                seg = lib.relation_head(lib.utt_relation(utt, b"Segment"))
                while seg:
                    phones.append((lib.ffeature_string(seg, b"name") or b"").decode())
                    seg = lib.item_next(seg)
            finally:
                lib.delete_utterance(utt)
        return " ".join(phones)


def _token_spans(lib: Any, utt: Any) -> list[tuple[str, float, float] | None]:
    """Per flite token: (token, start s, end s), or None for a token that made no words."""
    out: list[tuple[str, float, float] | None] = []
    tok = lib.relation_head(lib.utt_relation(utt, b"Token"))
    while tok:
        name = (lib.ffeature_string(tok, b"name") or b"").decode("utf-8", errors="replace")
        if lib.item_daughter(tok):
            t0 = float(lib.ffeature_float(tok, b"daughter1.R:SylStructure.daughter1.daughter1.R:Segment.p.end"))
            t1 = float(lib.ffeature_float(tok, b"daughtern.R:SylStructure.daughtern.daughtern.R:Segment.end"))
            out.append((name, t0, max(t1, t0)))
        else:
            out.append(None)
        tok = lib.item_next(tok)
    return out


def _match_words(text: str, spans: list[tuple[str, float, float] | None], total: float) -> list[Timing]:
    """One timing per whitespace word of ``text``. flite tokenises on whitespace like we do; if a
    token split differs (rare symbols), words are spread over the voiced span instead."""
    tokens = re.findall(r"\S+", text)
    if len(spans) == len(tokens) and any(s is not None for s in spans):
        words: list[Timing] = []
        prev_end = 0.0
        for tok, span in zip(tokens, spans, strict=True):
            if span is None:  # said nothing (a lone symbol): no timing of its own
                continue
            a, b = max(span[1], prev_end), max(span[2], prev_end)
            a, b = min(a, total), min(b, total)
            words.append(Timing(clean_word(tok), a, max(b, a)))
            prev_end = b
        return words
    voiced = [s for s in spans if s is not None]
    start = voiced[0][1] if voiced else 0.0
    end = voiced[-1][2] if voiced else total
    return proportional_words(text, start, min(end, total))
