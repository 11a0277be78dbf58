"""espeak-ng through ctypes, from the ``espeakng-loader`` wheel (library + data, no system install).

libespeak-ng keeps global state, so one process-wide lock serialises every call. Synthesis is
synchronous (``AUDIO_OUTPUT_SYNCHRONOUS``): the callback receives 16-bit samples and the word
and sentence events whose ``audio_position`` gives word timings.
"""

from __future__ import annotations

import bisect
import ctypes
import re
import threading
from typing import Any

import numpy as np

from pipelines._common.errors import PipelineInputError
from pipelines.voice.engines.base import EngineAudio, SynthSettings
from pipelines.voice.pipeline_output import Timing
from pipelines.voice.textmap import clean_word

AUDIO_OUTPUT_SYNCHRONOUS = 2
ESPEAK_INITIALIZE_DONT_EXIT = 0x8000
ESPEAK_CHARS_UTF8 = 1
POS_CHARACTER = 1
EVENT_LIST_TERMINATED, EVENT_WORD, EVENT_SENTENCE, EVENT_END, EVENT_MSG_TERMINATED = 0, 1, 2, 5, 6
PARAM_RATE, PARAM_VOLUME, PARAM_PITCH, PARAM_RANGE, PARAM_WORDGAP = 1, 2, 3, 4, 7
PHONEMES_IPA = 0x02
DEFAULT_WPM = 175
DEFAULT_PITCH = 50
DEFAULT_RANGE = 50


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))

_LOCK = threading.RLock()
_STATE: dict[str, Any] = {}


class _Collector:
    def __init__(self) -> None:
        self.chunks: list[np.ndarray] = []
        self.events: list[tuple[int, int, int, int]] = []  # type, text_position, length, ms

    def __call__(self, wav: Any, n: int, events: Any) -> int:
        if n > 0 and wav:
            self.chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while events[i].type != EVENT_LIST_TERMINATED:
            ev = events[i]
            self.events.append((ev.type, ev.text_position, ev.length, ev.audio_position))
            i += 1
        return 0


def _lib() -> tuple[Any, int, _Collector]:
    """Load and initialise libespeak-ng once per process."""
    with _LOCK:
        if "lib" not in _STATE:
            import espeakng_loader

            lib = ctypes.CDLL(espeakng_loader.get_library_path())
            lib.espeak_Initialize.restype = ctypes.c_int
            lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
            lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
            lib.espeak_SetVoiceByName.restype = ctypes.c_int
            lib.espeak_Synth.argtypes = [
                ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
            ]  # fmt: skip
            lib.espeak_Synth.restype = ctypes.c_int
            lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
            lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
            lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
            data = espeakng_loader.get_data_path().encode()
            rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data, ESPEAK_INITIALIZE_DONT_EXIT)
            if rate <= 0:
                raise RuntimeError(f"espeak_Initialize failed ({rate}) with data at {data.decode()}")
            collector = _Collector()
            callback = _CALLBACK(collector)
            lib.espeak_SetSynthCallback(callback)
            _STATE.update(lib=lib, rate=rate, collector=collector, callback=callback)
        return _STATE["lib"], _STATE["rate"], _STATE["collector"]


def _set_voice(lib: Any, voice: str) -> None:
    if lib.espeak_SetVoiceByName(voice.encode()) != 0:
        raise PipelineInputError(f"espeak voice {voice!r} is not available in espeak-ng data", field="voice")


