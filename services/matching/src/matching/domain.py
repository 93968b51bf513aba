"""Matching rules, as plain Python: buyers, needs, offers, scores, schedules, outcomes.

No I/O here. Scoring and scheduling are pure functions of what they are given, so
the same inputs always give the same suggestions and the same schedule. Changes
build the events they cause (the published contract in bizclub.matching.v1), which
the API writes to the outbox in the same commit.
"""

from __future__ import annotations

import functools
import math
import re
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import numpy as np
import numpy.typing as npt
from bizclub.common.v1 import common_pb2
from bizclub.matching.v1 import events_pb2, matching_pb2, matching_service_pb2
from bizclub_shared.errors import FailedPrecondition, FieldViolations, InvalidArgument
from bizclub_shared.ids import new_id
from bizclub_shared.provinces import PROVINCES
from bizclub_shared.thai_text import normalize, search_terms
from bizclub_shared.timestamps import to_timestamp
from bizclub_shared.validation import (
    check_enums,
    check_money,
    check_province,
    clean_text,
    to_common_era,
)
from rank_bm25 import BM25Okapi

mp = matching_pb2

MAX_NAME = 200
MAX_TITLE = 200
MAX_DESCRIPTION = 4000
MAX_CODE = 40
MAX_SLOTS = 200
MAX_TABLES = 500
MAX_TOP_K = 100
DEFAULT_TOP_K = 10
DEFAULT_PRIORITY = 3
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")


# Thailand keeps UTC+7 all year: deadlines are Thai calendar days.
THAI_TIME = timezone(timedelta(hours=7), "ICT")


def thai_today(now: datetime) -> date:
    return now.astimezone(THAI_TIME).date()


_OFFER_NAMESPACE = uuid.UUID("6f1d2c3e-5a4b-4c8d-9e0f-0a1b2c3d4e5f")


def shell_offer_id(member_id: str) -> str:
    """The id of the offer every member gets from membership's events: the same on
    every replay, so a redelivered MemberRegistered can never make a second one."""
    return str(uuid.uuid5(_OFFER_NAMESPACE, member_id))


# --- regions --------------------------------------------------------------------------

NORTH, NORTHEAST, CENTRAL = mp.REGION_NORTH, mp.REGION_NORTHEAST, mp.REGION_CENTRAL
EAST, WEST, SOUTH = mp.REGION_EAST, mp.REGION_WEST, mp.REGION_SOUTH

# The six-region system of the National Research Council (77 provinces).
_REGION_CODES: dict[int, tuple[int, ...]] = {
    NORTH: (50, 51, 52, 53, 54, 55, 56, 57, 58),
    NORTHEAST: tuple(range(30, 50)),
    CENTRAL: (*range(10, 20), 26, 60, 61, 62, 64, 65, 66, 67, 72, 73, 74, 75),
    EAST: (20, 21, 22, 23, 24, 25, 27),
    WEST: (63, 70, 71, 76, 77),
    SOUTH: (80, 81, 82, 83, 84, 85, 86, 90, 91, 92, 93, 94, 95, 96),
}
REGION_OF: dict[str, int] = {
    f"TH-{code}": region for region, codes in _REGION_CODES.items() for code in codes
}
REGION_NAMES: dict[int, tuple[str, str]] = {
    NORTH: ("ภาคเหนือ", "the north"),
    NORTHEAST: ("ภาคตะวันออกเฉียงเหนือ", "the northeast"),
    CENTRAL: ("ภาคกลาง", "the central region"),
    EAST: ("ภาคตะวันออก", "the east"),
    WEST: ("ภาคตะวันตก", "the west"),
    SOUTH: ("ภาคใต้", "the south"),
}


def region_of(province_code: str) -> int:
    return REGION_OF.get(province_code, mp.REGION_UNSPECIFIED)


# --- names for reasons people read ------------------------------------------------------

CERTIFICATION_NAMES: dict[int, tuple[str, str]] = {
    mp.CERTIFICATION_OTOP: ("OTOP", "OTOP"),
    mp.CERTIFICATION_THAI_FDA: ("อย.", "Thai FDA"),
    mp.CERTIFICATION_GAP: ("GAP", "GAP"),
    mp.CERTIFICATION_HALAL: ("ฮาลาล", "Halal"),
    mp.CERTIFICATION_GMP: ("GMP", "GMP"),
    mp.CERTIFICATION_ORGANIC_THAILAND: ("Organic Thailand", "Organic Thailand"),
    mp.CERTIFICATION_COMMUNITY_PRODUCT_STANDARD: ("มผช.", "community product standard"),
    mp.CERTIFICATION_HACCP: ("HACCP", "HACCP"),
}


TH, EN = 0, 1  # index into the (Thai, English) name pairs


def cert_names(certs: Iterable[int], lang: int) -> str:
    return ", ".join(CERTIFICATION_NAMES[c][lang] for c in sorted(certs))


def baht(satang: float) -> str:
    value = satang / 100
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"


# Product categories a member's offer starts with, from the cluster codes the
# networks use (the Udon Thani model); a member corrects them with PublishOffer.
CLUSTER_CATEGORIES: dict[str, tuple[int, ...]] = {
    "textiles": (mp.PRODUCT_CATEGORY_TEXTILES, mp.PRODUCT_CATEGORY_APPAREL),
    "food": (mp.PRODUCT_CATEGORY_FOOD, mp.PRODUCT_CATEGORY_BEVERAGE),
    "agriculture": (mp.PRODUCT_CATEGORY_AGRICULTURE, mp.PRODUCT_CATEGORY_AGRI_PROCESSED),
    "tourism": (mp.PRODUCT_CATEGORY_TOURISM, mp.PRODUCT_CATEGORY_HANDICRAFT),
}


def categories_of_cluster(cluster_code: str) -> list[int]:
    return list(CLUSTER_CATEGORIES.get(cluster_code, ()))


# --- checks shared by several requests ---------------------------------------------


# --- quantities and prices ------------------------------------------------------------


# Units that convert to one another; any other unit compares by its normalised text.
_UNITS: dict[str, tuple[str, float]] = {
    **dict.fromkeys(
        ["kg", "kgs", "kilo", "kilogram", "kilograms", "กก", "กิโล", "กิโลกรัม"], ("kg", 1.0)
    ),
    **dict.fromkeys(["g", "gram", "grams", "กรัม"], ("kg", 0.001)),
    **dict.fromkeys(["t", "ton", "tons", "tonne", "tonnes", "ตัน"], ("kg", 1000.0)),
}


def canonical_unit(unit: str) -> tuple[str, float]:
    """(base unit, how many base units one of `unit` is)."""
    key = normalize(unit).lower().replace(".", "").replace(" ", "")
    return _UNITS.get(key, (key, 1.0))


@dataclass(frozen=True)
class Quantity:
    amount: float
    unit: str

    def in_base(self) -> tuple[float, str]:
        base, factor = canonical_unit(self.unit)
        return self.amount * factor, base

    def label(self) -> str:
        amount = f"{self.amount:,.0f}" if self.amount == int(self.amount) else f"{self.amount:,g}"
        return f"{amount} {self.unit}".strip()


@dataclass(frozen=True)
class Price:
    """A price range per unit, in satang."""

    min_satang: int
    max_satang: int

    def label(self) -> str:
        if self.min_satang == self.max_satang:
            return baht(self.min_satang)
        return f"{baht(self.min_satang)}-{baht(self.max_satang)}"


def check_quantity(
    violations: FieldViolations, field_name: str, value: matching_pb2.Quantity
) -> Quantity | None:
    unit = normalize(value.unit)
    if value.amount == 0 and not unit:
        return None
    if not math.isfinite(value.amount) or value.amount <= 0:
        violations.add(f"{field_name}.amount", "must be a positive number")
    if not unit:
        violations.add(f"{field_name}.unit", "is required with an amount, e.g. kg or ผืน")
    elif len(unit) > MAX_CODE:
        violations.add(f"{field_name}.unit", f"is longer than {MAX_CODE} characters")
    return Quantity(value.amount, unit)


def check_price(
    violations: FieldViolations, field_name: str, value: matching_pb2.PriceRange
) -> Price | None:
    low = check_money(violations, f"{field_name}.min_per_unit", value.min_per_unit)
    high = check_money(violations, f"{field_name}.max_per_unit", value.max_per_unit)
    if low == 0 and high == 0:
        return None
    low, high = low or high, high or low  # one end given: a single price
    if low > high:
        violations.add(f"{field_name}.max_per_unit", "must not be below min_per_unit")
    return Price(low, high)


# --- buyers ---------------------------------------------------------------------------


@dataclass
class Buyer:
    buyer_id: str
    province_code: str
    kind: int
    name_th: str
    name_en: str
    registered_at: datetime

    def registered_event(self) -> events_pb2.BuyerRegistered:
        return events_pb2.BuyerRegistered(
            buyer_id=self.buyer_id,
            province_code=self.province_code,
            kind=self.kind,  # type: ignore[arg-type]
            name_th=self.name_th,
            name_en=self.name_en,
            occurred_at=to_timestamp(self.registered_at),
        )


