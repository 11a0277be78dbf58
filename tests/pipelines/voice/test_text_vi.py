"""Vietnamese normalisation, table-driven: regional number readings, prices, dates, phones, units."""

from __future__ import annotations

import pytest

from pipelines._common.errors import PipelineInputError
from pipelines.voice.text_vi import normalize_vi, number_words

NUMBERS = [
    # n, north, south
    (0, "không", "không"),
    (5, "năm", "năm"),
    (10, "mười", "mười"),
    (11, "mười một", "mười một"),
    (14, "mười bốn", "mười bốn"),
    (15, "mười lăm", "mười lăm"),
    (20, "hai mươi", "hai mươi"),
    (21, "hai mươi mốt", "hai mươi mốt"),
    (24, "hai mươi tư", "hai mươi tư"),
    (25, "hai mươi lăm", "hai mươi lăm"),
    (101, "một trăm linh một", "một trăm lẻ một"),
    (105, "một trăm linh năm", "một trăm lẻ năm"),
    (110, "một trăm mười", "một trăm mười"),
    (115, "một trăm mười lăm", "một trăm mười lăm"),
    (1000, "một nghìn", "một ngàn"),
    (1005, "một nghìn không trăm linh năm", "một ngàn không trăm lẻ năm"),
    (2026, "hai nghìn không trăm hai mươi sáu", "hai ngàn không trăm hai mươi sáu"),
    (150_000, "một trăm năm mươi nghìn", "một trăm năm mươi ngàn"),
    (1_000_000, "một triệu", "một triệu"),
    (2_050_000, "hai triệu không trăm năm mươi nghìn", "hai triệu không trăm năm mươi ngàn"),
    (3_000_000_000, "ba tỷ", "ba tỷ"),
]


@pytest.mark.parametrize(("n", "north", "south"), NUMBERS)
def test_number_readings_by_region(n: int, north: str, south: str) -> None:
    assert number_words(n, "north") == north
    assert number_words(n, "south") == south


def test_nham_is_colloquial_north_only() -> None:
    assert normalize_vi("25", "north", colloquial=True) == "hai mươi nhăm"
    assert normalize_vi("15", "north", colloquial=True) == "mười lăm"  # never "mười nhăm"
    assert normalize_vi("25", "south", colloquial=True) == "hai mươi lăm"


CASES = [
    # text, dialect, expected
    ("150.000đ", "north", "một trăm năm mươi nghìn đồng"),
    ("150.000đ", "south", "một trăm năm mươi ngàn đồng"),
    ("150.000đ", "central", "một trăm năm mươi ngàn đồng"),
    ("Giá 199.000đ", "north", "Giá một trăm chín mươi chín nghìn đồng"),
    ("199.000 VND", "south", "một trăm chín mươi chín ngàn đồng"),
    ("199.000 VNĐ", "north", "một trăm chín mươi chín nghìn đồng"),
    ("199,000đ", "north", "một trăm chín mươi chín nghìn đồng"),
    ("50.000₫", "north", "năm mươi nghìn đồng"),
    ("99k", "south", "chín mươi chín ngàn"),
    ("99k/tháng", "north", "chín mươi chín nghìn một tháng"),
    ("1,5 triệu", "north", "một triệu rưỡi"),
    ("2tr", "north", "hai triệu"),
    ("2tr5", "south", "hai triệu năm trăm ngàn"),
    ("2 triệu", "north", "hai triệu"),
    ("$20", "north", "hai mươi đô la"),
    ("giảm 50%", "north", "giảm năm mươi phần trăm"),
    ("-30%", "north", "giảm ba mươi phần trăm"),
    ("12,5%", "north", "mười hai phẩy năm phần trăm"),
    ("10-20%", "north", "mười đến hai mươi phần trăm"),
    ("3,14", "north", "ba phẩy mười bốn"),
    ("0,05", "north", "không phẩy không năm"),
    ("20/11", "north", "ngày hai mươi tháng mười một"),
    ("ngày 20/11/2026", "north", "ngày hai mươi tháng mười một năm hai nghìn không trăm hai mươi sáu"),
    ("ngày 20/11/2026", "south", "ngày hai mươi tháng mười một năm hai ngàn không trăm hai mươi sáu"),
    ("1/6", "north", "ngày mùng một tháng sáu"),
    ("30/4", "south", "ngày ba mươi tháng tư"),
    ("2026-11-20", "north", "ngày hai mươi tháng mười một năm hai nghìn không trăm hai mươi sáu"),
    ("8:30", "north", "tám giờ ba mươi phút"),
    ("8h30", "north", "tám giờ ba mươi"),
    ("14:05", "north", "mười bốn giờ năm phút"),
    ("20h", "north", "hai mươi giờ"),
    ("SĐT 0912 345 678", "north", "số điện thoại không chín một hai, ba bốn năm, sáu bảy tám"),
    ("gọi 0912345678", "north", "gọi không chín một hai, ba bốn năm, sáu bảy tám"),
    ("0912.345.678", "north", "không chín một hai, ba bốn năm, sáu bảy tám"),
    ("+84 912 345 678", "north", "cộng tám bốn chín một hai, ba bốn năm, sáu bảy tám"),
    ("hotline 1900 1234", "north", "hotline một chín không không, một hai ba bốn"),
    ("2kg", "north", "hai ki lô gam"),
    ("500ml", "north", "năm trăm mi li lít"),
    ("30 cm", "north", "ba mươi xen ti mét"),
    ("1,5 lít", "north", "một phẩy năm lít"),
    ("60km/h", "north", "sáu mươi ki lô mét trên giờ"),
    ("TP.HCM", "north", "thành phố Hồ Chí Minh"),
    ("TP. HCM", "south", "thành phố Hồ Chí Minh"),
    ("Q.1", "south", "quận một"),
    ("Q.Bình Thạnh", "south", "quận Bình Thạnh"),
    ("P.5", "south", "phường năm"),
    ("áo, quần v.v.", "north", "áo, quần vân vân"),
    ("thứ 2", "north", "thứ hai"),
    ("thứ 4", "north", "thứ tư"),
    ("tháng 4", "north", "tháng tư"),
    ("hỗ trợ 24/7", "north", "hỗ trợ hai mươi tư trên bảy"),
    ("Số 105", "north", "Số một trăm linh năm"),
    ("Số 105", "south", "Số một trăm lẻ năm"),
    ("Chào bạn!", "north", "Chào bạn!"),
]


@pytest.mark.parametrize(("text", "dialect", "expected"), CASES)
def test_normalize_vi(text: str, dialect: str, expected: str) -> None:
    assert normalize_vi(text, dialect) == expected


def test_normalize_vi_sentence_keeps_punctuation() -> None:
    out = normalize_vi("Áo khoác chỉ 150.000đ, giao tại Q.1, TP.HCM trước 20/11!", "south")
    assert out == (
        "Áo khoác chỉ một trăm năm mươi ngàn đồng, giao tại quận một, thành phố Hồ Chí Minh "
        "trước ngày hai mươi tháng mười một!"
    )
    assert not any(c.isdigit() for c in out)


def test_unknown_dialect_lists_allowed() -> None:
    with pytest.raises(PipelineInputError, match="north"):
        normalize_vi("1", "western")
