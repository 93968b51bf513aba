"""Thai text handling: normalisation, search terms, Buddhist-era dates, ID checksum."""

from __future__ import annotations

import datetime
import random
import unicodedata

import pytest
from bizclub_shared.thai_text import (
    has_control_characters,
    normalize,
    parse_date,
    search_terms,
    thai_id_checksum_ok,
    to_common_era_year,
)
from pythainlp.util import normalize as pythainlp_normalize

NIKHAHIT, SARA_AA, SARA_AM, MAI_THO = "\u0e4d", "\u0e32", "\u0e33", "\u0e49"


def test_normalize_joins_nikhahit_and_sara_aa_into_sara_am() -> None:
    assert normalize(f"ก{NIKHAHIT}{SARA_AA}ไร") == f"ก{SARA_AM}ไร"
    # Tone mark typed before or after the nikhahit: both become the one spelling of น้ำ.
    assert normalize(f"น{MAI_THO}{NIKHAHIT}{SARA_AA}") == f"น{MAI_THO}{SARA_AM}"
    assert normalize(f"น{NIKHAHIT}{MAI_THO}{SARA_AA}") == f"น{MAI_THO}{SARA_AM}"


def test_normalize_strips_zero_width_and_collapses_whitespace() -> None:
    assert normalize("\ufeff  ผ้าไหม\u200bทอมือ \t\n จาก\u200cอุดรธานี\u2060  ") == (
        "ผ้าไหมทอมือ จากอุดรธานี"
    )
    assert normalize("เเปลก") == "แปลก"  # two SARA E typed for SARA AE
    assert normalize("") == ""


def test_normalize_composes_nfc() -> None:
    assert normalize("Cafe\u0301") == "Caf\u00e9"


def test_normalize_agrees_with_pythainlp_on_every_kind_of_typing_slip() -> None:
    """The shortcut past PyThaiNLP's rules (for text they would not change) gives what the
    rules give, on random strings crowded with the marks those rules are about."""
    consonants = "กขคงจนบปพมยรลวสหอฤฦ"
    marks = "ะัาำิีึืฺุู็่้๊๋์ํ๎ๅเแโใไ"
    alphabet = consonants + marks * 2 + "  ab1"
    rng = random.Random(2569)
    for _ in range(30_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 10)))
        spaced = " ".join(unicodedata.normalize("NFC", text).split())
        assert normalize(text) == pythainlp_normalize(spaced).strip(), repr(text)


def test_search_terms_segment_thai_words() -> None:
    assert search_terms("ผ้าไหมทอมือจากอุดรธานี") == ["ผ้าไหม", "ทอ", "มือ", "จาก", "อุดรธานี"]


def test_search_terms_lower_case_drop_punctuation_and_repeats() -> None:
    assert search_terms("ร้าน OTOP, ของดี! otop ร้าน\u200b (Udon)") == ["ร้าน", "otop", "ของดี", "udon"]
    assert search_terms(" ,.! ") == []
    assert search_terms('e-commerce ก็ได้ "ผ้าไหม"') == ["e-commerce", "ก็ได้", "ผ้าไหม"]
    assert search_terms("(ก็)") == ["ก็"]  # a trailing mark is part of the word


def test_search_terms_keep_abbreviations_and_numbers_whole() -> None:
    assert search_terms("ประชุม 15 ม.ค. 2569 ยอดขาย 280,000 บาท") == [
        "ประชุม",
        "15",
        "ม.ค",
        "2569",
        "ยอดขาย",
        "280,000",
        "บาท",
    ]


def test_search_terms_split_thai_as_pythainlp_newmm_does() -> None:
    # nlpo3 runs newmm in Rust on PyThaiNLP's word list; the demo network's names must
    # come out as PyThaiNLP's own (pure-Python) newmm splits them.
    from membership.seed import demo_registrations
    from pythainlp.tokenize import word_tokenize

    names = [r.business_name_th for r in demo_registrations(200)]
    assert len(names) == 200
    for name in names:
        expected = [w for w in word_tokenize(name, engine="newmm") if w.strip()]
        assert search_terms(name) == list(dict.fromkeys(w.lower() for w in expected)), name