def validate_buyer(request: matching_service_pb2.RegisterBuyerRequest, now: datetime) -> Buyer:
    v = FieldViolations()
    check_province(v, "province_code", request.province_code)
    if request.kind == 0 or request.kind not in mp.BuyerKind.values():
        v.add(
            "kind",
            "is required: department store, modern trade, exporter, hotel, tour operator, "
            "provincial network or general operator",
        )
    name_th = clean_text(v, "name_th", request.name_th, required=True, limit=MAX_NAME)
    name_en = clean_text(v, "name_en", request.name_en, required=False, limit=MAX_NAME)
    v.raise_if_any()
    return Buyer(new_id(), request.province_code, request.kind, name_th, name_en, now)


# --- needs and offers ---------------------------------------------------------------------

# Words that say nothing about a product; the rest of Thai's function words come
# from PyThaiNLP's list (its corpus ships inside the wheel).
_EXTRA_STOPWORDS = frozenset(
    "ต้องการ สินค้า จำนวน ประมาณ a an and for from in of or the to with want wants need needs "
    "product products".split()
)


@functools.cache
def _stopwords() -> frozenset[str]:
    from pythainlp.corpus import thai_stopwords

    return frozenset(thai_stopwords()) | _EXTRA_STOPWORDS


@functools.lru_cache(maxsize=4096)
def _text_terms(text: str) -> tuple[str, ...]:
    stop = _stopwords()
    return tuple(t for t in search_terms(text) if t not in stop)


def match_terms(*texts: str) -> list[str]:
    """The words texts are ranked by: newmm segmentation, stopwords dropped.

    Each text's words count once; a word in two texts (the title and a product name)
    counts twice, which is what BM25's term frequency should see.
    """
    terms: list[str] = []
    for text in texts:
        terms.extend(_text_terms(text))
    return terms


@dataclass
class Need:
    need_id: str
    buyer_id: str
    buyer_kind: int
    province_code: str
    categories: list[int]
    title: str
    description: str
    volume: Quantity | None
    price: Price | None
    required_certifications: list[int]
    min_otop_stars: int
    delivery_regions: list[int]
    open_to_province_codes: list[str]
    deadline: date | None
    published_at: datetime
    terms: list[str] = field(default_factory=list)
    closed_at: datetime | None = None
    closed_reason: str = ""

    def __post_init__(self) -> None:
        if not self.terms:
            self.terms = match_terms(self.title, self.description)

    def close(self, reason: str, now: datetime) -> events_pb2.NeedClosed:
        if self.closed_at is not None:
            raise FailedPrecondition("is already closed", field="need_id")
        self.closed_at, self.closed_reason = now, reason
        return events_pb2.NeedClosed(
            need_id=self.need_id,
            buyer_id=self.buyer_id,
            province_code=self.province_code,
            reason=reason,
            occurred_at=to_timestamp(now),
        )

    def required(self) -> set[int]:
        """Certifications an offer must hold: a star rating implies OTOP."""
        certs = set(self.required_certifications)
        if self.min_otop_stars:
            certs.add(mp.CERTIFICATION_OTOP)
        return certs

    def is_open(self, today: date) -> bool:
        return self.closed_at is None and (self.deadline is None or self.deadline >= today)

    def target_regions(self) -> set[int]:
        return set(self.delivery_regions) or {region_of(self.province_code)}

    def published_event(self) -> events_pb2.NeedPublished:
        event = events_pb2.NeedPublished(
            need_id=self.need_id,
            buyer_id=self.buyer_id,
            province_code=self.province_code,
            buyer_kind=self.buyer_kind,  # type: ignore[arg-type]
            categories=self.categories,  # type: ignore[arg-type]
            title=self.title,
            description=self.description,
            required_certifications=self.required_certifications,  # type: ignore[arg-type]
            min_otop_stars=self.min_otop_stars,
            delivery_regions=self.delivery_regions,  # type: ignore[arg-type]
            open_to_province_codes=self.open_to_province_codes,
            occurred_at=to_timestamp(self.published_at),
        )
        if self.volume:
            event.volume.CopyFrom(quantity_proto(self.volume))
        if self.price:
            event.price.CopyFrom(price_proto(self.price))
        if self.deadline:
            event.deadline.CopyFrom(date_proto(self.deadline))
        return event


def quantity_proto(value: Quantity) -> matching_pb2.Quantity:
    return matching_pb2.Quantity(amount=value.amount, unit=value.unit)


def price_proto(value: Price) -> matching_pb2.PriceRange:
    return matching_pb2.PriceRange(
        min_per_unit=common_pb2.Money(satang=value.min_satang, currency_code="THB"),
        max_per_unit=common_pb2.Money(satang=value.max_satang, currency_code="THB"),
    )


def date_proto(value: date) -> common_pb2.Date:
    return common_pb2.Date(year=value.year, month=value.month, day=value.day)


@dataclass(frozen=True)
class NeedFacts:
    categories: list[int]
    title: str
    description: str
    volume: Quantity | None
    price: Price | None
    required_certifications: list[int]
    min_otop_stars: int
    delivery_regions: list[int]
    open_to_province_codes: list[str]
    deadline: date | None
    terms: list[str]


def validate_need(request: matching_service_pb2.PublishNeedRequest, today: date) -> NeedFacts:
    """Every field checked at once, and the words segmented (before the write lock)."""
    v = FieldViolations()
    categories = check_enums(
        v, "categories", request.categories, mp.ProductCategory.values(), "product category"
    )
    title = clean_text(v, "title", request.title, required=True, limit=MAX_TITLE)
    description = clean_text(
        v, "description", request.description, required=False, limit=MAX_DESCRIPTION, multiline=True
    )
    volume = check_quantity(v, "volume", request.volume)
    price = check_price(v, "price", request.price)
    certs = check_enums(
        v,
        "required_certifications",
        request.required_certifications,
        mp.Certification.values(),
        "certification",
    )
    if not 0 <= request.min_otop_stars <= 5:
        v.add("min_otop_stars", "must be 0 (none) to 5 stars")
    regions = check_enums(
        v, "delivery_regions", request.delivery_regions, mp.Region.values(), "region"
    )
    open_to: list[str] = []
    for i, code in enumerate(request.open_to_province_codes):
        check_province(v, f"open_to_province_codes[{i}]", code)
        if code not in open_to:
            open_to.append(code)
    deadline = None
    if request.HasField("deadline"):
        deadline = to_common_era(request.deadline, v, "deadline")
        if deadline is not None and deadline < today:
            v.add("deadline", "is in the past")
    v.raise_if_any()
    return NeedFacts(
        categories=categories,
        title=title,
        description=description,
        volume=volume,
        price=price,
        required_certifications=certs,
        min_otop_stars=request.min_otop_stars,
        delivery_regions=regions,
        open_to_province_codes=open_to,
        deadline=deadline,
        terms=match_terms(title, description),
    )


def publish_need(facts: NeedFacts, buyer: Buyer, now: datetime) -> Need:
    return Need(
        need_id=new_id(),
        buyer_id=buyer.buyer_id,
        buyer_kind=buyer.kind,
        province_code=buyer.province_code,
        categories=list(facts.categories),
        title=facts.title,
        description=facts.description,
        volume=facts.volume,
        price=facts.price,
        required_certifications=list(facts.required_certifications),
        min_otop_stars=facts.min_otop_stars,
        delivery_regions=list(facts.delivery_regions),
        open_to_province_codes=list(facts.open_to_province_codes),
        deadline=facts.deadline,
        published_at=now,
        terms=list(facts.terms),
    )


@dataclass
class Offer:
    offer_id: str
    member_id: str
    province_code: str
    cluster_code: str
    business_name_th: str
    categories: list[int]
    title: str
    description: str
    products: list[str]
    capacity: Quantity | None
    price: Price | None
    certifications: list[int]
    otop_stars: int
    active: bool
    updated_at: datetime
    terms: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.terms:
            self.terms = match_terms(self.title, self.description, *self.products)

    def published_event(self, now: datetime) -> events_pb2.OfferPublished:
        event = events_pb2.OfferPublished(
            offer_id=self.offer_id,
            member_id=self.member_id,
            province_code=self.province_code,
            cluster_code=self.cluster_code,
            categories=self.categories,  # type: ignore[arg-type]
            title=self.title,
            description=self.description,
            certifications=self.certifications,  # type: ignore[arg-type]
            otop_stars=self.otop_stars,
            occurred_at=to_timestamp(now),
        )
        if self.capacity:
            event.capacity.CopyFrom(quantity_proto(self.capacity))
        if self.price:
            event.price.CopyFrom(price_proto(self.price))
        return event


@dataclass(frozen=True)
class OfferFacts:
    categories: list[int]
    title: str
    description: str
    capacity: Quantity | None
    price: Price | None
    certifications: list[int]
    otop_stars: int


