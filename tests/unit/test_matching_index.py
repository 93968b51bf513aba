"""The suggestion index SuggestMatches keeps in memory ranks exactly as the
straightforward ranking does (score_pair over every active offer and open need):
the same suggestions, the same order, the same score parts and reasons, also after
offers and needs are changed, withdrawn and closed in place.

Pure domain, no I/O: random instances (hypothesis), and the labelled Thai set.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest
from bizclub.matching.v1 import matching_pb2 as mp
from matching import domain
from matching.domain import Need, Offer, PairHistory, Price, Quantity, SuggestionIndex

from bench.matching import load_labelled

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

NOW = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
TODAY = date(2026, 6, 1)
WORDS = ["ผ้าไหม", "ผ้าฝ้าย", "คราม", "ทอมือ", "ข้าว", "หอมมะลิ", "กาแฟ", "silk", "rice"]
CATEGORIES = [
    mp.PRODUCT_CATEGORY_TEXTILES,
    mp.PRODUCT_CATEGORY_FOOD,
    mp.PRODUCT_CATEGORY_AGRICULTURE,
]
CERTS = [mp.CERTIFICATION_OTOP, mp.CERTIFICATION_THAI_FDA, mp.CERTIFICATION_GAP]
PROVINCES = ["TH-10", "TH-40", "TH-41", "TH-50", "TH-83"]
REGIONS = [mp.REGION_NORTHEAST, mp.REGION_CENTRAL, mp.REGION_SOUTH]
UNITS = ["kg", "กรัม", "ตัน", "ผืน"]
CLUSTERS = ["textiles", "food"]
BUYERS = [f"b{i}" for i in range(4)]
MEMBERS = [f"m{i}" for i in range(6)]

quantities = st.one_of(
    st.none(),
    st.builds(Quantity, st.sampled_from([0.5, 1.0, 50.0, 200.0, 1000.0]), st.sampled_from(UNITS)),
)
prices = st.one_of(
    st.none(),
    st.lists(st.sampled_from([1_000, 5_000, 12_000, 30_000]), min_size=2, max_size=2).map(
        lambda ends: Price(min(ends), max(ends))
    ),
)


@st.composite
def offers(draw: st.DrawFn, offer_id: str) -> Offer:
    return Offer(
        offer_id=offer_id,
        member_id=draw(st.sampled_from(MEMBERS)),
        province_code=draw(st.sampled_from(PROVINCES)),
        cluster_code=draw(st.sampled_from(CLUSTERS)),
        business_name_th="",
        categories=draw(st.lists(st.sampled_from(CATEGORIES), max_size=2, unique=True)),
        title="",
        description="",
        products=[],
        capacity=draw(quantities),
        price=draw(prices),
        certifications=draw(st.lists(st.sampled_from(CERTS), max_size=3, unique=True)),
        otop_stars=draw(st.integers(0, 5)),
        active=draw(st.booleans().map(lambda b: b or draw(st.booleans()))),
        updated_at=NOW,
        terms=draw(st.lists(st.sampled_from(WORDS), max_size=6)),
    )


@st.composite
def needs(draw: st.DrawFn, need_id: str) -> Need:
    return Need(
        need_id=need_id,
        buyer_id=draw(st.sampled_from(BUYERS)),
        buyer_kind=mp.BUYER_KIND_DEPARTMENT_STORE,
        province_code=draw(st.sampled_from(PROVINCES)),
        categories=draw(st.lists(st.sampled_from(CATEGORIES), max_size=2, unique=True)),
        title="",
        description="",
        volume=draw(quantities),
        price=draw(prices),
        required_certifications=draw(st.lists(st.sampled_from(CERTS), max_size=2, unique=True)),
        min_otop_stars=draw(st.sampled_from([0, 0, 0, 2, 4])),
        delivery_regions=draw(st.lists(st.sampled_from(REGIONS), max_size=2, unique=True)),
        open_to_province_codes=draw(
            st.one_of(st.just([]), st.lists(st.sampled_from(PROVINCES), max_size=2, unique=True))
        ),
        deadline=draw(st.sampled_from([None, None, TODAY, TODAY - timedelta(days=1)])),
        published_at=NOW,
        terms=draw(st.lists(st.sampled_from(WORDS), max_size=5)),
        closed_at=draw(st.sampled_from([None, None, None, NOW])),
    )


histories = st.dictionaries(
    st.tuples(st.sampled_from(BUYERS), st.sampled_from(PROVINCES), st.sampled_from(CLUSTERS)),
    st.builds(PairHistory, st.integers(0, 4), st.integers(0, 4), st.integers(0, 3)),
    max_size=8,
)


@st.composite
def instances(
    draw: st.DrawFn,
) -> tuple[SuggestionIndex, list[Offer], list[Need], dict[tuple[str, str, str], PairHistory]]:
    """An index filled with a first version of every offer and need, then some of them
    replaced by a second version (changed, withdrawn, closed); and the final versions."""
    offer_count, need_count = draw(st.integers(0, 12)), draw(st.integers(0, 8))
    first = [draw(offers(f"o{i:02d}")) for i in range(offer_count)]
    first_needs = [draw(needs(f"n{i:02d}")) for i in range(need_count)]
    index = SuggestionIndex()
    for offer in first:
        index.put_offer(offer)
    for need in first_needs:
        index.put_need(need)
    final, final_needs = list(first), list(first_needs)
    for i in draw(st.lists(st.integers(0, max(0, offer_count - 1)), max_size=4)):
        if offer_count:
            final[i] = draw(offers(f"o{i:02d}"))
            index.put_offer(final[i])
    for i in draw(st.lists(st.integers(0, max(0, need_count - 1)), max_size=3)):
        if need_count:
            final_needs[i] = draw(needs(f"n{i:02d}"))
            index.put_need(final_needs[i])
    return index, final, final_needs, draw(histories)


def summary(
    suggestions: list[domain.Suggestion],
) -> list[tuple[str, str, float, tuple[object, ...]]]:
    return [(s.need.need_id, s.offer.offer_id, s.total, s.parts) for s in suggestions]


@settings(max_examples=150, deadline=None)
@given(instances(), st.integers(1, 4))
def test_the_index_ranks_offers_for_a_need_as_scoring_every_offer_does(
    instance: tuple[
        SuggestionIndex, list[Offer], list[Need], dict[tuple[str, str, str], PairHistory]
    ],
    top_k: int,
) -> None:
    index, all_offers, all_needs, history = instance
    active = [o for o in all_offers if o.active]
    for need in all_needs:
        expected = domain.rank_offers(need, active, history, TODAY, top_k=top_k)
        assert summary(index.rank_offers(need, history, TODAY, top_k)) == summary(expected)


@settings(max_examples=150, deadline=None)
@given(instances(), st.integers(1, 4))
def test_the_index_ranks_needs_for_a_member_as_scoring_every_need_does(
    instance: tuple[
        SuggestionIndex, list[Offer], list[Need], dict[tuple[str, str, str], PairHistory]
    ],
    top_k: int,
) -> None:
    index, all_offers, all_needs, history = instance
    active = [o for o in all_offers if o.active]
    for member_id in MEMBERS:
        expected = domain.rank_needs_for_member(member_id, all_needs, active, history, TODAY, top_k)
        found = index.rank_needs_for_member(member_id, history, TODAY, top_k)
        assert summary(found) == summary(expected)


def test_on_the_labelled_thai_set_the_index_ranks_as_the_straightforward_ranking() -> None:
    """Real segmentation (compound words), many ties: the same top 10 with the same reasons."""
    labelled = load_labelled()
    index = SuggestionIndex()
    for offer in labelled.offers:
        index.put_offer(offer)
    for need in labelled.needs:
        index.put_need(need)
    suggested = 0
    for need in labelled.needs:
        expected = domain.rank_offers(need, labelled.offers, {}, TODAY, top_k=10)
        assert summary(index.rank_offers(need, {}, TODAY, 10)) == summary(expected)
        suggested += len(expected)
    for member_id in sorted({o.member_id for o in labelled.offers}):
        expected = domain.rank_needs_for_member(
            member_id, labelled.needs, labelled.offers, {}, TODAY, 10
        )
        assert summary(index.rank_needs_for_member(member_id, {}, TODAY, 10)) == summary(expected)
    assert suggested > 3 * len(labelled.needs)


def test_a_withdrawn_offer_and_a_closed_need_leave_the_index() -> None:
    silk = Offer(
        offer_id="o1",
        member_id="m1",
        province_code="TH-41",
        cluster_code="textiles",
        business_name_th="",
        categories=[mp.PRODUCT_CATEGORY_TEXTILES],
        title="",
        description="",
        products=[],
        capacity=None,
        price=None,
        certifications=[],
        otop_stars=0,
        active=True,
        updated_at=NOW,
        terms=["ผ้าไหม"],
    )
    wanted = Need(
        need_id="n1",
        buyer_id="b1",
        buyer_kind=mp.BUYER_KIND_HOTEL,
        province_code="TH-10",
        categories=[],
        title="",
        description="",
        volume=None,
        price=None,
        required_certifications=[],
        min_otop_stars=0,
        delivery_regions=[],
        open_to_province_codes=[],
        deadline=None,
        published_at=NOW,
        terms=["ผ้าไหม"],
    )
    index = SuggestionIndex()
    index.put_offer(silk)
    index.put_need(wanted)
    assert [s.offer.offer_id for s in index.rank_offers(wanted, {}, TODAY, 10)] == ["o1"]
    assert [s.need.need_id for s in index.rank_needs_for_member("m1", {}, TODAY, 10)] == ["n1"]
    index.put_offer(Offer(**{**silk.__dict__, "active": False}))
    assert index.rank_offers(wanted, {}, TODAY, 10) == []
    index.put_offer(silk)
    index.put_need(Need(**{**wanted.__dict__, "closed_at": NOW}))
    assert index.rank_needs_for_member("m1", {}, TODAY, 10) == []
    assert (len(index), index.need_count) == (1, 0)


def _random_offer(rng: random.Random, offer_id: str) -> Offer:
    return Offer(
        offer_id=offer_id,
        member_id=rng.choice(MEMBERS),
        province_code=rng.choice(PROVINCES),
        cluster_code=rng.choice(CLUSTERS),
        business_name_th="",
        categories=rng.sample(CATEGORIES, rng.randint(0, 2)),
        title="",
        description="",
        products=[],
        capacity=rng.choice([None, Quantity(rng.choice([1.0, 80.0]), rng.choice(UNITS))]),
        price=rng.choice([None, Price(4_000, 9_000)]),
        certifications=rng.sample(CERTS, rng.randint(0, 3)),
        otop_stars=rng.randint(0, 5),
        active=rng.random() < 0.85,
        updated_at=NOW,
        terms=rng.choices(WORDS, k=rng.randint(0, 6)),
    )


def _random_need(rng: random.Random, need_id: str) -> Need:
    return Need(
        need_id=need_id,
        buyer_id=rng.choice(BUYERS),
        buyer_kind=mp.BUYER_KIND_DEPARTMENT_STORE,
        province_code=rng.choice(PROVINCES),
        categories=rng.sample(CATEGORIES, rng.randint(0, 2)),
        title="",
        description="",
        volume=rng.choice([None, Quantity(rng.choice([0.5, 200.0]), rng.choice(UNITS))]),
        price=rng.choice([None, Price(1_000, 5_000), Price(8_000, 30_000)]),
        required_certifications=rng.sample(CERTS, rng.randint(0, 1)),
        min_otop_stars=rng.choice([0, 0, 3]),
        delivery_regions=rng.sample(REGIONS, rng.randint(0, 1)),
        open_to_province_codes=rng.choice([[], [rng.choice(PROVINCES)]]),
        deadline=rng.choice([None, TODAY, TODAY - timedelta(days=1)]),
        published_at=NOW,
        terms=rng.choices(WORDS, k=rng.randint(0, 5)),
        closed_at=rng.choice([None, None, None, NOW]),
    )


def test_after_many_changes_the_index_still_ranks_as_scoring_everything_does() -> None:
    """Enough offers and needs, replaced often enough, that the index's arrays grow,
    reuse freed slots and drop removed needs' words along the way."""
    rng = random.Random(4)
    current_offers = {f"o{i:03d}": _random_offer(rng, f"o{i:03d}") for i in range(120)}
    current_needs = {f"n{i:03d}": _random_need(rng, f"n{i:03d}") for i in range(150)}
    index = SuggestionIndex()
    for offer in current_offers.values():
        index.put_offer(offer)
    for need in current_needs.values():
        index.put_need(need)
    for _ in range(1_500):
        if rng.random() < 0.5:
            offer_id = rng.choice(sorted(current_offers))
            current_offers[offer_id] = _random_offer(rng, offer_id)
            index.put_offer(current_offers[offer_id])
        else:
            need_id = rng.choice(sorted(current_needs))
            current_needs[need_id] = _random_need(rng, need_id)
            index.put_need(current_needs[need_id])
    active = [o for o in current_offers.values() if o.active]
    all_needs = list(current_needs.values())
    history = {("b1", "TH-41", "textiles"): PairHistory(3, 1, 2)}
    assert (len(index), index.need_count) == (
        len(active),
        sum(n.closed_at is None for n in all_needs),
    )
    for need in all_needs:
        expected = domain.rank_offers(need, active, history, TODAY, top_k=3)
        assert summary(index.rank_offers(need, history, TODAY, 3)) == summary(expected)
    for member_id in MEMBERS:
        expected = domain.rank_needs_for_member(member_id, all_needs, active, history, TODAY, 5)
        assert summary(index.rank_needs_for_member(member_id, history, TODAY, 5)) == summary(
            expected
        )
