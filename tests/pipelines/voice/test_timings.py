"""Word/sentence timings carry the script's own words: each once, in order, with the time their
spoken expansion took (regressions from the rendered demo ads)."""

from __future__ import annotations

import pytest

from pipelines.voice.engines.base import SynthSettings
from pipelines.voice.engines.espeak import EVENT_END, EVENT_WORD, EspeakEngine, _word_timings
from pipelines.voice.pipeline_output import Timing
from pipelines.voice.pipeline_voice import VoiceParams, VoicePipeline
from pipelines.voice.text_en import normalize_en, normalize_en_spans
from pipelines.voice.text_vi import normalize_vi, normalize_vi_spans

from .conftest import assert_timings_valid

AD_EN = "Meet the Hội An Tote in River Teal! The Hội An Tote in River Teal is only $49.99."
AD_EN_WORDS = ["Meet", "the", "Hội", "An", "Tote", "in", "River", "Teal",
               "The", "Hội", "An", "Tote", "in", "River", "Teal", "is", "only", "$49.99"]  # fmt: skip
AD_VI = "Túi Hội An màu xanh sông chỉ 249.000đ! Gọi 0912 345 678 ngay."


def _assert_words_once(words: list[Timing], expected: list[str]) -> None:
    assert [w.text for w in words] == expected
    for a, b in zip(words, words[1:], strict=False):
        assert a.start < a.end <= b.start + 1e-6, (a, b)


def test_espeak_english_voice_times_each_vietnamese_word_once() -> None:
    """en-us espeak spells 'Hội' as three words (H, 'letter 1ED9', I): three WORD events that all
    point at 'Hội'. They used to become three 'Hội' timings."""
    out = EspeakEngine().synthesize(
        "Meet the Hội An Tote in River Teal! The Hội An Tote in River Teal is here.", "en-us", SynthSettings()
    )
    expected = ["Meet", "the", "Hội", "An", "Tote", "in", "River", "Teal", "The", "Hội", "An", "Tote", "in",
                "River", "Teal", "is", "here"]  # fmt: skip
    _assert_words_once(out.words, expected)


def test_espeak_vietnamese_voice_times_each_word_once() -> None:
    text = "Chào mừng bạn đến với Hội An, giá chỉ một trăm nghìn đồng."
    out = EspeakEngine().synthesize(text, "vi", SynthSettings())
    _assert_words_once(out.words, [w.strip(",.") for w in text.split()])


def test_word_events_are_one_based_character_positions() -> None:
    # "Hội" is 3 characters but 5 UTF-8 bytes: 'An' starts at character 5 (1-based), byte 7
    text = "Hội An đẹp"
    events = [(EVENT_WORD, 1, 3, 0), (EVENT_WORD, 1, 3, 200), (EVENT_WORD, 1, 3, 400),
              (EVENT_WORD, 5, 2, 600), (EVENT_WORD, 8, 3, 800), (EVENT_END, 11, 0, 1000)]  # fmt: skip
    words = _word_timings(text, events, 1.2)
    assert [(w.text, w.start, w.end) for w in words] == [("Hội", 0.0, 0.6), ("An", 0.6, 0.8), ("đẹp", 0.8, 1.0)]


@pytest.mark.parametrize("engine", ["espeak", "piper"])
def test_english_ad_with_vietnamese_names(pipe: VoicePipeline, engine: str) -> None:
    out = pipe(AD_EN, VoiceParams(accent="en-us", engine=engine))
    assert_timings_valid(out, AD_EN)
    _assert_words_once(out.words, AD_EN_WORDS)
    assert [s.text for s in out.sentences] == [
        "Meet the Hội An Tote in River Teal!", "The Hội An Tote in River Teal is only $49.99."
    ]  # fmt: skip
    assert out.words[-1].spoken == "forty-nine dollars and ninety-nine cents"
    # English voices say the name by its base letters, not "letter one E D nine"
    assert "Hoi An" in out.normalized_text and out.words[2].spoken == "Hoi"
    if engine == "espeak":
        assert "lˌɛɾɚ" not in out.phonemes


def test_vietnamese_ad_captions_carry_written_prices(pipe: VoicePipeline) -> None:
    out = pipe(AD_VI, VoiceParams(accent="vi-north"))
    assert_timings_valid(out, AD_VI)
    assert [w.text for w in out.words] == ["Túi", "Hội", "An", "màu", "xanh", "sông", "chỉ", "249.000đ", "Gọi",
                                           "0912 345 678", "ngay"]  # fmt: skip
    assert [s.text for s in out.sentences] == ["Túi Hội An màu xanh sông chỉ 249.000đ!", "Gọi 0912 345 678 ngay."]
    price = out.words[7]
    assert price.spoken == "hai trăm bốn mươi chín nghìn đồng"
    assert out.sentences[0].spoken is not None and "hai trăm bốn mươi chín nghìn đồng" in out.sentences[0].spoken
    # the price takes the time its six spoken words take: longer than any one-syllable word
    assert price.end - price.start > 3 * max(w.end - w.start for w in out.words[:7])
    # results survive the JSON round trip the video actor does
    d = out.to_dict()
    assert d["words"][7]["text"] == "249.000đ" and d["words"][7]["spoken"] == price.spoken
    assert Timing(**d["words"][7]).text == "249.000đ"