def validate_offer(request: matching_service_pb2.PublishOfferRequest) -> OfferFacts:
    v = FieldViolations()
    categories = check_enums(
        v, "categories", request.categories, mp.ProductCategory.values(), "product category"
    )
    title = clean_text(v, "title", request.title, required=False, limit=MAX_TITLE)
    description = clean_text(
        v, "description", request.description, required=False, limit=MAX_DESCRIPTION, multiline=True
    )
    capacity = check_quantity(v, "capacity", request.capacity)
    price = check_price(v, "price", request.price)
    certs = check_enums(
        v, "certifications", request.certifications, mp.Certification.values(), "certification"
    )
    if not 0 <= request.otop_stars <= 5:
        v.add("otop_stars", "must be 0 to 5 stars")
    elif request.otop_stars and mp.CERTIFICATION_OTOP not in certs:
        certs.append(mp.CERTIFICATION_OTOP)  # a star rating is an OTOP certification
    v.raise_if_any()
    return OfferFacts(categories, title, description, capacity, price, certs, request.otop_stars)


def shell_title(products: Sequence[str], business_name_th: str) -> str:
    """The products, comma-separated, as many as fit a title (MAX_TITLE characters).

    Membership allows 50 products of 120 characters; all of them would not fit the
    offer's title column, and PostgreSQL refuses a longer value.
    """
    title = ""
    for product in products:
        longer = f"{title}, {product}" if title else product
        if len(longer) > MAX_TITLE:
            break
        title = longer
    return title or business_name_th[:MAX_TITLE]


def shell_offer(
    member_id: str,
    province_code: str,
    cluster_code: str,
    business_name_th: str,
    products: Sequence[str],
    now: datetime,
) -> Offer:
    """The offer a member starts with: their products from membership, not yet active."""
    return Offer(
        offer_id=shell_offer_id(member_id),
        member_id=member_id,
        province_code=province_code,
        cluster_code=cluster_code,
        business_name_th=business_name_th,
        categories=categories_of_cluster(cluster_code),
        title=shell_title(products, business_name_th),
        description="",
        products=list(products),
        capacity=None,
        price=None,
        certifications=[],
        otop_stars=0,
        active=False,
        updated_at=now,
    )


def apply_offer_facts(offer: Offer, facts: OfferFacts, now: datetime) -> None:
    """Fill in an offer: what the member gave replaces what was there, blanks keep it;
    certifications and OTOP stars are the whole current set (proto3 cannot tell an
    empty list from one not given), so they are always replaced."""
    if facts.categories:
        offer.categories = list(facts.categories)
    if facts.title:
        offer.title = facts.title
    if facts.description:
        offer.description = facts.description
    if facts.capacity:
        offer.capacity = facts.capacity
    if facts.price:
        offer.price = facts.price
    offer.certifications = list(facts.certifications)
    offer.otop_stars = facts.otop_stars
    offer.updated_at = now
    offer.terms = match_terms(offer.title, offer.description, *offer.products)


# --- scoring --------------------------------------------------------------------------

# The weight of each part of a match score; they add up to 1. One table, so
# that what counts how much is in one place and shows in every suggestion.
WEIGHTS: dict[str, float] = {
    "text": 0.30,
    "category": 0.20,
    "capacity": 0.15,
    "price": 0.10,
    "distance": 0.10,
    "history": 0.10,
    "certification": 0.05,
}
assert abs(sum(WEIGHTS.values()) - 1.0) < 1e-9

# Distance between the goods and where the buyer wants them.
SAME_PROVINCE, SAME_REGION, OTHER_REGION = 1.0, 0.7, 0.4
# A value for a part the data cannot decide (no volume given, units that do not compare).
UNKNOWN = 0.5


@dataclass(frozen=True)
class Part:
    name: str
    value: float
    reason_th: str
    reason_en: str

    @property
    def weight(self) -> float:
        return WEIGHTS[self.name]

    @property
    def contribution(self) -> float:
        return self.value * self.weight


@dataclass(frozen=True)
class Suggestion:
    need: Need
    offer: Offer
    parts: tuple[Part, ...]

    @property
    def total(self) -> float:
        return sum(p.contribution for p in self.parts)

    def breakdown(self) -> matching_pb2.ScoreBreakdown:
        return matching_pb2.ScoreBreakdown(
            total=round(self.total, 4),
            parts=[
                matching_pb2.ScorePart(
                    name=p.name,
                    value=round(p.value, 4),
                    weight=p.weight,
                    contribution=round(p.contribution, 4),
                    reason_th=p.reason_th,
                    reason_en=p.reason_en,
                )
                for p in self.parts
            ],
        )


@dataclass(frozen=True)
class PairHistory:
    """Past outcomes between a buyer and the members of one cluster of one province."""

    held: int = 0
    missed: int = 0
    deals: int = 0


HistoryKey = tuple[str, str, str]  # buyer id, member's province, cluster code


class _LuceneBM25(BM25Okapi):
    """BM25Okapi with Lucene's idf, log(1 + (N - n + 0.5) / (n + 0.5)).

    BM25Okapi's own idf goes negative for a word in more than half the documents and
    then floors it at a fraction of the average, which on the small candidate sets
    here (a matching day's twenty offers) can make a matching word lower the score.
    """

    def _calc_idf(self, nd: dict[str, int]) -> None:
        for word, freq in nd.items():
            self.idf[word] = lucene_idf(self.corpus_size, freq)


def lucene_idf(corpus_size: int, document_frequency: int) -> float:
    return math.log(1 + (corpus_size - document_frequency + 0.5) / (document_frequency + 0.5))


class TextIndex:
    """BM25 over the candidate offers' words, scores normalised to 0..1.

    A need's raw BM25 score is divided by what an average-length offer holding once
    each of the need's words that some candidate has would score (the sum of their
    idf). Words no candidate has ("for sale in our store") cannot tell candidates
    apart, so they do not count against any. About 1 means "has every need word
    found among the candidates" (BM25 rewards a short offer a little, a long one a
    little less; above 1 is cut to 1), 0 "has none of them".
    """

    def __init__(self, offers: Sequence[Offer]) -> None:
        self._position = {o.offer_id: i for i, o in enumerate(offers)}
        has_words = any(o.terms for o in offers)
        self._bm25 = _LuceneBM25([o.terms for o in offers]) if has_words else None
        self._terms = [set(o.terms) for o in offers]

    def __len__(self) -> int:
        return len(self._position)

    def _score(self, query: list[str], i: int) -> float:
        """BM25 of one offer, BM25Okapi.get_scores' formula: its get_batch_scores copies
        every document's length into an array on each call (about 1 ms at 50,000)."""
        assert self._bm25 is not None
        bm25, k1, b = self._bm25, self._bm25.k1, self._bm25.b
        freqs, norm = bm25.doc_freqs[i], 1 - b + b * bm25.doc_len[i] / bm25.avgdl
        score = 0.0
        for q in query:
            tf = freqs.get(q, 0)
            score += bm25.idf[q] * (tf * (k1 + 1) / (tf + k1 * norm))
        return score

    def similarity(
        self, need: Need, offer_ids: Collection[str] | None = None
    ) -> dict[str, tuple[float, list[str]]]:
        """offer id -> (0..1, the need's words the offer has), for `offer_ids` (all when
        None): a member's few offers are scored alone, with the whole index's statistics."""
        wanted = self._position if offer_ids is None else offer_ids
        query = [q for q in dict.fromkeys(need.terms) if self._bm25 and q in self._bm25.idf]
        if self._bm25 is None or not query:
            return {offer_id: (0.0, []) for offer_id in wanted}
        ideal = sum(self._bm25.idf[q] for q in query)
        if offer_ids is None:
            positions = list(self._position.items())
            raw = self._bm25.get_scores(query)
            scores = [float(raw[i]) for _, i in positions]
        else:
            positions = [(o, self._position[o]) for o in offer_ids]
            scores = [self._score(query, i) for _, i in positions]
        result: dict[str, tuple[float, list[str]]] = {}
        for (offer_id, i), score in zip(positions, scores, strict=True):
            matched = [q for q in query if q in self._terms[i]]
            result[offer_id] = (min(1.0, max(0.0, score / ideal)), matched)
        return result


def exclusion(need: Need, offer: Offer, today: date) -> str | None:
    """Why this offer must never be suggested for this need, or None."""
    if not offer.active:
        return "the member is not active"
    if need.closed_at is not None:
        return "the need is closed"
    if not need.is_open(today):
        return "the need's deadline has passed"
    if need.open_to_province_codes and offer.province_code not in need.open_to_province_codes:
        return "the need is not open to the member's province"
    missing = need.required() - set(offer.certifications)
    if missing:
        return f"missing required certification: {cert_names(missing, EN)}"
    if need.min_otop_stars and offer.otop_stars < need.min_otop_stars:
        return f"OTOP {offer.otop_stars} stars, {need.min_otop_stars} required"
    return None


def _text_part(value: float, matched: list[str], need_words: int) -> Part:
    if not matched:
        return Part("text", 0.0, "ไม่มีคำที่ตรงกับความต้องการ", "no word in common with the need")
    words = ", ".join(matched)
    return Part(
        "text",
        value,
        f"คำที่ตรงกัน (BM25): {words} ({len(matched)} จาก {need_words} คำของความต้องการ)",
        f"words in common (BM25): {words} ({len(matched)} of the need's {need_words})",
    )


