"""English normalisation, table-driven: currency, ordinals, dates (US vs GB), times, units."""

from __future__ import annotations

import pytest

from pipelines._common.errors import PipelineInputError
from pipelines.voice.text_en import cardinal, normalize_en, ordinal, year_words

CASES = [
    ("Only $19.99 today!", "us", "Only nineteen dollars and ninety-nine cents today!"),
    ("$1", "us", "one dollar"),
    ("$0.99", "us", "ninety-nine cents"),
    ("$1.5M", "us", "one point five million dollars"),
    ("£20", "gb", "twenty pounds"),
    ("€5.50", "gb", "five euros and fifty cents"),
    ("the 1st, 2nd, 3rd and 22nd", "us", "the first, second, third and twenty-second"),
    ("11th", "us", "eleventh"),
    ("Ends 11/20/2026.", "us", "Ends November twentieth, twenty twenty-six."),
    ("Ends 20/11/2026.", "gb", "Ends the twentieth of November twenty twenty-six."),
    ("2026-11-20", "us", "November twentieth, twenty twenty-six"),
    ("November 20, 2026", "us", "November twentieth, twenty twenty-six"),
    ("Nov 3", "us", "November third"),
    ("at 8:30 pm", "us", "at eight thirty p m"),
    ("at 8:05", "us", "at eight oh five"),
    ("at 8:00", "gb", "at eight o'clock"),
    ("7pm", "us", "seven p m"),
    ("Dr. Smith on Main St.", "us", "Doctor Smith on Main Street."),
    ("Visit Main St. today", "us", "Visit Main Street today"),
    ("St. Louis", "us", "Saint Louis"),
    ("Mr. Jones & Co. etc.", "us", "Mister Jones and Company et cetera."),
    ("e.g. shoes", "us", "for example shoes"),
    ("50% off", "us", "fifty percent off"),
    ("5kg", "gb", "five kilograms"),
    ("10 km", "us", "ten kilometers"),
    ("10 km", "gb", "ten kilometres"),
    ("Call (555) 123-4567", "us", "Call five five five, one two three, four five six seven"),
    ("1,234,567", "us", "one million two hundred thirty-four thousand five hundred sixty-seven"),
    ("120", "gb", "one hundred and twenty"),
    ("120", "us", "one hundred twenty"),
    ("3.5", "us", "three point five"),
    ("since 1999", "us", "since nineteen ninety-nine"),
    ("in 2005", "us", "in two thousand five"),
    ("No. 1", "us", "number one"),
    ("10-20 items", "us", "ten to twenty items"),
    ("NYC", "us", "New York City"),
]


@pytest.mark.parametrize(("text", "variant", "expected"), CASES)
def test_normalize_en(text: str, variant: str, expected: str) -> None:
    assert normalize_en(text, variant) == expected


@pytest.mark.parametrize(
    ("n", "words"),
    [(0, "zero"), (13, "thirteen"), (40, "forty"), (99, "ninety-nine"), (1001, "one thousand one"),
     (1_000_000, "one million")],
)  # fmt: skip
def test_cardinal(n: int, words: str) -> None:
    assert cardinal(n) == words


@pytest.mark.parametrize(
    ("n", "words"), [(1, "first"), (2, "second"), (3, "third"), (5, "fifth"), (12, "twelfth"), (20, "twentieth"),
                     (21, "twenty-first"), (100, "one hundredth")]
)  # fmt: skip
def test_ordinal(n: int, words: str) -> None:
    assert ordinal(n) == words


def test_years() -> None:
    assert year_words(2026) == "twenty twenty-six"
    assert year_words(1900) == "nineteen hundred"
    assert year_words(1905) == "nineteen oh five"


def test_dialect_variants_accepted_and_unknown_refused() -> None:
    assert normalize_en("120", "scotland") == "one hundred and twenty"
    assert normalize_en("120", "nyc") == "one hundred twenty"
    with pytest.raises(PipelineInputError, match="us"):
        normalize_en("1", "martian")


ST_CASES = [
    # Street: after a house number or a street name
    ("12 Main St.", "twelve Main Street."),
    ("Main St. Open daily", "Main Street. Open daily"),
    ("Visit Main St. today", "Visit Main Street today"),
    ("Find us at 5th St. Downtown", "Find us at fifth Street. Downtown"),
    ("Pike St, Seattle", "Pike Street, Seattle"),
    ("on Elm St", "on Elm Street"),
    ("on the st. corner", "on the st. corner"),  # lower-case 'st.' is not the abbreviation
    # Saint: at the start or after a non-name, before a proper noun
    ("St. Louis", "Saint Louis"),
    ("St Andrews is lovely", "Saint Andrews is lovely"),
    ("Visit St. Louis today", "Visit Saint Louis today"),
    ("Welcome to St. Andrews", "Welcome to Saint Andrews"),
    ("Happy St. Patrick's Day!", "Happy Saint Patrick's Day!"),
    ("Meet us at 5 St. Mark's Place.", "Meet us at five Saint Mark's Place."),
]


@pytest.mark.parametrize(("text", "expected"), ST_CASES)
def test_saint_or_street_from_context(text: str, expected: str) -> None:
    assert normalize_en(text, "us") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Meet the Hội An Tote", "Meet the Hoi An Tote"), ("Phở in Đà Nẵng", "Pho in Dà Nang"),
     ("café naïve façade", "café naïve façade")],  # Latin-1 letters English voices already say
)  # fmt: skip
def test_letters_english_voices_cannot_say_are_folded(text: str, expected: str) -> None:
    assert normalize_en(text, "us") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # found by break-cli: real US ad copy; "1-800-..." was read "one to eight hundred-five hundred ..."
        ("call 1-800-555-0199 now", "call one, eight zero zero, five five five, zero one nine nine now"),
    ],
)
def test_us_trunk_prefixed_phone_numbers_are_read_digit_by_digit(text: str, expected: str) -> None:
    assert normalize_en(text, "us") == expected


@pytest.mark.parametrize(
    ("text", "variant", "expected"),
    [
        # found by break-cli: "Offer ends 3/31." was read "three/thirty-one"
        ("Offer ends 3/31.", "us", "Offer ends March thirty-first."),
        ("Offer ends 31/3.", "gb", "Offer ends the thirty-first of March."),
        ("Sale until 12/24!", "us", "Sale until December twenty-fourth!"),
    ],
)
def test_yearless_slash_dates_after_a_date_word(text: str, variant: str, expected: str) -> None:
    assert normalize_en(text, variant) == expected
