"""Thai text: normalisation, search terms, Buddhist-era dates and the 13-digit ID checksum.

PyThaiNLP's word list and normaliser use data shipped inside its wheel, and nlpo3
(newmm's algorithm in Rust, which PyThaiNLP wraps) loads that word list, so nothing
here downloads anything (PyThaiNLP does create an empty
`~/pythainlp-data` directory on import; set PYTHAINLP_DATA to move it).
"""

from __future__ import annotations

import datetime
import functools
import operator
import re
import unicodedata

from pythainlp import (
    thai_above_vowels,
    thai_below_vowels,
    thai_follow_vowels,
    thai_lead_vowels,
    thai_tonemarks,
)
from pythainlp.tokenize.nlpo3 import segment as _segment_thai
from pythainlp.util import normalize as _thai_normalize

__all__ = [
    "has_control_characters",
    "normalize",
    "parse_date",
    "search_terms",
    "thai_id_checksum_ok",
    "to_common_era_year",
]

# Invisible characters that make equal-looking strings compare unequal:
# ZWSP, ZWNJ, ZWJ, word joiner, BOM. Thai needs none of them.
_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")
_WHITESPACE = re.compile(r"\s+")


_THAI_CHAR = re.compile("[\u0e00-\u0e7f]")

# Where PyThaiNLP's normaliser could change anything (its rules, in pythainlp.util.normalize):
# a tone mark or thanthakhat before an above/below vowel; nikhahit (typed for Sara Am); a
# tone mark after a follow vowel; lakkhangyao (for Sara Aa); a vowel or sign repeated,
# spaces between or not (a doubled Sara E too); two tone marks in a row; a mark dangling
# at the start or after a space. (Its zero-width and whitespace rules have nothing left to
# do: normalize removes those first.) Most text has none of them and skips its passes.
_MARKS = f"{thai_above_vowels}{thai_below_vowels}{thai_tonemarks}\u0e3a\u0e4c\u0e4d\u0e4e"
_NO_REPEAT = (
    f"{thai_follow_vowels}{thai_lead_vowels}{thai_above_vowels}{thai_below_vowels}"
    "\u0e3a\u0e4c\u0e4d\u0e4e"
)
_THAI_RULES_APPLY = re.compile(
    "|".join(
        [
            f"[{thai_tonemarks}\u0e4c][{thai_above_vowels}{thai_below_vowels}]",
            "[\u0e4d\u0e45]",
            f"[{thai_follow_vowels}][{thai_tonemarks}]",
            f"([{_NO_REPEAT}]) *\\1",
            f"[{thai_tonemarks}]{{2}}",
            f"(?:^| )[{_MARKS}]",
        ]
    )
)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_LATIN_WORD = re.compile(r"[^\W_]+(?:[-.'][^\W_]+)*")


@functools.lru_cache(maxsize=8192)
def normalize(text: str) -> str:
    """One canonical form for comparing, storing and indexing text.

    NFC; zero-width characters removed; runs of whitespace (line breaks too)
    become one space, trimmed; then PyThaiNLP's normaliser, which fixes typing
    order (e.g. NIKHAHIT + SARA AA "ํา" -> SARA AM "ำ", tone mark before vowel),
    doubled vowels and tone marks, and marks dangling at the start of a word.
    """
    # A pattern, not str.translate: translate costs about 2 us on any non-ASCII text.
    text = _ZERO_WIDTH.sub("", unicodedata.normalize("NFC", text))
    text = _WHITESPACE.sub(" ", text).strip()
    if not _THAI_CHAR.search(text) or not _THAI_RULES_APPLY.search(text):
        return text  # nothing PyThaiNLP's rules would change
    return _thai_normalize(text).strip()


def warm_up() -> None:
    """Load the word list now (about a second) rather than in the first request."""
    _segment_thai("ผ้าไหม")


# A run of Thai letters, vowels and marks (not Thai digits), with the dots of
# abbreviations the word list knows (พ.ศ., ม.ค.): the only text that needs a dictionary
# to find its word boundaries.
_THAI_RUN = re.compile("([\u0e00-\u0e4f\u0e5a-\u0e7f]+(?:\\.[\u0e00-\u0e4f\u0e5a-\u0e7f]+)*\\.?)")
# Outside Thai: numbers keep their separators (280,000; 16.00), then words.
_OTHER_WORD = re.compile(rf"\d+(?:[,.]\d+)+|{_LATIN_WORD.pattern}")


def search_terms(text: str) -> list[str]:
    """Words to index and to search by, in order of first appearance.

    Thai has no spaces between words, so each run of Thai is segmented by the
    dictionary-based newmm algorithm (PyThaiNLP's word list, run by nlpo3: about 5 us
    a name against pure-Python newmm's 40); the rest is split into words at spaces and
    punctuation, and Latin words are lower-cased. Punctuation is trimmed from each
    token's ends and tokens with no letter or digit dropped.
    """
    text = normalize(text)
    tokens: list[str] = []
    for index, part in enumerate(_THAI_RUN.split(text)):
        if index % 2:  # split() puts the captured Thai runs at odd indexes
            tokens += _segment_thai(part)
        elif part:
            tokens += _OTHER_WORD.findall(part)
    terms: dict[str, None] = {}  # a dict keeps first-seen order
    for token in tokens:
        # Most tokens start and end with a letter or digit: nothing to trim or check.
        if not (token[:1].isalnum() and token[-1:].isalnum()):
            token = _strip_punctuation(token)
            if not any(ch.isalnum() for ch in token):
                continue
        terms.setdefault(token.lower())
    return list(terms)