def _category_part(need: Need, offer: Offer) -> Part:
    wanted = set(need.categories)
    if not wanted:
        return Part("category", UNKNOWN, "ผู้ซื้อไม่ได้ระบุหมวดสินค้า", "the need names no category")
    common = wanted & set(offer.categories)
    if not common:
        return Part("category", 0.0, "หมวดสินค้าไม่ตรงกัน", "no product category in common")
    names = ", ".join(
        mp.ProductCategory.Name(mp.ProductCategory.ValueType(c))
        .removeprefix("PRODUCT_CATEGORY_")
        .lower()
        for c in sorted(common)
    )
    return Part(
        "category",
        len(common) / len(wanted),
        f"หมวดตรงกัน {len(common)} จาก {len(wanted)}: {names}",
        f"{len(common)} of {len(wanted)} categories in common: {names}",
    )


def _certification_part(need: Need, offer: Offer) -> Part:
    required = need.required()
    if required:
        stars = f" {offer.otop_stars} ดาว" if need.min_otop_stars else ""
        stars_en = f" ({offer.otop_stars} stars)" if need.min_otop_stars else ""
        return Part(
            "certification",
            1.0,
            f"มีมาตรฐานที่ผู้ซื้อกำหนดครบ: {cert_names(required, TH)}{stars}",
            f"holds every required certification: {cert_names(required, EN)}{stars_en}",
        )
    if offer.certifications:
        return Part(
            "certification",
            1.0,
            f"ไม่กำหนดมาตรฐาน; มี {cert_names(offer.certifications, TH)}",
            f"none required; holds {cert_names(offer.certifications, EN)}",
        )
    return Part("certification", 0.75, "ไม่กำหนดมาตรฐาน; ยังไม่มีการรับรอง", "none required; holds none")


def _comparable(a: Quantity | None, b: Quantity | None) -> tuple[float, float] | None:
    """The two amounts in one base unit, or None when they do not compare."""
    if a is None or b is None:
        return None
    (x, unit_a), (y, unit_b) = a.in_base(), b.in_base()
    return (x, y) if unit_a == unit_b else None


def _capacity_part(need: Need, offer: Offer) -> Part:
    if need.volume is None:
        return Part("capacity", UNKNOWN, "ผู้ซื้อไม่ได้ระบุปริมาณ", "the need gives no volume")
    if offer.capacity is None:
        return Part("capacity", UNKNOWN, "สมาชิกยังไม่ได้ระบุกำลังผลิต", "capacity not stated yet")
    amounts = _comparable(offer.capacity, need.volume)
    if amounts is None:
        return Part(
            "capacity",
            UNKNOWN,
            f"หน่วยต่างกัน ({offer.capacity.unit} กับ {need.volume.unit}) ตรวจสอบเอง",
            f"units differ ({offer.capacity.unit} vs {need.volume.unit}); check by hand",
        )
    capacity, volume = amounts
    value = min(1.0, capacity / volume)
    return Part(
        "capacity",
        value,
        f"ผลิตได้ {offer.capacity.label()}/เดือน = {value:.0%} ของ {need.volume.label()} ที่ต้องการ",
        f"makes {offer.capacity.label()} a month: {value:.0%} of the {need.volume.label()} wanted",
    )


def _price_part(need: Need, offer: Offer) -> Part:
    if need.price is None:
        return Part("price", UNKNOWN, "ผู้ซื้อไม่ได้ระบุช่วงราคา", "the need gives no price range")
    if offer.price is None:
        return Part("price", UNKNOWN, "สมาชิกยังไม่ได้ระบุราคา", "price not stated yet")
    # Prices are per unit of the quantity; convert when the units do (ton vs kg).
    factor_need, factor_offer = 1.0, 1.0
    if need.volume and offer.capacity:
        (_, base_need), (_, base_offer) = need.volume.in_base(), offer.capacity.in_base()
        if base_need != base_offer:
            return Part(
                "price",
                UNKNOWN,
                "หน่วยราคาต่างกัน ตรวจสอบเอง",
                "prices are per different units; check by hand",
            )
        factor_need = canonical_unit(need.volume.unit)[1]
        factor_offer = canonical_unit(offer.capacity.unit)[1]
    low = offer.price.min_satang / factor_offer
    high_wanted = need.price.max_satang / factor_need
    label_th = f"ราคา {offer.price.label()} บาท; ผู้ซื้อตั้งไว้ {need.price.label()} บาท"
    label_en = f"price THB {offer.price.label()}; the buyer's range THB {need.price.label()}"
    if low <= high_wanted:
        return Part("price", 1.0, f"{label_th} (อยู่ในช่วง)", f"{label_en} (within)")
    # Above the buyer's ceiling: 25% over halves the part, 50% over zeroes it.
    value = max(0.0, 1.0 - 2.0 * (low - high_wanted) / high_wanted)
    over = (low - high_wanted) / high_wanted
    return Part("price", value, f"{label_th} (สูงกว่า {over:.0%})", f"{label_en} ({over:.0%} above)")


def _distance_part(need: Need, offer: Offer) -> Part:
    targets = need.target_regions()
    offer_region = region_of(offer.province_code)
    where_th = PROVINCES.get(offer.province_code, ("", ""))[0]
    where_en = PROVINCES.get(offer.province_code, ("", ""))[1]
    if offer.province_code == need.province_code and offer_region in targets:
        return Part("distance", SAME_PROVINCE, "จังหวัดเดียวกับผู้ซื้อ", "same province as the buyer")
    if offer_region in targets:
        th, en = REGION_NAMES[offer_region]
        return Part(
            "distance",
            SAME_REGION,
            f"{where_th} อยู่ใน{th} ซึ่งเป็นพื้นที่ส่งสินค้า",
            f"{where_en} is in {en}, where the goods go",
        )
    wanted = sorted(targets)
    return Part(
        "distance",
        OTHER_REGION,
        f"ข้ามภูมิภาค: {where_th} ส่งไป{'/'.join(REGION_NAMES[r][0] for r in wanted if r in REGION_NAMES)}",
        f"cross-region: {where_en} to {'/'.join(REGION_NAMES[r][1] for r in wanted if r in REGION_NAMES)}",
    )


def _history_part(history: PairHistory | None) -> Part:
    if history is None or (history.held + history.missed == 0 and history.deals == 0):
        return Part("history", UNKNOWN, "ยังไม่เคยพบกัน", "no past meetings yet")
    return Part(
        "history",
        history_value(history),
        f"ผู้ซื้อเคยพบคลัสเตอร์นี้ {history.held} ครั้ง ไม่มา {history.missed} ครั้ง ปิดดีล {history.deals} ครั้ง",
        f"this buyer met the cluster {history.held} times, missed {history.missed}, "
        f"signed {history.deals} deals",
    )


def score_pair(
    need: Need, offer: Offer, text: tuple[float, list[str]], history: PairHistory | None
) -> tuple[Part, ...]:
    value, matched = text
    return (
        _text_part(value, matched, len(set(need.terms))),
        _category_part(need, offer),
        _capacity_part(need, offer),
        _price_part(need, offer),
        _distance_part(need, offer),
        _history_part(history),
        _certification_part(need, offer),
    )


def rank_offers(
    need: Need,
    offers: Sequence[Offer],
    history: Mapping[HistoryKey, PairHistory],
    today: date,
    *,
    index: TextIndex | None = None,
    top_k: int | None = None,
) -> list[Suggestion]:
    """The offers worth suggesting for a need, best first, the best offer per member.

    Excluded, never suggested: inactive members, a need closed or not open to the
    member's province, a missing required certification or OTOP stars, and offers
    with nothing in common (no category and no word).
    """
    index = index or TextIndex(offers)
    # Offers fewer than the index holds (a member's own): score only those.
    subset = None if len(offers) == len(index) else [o.offer_id for o in offers]
    text = index.similarity(need, subset)
    best: dict[str, Suggestion] = {}
    for offer in offers:
        if exclusion(need, offer, today) is not None:
            continue
        similarity = text.get(offer.offer_id, (0.0, []))
        if not similarity[1] and not set(need.categories) & set(offer.categories):
            continue  # no word and no category in common: nothing to talk about
        parts = score_pair(
            need,
            offer,
            similarity,
            history.get((need.buyer_id, offer.province_code, offer.cluster_code)),
        )
        suggestion = Suggestion(need, offer, parts)
        current = best.get(offer.member_id)
        if current is None or _order(suggestion) < _order(current):
            best[offer.member_id] = suggestion
    ranked = sorted(best.values(), key=_order)
    return ranked[:top_k] if top_k is not None else ranked


def _order(s: Suggestion) -> tuple[float, str, str]:
    # Best first; ties broken by ids so the order never depends on input order.
    return (-round(s.total, 9), s.offer.offer_id, s.need.need_id)


