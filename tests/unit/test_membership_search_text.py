"""The search entries a member's names are stored with, and the queries that find them."""

from __future__ import annotations

import random
import unicodedata

from membership.store import _compact, query_chunks, search_text_of


def _compact_by_the_rule(text: str) -> str:
    return "".join(ch for ch in text if ch.isalnum() or unicodedata.category(ch)[0] == "M")


def test_compact_keeps_letters_digits_and_thai_marks_only() -> None:
    # Thai block, ASCII and a few other characters; _compact takes a shortcut for words
    # of Thai letters and a-z0-9 only, which must give what the rule gives.
    alphabet = [chr(c) for c in range(0x0E00, 0x0E80)] + [chr(c) for c in range(0x20, 0x7F)]
    alphabet += ["é", "\u200b", "–", "’", "๏", "฿"]
    rng = random.Random(41)
    for _ in range(3000):
        word = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        assert _compact(word) == _compact_by_the_rule(word), repr(word)


def test_a_query_finds_a_name_at_any_word_despite_punctuation() -> None:
    text = search_text_of("ร้านผ้าไหม บ้านดี (สาขา 2)", "Baan-Dee Silk Co., Ltd.")
    for query in ["ผ้าไหม", "บ้านดี", "ผ้าไหมบ้าน", "สาขา 2", "baan-dee", "BAANDEE silk", "ltd"]:
        assert all(f" {chunk}" in text for chunk in query_chunks(query)), query
    assert " ฟ้า" not in text
