"""Each personalization level's decision and reason on crafted profiles."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines._common.colors import delta_e00, parse_color
from pipelines._common.errors import PipelineInputError
from pipelines.personalization import (
    CustomerProfile,
    catalogue_from_dict,
    load_catalogue,
    load_copy_deck,
    personalize,
)
from pipelines.personalization.scoring import score_products
from pipelines.personalization.sentiment import analyze

DEMO = Path(__file__).resolve().parents[3] / "assets" / "demo"


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue(DEMO / "catalogue.yaml")


@pytest.fixture(scope="module")
def deck():
    return load_copy_deck(DEMO / "copy.yaml")


def plan_for(row, catalogue, deck, **kw):
    base = {"customer_id": "c1", "first_name": "An"}
    return personalize(CustomerProfile.from_row({**base, **row}, catalogue=catalogue), catalogue, deck, **kw)


# Level 1: attributes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "language", "accent"),
    [
        ("Hà Nội", "vi", "vi-north"),
        ("Hue", "vi", "vi-central"),
        ("Đà Nẵng", "vi", "vi-central"),
        ("TP.HCM", "vi", "vi-south"),
        ("Cần Thơ", "vi", "vi-south"),
        ("Glasgow, Scotland", "en", "en-scotland"),
        ("Kingston, Jamaica", "en", "en-caribbean"),
        ("Houston, Texas", "en", "en-us"),
    ],
)
def test_level1_location_sets_language_and_accent(catalogue, deck, location, language, accent):
    plan = plan_for({"location": location, "age": "23"}, catalogue, deck)
    assert plan.language == language
    assert plan.accent == accent
    d = plan.decision("accent")
    assert d.level == 1 and accent in d.reason
    assert plan.decision("age_band").value == "18-24"
    assert "age 23" in plan.reason("age_band")
    lang_reason = plan.reason("language")
    assert ("Vietnam" in lang_reason) if language == "vi" else ("outside Vietnam" in lang_reason)
    # The greeting uses the first name, and the copy really contains it.
    assert plan.decision("first_name").value == "An" and "An" in plan.copy["script"]


def test_level1_currency_follows_market(catalogue, deck):
    assert plan_for({"location": "Huế"}, catalogue, deck).price_text.endswith("₫")
    plan = plan_for({"location": "London, England"}, catalogue, deck)
    assert plan.currency == "GBP" and plan.price_text.startswith("£")
    assert "GB" in plan.reason("currency")


# Level 2: behaviour ----------------------------------------------------------------------------


def test_level2_vietnamese_favourite_colour_picks_nearest_real_colourway(catalogue, deck):
    plan = plan_for({"viewed": "TEE-LOTUS", "favourite_colors": "xanh lá"}, catalogue, deck)
    assert plan.sku == "TEE-LOTUS"
    tee = catalogue.get("TEE-LOTUS")
    fav = parse_color("xanh lá").lab
    dists = {n: delta_e00(parse_color(h).lab, fav) for n, h in tee.colourways.items()}
    assert plan.colourway == min(dists, key=dists.__getitem__) == "Jade"
    assert plan.colour_hex == tee.colourways["Jade"]
    reason = plan.reason("colourway")
    assert "favourite 'xanh lá'" in reason and f"ΔE00 {dists['Jade']:.1f}" in reason
    assert plan.decision("colourway").level == 2


def test_level2_viewed_colourway_counts_and_no_signal_uses_hero(catalogue, deck):
    plan = plan_for({"viewed": "HAT-NONLA:Sky"}, catalogue, deck)
    assert (plan.sku, plan.colourway) == ("HAT-NONLA", "Sky")
    assert "viewed HAT-NONLA in Sky" in plan.reason("colourway")
    plain = plan_for({"viewed": "MUG-CAPHE"}, catalogue, deck)
    assert plain.colourway == "Coffee" and "hero colourway" in plain.reason("colourway")


def test_level2_favourite_outweighs_a_viewed_colour_at_equal_distance(catalogue, deck):
    # Viewed Lotus Pink (distance 0 but weight ~0.4) vs favourite exactly Jade's hex (weight 1.0).
    plan = plan_for({"viewed": "TEE-LOTUS:Lotus Pink", "favourite_colors": "#1F9E6E"}, catalogue, deck)
    assert plan.colourway == "Jade"


def test_level2_low_engagement_gets_winback_offer(catalogue, deck):
    plan = plan_for({"engagement": "low", "location": "Huế"}, catalogue, deck)
    assert plan.offer == "comeback" and "Giảm 15%" in plan.copy["script"]
    assert "engagement 0.20" in plan.reason("offer")
    assert plan_for({"engagement": "high"}, catalogue, deck).offer is None


def test_level2_unknown_favourite_colour_is_a_row_error(catalogue, deck):
    with pytest.raises(PipelineInputError) as err:
        plan_for({"favourite_colors": "blurple-ish"}, catalogue, deck)
    assert err.value.field == "favourite_colors"


# Level 3: context / intent --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "device", "fmt"),
    [
        ("tiktok", "mobile", "9:16"),
        ("reels", "mobile", "9:16"),
        ("instagram_feed", "mobile", "4:5"),
        ("facebook_feed", "desktop", "1:1"),
        ("youtube", "desktop", "16:9"),
        ("web", "desktop", "16:9"),
        ("web", "mobile", "9:16"),
    ],
)
def test_level3_channel_and_device_pick_format(catalogue, deck, channel, device, fmt):
    plan = plan_for({"channel": channel, "device": device}, catalogue, deck)
    assert plan.format == fmt
    assert channel in plan.reason("format") and plan.decision("format").level == 3


def test_level3_format_restricted_to_campaign_formats(catalogue, deck):
    plan = plan_for({"channel": "youtube"}, catalogue, deck, formats=("9:16", "1:1"))
    assert plan.format == "1:1"  # nearest aspect to 16:9 among those rendered
    assert "prefers 16:9" in plan.reason("format")


def test_level3_intent_sets_variant_and_copy(catalogue, deck):
    comparing = plan_for({"intent": "comparing", "location": "Boston, US"}, catalogue, deck)
    assert comparing.template_variant == "comparison"
    assert "Comparing" in comparing.copy["script"] and comparing.copy_key.startswith("en/comparison/")
    support = plan_for({"intent": "support", "message": "How do I wash it?"}, catalogue, deck)
    assert support.template_variant == "support" and support.tone == "calm"
    assert "help" in support.copy["script"]


# Level 4: prediction ---------------------------------------------------------------------------


def test_level4_recent_view_wins_and_purchases_are_excluded(catalogue, deck):
    plan = plan_for({"viewed": "MUG-CAPHE;TEE-LOTUS", "purchased": "TOTE-HOIAN"}, catalogue, deck)
    assert plan.sku == "MUG-CAPHE"
    reason = plan.reason("sku")
    assert "recency +3.00" in reason and "excluded as already purchased: TOTE-HOIAN" in reason
    assert plan.decision("sku").level == 4


def test_level4_complement_after_purchase(catalogue, deck):
    # Bought a tee (complements: accessories), no views: an accessory beats the catalogue prior.
    scores = score_products(
        CustomerProfile.from_row(
            {"customer_id": "x", "first_name": "A", "purchased": "TEE-LOTUS"}, catalogue=catalogue
        ),
        catalogue,
    )
    assert scores[0].product.category == "accessories" and scores[0].terms["complement"] > 0
    assert scores[-1].excluded == "already purchased"


def test_level4_all_purchased_reorders_most_recent():
    cat = catalogue_from_dict(
        {
            "products": [
                {
                    "sku": "A",
                    "name": "A",
                    "prices": {"USD": 1},
                    "image": "a.png",
                    "colourways": {"Red": "#FF0000"},
                },
                {
                    "sku": "B",
                    "name": "B",
                    "prices": {"USD": 1},
                    "image": "b.png",
                    "colourways": {"Blue": "#0000FF"},
                },
            ]
        }
    )
    deck = load_copy_deck(DEMO / "copy.yaml")
    plan = plan_for({"purchased": "B;A"}, cat, deck)
    assert plan.sku == "B" and "re-order" in plan.reason("sku")


# Level 5: emotion ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "tone"),
    [
        ("Giao hàng chậm quá, thất vọng!", "empathetic"),
        ("giao hang cham qua, that vong", "empathetic"),  # no diacritics
        ("Áo đẹp lắm, rất thích!!", "energetic"),
        ("Obsessed with this tote. Can't wait!", "energetic"),
        ("The mug arrived broken. Really disappointed.", "empathetic"),
        ("không hài lòng", "empathetic"),  # negation flips
        ("Not bad.", "calm"),  # negated negative: mildly positive, low arousal
    ],
)
def test_level5_message_sentiment_sets_tone(catalogue, deck, message, tone):
    plan = plan_for({"message": message, "age": "40"}, catalogue, deck)
    assert plan.tone == tone
    d = plan.decision("tone")
    assert d.level == 5 and "sentiment" in d.reason


def test_level5_reason_names_the_words():
    s = analyze("Giao hàng chậm quá, thất vọng!")
    assert s.label == "negative" and {h.term for h in s.hits} == {"chậm", "thất vọng"}
    assert analyze("không đẹp").score < 0 < analyze("đẹp").score
    assert analyze("not good").score < 0 < analyze("good").score
    # Folded matching must not turn a colour ("hồng", pink) into "hỏng" (broken), nor English "do" into "dở".
    assert analyze("Mê màu hồng này lắm").score > 0
    assert analyze("Do you have it in blue?").hits == ()
    # "dùng" (use) must not fold into the negator "đừng" (don't).
    assert not any(h.negated for h in analyze("Cốc có dùng được trong lò vi sóng không?").hits)
    assert analyze("dung mua nhe, that vong qua").score < 0  # negation stops at the comma


def test_level5_no_message_defaults_by_age_band(catalogue, deck):
    young = plan_for({"age": "20"}, catalogue, deck)
    older = plan_for({"age": "60"}, catalogue, deck)
    assert (young.tone, older.tone) == ("energetic", "calm")
    assert "age band 18-24" in young.reason("tone")


# Whole plan ------------------------------------------------------------------------------------


def test_every_level_has_a_reason_and_plan_serialises(catalogue, deck):
    plan = plan_for({"location": "Huế", "viewed": "TEE-LOTUS", "message": "đẹp"}, catalogue, deck)
    levels = {d.level for d in plan.decisions}
    assert levels == {1, 2, 3, 4, 5}
    assert all(d.reason for d in plan.decisions)
    data = plan.to_dict()
    assert data["sku"] == "TEE-LOTUS" and len(data["decisions"]) == len(plan.decisions)
    merge = plan.merge_data()
    assert merge["customer"]["first_name"] == "An" and merge["product"]["price"] == plan.price_text


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"customer_id": ""}, "customer_id"),
        ({"age": "9"}, "age"),
        ({"age": "abc"}, "age"),
        ({"channel": "snapchat"}, "channel"),
        ({"viewed": "SOCK-99"}, "viewed"),
        ({"purchased": "TEE-LOTUS:Magenta"}, "purchased"),
        ({"engagement": "2.5"}, "engagement"),
        ({"language": "fr"}, "language"),
    ],
)
def test_bad_rows_name_the_field(catalogue, row, field):
    with pytest.raises(PipelineInputError) as err:
        CustomerProfile.from_row({"customer_id": "c1", "first_name": "An", **row}, catalogue=catalogue)
    assert err.value.field == field


def test_one_table_of_tones_and_formats(catalogue, deck):
    """Plans use the voice pipeline's tones and the video pipeline's formats (one table each)."""
    from pipelines.personalization import taste
    from pipelines.video.specs import FORMATS as VIDEO_FORMATS
    from pipelines.voice.config import TONE_PRESETS, TONES

    assert set(taste.FORMATS) == set(VIDEO_FORMATS)
    assert not hasattr(taste, "TONES")
    rows = [{"message": "Giao hàng chậm quá, thất vọng!", "age": "40"}, {"age": "20"}, {"age": "60"},
            {"message": "Obsessed with this tote. Can't wait!", "age": "40"}]
    tones = {plan_for(r, catalogue, deck).tone for r in rows}
    assert tones == set(TONES) and tones <= set(TONE_PRESETS)  # every tone a plan picks is a voice preset
    with pytest.raises(PipelineInputError, match="format"):
        plan_for({"age": "20"}, catalogue, deck, formats=["3:2"])