def rank_needs_for_member(
    member_id: str,
    needs: Sequence[Need],
    active_offers: Sequence[Offer],
    history: Mapping[HistoryKey, PairHistory],
    today: date,
    top_k: int,
) -> list[Suggestion]:
    """The needs a member's offers fit best. Each need is scored against every active
    offer (the same word statistics as when ranking for the need), and the member's
    own offers are picked out."""
    mine = [o for o in active_offers if o.member_id == member_id]
    if not mine:
        return []
    index = TextIndex(active_offers)
    # rank_offers drops a pair with no word and no category in common; skipping those
    # needs here first spares scoring the thousands that cannot fit this member.
    my_words = set().union(*(o.terms for o in mine))
    my_categories = set().union(*(o.categories for o in mine))
    found: list[Suggestion] = []
    for need in needs:
        if my_words.isdisjoint(need.terms) and my_categories.isdisjoint(need.categories):
            continue
        found.extend(rank_offers(need, mine, history, today, index=index))
    return sorted(found, key=_order)[:top_k]


def rank_for_event(
    needs_by_buyer: Mapping[str, Sequence[Need]],
    offers: Sequence[Offer],
    history: Mapping[HistoryKey, PairHistory],
    today: date,
    top_k: int,
) -> list[Suggestion]:
    """For each buyer at an event, its top_k pairs of (need, member's offer) among the
    event's members, one suggestion per (buyer, member); buyers in id order."""
    index = TextIndex(offers)
    result: list[Suggestion] = []
    for buyer_id in sorted(needs_by_buyer):
        per_member: dict[str, Suggestion] = {}
        for need in needs_by_buyer[buyer_id]:
            for suggestion in rank_offers(need, offers, history, today, index=index):
                current = per_member.get(suggestion.offer.member_id)
                if current is None or _order(suggestion) < _order(current):
                    per_member[suggestion.offer.member_id] = suggestion
        result.extend(sorted(per_member.values(), key=_order)[:top_k])
    return result


# --- the suggestion index -------------------------------------------------------------
#
# SuggestMatches keeps one SuggestionIndex in memory: the active offers and the needs
# not closed, with inverted lookups (word -> documents, category -> documents) so a
# call scores only the candidates that share a word or a category, vectorised with
# numpy. It ranks exactly as rank_offers / rank_needs_for_member do over the same
# offers and needs (the tests compare them on random instances); the seven score parts
# and their reasons are built for the top k only.

Array = npt.NDArray[Any]
_K1, _B = 1.5, 0.75  # BM25Okapi's defaults, as TextIndex uses them
_NEVER = date.max.toordinal()  # the deadline of a need without one
# Totals compare rounded to 9 places (_order); candidates within this of the k-th best
# are rescored exactly, so a float summed in another order never changes the ranking.
_TIE_MARGIN = 1e-8


def history_value(history: PairHistory | None) -> float:
    """Deals per meeting, smoothed so one meeting does not decide it: (deals+1)/(met+2)."""
    if history is None or (history.held + history.missed == 0 and history.deals == 0):
        return UNKNOWN
    return min(1.0, (history.deals + 1) / (history.held + history.missed + 2))


def _bits(values: Iterable[int]) -> int:
    mask = 0
    for value in values:
        mask |= 1 << value
    return mask


class _Columns:
    """Per-slot numeric columns, grown together by doubling; a freed slot is reused."""

    def __init__(self, columns: Mapping[str, tuple[type, float]]) -> None:
        self._spec = dict(columns)
        self.size = 0  # slots ever taken: every live slot is below it
        self._free: list[int] = []
        self.live = np.zeros(64, dtype=bool)
        self.col: dict[str, Array] = {
            name: np.full(64, fill, dtype=kind) for name, (kind, fill) in self._spec.items()
        }

    def take(self) -> int:
        if self._free:
            slot = self._free.pop()
        else:
            if self.size == len(self.live):
                grow = len(self.live)
                self.live = np.concatenate([self.live, np.zeros(grow, dtype=bool)])
                for name, (kind, fill) in self._spec.items():
                    extra: Array = np.full(grow, fill, dtype=kind)
                    self.col[name] = np.concatenate([self.col[name], extra])
            slot, self.size = self.size, self.size + 1
        self.live[slot] = True
        return slot

    def set(self, slot: int, **values: float) -> None:
        for name, value in values.items():
            self.col[name][slot] = value

    def free(self, slot: int) -> None:
        self.live[slot] = False
        for name, (_, fill) in self._spec.items():
            self.col[name][slot] = fill
        self._free.append(slot)


class _Postings:
    """key -> {slot: count}; each key's slots (sorted) and counts as arrays, cached
    until that key changes."""

    def __init__(self) -> None:
        self._map: dict[object, dict[int, int]] = {}
        self._arrays: dict[object, tuple[Array, Array]] = {}

    def __contains__(self, key: object) -> bool:
        return key in self._map

    def document_count(self, key: object) -> int:
        return len(self._map.get(key, ()))

    def add(self, key: object, slot: int, count: int = 1) -> None:
        self._map.setdefault(key, {})[slot] = count
        self._arrays.pop(key, None)

    def remove(self, key: object, slot: int) -> None:
        slots = self._map[key]
        del slots[slot]
        if not slots:
            del self._map[key]
        self._arrays.pop(key, None)

    def arrays(self, key: object) -> tuple[Array, Array]:
        found = self._arrays.get(key)
        if found is None:
            items = sorted(self._map.get(key, {}).items())
            found = (
                np.fromiter((s for s, _ in items), dtype=np.int64, count=len(items)),
                np.fromiter((c for _, c in items), dtype=np.int64, count=len(items)),
            )
            self._arrays[key] = found
        return found

    def prepare(self) -> None:
        for key in self._map:
            self.arrays(key)

    def mark(self, keys: Iterable[object], into: Array) -> None:
        """Set into[slot] for every slot under any of the keys."""
        for key in keys:
            if key in self._map:
                into[self.arrays(key)[0]] = True


