"""Match scoring: Thai word segmentation + BM25 ranks right where substring search fails;
a missing required certification is never suggested; every score shows its parts.

Pure domain functions, no I/O.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest
from bizclub.matching.v1 import matching_pb2 as mp
from bizclub_shared.provinces import PROVINCES
from matching import domain
from matching.domain import Need, Offer, PairHistory, Price, Quantity

NOW = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
TODAY = date(2026, 6, 1)
TEXTILES = mp.PRODUCT_CATEGORY_TEXTILES
OTOP, FDA, GAP, HALAL = (
    mp.CERTIFICATION_OTOP,
    mp.CERTIFICATION_THAI_FDA,
    mp.CERTIFICATION_GAP,
    mp.CERTIFICATION_HALAL,
)


def need(title: str, description: str = "", **overrides: object) -> Need:
    values: dict[str, object] = dict(
        need_id="need-1",
        buyer_id="buyer-1",
        buyer_kind=mp.BUYER_KIND_DEPARTMENT_STORE,
        province_code="TH-10",
        categories=[TEXTILES],
        title=title,
        description=description,
        volume=None,
        price=None,
        required_certifications=[],
        min_otop_stars=0,
        delivery_regions=[],
        open_to_province_codes=[],
        deadline=None,
        published_at=NOW,
    )
    values.update(overrides)
    return Need(**values)  # type: ignore[arg-type]


def offer(offer_id: str, title: str, description: str = "", **overrides: object) -> Offer:
    values: dict[str, object] = dict(
        offer_id=offer_id,
        member_id=f"member-{offer_id}",
        province_code="TH-41",
        cluster_code="textiles",
        business_name_th=f"ร้าน {offer_id}",
        categories=[TEXTILES],
        title=title,
        description=description,
        products=[],
        capacity=None,
        price=None,
        certifications=[],
        otop_stars=0,
        active=True,
        updated_at=NOW,
    )
    values.update(overrides)
    return Offer(**values)  # type: ignore[arg-type]


def ranked(n: Need, offers: list[Offer], **kwargs: object) -> list[str]:
    return [s.offer.offer_id for s in domain.rank_offers(n, offers, {}, TODAY, **kwargs)]  # type: ignore[arg-type]


def naive(query: str, offers: list[Offer]) -> list[str]:
    """What a substring search finds: the offers whose text contains the query."""
    return [o.offer_id for o in offers if query in o.title + " " + o.description]


def text_value(n: Need, offers: list[Offer], offer_id: str) -> float:
    value, _ = domain.TextIndex(offers).similarity(n)[offer_id]
    return value


# --- Thai text: segmentation and BM25, not substrings ---------------------------------------


def test_a_compound_word_matches_the_words_it_is_made_of_where_substring_search_finds_nothing() -> (
    None
):
    # ผ้าไหม|มัดหมี่|ทอ|มือ holds every word of ผ้าไหม|ทอ|มือ, but not the string.
    offers = [
        offer("knit", "ไหมพรมถักมือ", "ผ้าพันคอไหมพรมถักมือ"),
        offer("cotton", "ผ้าฝ้ายย้อมคราม"),
        offer("mudmee", "ผ้าไหมมัดหมี่ทอมือ", "ผ้าไหมมัดหมี่ทอมือจากบ้านเชียง"),
    ]
    wanted = need("ผ้าไหมทอมือ")
    assert naive("ผ้าไหมทอมือ", offers) == []
    order = ranked(wanted, offers)
    assert order[0] == "mudmee"
    assert text_value(wanted, offers, "mudmee") == pytest.approx(1.0)
    # Yarn knitted by hand shares only "มือ" (hand): far below the silk.
    assert text_value(wanted, offers, "knit") < 0.35


def test_the_substring_trap_silk_is_not_knitting_yarn() -> None:
    # "ผ้าไหมพรม" (yarn cloth) contains the string "ผ้าไหม" (silk); as words it is ผ้า|ไหมพรม.
    offers = [
        offer("yarn", "ผ้าไหมพรมถักมือ"),
        offer("silk", "ผ้ามัดหมี่ ผ้าไหม ลายโบราณ"),
    ]
    wanted = need("ผ้าไหม")
    assert naive("ผ้าไหม", offers) == ["yarn", "silk"]  # substring search puts the yarn first
    assert ranked(wanted, offers)[0] == "silk"
    assert text_value(wanted, offers, "yarn") == 0.0


def test_jasmine_rice_ranks_above_organic_fertiliser_and_rice_crackers() -> None:
    rice = mp.PRODUCT_CATEGORY_AGRICULTURE
    offers = [
        offer("fertiliser", "ปุ๋ยอินทรีย์", categories=[rice]),
        offer("crackers", "ข้าวเกรียบ", categories=[mp.PRODUCT_CATEGORY_FOOD]),
        offer("brown", "ข้าวกล้องงอก", categories=[rice]),
        offer("jasmine", "ข้าวหอมมะลิอินทรีย์", "ปลูกแบบอินทรีย์ ไม่ใช้สารเคมี", categories=[rice]),
        offer("jasmine-plain", "ข้าวหอมมะลิ", categories=[rice]),
    ]
    wanted = need("ข้าวหอมมะลิอินทรีย์ ส่งออก", categories=[rice])
    # Substring search on the whole phrase finds nothing; on the first word it finds the
    # fertiliser's "อินทรีย์" no better than the crackers' "ข้าว".
    assert naive("ข้าวหอมมะลิอินทรีย์ ส่งออก", offers) == []
    order = ranked(wanted, offers)
    assert order[:2] == ["jasmine", "jasmine-plain"]
    assert order.index("fertiliser") > order.index("jasmine-plain")
    assert "crackers" not in order[:2]


def test_an_english_need_finds_an_english_description() -> None:
    offers = [
        offer("rice", "ข้าวหอมมะลิ", "Organic jasmine rice from Udon Thani"),
        offer("silk", "ผ้าไหม", "Hand-woven silk"),
    ]
    assert ranked(need("organic jasmine rice", categories=[]), offers) == ["rice"]


def test_a_word_every_candidate_has_still_counts_on_a_small_set() -> None:
    # BM25Okapi's own idf turns negative for a word in most documents: with two offers
    # that both say ผ้าไหม, it would score the better one below zero. Lucene's idf does not.
    offers = [offer("a", "ผ้าไหมทอมือ"), offer("b", "ผ้าไหมพิมพ์ลาย")]
    value = text_value(need("ผ้าไหม"), offers, "b")
    assert value > 0.5
    assert ranked(need("ผ้าไหมทอมือ"), offers) == ["a", "b"]


def test_words_no_candidate_has_do_not_count_against_the_candidates() -> None:
    offers = [offer("silk", "ผ้าไหมทอมือ"), offer("cotton", "ผ้าฝ้าย")]
    plain = text_value(need("ผ้าไหมทอมือ"), offers, "silk")
    wordy = text_value(
        need("ผ้าไหมทอมือ", "สำหรับวางจำหน่ายในห้างสรรพสินค้าย่านใจกลางเมือง"), offers, "silk"
    )
    assert wordy == plain > 0.8


# --- certifications: a hard filter ---------------------------------------------------------


def test_an_offer_missing_a_required_certification_is_never_suggested_however_well_it_fits() -> (
    None
):
    perfect = offer("perfect-text", "ผ้าไหมทอมือ", "ผ้าไหมทอมือ ผ้าไหมทอมือ", certifications=[])
    certified = offer("certified", "ผ้าทอ", certifications=[OTOP], otop_stars=4)
    wanted = need("ผ้าไหมทอมือ", required_certifications=[OTOP])
    assert ranked(wanted, [perfect, certified]) == ["certified"]
    reason = domain.exclusion(wanted, perfect, TODAY)
    assert reason is not None and "OTOP" in reason


@pytest.mark.parametrize("size", [1, 2, 3])
def test_no_combination_of_required_and_held_certifications_suggests_a_missing_one(
    size: int,
) -> None:
    certs = [OTOP, FDA, GAP, HALAL]
    for required in itertools.combinations(certs, size):
        offers = [
            offer(f"o{i}", "ผ้าไหมทอมือ", certifications=list(held))
            for i, held in enumerate(
                h for k in range(len(certs) + 1) for h in itertools.combinations(certs, k)
            )
        ]
        wanted = need("ผ้าไหม", required_certifications=list(required))
        suggested = domain.rank_offers(wanted, offers, {}, TODAY)
        assert suggested, required
        for s in suggested:
            assert set(required) <= set(s.offer.certifications)


def test_an_otop_star_rating_below_the_minimum_is_never_suggested() -> None:
    offers = [
        offer("three", "ผ้าไหมทอมือ", certifications=[OTOP], otop_stars=3),
        offer("five", "ผ้าไหม", certifications=[OTOP], otop_stars=5),
        offer("none", "ผ้าไหมทอมือ"),
    ]
    assert ranked(need("ผ้าไหมทอมือ", min_otop_stars=4), offers) == ["five"]


def test_inactive_members_closed_needs_and_closed_provinces_are_never_suggested() -> None:
    active = offer("active", "ผ้าไหมทอมือ")
    inactive = offer("inactive", "ผ้าไหมทอมือ", active=False)
    khon_kaen = offer("kk", "ผ้าไหมทอมือ", province_code="TH-40")
    assert ranked(need("ผ้าไหม"), [active, inactive]) == ["active"]
    assert ranked(need("ผ้าไหม", deadline=TODAY - timedelta(days=1)), [active]) == []
    assert ranked(need("ผ้าไหม", deadline=TODAY), [active]) == ["active"]
    only_khon_kaen = need("ผ้าไหม", open_to_province_codes=["TH-40"])
    assert ranked(only_khon_kaen, [active, khon_kaen]) == ["kk"]


def test_an_offer_with_nothing_in_common_is_not_suggested() -> None:
    rice = offer("rice", "ข้าวหอมมะลิ", categories=[mp.PRODUCT_CATEGORY_AGRICULTURE])
    assert ranked(need("ผ้าไหมทอมือ"), [rice]) == []


# --- the parts of a score ---------------------------------------------------------------------


def test_every_suggestion_lists_every_part_with_weight_value_and_reasons() -> None:
    wanted = need(
        "ผ้าไหมทอมือ",
        volume=Quantity(300, "ผืน"),
        price=Price(100_000, 300_000),
        required_certifications=[OTOP],
    )
    silk = offer(
        "silk",
        "ผ้าไหมมัดหมี่ทอมือ",
        capacity=Quantity(150, "ผืน"),
        price=Price(120_000, 200_000),
        certifications=[OTOP],
        otop_stars=4,
    )
    [suggestion] = domain.rank_offers(wanted, [silk], {}, TODAY)
    breakdown = suggestion.breakdown()
    assert [p.name for p in breakdown.parts] == list(domain.WEIGHTS)
    assert sum(p.weight for p in breakdown.parts) == pytest.approx(1.0)
    assert breakdown.total == pytest.approx(sum(p.contribution for p in breakdown.parts), abs=1e-3)
    for part in breakdown.parts:
        assert 0.0 <= part.value <= 1.0
        assert part.contribution == pytest.approx(part.value * part.weight, abs=1e-4)
        assert part.reason_th and part.reason_en
    by_name = {p.name: p for p in breakdown.parts}
    assert by_name["capacity"].value == pytest.approx(0.5)
    assert "150 ผืน" in by_name["capacity"].reason_th
    assert by_name["price"].value == 1.0
    assert by_name["certification"].reason_en.startswith("holds every required")
    assert "ผ้าไหม" in by_name["text"].reason_th


def test_capacity_and_price_compare_across_tonnes_and_kilograms() -> None:
    rice = mp.PRODUCT_CATEGORY_AGRICULTURE
    wanted = need(
        "ข้าวหอมมะลิ",
        categories=[rice],
        volume=Quantity(10, "ตัน"),
        price=Price(3_500_000, 5_000_000),  # 35,000-50,000 THB a tonne
    )
    in_kg = offer(
        "kg",
        "ข้าวหอมมะลิ",
        categories=[rice],
        capacity=Quantity(5_000, "กก."),
        price=Price(4_000, 4_500),  # 40-45 THB a kilogram
    )
    [s] = domain.rank_offers(wanted, [in_kg], {}, TODAY)
    parts = {p.name: p.value for p in s.parts}
    assert parts["capacity"] == pytest.approx(0.5)
    assert parts["price"] == 1.0
    pieces = offer("pieces", "ข้าวหอมมะลิ", categories=[rice], capacity=Quantity(5, "กระสอบ"))
    [s] = domain.rank_offers(wanted, [pieces], {}, TODAY)
    assert {p.name: p.value for p in s.parts}["capacity"] == domain.UNKNOWN


def test_a_price_above_the_buyers_ceiling_loses_points_gradually() -> None:
    wanted = need("ผ้าไหม", price=Price(100_000, 200_000))
    values = []
    for low in (150_000, 200_000, 250_000, 300_000, 400_000):
        [s] = domain.rank_offers(wanted, [offer("o", "ผ้าไหม", price=Price(low, low))], {}, TODAY)
        values.append({p.name: p.value for p in s.parts}["price"])
    assert values == [1.0, 1.0, pytest.approx(0.5), 0.0, 0.0]


def test_distance_same_province_then_region_then_cross_region() -> None:
    wanted = need("ผ้าไหม", province_code="TH-41")  # Udon Thani buyer, goods to the northeast
    offers = [
        offer("udon", "ผ้าไหม", province_code="TH-41"),
        offer("khon-kaen", "ผ้าไหม", province_code="TH-40"),
        offer("chiang-mai", "ผ้าไหม", province_code="TH-50"),
    ]
    distance = {
        s.offer.offer_id: {p.name: p.value for p in s.parts}["distance"]
        for s in domain.rank_offers(wanted, offers, {}, TODAY)
    }
    assert distance == {"udon": 1.0, "khon-kaen": 0.7, "chiang-mai": 0.4}
    assert ranked(wanted, offers) == ["udon", "khon-kaen", "chiang-mai"]


def test_past_outcomes_of_the_buyer_with_the_cluster_move_the_score() -> None:
    offers = [
        offer("silk", "ผ้าไหม", province_code="TH-41", cluster_code="textiles"),
        offer("kk-silk", "ผ้าไหม", province_code="TH-40", cluster_code="silk-kk"),
    ]
    wanted = need("ผ้าไหม", delivery_regions=[mp.REGION_NORTHEAST])
    history = {
        ("buyer-1", "TH-40", "silk-kk"): PairHistory(held=4, missed=0, deals=3),
        ("buyer-1", "TH-41", "textiles"): PairHistory(held=1, missed=3, deals=0),
    }
    suggestions = domain.rank_offers(wanted, offers, history, TODAY)
    assert [s.offer.offer_id for s in suggestions] == ["kk-silk", "silk"]
    values = {s.offer.offer_id: {p.name: p.value for p in s.parts}["history"] for s in suggestions}
    assert values == {"kk-silk": pytest.approx(4 / 6), "silk": pytest.approx(1 / 6)}


def test_one_suggestion_per_member_its_best_offer() -> None:
    offers = [
        offer("plain", "ผ้าทอ", member_id="m1"),
        offer("best", "ผ้าไหมทอมือ", member_id="m1"),
        offer("other", "ผ้าไหม", member_id="m2"),
    ]
    assert ranked(need("ผ้าไหมทอมือ"), offers) == ["best", "other"]


def test_top_k_suggestions_for_a_member_and_for_an_event() -> None:
    silk_need = need("ผ้าไหมทอมือ", need_id="n-silk", buyer_id="b1")
    cotton_need = need("ผ้าฝ้ายย้อมคราม", need_id="n-cotton", buyer_id="b2")
    offers = [
        offer("silk", "ผ้าไหมทอมือ", member_id="m-silk"),
        offer("cotton", "ผ้าฝ้ายย้อมคราม", member_id="m-cotton"),
    ]
    mine = domain.rank_needs_for_member("m-silk", [cotton_need, silk_need], offers, {}, TODAY, 1)
    assert [(s.need.need_id, s.offer.offer_id) for s in mine] == [("n-silk", "silk")]
    event = domain.rank_for_event({"b1": [silk_need], "b2": [cotton_need]}, offers, {}, TODAY, 1)
    assert [(s.need.buyer_id, s.offer.member_id) for s in event] == [
        ("b1", "m-silk"),
        ("b2", "m-cotton"),
    ]


def test_the_ranking_does_not_depend_on_the_order_offers_come_in() -> None:
    offers = [offer(f"o{i}", t) for i, t in enumerate(["ผ้าไหม", "ผ้าไหมทอมือ", "ผ้าทอ", "ผ้าฝ้าย"])]
    first = ranked(need("ผ้าไหมทอมือ"), offers)
    assert ranked(need("ผ้าไหมทอมือ"), list(reversed(offers))) == first


def test_every_province_has_a_region() -> None:
    assert set(domain.REGION_OF) == set(PROVINCES)
    assert domain.region_of("TH-41") == domain.region_of("TH-40") == mp.REGION_NORTHEAST
    assert domain.region_of("TH-10") == mp.REGION_CENTRAL
    assert domain.region_of("TH-50") == mp.REGION_NORTH
    assert domain.region_of("TH-83") == mp.REGION_SOUTH
    assert domain.region_of("TH-20") == mp.REGION_EAST
    assert domain.region_of("TH-71") == mp.REGION_WEST
    counts = {r: list(domain.REGION_OF.values()).count(r) for r in set(domain.REGION_OF.values())}
    assert sorted(counts.values()) == [5, 7, 9, 14, 20, 22]