def test_control_characters() -> None:
    assert not has_control_characters("ผ้าไหม ทอมือ")
    assert has_control_characters("ผ้าไหม\x00")
    assert has_control_characters("line\nbreak")
    assert not has_control_characters("line\nbreak\ttab", allow_line_breaks=True)
    assert has_control_characters("bell\x07", allow_line_breaks=True)


@pytest.mark.parametrize(
    ("year", "expected"),
    [(2568, 2025), (2400, 1857), (2025, 2025), (2399, 2399), (1999, 1999)],
)
def test_to_common_era_year(year: int, expected: int) -> None:
    assert to_common_era_year(year) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2568-03-15",
        "2025-03-15",
        "15/03/2568",
        "15/3/2025",
        "15 มีนาคม 2568",
        "15 มี.ค. 68",
        "15 มี.ค. 2568",
        "15 มีค 68",
        "15มี.ค.68",
        "15 มีนาคม พ.ศ. 2568",
        "  15  มีนาคม\u200b 2568 ",
        "๑๕ มีนาคม ๒๕๖๘",  # Thai digits
    ],
)
def test_parse_date_accepted_forms(text: str) -> None:
    assert parse_date(text) == datetime.date(2025, 3, 15)


def test_parse_date_every_thai_month() -> None:
    assert parse_date("1 ม.ค. 68") == datetime.date(2025, 1, 1)
    assert parse_date("29 กุมภาพันธ์ 2567") == datetime.date(2024, 2, 29)
    assert parse_date("31 ธ.ค. 67") == datetime.date(2024, 12, 31)


@pytest.mark.parametrize(
    "text", ["", "15/3/68", "15 March 2025", "15 มีน 2568", "2568/03/15", "yesterday"]
)
def test_parse_date_unknown_form_names_the_accepted_ones(text: str) -> None:
    with pytest.raises(ValueError, match="accepted forms: 2568-03-15, 15/03/2568"):
        parse_date(text)


def test_parse_date_impossible_day() -> None:
    with pytest.raises(ValueError, match="no such date"):
        parse_date("30 ก.พ. 68")
    with pytest.raises(ValueError, match="no such date"):
        parse_date("15/13/2568")


# 1-1037-00123-45-8: check digit computed from the 12 before it, weights 13..2.
VALID_ID = "1103700123458"


def test_thai_id_checksum_valid() -> None:
    total = sum(int(d) * w for d, w in zip(VALID_ID[:12], range(13, 1, -1), strict=True))
    assert (11 - total % 11) % 10 == int(VALID_ID[12])
    assert thai_id_checksum_ok(VALID_ID)


@pytest.mark.parametrize(
    "digits",
    [
        "1103700123459",  # check digit off by one
        "1103700123448",  # a body digit off by one
        "110370012345",  # 12 digits
        "11037001234580",  # 14 digits
        "1-1037-00123-45-8",  # separators must be stripped first
        "๑๑๐๓๗๐๐๑๒๓๔๕๘",  # Thai digits are not accepted
        "",
    ],
)
def test_thai_id_checksum_invalid(digits: str) -> None:
    assert not thai_id_checksum_ok(digits)


def test_thai_id_checksum_accepts_exactly_the_check_digit_of_the_rule() -> None:
    # The rule as the Department of Provincial Administration states it, digit by digit.
    rng = random.Random(13)
    for _ in range(500):
        body = "".join(rng.choice("0123456789") for _ in range(12))
        total = sum(int(d) * (13 - i) for i, d in enumerate(body))
        expected = (11 - total % 11) % 10
        accepted = [check for check in "0123456789" if thai_id_checksum_ok(body + check)]
        assert accepted == [str(expected)]