class SuggestionIndex:
    """The active offers and the needs not closed, for top-k suggestions at scale.

    Kept by the service and changed one offer or need at a time (put_offer, put_need);
    `seen_change` is how far it has caught up with the database's change counter.
    BM25's statistics are those of all the active offers, as TextIndex(active offers).
    """

    def __init__(self) -> None:
        self.seen_change = -1
        self._ids: dict[object, int] = {}  # provinces, units, buyers, members, (province, cluster)
        self._word_ids: dict[str, int] = {"": 0}  # word id 0: a removed need's words
        # Offers.
        self._offers: dict[int, Offer] = {}
        self._offer_slot: dict[str, int] = {}
        self._offer_tf: dict[int, dict[str, int]] = {}
        self._total_length = 0
        self._offer_words, self._offer_categories = _Postings(), _Postings()
        self._member_offers: dict[str, set[int]] = {}
        self._o = _Columns(
            {
                "length": (np.int64, 0),
                "categories": (np.int64, 0),
                "certs": (np.int64, 0),
                "stars": (np.int64, 0),
                "province": (np.int64, -1),
                "region": (np.int64, 0),
                "pair": (np.int64, -1),
                "member": (np.int64, -1),
                "cap_base": (np.float64, np.nan),
                "cap_unit": (np.int64, -1),
                "cap_factor": (np.float64, 1.0),
                "price_min": (np.float64, np.nan),
            }
        )
        # Needs.
        self._needs: dict[int, Need] = {}
        self._need_slot: dict[str, int] = {}
        self._need_words, self._need_categories, self._need_open_to = (
            _Postings(),
            _Postings(),
            _Postings(),
        )
        self._n = _Columns(
            {
                "categories": (np.int64, 0),
                "category_count": (np.int64, 0),
                "required": (np.int64, 0),
                "min_stars": (np.int64, 0),
                "deadline": (np.int64, _NEVER),
                "open_to_some": (np.bool_, False),
                "buyer": (np.int64, -1),
                "province": (np.int64, -1),
                "targets": (np.int64, 0),
                "volume_base": (np.float64, np.nan),
                "volume_unit": (np.int64, -1),
                "volume_factor": (np.float64, np.nan),
                "price_max": (np.float64, np.nan),
            }
        )
        # Each need's words as (slot, word id) pairs, for the idf sums; a removed need's
        # pairs point at word id 0, whose idf is 0.
        self._pair_slot = np.zeros(1024, dtype=np.int64)
        self._pair_word = np.zeros(1024, dtype=np.int64)
        self._pair_count = 0
        self._need_pairs: dict[int, tuple[int, int]] = {}
        self._ideal: Array | None = None  # per need slot, cached until anything changes

    def _id_of(self, key: object) -> int:
        found = self._ids.get(key)
        if found is None:
            found = self._ids[key] = len(self._ids)
        return found

    def _word_id(self, word: str) -> int:
        found = self._word_ids.get(word)
        if found is None:
            found = self._word_ids[word] = len(self._word_ids)
        return found

    def _make_room(self, more: int) -> None:
        """Drop removed needs' (slot, word) pairs, then double the arrays if still short."""
        count = self._pair_count
        kept = self._pair_word[:count] != 0
        before = np.concatenate([[0], np.cumsum(kept)])
        self._need_pairs = {
            slot: (int(before[start]), int(before[end]))
            for slot, (start, end) in self._need_pairs.items()
        }
        live = int(before[-1])
        size = len(self._pair_slot)
        if live + more > size // 2:
            size = max(2 * size, 2 * (live + more))
        slots, words = np.zeros(size, dtype=np.int64), np.zeros(size, dtype=np.int64)
        slots[:live], words[:live] = self._pair_slot[:count][kept], self._pair_word[:count][kept]
        self._pair_slot, self._pair_word, self._pair_count = slots, words, live

    def __len__(self) -> int:
        return len(self._offers)

    @property
    def need_count(self) -> int:
        return len(self._needs)

    def prepare(self) -> None:
        """Build every lookup's arrays now (at start) rather than in the first calls; a
        change later rebuilds only the arrays of the words and categories it touched."""
        for postings in (
            self._offer_words,
            self._offer_categories,
            self._need_words,
            self._need_categories,
            self._need_open_to,
        ):
            postings.prepare()
        if self._needs:
            self._needs_ideal()

    def clusters_of(self, member_id: str) -> set[tuple[str, str]]:
        """The (province, cluster) pairs of the member's active offers: the history keys
        their suggestions read."""
        return {
            (self._offers[s].province_code, self._offers[s].cluster_code)
            for s in self._member_offers.get(member_id, ())
        }

    # --- changes ------------------------------------------------------------------------

    def put_offer(self, offer: Offer) -> None:
        """Add, replace, or (inactive) drop an offer."""
        self.remove_offer(offer.offer_id)
        if not offer.active:
            return
        slot = self._o.take()
        self._offers[slot], self._offer_slot[offer.offer_id] = offer, slot
        tf: dict[str, int] = {}
        for term in offer.terms:
            tf[term] = tf.get(term, 0) + 1
        self._offer_tf[slot] = tf
        for term, count in tf.items():
            self._offer_words.add(term, slot, count)
        for category in set(offer.categories):
            self._offer_categories.add(category, slot)
        self._member_offers.setdefault(offer.member_id, set()).add(slot)
        self._total_length += len(offer.terms)
        capacity = offer.capacity.in_base() if offer.capacity else None
        self._o.set(
            slot,
            length=len(offer.terms),
            categories=_bits(offer.categories),
            certs=_bits(offer.certifications),
            stars=offer.otop_stars,
            province=self._id_of(("province", offer.province_code)),
            region=region_of(offer.province_code),
            pair=self._id_of(("pair", offer.province_code, offer.cluster_code)),
            member=self._id_of(("member", offer.member_id)),
            cap_base=capacity[0] if capacity else np.nan,
            cap_unit=self._id_of(("unit", capacity[1])) if capacity else -1,
            cap_factor=canonical_unit(offer.capacity.unit)[1] if offer.capacity else 1.0,
            price_min=offer.price.min_satang if offer.price else np.nan,
        )
        self._ideal = None

    def remove_offer(self, offer_id: str) -> None:
        slot = self._offer_slot.pop(offer_id, None)
        if slot is None:
            return
        offer = self._offers.pop(slot)
        for term in self._offer_tf.pop(slot):
            self._offer_words.remove(term, slot)
        for category in set(offer.categories):
            self._offer_categories.remove(category, slot)
        mine = self._member_offers[offer.member_id]
        mine.discard(slot)
        if not mine:
            del self._member_offers[offer.member_id]
        self._total_length -= len(offer.terms)
        self._o.free(slot)
        self._ideal = None

    def put_need(self, need: Need) -> None:
        """Add, replace, or (closed) drop a need."""
        self.remove_need(need.need_id)
        if need.closed_at is not None:
            return
        slot = self._n.take()
        self._needs[slot], self._need_slot[need.need_id] = need, slot
        words = list(dict.fromkeys(need.terms))
        for word in words:
            self._need_words.add(word, slot)
        for category in set(need.categories):
            self._need_categories.add(category, slot)
        for code in set(need.open_to_province_codes):
            self._need_open_to.add(self._id_of(("province", code)), slot)
        volume = need.volume.in_base() if need.volume else None
        self._n.set(
            slot,
            categories=_bits(need.categories),
            category_count=len(set(need.categories)),
            required=_bits(need.required()),
            min_stars=need.min_otop_stars,
            deadline=need.deadline.toordinal() if need.deadline else _NEVER,
            open_to_some=bool(need.open_to_province_codes),
            buyer=self._id_of(("buyer", need.buyer_id)),
            province=self._id_of(("province", need.province_code)),
            targets=_bits(need.target_regions()),
            volume_base=volume[0] if volume else np.nan,
            volume_unit=self._id_of(("unit", volume[1])) if volume else -1,
            volume_factor=canonical_unit(need.volume.unit)[1] if need.volume else np.nan,
            price_max=need.price.max_satang if need.price else np.nan,
        )
        if self._pair_count + len(words) > len(self._pair_slot):
            self._make_room(len(words))
        start = self._pair_count
        end = start + len(words)
        self._pair_slot[start:end] = slot
        self._pair_word[start:end] = [self._word_id(w) for w in words]
        self._pair_count, self._need_pairs[slot] = end, (start, end)
        self._ideal = None

    def remove_need(self, need_id: str) -> None:
        slot = self._need_slot.pop(need_id, None)
        if slot is None:
            return
        need = self._needs.pop(slot)
        for word in dict.fromkeys(need.terms):
            self._need_words.remove(word, slot)
        for category in set(need.categories):
            self._need_categories.remove(category, slot)
        for code in set(need.open_to_province_codes):
            self._need_open_to.remove(self._id_of(("province", code)), slot)
        start, end = self._need_pairs.pop(slot)
        self._pair_word[start:end] = 0
        self._n.free(slot)
        self._ideal = None

    # --- BM25 -------------------------------------------------------------------------

    def _idf(self, word: str) -> float:
        return lucene_idf(len(self._offers), self._offer_words.document_count(word))

    def _query(self, need: Need) -> list[str]:
        """The need's words some active offer has, as TextIndex.similarity takes them."""
        return [q for q in dict.fromkeys(need.terms) if q in self._offer_words]

    def _needs_ideal(self) -> Array:
        """Per need slot, the sum of the idf of its words some offer has."""
        if self._ideal is None:
            idf = np.zeros(len(self._word_ids))
            for word, word_id in self._word_ids.items():
                if word in self._offer_words:
                    idf[word_id] = self._idf(word)
            count = self._pair_count
            self._ideal = np.bincount(
                self._pair_slot[:count],
                weights=idf[self._pair_word[:count]],
                minlength=self._n.size,
            )
        return self._ideal

    def _text(self, need: Need, offer_slot: int) -> tuple[float, list[str]]:
        """TextIndex.similarity of one pair, computed as it does."""
        query = self._query(need)
        if not query:
            return 0.0, []
        tf = self._offer_tf[offer_slot]
        norm = 1 - _B + _B * int(self._o.col["length"][offer_slot]) / self._average_length()
        score = 0.0
        for q in query:
            count = tf.get(q, 0)
            score += self._idf(q) * (count * (_K1 + 1) / (count + _K1 * norm))
        ideal = sum(self._idf(q) for q in query)
        return min(1.0, max(0.0, score / ideal)), [q for q in query if q in tf]

    def _average_length(self) -> float:
        return self._total_length / len(self._offers)

    # --- ranking ----------------------------------------------------------------------

    def rank_offers(
        self,
        need: Need,
        history: Mapping[HistoryKey, PairHistory],
        today: date,
        top_k: int,
    ) -> list[Suggestion]:
        """rank_offers(need, the active offers, history, today, top_k=top_k)."""
        if not need.is_open(today) or not self._offers:
            return []
        query, categories = self._query(need), set(need.categories)
        o = self._o.col
        marked = np.zeros(self._o.size, dtype=bool)
        self._offer_words.mark(query, marked)
        self._offer_categories.mark(categories, marked)
        c = np.flatnonzero(marked)
        # Exclusions first: the cheap checks that throw most candidates out.
        required = _bits(need.required())
        keep = (o["certs"][c] & required) == required
        if need.min_otop_stars:
            keep &= o["stars"][c] >= need.min_otop_stars
        if need.open_to_province_codes:
            allowed = [self._ids.get(("province", p), -2) for p in need.open_to_province_codes]
            keep &= np.isin(o["province"][c], allowed)
        c = c[keep]
        if not len(c):
            return []
        score = np.zeros(len(c))
        if query:
            average = self._average_length()
            for q in query:
                slots, counts = self._offer_words.arrays(q)
                at = np.searchsorted(c, slots)
                hit = at < len(c)
                hit[hit] = c[at[hit]] == slots[hit]
                norm = 1 - _B + _B * o["length"][slots[hit]] / average
                tf = counts[hit]
                score[at[hit]] += self._idf(q) * (tf * (_K1 + 1) / (tf + _K1 * norm))
            text = np.minimum(1.0, np.maximum(0.0, score / sum(self._idf(q) for q in query)))
        else:
            text = score
        if categories:
            common = np.bitwise_count(o["categories"][c] & _bits(categories))
            category = common / len(categories)
        else:
            common, category = np.zeros(len(c), dtype=np.int64), np.full(len(c), UNKNOWN)
        fits = (score > 0) | (common > 0)
        c, text, category = c[fits], text[fits], category[fits]
        if not len(c):
            return []
        capacity = np.full(len(c), UNKNOWN)
        price = np.full(len(c), UNKNOWN)
        cap_unit, has_capacity = o["cap_unit"][c], o["cap_unit"][c] >= 0
        if need.volume is not None:
            volume, unit = need.volume.in_base()
            same_unit = cap_unit == self._ids.get(("unit", unit), -2)
            capacity[same_unit] = np.minimum(1.0, o["cap_base"][c][same_unit] / volume)
        if need.price is not None:
            low = o["price_min"][c]
            high = np.full(len(c), need.price.max_satang / 1.0)
            priced = ~np.isnan(low)
            if need.volume is not None:
                _, unit = need.volume.in_base()
                factor = canonical_unit(need.volume.unit)[1]
                converted = has_capacity & (cap_unit == self._ids.get(("unit", unit), -2))
                priced &= ~has_capacity | converted
                low = np.where(has_capacity, low / o["cap_factor"][c], low)
                high = np.where(has_capacity, need.price.max_satang / factor, high)
            price[priced] = _price_values(low[priced], high[priced])
        targets = _bits(need.target_regions())
        in_targets = ((targets >> o["region"][c]) & 1).astype(bool)
        same_province = o["province"][c] == self._ids.get(("province", need.province_code), -2)
        distance = np.where(
            in_targets & same_province,
            SAME_PROVINCE,
            np.where(in_targets, SAME_REGION, OTHER_REGION),
        )
        by_pair = np.full(len(self._ids), UNKNOWN)
        for (buyer_id, province, cluster), past in history.items():
            pair = self._ids.get(("pair", province, cluster))
            if buyer_id == need.buyer_id and pair is not None:
                by_pair[pair] = history_value(past)
        past_value = by_pair[o["pair"][c]]
        if required:
            certification = np.full(len(c), 1.0)
        else:
            certification = np.where(o["certs"][c] != 0, 1.0, 0.75)
        rest = np.stack([category, capacity, price, distance, past_value, certification])
        near = _near_top(_weighted(text, rest), o["member"][c], top_k)
        pairs = [(need, self._offers[int(c[i])], int(c[i]), rest[:, i].tolist()) for i in near]
        return self._finish(pairs, history, top_k, per="member")

    def rank_needs_for_member(
        self,
        member_id: str,
        history: Mapping[HistoryKey, PairHistory],
        today: date,
        top_k: int,
    ) -> list[Suggestion]:
        """rank_needs_for_member(member_id, the open needs, the active offers, history,
        today, top_k); `history` needs only the member's (province, cluster) pairs."""
        pairs: list[tuple[Need, Offer, int, list[float]]] = []
        n = self._n.col
        ideal_all = self._needs_ideal() if self._needs else np.zeros(0)
        for slot in sorted(self._member_offers.get(member_id, ())):
            offer = self._offers[slot]
            tf = self._offer_tf[slot]
            marked = np.zeros(self._n.size, dtype=bool)
            self._need_words.mark(tf, marked)
            self._need_categories.mark(set(offer.categories), marked)
            c = np.flatnonzero(marked)
            certs = _bits(offer.certifications)
            keep = n["deadline"][c] >= today.toordinal()
            keep &= (n["required"][c] & ~certs) == 0
            keep &= n["min_stars"][c] <= offer.otop_stars
            open_here = np.zeros(self._n.size, dtype=bool)
            self._need_open_to.mark([self._ids.get(("province", offer.province_code))], open_here)
            keep &= ~n["open_to_some"][c] | open_here[c]
            c = c[keep]
            if not len(c):
                continue
            score = np.zeros(len(c))
            norm = 1 - _B + _B * len(offer.terms) / self._average_length() if tf else 1.0
            for word, count in tf.items():
                slots, _ = self._need_words.arrays(word)
                at = np.searchsorted(c, slots)
                hit = at < len(c)
                hit[hit] = c[at[hit]] == slots[hit]
                score[at[hit]] += self._idf(word) * (count * (_K1 + 1) / (count + _K1 * norm))
            ideal = ideal_all[c]
            text = np.zeros(len(c))
            np.divide(score, ideal, out=text, where=ideal > 0)
            text = np.minimum(1.0, np.maximum(0.0, text))
            wanted = n["category_count"][c]
            common = np.bitwise_count(n["categories"][c] & _bits(offer.categories))
            category = np.full(len(c), UNKNOWN)
            np.divide(common, wanted, out=category, where=wanted > 0)
            fits = (score > 0) | (common > 0)
            c, text, category = c[fits], text[fits], category[fits]
            if not len(c):
                continue
            capacity = np.full(len(c), UNKNOWN)
            price = np.full(len(c), UNKNOWN)
            volume_unit = n["volume_unit"][c]
            has_volume = volume_unit >= 0
            if offer.capacity is not None:
                amount, unit = offer.capacity.in_base()
                same_unit = volume_unit == self._ids.get(("unit", unit), -2)
                capacity[same_unit] = np.minimum(1.0, amount / n["volume_base"][c][same_unit])
            if offer.price is not None:
                high = n["price_max"][c]
                priced = ~np.isnan(high)
                low = np.full(len(c), offer.price.min_satang / 1.0)
                if offer.capacity is not None:
                    _, unit = offer.capacity.in_base()
                    factor = canonical_unit(offer.capacity.unit)[1]
                    converted = has_volume & (volume_unit == self._ids.get(("unit", unit), -2))
                    priced &= ~has_volume | converted
                    low = np.where(has_volume, offer.price.min_satang / factor, low)
                    high = np.where(has_volume, high / n["volume_factor"][c], high)
                price[priced] = _price_values(low[priced], high[priced])
            in_targets = ((n["targets"][c] >> region_of(offer.province_code)) & 1).astype(bool)
            same_province = n["province"][c] == self._ids[("province", offer.province_code)]
            distance = np.where(
                in_targets & same_province,
                SAME_PROVINCE,
                np.where(in_targets, SAME_REGION, OTHER_REGION),
            )
            by_buyer = np.full(len(self._ids), UNKNOWN)
            for (buyer_id, province, cluster), past in history.items():
                buyer = self._ids.get(("buyer", buyer_id))
                same_pair = (province, cluster) == (offer.province_code, offer.cluster_code)
                if same_pair and buyer is not None:
                    by_buyer[buyer] = history_value(past)
            past_value = by_buyer[n["buyer"][c]]
            certification = np.where(
                n["required"][c] != 0, 1.0, 1.0 if offer.certifications else 0.75
            )
            rest = np.stack([category, capacity, price, distance, past_value, certification])
            near = _near_top(_weighted(text, rest), c, top_k)
            pairs += [(self._needs[int(c[i])], offer, slot, rest[:, i].tolist()) for i in near]
        return self._finish(pairs, history, top_k, per="need")

    def _finish(
        self,
        pairs: Sequence[tuple[Need, Offer, int, list[float]]],
        history: Mapping[HistoryKey, PairHistory],
        top_k: int,
        per: str,
    ) -> list[Suggestion]:
        """The top_k of the candidates near the top: each pair's total recomputed as
        Suggestion.total sums it (the text part as TextIndex computes it, the other
        parts' values given), the best pair per member (or per need), and the parts
        with their reasons built for the chosen only."""
        weights = list(WEIGHTS.values())
        scored = []
        for need, offer, slot, rest in pairs:
            text = self._text(need, slot)
            values = [text[0], *rest]
            total = sum(value * weight for value, weight in zip(values, weights, strict=True))
            scored.append(((-round(total, 9), offer.offer_id, need.need_id), need, offer, text))
        scored.sort(key=lambda item: item[0])
        chosen: list[Suggestion] = []
        seen: set[str] = set()
        for _, need, offer, text in scored:
            key = offer.member_id if per == "member" else need.need_id
            if key in seen:
                continue
            seen.add(key)
            past = history.get((need.buyer_id, offer.province_code, offer.cluster_code))
            chosen.append(Suggestion(need, offer, score_pair(need, offer, text, past)))
            if len(chosen) == top_k:
                break
        return sorted(chosen, key=_order)