def _is_punctuation(ch: str) -> bool:
    # Punctuation, symbols and separators; not marks (M*), which Thai vowels
    # and tone marks are and which may end a word, as in "ก็".
    return unicodedata.category(ch)[0] in "PSZ"


def _strip_punctuation(token: str) -> str:
    # Thai tokens may end in punctuation the dictionary keeps with them: "ฯ".
    start, end = 0, len(token)
    while start < end and _is_punctuation(token[start]):
        start += 1
    while end > start and _is_punctuation(token[end - 1]):
        end -= 1
    return token[start:end]


def has_control_characters(text: str, *, allow_line_breaks: bool = False) -> bool:
    """True when the text holds a C0/C1 control character (Unicode category Cc).

    Tab, CR and LF are control characters too; pass `allow_line_breaks=True`
    for multi-line fields such as descriptions.
    """
    if not _CONTROL.search(text):  # the common case, without a per-character loop
        return False
    allowed = "\t\r\n" if allow_line_breaks else ""
    return any(unicodedata.category(ch) == "Cc" and ch not in allowed for ch in text)


# Years from 2400 up are Buddhist era: 2400 BE is 1857 CE, older than any
# record here, and no common-era year we handle comes near 2400.
_BE_THRESHOLD = 2400
_BE_OFFSET = 543


def to_common_era_year(year: int) -> int:
    """A year as CE: Buddhist-era years (>= 2400) lose 543, others are returned as is."""
    return year - _BE_OFFSET if year >= _BE_THRESHOLD else year


_THAI_MONTHS = [
    ("มกราคม", "มค"),
    ("กุมภาพันธ์", "กพ"),
    ("มีนาคม", "มีค"),
    ("เมษายน", "เมย"),
    ("พฤษภาคม", "พค"),
    ("มิถุนายน", "มิย"),
    ("กรกฎาคม", "กค"),
    ("สิงหาคม", "สค"),
    ("กันยายน", "กย"),
    ("ตุลาคม", "ตค"),
    ("พฤศจิกายน", "พย"),
    ("ธันวาคม", "ธค"),
]
# Keyed without dots or spaces, so "มี.ค.", "มี.ค" and "มีค" all match.
_MONTH_BY_NAME = {
    name: number for number, names in enumerate(_THAI_MONTHS, start=1) for name in names
}

# \d is Unicode-aware, so Thai digits (๒๕๖๘) are accepted too; int() reads them.
_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_SLASHED = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_THAI = re.compile(r"(\d{1,2}) ?([^\d ]+?) ?(?:พ\.? ?ศ\.? ?)?(\d{4}|\d{2})")

_ACCEPTED_FORMS = (
    "accepted forms: 2568-03-15, 15/03/2568, 15/3/2025, 15 มีนาคม 2568, 15 มี.ค. 68 "
    "(years from 2400 are Buddhist era; a two-digit year is 25xx BE)"
)


def parse_date(text: str) -> datetime.date:
    """Reads a date as operators write it, in Buddhist or common era.

    Raises ValueError naming the accepted forms; the message does not repeat
    the input, which may be personal data such as a birth date.
    """
    cleaned = normalize(text)
    if m := _ISO.fullmatch(cleaned):
        year, month, day = int(m[1]), int(m[2]), int(m[3])
    elif m := _SLASHED.fullmatch(cleaned):
        day, month, year = int(m[1]), int(m[2]), int(m[3])
    elif (m := _THAI.fullmatch(cleaned)) and (
        thai_month := _MONTH_BY_NAME.get(m[2].replace(".", "").replace(" ", ""))
    ):
        day, month, year = int(m[1]), thai_month, int(m[3])
        if len(m[3]) == 2:
            year += 2500
    else:
        raise ValueError(f"not a date in a known form; {_ACCEPTED_FORMS}")
    try:
        return datetime.date(to_common_era_year(year), month, day)
    except ValueError as err:  # e.g. 31/02, month 13
        raise ValueError(f"no such date ({err}); {_ACCEPTED_FORMS}") from None


def thai_id_checksum_ok(digits: str) -> bool:
    """Whether a 13-digit Thai national or juristic-person ID has a valid check digit.

    Expects exactly 13 ASCII digits; strip separators ("1-2345-...") first.
    The check digit is (11 - sum(d[i] * (13 - i) for i in 0..11) % 11) % 10.
    """
    if len(digits) != 13 or not (digits.isascii() and digits.isdigit()):
        return False
    # On the ASCII codes (digit + 48), the 48s taken off once: a fifth of int() per digit.
    codes = digits.encode()
    total = sum(map(operator.mul, codes[:12], _ID_WEIGHTS)) - _ID_CODE_OFFSET
    return (11 - total % 11) % 10 == codes[12] - 48


_ID_WEIGHTS = range(13, 1, -1)
_ID_CODE_OFFSET = 48 * sum(_ID_WEIGHTS)
