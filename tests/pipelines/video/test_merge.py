from __future__ import annotations

import pytest

from pipelines.video import merge


def render(text: str, data: dict, **ctx_kw) -> tuple[str, list[str]]:
    ctx = merge.MergeContext(**ctx_kw)
    return merge.render_string(text, data, ctx), ctx.errors


def test_paths_and_filters():
    data = {"customer": {"first_name": "hương"}, "product": {"price": 1290000, "tags": ["a", "b"]}}
    assert render("Chào {{customer.first_name | capitalize}}!", data) == ("Chào Hương!", [])
    assert render("{{product.price | currency}}", data)[0] == "1.290.000 ₫"
    assert render("{{product.price | currency: USD}}", data)[0] == "$1,290,000.00"
    assert render("{{ product.tags.1 | upper }}", data)[0] == "B"
    assert render("{{x | percent}}", {"x": 0.3})[0] == "30%"
    assert render("{{d | date}}", {"d": "2026-12-31"})[0] == "31/12/2026"
    assert render('{{d | date: "%Y.%m"}}', {"d": "2026-12-31"})[0] == "2026.12"
    assert render("{{t | truncate: 5}}", {"t": "abcdefgh"})[0] == "abcd…"


def test_default_used_only_when_missing():
    assert render('{{customer.first_name | default: "bạn"}}', {}) == ("bạn", [])
    assert render('{{customer.first_name | default: "bạn"}}', {"customer": {"first_name": ""}})[0] == "bạn"
    assert render('{{customer.first_name | default: "bạn" | upper}}', {"customer": {"first_name": "an"}})[0] == "AN"


def test_each_error_class_is_reported():
    _, errs = render("{{customer.first_name}}", {})
    assert "no value and no default" in errs[0] and "customer.first_name" in errs[0]
    _, errs = render("{{name | shout}}", {"name": "x"})
    assert "unknown filter 'shout'" in errs[0] and "currency" in errs[0]
    _, errs = render("{{price | currency}}", {"price": "abc"})
    assert "filter 'currency' failed" in errs[0]
    _, errs = render("{{ not a path }}", {})
    assert "dotted path" in errs[0]
    _, errs = render("{{customer}}", {"customer": {"a": 1}})
    assert "is a dict" in errs[0]


def test_all_errors_collected_in_one_pass():
    out, errs = render("{{a}} {{b | nope}} {{c | date}}", {"c": "not-a-date"})
    assert len(errs) == 3
    assert out == "  "


def test_leaf_paths():
    assert sorted(merge.leaf_paths({"a": {"b": 1, "c": {"d": 2}}, "e": 3})) == ["a.b", "a.c.d", "e"]


@pytest.mark.parametrize("code,expected", [("EUR", "12,50 €"), ("GBP", "£12.50"), ("XYZ", "12.50 XYZ")])
def test_currencies(code, expected):
    assert render(f"{{{{p | currency: {code}}}}}", {"p": 12.5})[0] == expected