def _price_values(low: Array, high: Array) -> Array:
    """_price_part's value: 1 within the buyer's ceiling, falling to 0 at 50% above."""
    return np.where(low <= high, 1.0, np.maximum(0.0, 1.0 - 2.0 * (low - high) / high))


def _weighted(text: Array, rest: Array) -> Array:
    """Each candidate's total: the parts in score_pair's order, times their weights."""
    weights = list(WEIGHTS.values())
    total = text * weights[0]
    for value, weight in zip(rest, weights[1:], strict=True):
        total = total + value * weight
    return total


def _near_top(total: Array, groups: Array, top_k: int) -> Array:
    """The candidates whose total is within _TIE_MARGIN of the k-th best group's best:
    the true top k (one per group) is among them."""
    order = np.argsort(-total, kind="stable")
    seen: set[int] = set()
    for i in order:
        seen.add(int(groups[i]))
        if len(seen) == top_k:
            return np.flatnonzero(total >= total[i] - _TIE_MARGIN)
    return order


def top_k_of(value: int) -> int:
    if value < 0 or value > MAX_TOP_K:
        raise InvalidArgument(f"must be between 0 and {MAX_TOP_K}", field="top_k")
    return value or DEFAULT_TOP_K


def suggested_event(s: Suggestion, now: datetime) -> events_pb2.MatchSuggested:
    return events_pb2.MatchSuggested(
        need_id=s.need.need_id,
        buyer_id=s.need.buyer_id,
        buyer_province_code=s.need.province_code,
        offer_id=s.offer.offer_id,
        member_id=s.offer.member_id,
        province_code=s.offer.province_code,
        cluster_code=s.offer.cluster_code,
        score=s.breakdown(),
        occurred_at=to_timestamp(now),
    )