class EspeakEngine:
    """The embedded default engine: every registry accent has an espeak-ng voice."""

    name = "espeak"

    def __init__(self) -> None:
        _lib()

    @property
    def sample_rate(self) -> int:
        return int(_lib()[1])

    def synthesize(self, text: str, voice: str, settings: SynthSettings) -> EngineAudio:
        """Speak ``text`` with espeak voice ``voice``; word timings come from WORD events."""
        lib, rate, collector = _lib()
        data = text.encode("utf-8")
        with _LOCK:
            _set_voice(lib, voice)
            lib.espeak_SetParameter(PARAM_RATE, int(round(DEFAULT_WPM * settings.rate)), 0)
            lib.espeak_SetParameter(PARAM_PITCH, int(np.clip(DEFAULT_PITCH * settings.pitch, 0, 100)), 0)
            lib.espeak_SetParameter(PARAM_RANGE, int(np.clip(DEFAULT_RANGE * settings.expressiveness, 0, 100)), 0)
            # espeakWORDGAP is in units of 10 ms at the default speed
            lib.espeak_SetParameter(PARAM_WORDGAP, int(round(max(settings.word_gap_ms, 0.0) / 10.0)), 0)
            collector.chunks, collector.events = [], []
            buf = ctypes.create_string_buffer(data)
            err = lib.espeak_Synth(buf, len(data) + 1, 0, POS_CHARACTER, 0, ESPEAK_CHARS_UTF8, None, None)
            if err != 0:
                raise RuntimeError(f"espeak_Synth failed with code {err}")
            chunks, events = collector.chunks, collector.events
            collector.chunks, collector.events = [], []
        pcm = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
        audio = (pcm.astype(np.float32) / 32768.0).astype(np.float32)
        total = audio.size / rate
        words = _word_timings(text, events, total)
        return EngineAudio(audio=audio, sample_rate=rate, words=words)

    def phonemes(self, text: str, voice: str) -> str:
        """IPA phoneme string for ``text`` (clauses joined by ' | ')."""
        lib, _, _ = _lib()
        with _LOCK:
            _set_voice(lib, voice)
            buf = ctypes.create_string_buffer(text.encode("utf-8"))
            ptr = ctypes.c_void_p(ctypes.addressof(buf))
            out: list[str] = []
            while ptr.value:
                res = lib.espeak_TextToPhonemes(ctypes.byref(ptr), ESPEAK_CHARS_UTF8, PHONEMES_IPA)
                if res:
                    out.append(res.decode("utf-8", errors="replace").strip())
        return " | ".join(p for p in out if p)


def _word_timings(text: str, events: list[tuple[int, int, int, int]], total: float) -> list[Timing]:
    """One timing per whitespace-separated word of ``text``, in order.

    A WORD event's ``text_position`` is the 1-based *character* index (espeakCHARS_UTF8 counts
    characters, not bytes) of the source word it belongs to. espeak emits several WORD events
    for one source word when it says it as several words — an English voice spells out
    "Hội" as "H", "letter 1ED9", "i", three events all pointing at "Hội" — so events are
    collapsed onto the source word they point into, and each word starts at its first event.
    """
    tokens = list(re.finditer(r"\S+", text))
    starts = [t.start() for t in tokens]
    first: dict[int, float] = {}
    ends: list[float] = []
    for etype, pos, length, ms in events:
        if etype == EVENT_WORD and length > 0 and pos >= 1:
            i = bisect.bisect_right(starts, pos - 1) - 1
            if i < 0 or pos - 1 >= tokens[i].end():  # between words: the next word
                i += 1
            if i < len(tokens) and i not in first:
                first[i] = ms / 1000.0
        elif etype in (EVENT_END, EVENT_MSG_TERMINATED):
            ends.append(ms / 1000.0)
    order = sorted(first)
    starts_s: list[float] = []
    for i in order:  # keep word starts monotonic in text order
        starts_s.append(max(first[i], starts_s[-1] if starts_s else 0.0))
    words: list[Timing] = []
    last_end = max(ends) if ends else total
    for k, i in enumerate(order):
        t0 = starts_s[k]
        t1 = starts_s[k + 1] if k + 1 < len(order) else max(last_end, t0)
        # a clause end between two words marks where this word stops (the pause is not the word)
        clause_ends = [e for e in ends if t0 < e < t1]
        if clause_ends:
            t1 = min(clause_ends)
        t0 = min(t0, total)
        t1 = min(max(t1, t0), total)
        if t1 <= t0:
            t1 = min(total, t0 + 0.01)
        words.append(Timing(clean_word(tokens[i].group()), t0, t1))
    return words