def test_markup_and_emphasis_keep_script_words(pipe: VoicePipeline) -> None:
    script = "Chỉ *99k* hôm nay. [pause 300ms] Mua ngay!"
    out = pipe(script, VoiceParams(accent="vi-south"))
    assert_timings_valid(out, script)
    assert [w.text for w in out.words] == ["Chỉ", "99k", "hôm", "nay", "Mua", "ngay"]
    assert [s.text for s in out.sentences] == ["Chỉ 99k hôm nay.", "Mua ngay!"]
    assert out.words[1].spoken == "chín mươi chín ngàn"


def test_coqui_proportional_words_map_to_script(coqui_pipe: VoicePipeline) -> None:
    script = "Only $5 at 12 Main St. today."
    out = coqui_pipe(script, VoiceParams(accent="en-us", engine="coqui"))
    assert_timings_valid(out, script)
    assert [w.text for w in out.words] == ["Only", "$5", "at", "12", "Main", "St", "today"]
    assert [w.spoken for w in out.words][1:6] == ["five dollars", "at", "twelve", "Main", "Street"]


def test_video_captions_show_script_text(pipe: VoicePipeline) -> None:
    from pipelines.video.captions import build_cues

    out = pipe("Giá chỉ 249.000đ. Mua ngay!", VoiceParams(accent="vi-north"))
    cues = build_cues([(s.text, s.start, s.end) for s in out.sentences], [(w.text, w.start, w.end) for w in out.words])
    assert [c.text for c in cues] == ["Giá chỉ 249.000đ.", "Mua ngay!"]
    assert [w[0] for w in cues[0].words] == ["Giá", "chỉ", "249.000đ"]


SPAN_CASES_VI = [
    ("Giá 249.000đ.", [("Giá", "Giá"), ("249.000đ.", "hai trăm bốn mươi chín nghìn đồng.")]),
    ("Q.1, TP.HCM", [("Q.1,", "quận một,"), ("TP.HCM", "thành phố Hồ Chí Minh")]),
    ("Gọi 0912 345 678", [("Gọi", "Gọi"), ("0912 345 678", "không chín một hai, ba bốn năm, sáu bảy tám")]),
    ("giảm -30% T7", [("giảm", "giảm"), ("-30%", "giảm ba mươi phần trăm"), ("T7", "thứ bảy")]),
    ("Chỉ 2tr5 /tháng", [("Chỉ", "Chỉ"), ("2tr5", "hai triệu năm trăm nghìn"), ("/tháng", "một tháng")]),
    ("thứ 2 và tháng 4", [("thứ", "thứ"), ("2", "hai"), ("và", "và"), ("tháng", "tháng"), ("4", "tư")]),
]


@pytest.mark.parametrize(("text", "expected"), SPAN_CASES_VI)
def test_normalize_vi_spans(text: str, expected: list[tuple[str, str]]) -> None:
    spans = normalize_vi_spans(text, "north")
    assert spans == expected
    assert " ".join(sp for _, sp in spans if sp).split() == normalize_vi(text, "north").split()


SPAN_CASES_EN = [
    ("Only $5 million in 2026!", [("Only", "Only"), ("$5 million", "five million dollars"), ("in", "in"),
                                  ("2026!", "twenty twenty-six!")]),
    ("Meet Hội An & Co. on 5th", [("Meet", "Meet"), ("Hội", "Hoi"), ("An", "An"), ("&", "and"),
                                  ("Co.", "Company"), ("on", "on"), ("5th", "fifth")]),
    ("Call (555) 123-4567 now", [("Call", "Call"), ("(555) 123-4567", "five five five, one two three, four five six seven"),
                                 ("now", "now")]),
    ("Ends 11/20/2026 at 8:30 pm", [("Ends", "Ends"), ("11/20/2026", "November twentieth, twenty twenty-six"),
                                    ("at", "at"), ("8:30 pm", "eight thirty p m")]),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), SPAN_CASES_EN)
def test_normalize_en_spans(text: str, expected: list[tuple[str, str]]) -> None:
    spans = normalize_en_spans(text, "us")
    assert spans == expected
    assert " ".join(sp for _, sp in spans if sp).split() == normalize_en(text, "us").split()
    assert " ".join(src for src, _ in spans).split() == text.split()