# --- matching events and their schedule ---------------------------------------------------


@dataclass(frozen=True)
class Slot:
    start: datetime
    end: datetime


@dataclass(frozen=True)
class EventFacts:
    province_code: str
    kind: int
    title: str
    venue: str
    slots: list[Slot]
    table_codes: list[str]
    booth_codes: list[str]


def _codes(v: FieldViolations, field_name: str, values: Sequence[str], limit: int) -> list[str]:
    codes = [c.strip() for c in values]
    if len(codes) > limit:
        v.add(field_name, f"at most {limit}")
    for i, code in enumerate(codes):
        if not CODE.match(code):
            v.add(f"{field_name}[{i}]", "must be 1-40 letters, digits, '.', '_' or '-', e.g. T1")
    if len(set(codes)) != len(codes):
        v.add(field_name, "must be unique")
    return codes


def validate_matching_event(request: matching_service_pb2.CreateMatchingEventRequest) -> EventFacts:
    v = FieldViolations()
    check_province(v, "province_code", request.province_code)
    if request.kind == 0 or request.kind not in mp.MatchingEventKind.values():
        v.add("kind", "is required: business matching or trade fair")
    title = clean_text(v, "title", request.title, required=True, limit=MAX_TITLE)
    venue = clean_text(v, "venue", request.venue, required=False, limit=MAX_NAME)
    if len(request.slots) > MAX_SLOTS:
        v.add("slots", f"at most {MAX_SLOTS}")
    slots: list[Slot] = []
    for i, slot in enumerate(request.slots[:MAX_SLOTS]):
        if not (slot.HasField("start_time") and slot.HasField("end_time")):
            v.add(f"slots[{i}]", "needs a start_time and an end_time")
            continue
        start, end = slot.start_time.ToDatetime(tzinfo=UTC), slot.end_time.ToDatetime(tzinfo=UTC)
        if end <= start:
            v.add(f"slots[{i}].end_time", "must be after start_time")
        elif slots and start < slots[-1].end:
            v.add(f"slots[{i}].start_time", "must not be before the previous slot ends")
        slots.append(Slot(start, end))
    tables = _codes(v, "table_codes", request.table_codes, MAX_TABLES)
    booths = _codes(v, "booth_codes", request.booth_codes, MAX_TABLES)
    if request.kind == mp.MATCHING_EVENT_KIND_BUSINESS_MATCHING:
        v.check(bool(request.slots), "slots", "a business-matching day needs its time slots")
        v.check(bool(tables), "table_codes", "a business-matching day needs at least one table")
    v.raise_if_any()
    return EventFacts(request.province_code, request.kind, title, venue, slots, tables, booths)


def check_available_slots(values: Sequence[int], slot_count: int) -> list[int]:
    v = FieldViolations()
    slots: list[int] = []
    for i, value in enumerate(values):
        if not 0 <= value < slot_count:
            v.add(f"available_slots[{i}]", f"must be a slot index from 0 to {slot_count - 1}")
        elif value not in slots:
            slots.append(value)
    v.raise_if_any()
    return sorted(slots)


def check_priority(value: int) -> int:
    if value == 0:
        return DEFAULT_PRIORITY
    if not 1 <= value <= 5:
        raise InvalidArgument("must be 1 (highest) to 5, or 0 for 3", field="priority")
    return value


Party = tuple[int, str]  # (Side, buyer or member id)


@dataclass(frozen=True)
class MeetingRequest:
    """One meeting asked for, by one side or both, for a (buyer, member) pair."""

    meeting_id: str
    seq: int  # the order of the first request for the pair
    buyer_id: str
    member_id: str
    priority: int  # 1 is the highest
    mutual: bool = False  # both sides asked

    @property
    def parties(self) -> tuple[Party, Party]:
        return (mp.SIDE_BUYER, self.buyer_id), (mp.SIDE_MEMBER, self.member_id)


@dataclass(frozen=True)
class Placement:
    slot: int
    table: str


def request_order(request: MeetingRequest) -> tuple[int, bool, int, str]:
    """Priority first; at equal priority a meeting both sides asked for; then who asked first."""
    return (request.priority, not request.mutual, request.seq, request.meeting_id)


def place_requests(
    requests: Sequence[MeetingRequest],
    placed: Mapping[str, Placement],
    availability: Mapping[Party, Collection[int] | None],
    slot_count: int,
    tables: Sequence[str],
) -> dict[str, Placement]:
    """Placements for the requests not yet placed; the placed ones never move.

    Deterministic greedy: requests in `request_order`, each in the earliest slot both
    sides can make (a party missing from `availability` has withdrawn and is never
    placed; None means every slot) where neither is in another meeting, at the first
    free table in `tables` order. A request that fits nowhere stays unplaced.
    """
    by_id = {r.meeting_id: r for r in requests}
    busy: set[tuple[Party, int]] = set()
    tables_used: dict[int, set[str]] = {}
    for meeting_id, placement in placed.items():
        request = by_id.get(meeting_id)
        if request is None:
            continue  # a placed meeting of a request no longer live; it holds nothing
        for party in request.parties:
            busy.add((party, placement.slot))
        tables_used.setdefault(placement.slot, set()).add(placement.table)
    new: dict[str, Placement] = {}
    for request in sorted(requests, key=request_order):
        if request.meeting_id in placed:
            continue
        buyer, member = request.parties
        if buyer not in availability or member not in availability:
            continue
        for slot in range(slot_count):
            if not (_can_make(availability[buyer], slot) and _can_make(availability[member], slot)):
                continue
            if (buyer, slot) in busy or (member, slot) in busy:
                continue
            used = tables_used.setdefault(slot, set())
            table = next((t for t in tables if t not in used), None)
            if table is None:
                continue
            new[request.meeting_id] = Placement(slot, table)
            busy.update({(buyer, slot), (member, slot)})
            used.add(table)
            break
    return new


def _can_make(available: Collection[int] | None, slot: int) -> bool:
    return available is None or slot in available


# --- outcomes -----------------------------------------------------------------------------


def check_outcome(outcome: int, missed_by: int) -> None:
    if outcome not in (mp.MEETING_STATUS_HELD, mp.MEETING_STATUS_MISSED):
        raise InvalidArgument(
            "must be MEETING_STATUS_HELD or MEETING_STATUS_MISSED", field="outcome"
        )
    if outcome == mp.MEETING_STATUS_MISSED and missed_by not in (mp.SIDE_BUYER, mp.SIDE_MEMBER):
        raise InvalidArgument(
            "is required for a missed meeting: SIDE_BUYER or SIDE_MEMBER", field="missed_by"
        )
    if outcome == mp.MEETING_STATUS_HELD and missed_by:
        raise InvalidArgument("is only for a missed meeting", field="missed_by")


def require_meeting_status(status: int, allowed: set[int], action: str) -> None:
    if status not in allowed:
        name = mp.MeetingStatus.Name(mp.MeetingStatus.ValueType(status))
        name = name.removeprefix("MEETING_STATUS_").lower()
        raise FailedPrecondition(f"cannot {action}: the meeting is {name}", field="meeting_id")


@dataclass(frozen=True)
class DealFacts:
    kind: int
    value_satang: int
    repeats: bool


def validate_deal(request: matching_service_pb2.SignDealRequest) -> DealFacts:
    v = FieldViolations()
    if request.kind not in (mp.DEAL_KIND_ORDER, mp.DEAL_KIND_MOU):
        v.add("kind", "is required: DEAL_KIND_ORDER or DEAL_KIND_MOU")
    value = check_money(v, "order_value", request.order_value)
    if request.kind == mp.DEAL_KIND_ORDER and value == 0:
        v.add("order_value.satang", "an order needs its value in satang")
    if not request.meeting_id.strip():
        v.check(bool(request.buyer_id.strip()), "buyer_id", "is required without a meeting_id")
        v.check(bool(request.member_id.strip()), "member_id", "is required without a meeting_id")
    v.raise_if_any()
    return DealFacts(request.kind, value, request.repeats)


def check_sales(money: common_pb2.Money) -> int:
    v = FieldViolations()
    value = check_money(v, "sales", money)
    if value == 0 and not v:
        v.add("sales.satang", "must be more than zero")
    v.raise_if_any()
    return value


def side_name(side: int) -> str:
    names: dict[int, str] = {mp.SIDE_BUYER: "buyer", mp.SIDE_MEMBER: "member"}
    return names.get(side, "unknown")


def need_visible_to(
    province_code: str, open_to_province_codes: list[str], provinces: list[str] | None
) -> bool:
    """A need is seen in its own province and in those it is open to (all when none
    are named); `provinces` None: the caller sees every province."""
    if provinces is None or province_code in provinces or not open_to_province_codes:
        return True
    return any(code in provinces for code in open_to_province_codes)
