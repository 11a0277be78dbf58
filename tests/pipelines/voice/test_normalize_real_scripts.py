"""Normalisation found on real ad scripts (issue 19): phone numbers in groups, codes and long
digit strings digit by digit with zeros kept, ranges only where the text is a range, "2x",
"+"/"-" in Vietnamese, emoji dropped, decomposed Vietnamese composed before checks."""

from __future__ import annotations

import unicodedata

import pytest

from pipelines.voice.accents import load_registry
from pipelines.voice.intelligibility import spoken_words, word_error_rate
from pipelines.voice.pipeline_voice import VoiceParams, VoicePipeline, _language_warnings
from pipelines.voice.text_en import normalize_en, normalize_en_spans
from pipelines.voice.text_vi import normalize_vi

EN = [
    ("Call 020 7946 0958 today", "gb", "Call oh two oh, seven nine four six, oh nine five eight today"),
    ("Call 01632 960123", "gb", "Call oh one six three two, nine six oh one two three"),
    ("+44 20 7946 0958", "gb", "plus four four, two oh, seven nine four six, oh nine five eight"),
    ("Call (555) 123-4567.", "us", "Call five five five, one two three, four five six seven."),
    ("Call (028) 3822-1234", "us", "Call zero two eight, three eight two two, one two three four"),
    ("Ref DH-2026-000123456789.", "gb",
     "Ref D H, two oh two six, oh oh oh one two three four five six seven eight nine."),
    ("Invoice INV004512", "us", "Invoice I N V zero zero four five one two"),
    ("Use code SAVE20", "us", "Use code SAVE twenty"),
    ("ID 1234567", "us", "ID one two three four five six seven"),
    ("Agent 007", "gb", "Agent oh oh seven"),
    ("room 3822-1234", "us", "room three eight two two, one two three four"),
    ("ages 18-25", "us", "ages eighteen to twenty-five"),
    ("Open 9-5 daily", "us", "Open nine to five daily"),
    ("from 1990-2000", "us", "from nineteen ninety to two thousand"),
    ("2x faster", "us", "two times faster"),
    ("3x the points", "gb", "three times the points"),
    ("1920x1080 screen", "us", "one thousand nine hundred twenty by one thousand eighty screen"),
    ("Sale 🔥 today 👍🏽!", "us", "Sale today!"),
    ("on 2026-11-30", "us", "on November thirtieth, twenty twenty-six"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "variant", "expected"), EN)
def test_english_real_scripts(text: str, variant: str, expected: str) -> None:
    assert normalize_en(text, variant) == expected


VI = [
    ("Gọi (028) 3822-1234 nhé", "Gọi không hai tám, ba tám hai hai, một hai ba bốn nhé"),
    ("Mã 0000000000000001", "Mã " + "không " * 15 + "một"),
    ("Mã đơn DH-2026-000123456789.",
     "Mã đơn D H, hai không hai sáu, không không không một hai ba bốn năm sáu bảy tám chín."),
    ("Mua 1+1 tặng quà", "Mua một cộng một tặng quà"),
    ("Phim 18+", "Phim mười tám cộng"),
    ("Nhiệt độ -5°C", "Nhiệt độ âm năm độ C"),
    ("Hà Nội - Đà Nẵng", "Hà Nội, Đà Nẵng"),
    ("từ 10-20 người", "từ mười đến hai mươi người"),
    ("số phòng 3822-1234", "số phòng ba tám hai hai, một hai ba bốn"),
    ("nhanh gấp 2x", "nhanh gấp hai lần"),
    ("Giá 150.000đ 🔥🔥", "Giá một trăm năm mươi nghìn đồng"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), VI)
def test_vietnamese_real_scripts(text: str, expected: str) -> None:
    assert normalize_vi(text, "north") == expected


def test_nfd_vietnamese_normalised_before_checks() -> None:
    text = "Chào bạn, áo khoác mới giá tốt nhất hôm nay tại Hà Nội"
    nfd = unicodedata.normalize("NFD", text)
    assert nfd != text
    reg = load_registry()
    assert _language_warnings(nfd, reg.get("vi-north")) == []  # no false "no diacritics" warning
    assert _language_warnings(nfd, reg.get("en-us"))  # and an English accent still notices it
    assert normalize_vi(nfd, "north") == normalize_vi(text, "north")


def test_emoji_are_dropped_not_spoken_and_captions_keep_words(pipe: VoicePipeline) -> None:
    out = pipe("Big sale 🔥 today!", VoiceParams(accent="en-us", engine="espeak"))
    assert out.normalized_text == "Big sale today!"
    assert [w.spoken for w in out.words] == ["Big", "sale", "today"]
    plain = pipe("Big sale today!", VoiceParams(accent="en-us", engine="espeak"))
    assert abs(out.duration - plain.duration) < 0.05  # the emoji adds no sound


def test_spans_keep_the_code_as_one_caption_token() -> None:
    spans = normalize_en_spans("Ref DH-2026-0001 now", "gb")
    assert ("DH-2026-0001", "D H, two oh two six, oh oh oh one") in spans


def test_wer_scoring_spells_numbers_and_ignores_case_and_punctuation() -> None:
    assert spoken_words("Only $5, call 020!", "gb") == ["only", "five", "dollars", "call", "zero", "two", "zero"]
    assert word_error_rate("Our jacket is only $89.99.", "our jacket is only 89.99 dollars", "us") == 0.0
    assert word_error_rate("Your order ships tomorrow.", "Your Lordship is tomorrow.", "us") == pytest.approx(2 / 4)
    assert word_error_rate("Call 020 7946 0958", "Call 0207 946 0958.", "gb") == 0.0
    assert word_error_rate("Hello there", "", "us") == 1.0


def test_wer_scoring_accepts_transcript_spellings_of_the_same_words() -> None:
    script = "The sale ends at 6:30 pm. Call 020 7946 0958."
    assert word_error_rate(script, "The sale ends at 6.30pm. Call O2 0 7946 0958.", "gb") == 0.0
    assert word_error_rate("Reference DH-2026-4519.", "Reference dh20264519.", "gb") == 0.0
    assert word_error_rate("Call 020 7946 0958", "Call 0-2-0-7-9-4-6-0-9-5-8", "gb") == 0.0
