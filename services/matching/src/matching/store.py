"""Matching tables and queries.

Members are a projection of membership's events (what matching needs to know: status,
province, cluster, business name, products); no contact data is ever copied here.
Generic table names carry a matching_ prefix: every service's tables share SQLModel's
one metadata, so two services loaded in one process (the tests) must not clash.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import date, datetime

from bizclub.membership.v1 import membership_pb2
from bizclub_shared.db import UTCDateTime
from bizclub_shared.errors import NotFound
from bizclub_shared.inbox import InboxEntry
from bizclub_shared.outbox import OutboxEvent
from bizclub_shared.unit_of_work import UnitOfWork
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Index,
    UniqueConstraint,
    and_,
    bindparam,
    event,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import Session, sessionmaker
from sqlmodel import Field, SQLModel, col

from matching import domain

mp = domain.mp


class BuyerRow(SQLModel, table=True):
    __tablename__ = "buyer"
    buyer_id: str = Field(primary_key=True, max_length=36)
    province_code: str = Field(index=True, max_length=10)
    kind: int
    name_th: str = Field(max_length=200)
    name_en: str = Field(default="", max_length=200)
    registered_at: datetime = Field(sa_type=UTCDateTime)


class NeedRow(SQLModel, table=True):
    __tablename__ = "need"
    need_id: str = Field(primary_key=True, max_length=36)
    buyer_id: str = Field(foreign_key="buyer.buyer_id", index=True, max_length=36)
    buyer_kind: int
    province_code: str = Field(index=True, max_length=10)
    categories: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    title: str = Field(max_length=200)
    description: str = Field(default="")
    # The words the need is ranked by, segmented once when it is published.
    terms: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    volume_amount: float | None = None
    volume_unit: str = Field(default="", max_length=40)
    price_min_satang: int | None = Field(default=None, sa_type=BigInteger)
    price_max_satang: int | None = Field(default=None, sa_type=BigInteger)
    required_certifications: list[int] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    min_otop_stars: int = 0
    delivery_regions: list[int] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    open_to_province_codes: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    deadline: date | None = None
    published_at: datetime = Field(sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_reason: str = Field(default="", max_length=1000)
    # The change counter's value when the row was last written (see ChangeCounterRow).
    change_seq: int = Field(default=0, sa_type=BigInteger, index=True)


class MemberRow(SQLModel, table=True):
    """What matching knows of a member, from membership's events."""

    __tablename__ = "matching_member"
    member_id: str = Field(primary_key=True, max_length=36)
    province_code: str = Field(index=True, max_length=10)
    cluster_code: str = Field(max_length=40)
    business_name_th: str = Field(default="", max_length=200)
    products: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # bizclub.membership.v1.MemberStatus
    status: int
    updated_at: datetime = Field(sa_type=UTCDateTime)


class OfferRow(SQLModel, table=True):
    __tablename__ = "offer"
    __table_args__ = (Index("ix_offer_active_province", "active", "province_code"),)
    offer_id: str = Field(primary_key=True, max_length=36)
    member_id: str = Field(foreign_key="matching_member.member_id", index=True, max_length=36)
    province_code: str = Field(max_length=10)
    cluster_code: str = Field(max_length=40)
    business_name_th: str = Field(default="", max_length=200)
    categories: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # True while the categories are the cluster's defaults, so a cluster change moves them.
    categories_from_cluster: bool = True
    title: str = Field(default="", max_length=200)
    description: str = Field(default="")
    products: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    terms: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    capacity_amount: float | None = None
    capacity_unit: str = Field(default="", max_length=40)
    price_min_satang: int | None = Field(default=None, sa_type=BigInteger)
    price_max_satang: int | None = Field(default=None, sa_type=BigInteger)
    certifications: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    otop_stars: int = 0
    active: bool = False
    updated_at: datetime = Field(sa_type=UTCDateTime)
    change_seq: int = Field(default=0, sa_type=BigInteger, index=True)


class ChangeCounterRow(SQLModel, table=True):
    """One row: raised by every transaction that writes needs or offers, whose rows
    then carry the new value in change_seq. Each replica's suggestion index catches
    up by reading the rows above the value it has seen. The row lock makes writers
    take values in commit order, so a value seen means every row up to it is there."""

    __tablename__ = "matching_change_counter"
    id: int = Field(primary_key=True)
    value: int = Field(default=0, sa_type=BigInteger)


class SuggestionRow(SQLModel, table=True):
    """A (need, offer) pair once suggested: MatchSuggested is emitted once per pair."""

    __tablename__ = "suggestion"
    need_id: str = Field(primary_key=True, foreign_key="need.need_id", max_length=36)
    offer_id: str = Field(primary_key=True, foreign_key="offer.offer_id", max_length=36)
    member_id: str = Field(index=True, max_length=36)
    buyer_id: str = Field(max_length=36)
    score: float
    parts: list[dict[str, object]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    first_suggested_at: datetime = Field(sa_type=UTCDateTime)
    last_suggested_at: datetime = Field(sa_type=UTCDateTime)


class PairHistoryRow(SQLModel, table=True):
    """Outcomes between a buyer and one cluster of one province's members."""

    __tablename__ = "pair_history"
    __table_args__ = (Index("ix_pair_history_cluster", "province_code", "cluster_code"),)
    buyer_id: str = Field(primary_key=True, max_length=36)
    province_code: str = Field(primary_key=True, max_length=10)
    cluster_code: str = Field(primary_key=True, max_length=40)
    held: int = 0
    missed: int = 0
    deals: int = 0
    deal_value_satang: int = Field(default=0, sa_type=BigInteger)


class MatchingEventRow(SQLModel, table=True):
    __tablename__ = "matching_event"
    matching_event_id: str = Field(primary_key=True, max_length=36)
    province_code: str = Field(index=True, max_length=10)
    kind: int
    title: str = Field(max_length=200)
    venue: str = Field(default="", max_length=200)
    # [[start ISO, end ISO], ...], slot_index is the position.
    slots: list[list[str]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    table_codes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    booth_codes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Set by the first ScheduleMeetings: from then on a withdrawal re-places requests.
    scheduled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)


class ParticipantRow(SQLModel, table=True):
    __tablename__ = "matching_participant"
    __table_args__ = (
        UniqueConstraint("matching_event_id", "booth_code", name="uq_matching_participant_booth"),
    )
    matching_event_id: str = Field(
        primary_key=True, foreign_key="matching_event.matching_event_id", max_length=36
    )
    side: int = Field(primary_key=True)
    party_id: str = Field(primary_key=True, max_length=36)
    name_th: str = Field(default="", max_length=200)
    province_code: str = Field(max_length=10)
    available_slots: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    booth_code: str | None = Field(default=None, max_length=40)
    withdrawn_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    registered_at: datetime = Field(sa_type=UTCDateTime)


class MeetingRow(SQLModel, table=True):
    __tablename__ = "matching_meeting"
    __table_args__ = (
        Index("ix_matching_meeting_event_pair", "matching_event_id", "buyer_id", "member_id"),
    )
    # The integer id is the order requests came in: it breaks priority ties.
    id: int | None = Field(default=None, primary_key=True)
    meeting_id: str = Field(max_length=36, unique=True)
    matching_event_id: str = Field(foreign_key="matching_event.matching_event_id", max_length=36)
    buyer_id: str = Field(max_length=36)
    member_id: str = Field(max_length=36)
    priority: int
    requested_by_buyer: bool = False
    requested_by_member: bool = False
    need_id: str = Field(default="", max_length=36)
    offer_id: str = Field(default="", max_length=36)
    status: int
    slot_index: int | None = None
    table_code: str | None = Field(default=None, max_length=40)
    missed_by: int = 0
    requested_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class DealRow(SQLModel, table=True):
    __tablename__ = "deal"
    deal_id: str = Field(primary_key=True, max_length=36)
    kind: int
    buyer_id: str = Field(index=True, max_length=36)
    member_id: str = Field(index=True, max_length=36)
    meeting_id: str = Field(default="", max_length=36)
    matching_event_id: str = Field(default="", max_length=36)
    order_value_satang: int = Field(sa_type=BigInteger)
    repeats: bool
    signed_at: datetime = Field(sa_type=UTCDateTime)


class FairSaleRow(SQLModel, table=True):
    __tablename__ = "fair_sale"
    id: int | None = Field(default=None, primary_key=True)
    matching_event_id: str = Field(foreign_key="matching_event.matching_event_id", max_length=36)
    member_id: str = Field(max_length=36)
    sales_satang: int = Field(sa_type=BigInteger)
    recorded_at: datetime = Field(sa_type=UTCDateTime)


TABLES = [
    BuyerRow,
    NeedRow,
    MemberRow,
    OfferRow,
    ChangeCounterRow,
    SuggestionRow,
    PairHistoryRow,
    MatchingEventRow,
    ParticipantRow,
    MeetingRow,
    DealRow,
    FairSaleRow,
    OutboxEvent,
    InboxEntry,
]

ACTIVE_MEMBER = membership_pb2.MEMBER_STATUS_ACTIVE


# --- buyers and needs ---------------------------------------------------------------


def to_buyer(row: BuyerRow) -> domain.Buyer:
    return domain.Buyer(
        row.buyer_id, row.province_code, row.kind, row.name_th, row.name_en, row.registered_at
    )


def buyer_row(session: Session, buyer_id: str, field: str = "buyer_id") -> BuyerRow:
    row = session.get(BuyerRow, buyer_id)
    if row is None:
        raise NotFound(f"no buyer with id {buyer_id!r}", field=field)
    return row


def _quantity(amount: float | None, unit: str) -> domain.Quantity | None:
    return None if amount is None else domain.Quantity(amount, unit)


def _price(low: int | None, high: int | None) -> domain.Price | None:
    return None if low is None or high is None else domain.Price(low, high)


def to_need(row: NeedRow) -> domain.Need:
    return domain.Need(
        need_id=row.need_id,
        buyer_id=row.buyer_id,
        buyer_kind=row.buyer_kind,
        province_code=row.province_code,
        categories=list(row.categories),
        title=row.title,
        description=row.description,
        volume=_quantity(row.volume_amount, row.volume_unit),
        price=_price(row.price_min_satang, row.price_max_satang),
        required_certifications=list(row.required_certifications),
        min_otop_stars=row.min_otop_stars,
        delivery_regions=list(row.delivery_regions),
        open_to_province_codes=list(row.open_to_province_codes),
        deadline=row.deadline,
        published_at=row.published_at,
        terms=list(row.terms),
        closed_at=row.closed_at,
        closed_reason=row.closed_reason,
    )


def need_to_row(need: domain.Need) -> NeedRow:
    return NeedRow(
        need_id=need.need_id,
        buyer_id=need.buyer_id,
        buyer_kind=need.buyer_kind,
        province_code=need.province_code,
        categories=need.categories,
        title=need.title,
        description=need.description,
        terms=need.terms,
        volume_amount=need.volume.amount if need.volume else None,
        volume_unit=need.volume.unit if need.volume else "",
        price_min_satang=need.price.min_satang if need.price else None,
        price_max_satang=need.price.max_satang if need.price else None,
        required_certifications=need.required_certifications,
        min_otop_stars=need.min_otop_stars,
        delivery_regions=need.delivery_regions,
        open_to_province_codes=need.open_to_province_codes,
        deadline=need.deadline,
        published_at=need.published_at,
    )


def need_row(session: Session, need_id: str, field: str = "need_id") -> NeedRow:
    row = session.get(NeedRow, need_id)
    if row is None:
        raise NotFound(f"no need with id {need_id!r}", field=field)
    return row


def open_needs(
    session: Session, today: date, buyer_ids: Collection[str] | None = None
) -> list[domain.Need]:
    query = select(NeedRow).where(
        col(NeedRow.closed_at).is_(None),
        (col(NeedRow.deadline).is_(None)) | (col(NeedRow.deadline) >= today),
    )
    if buyer_ids is not None:
        query = query.where(col(NeedRow.buyer_id).in_(buyer_ids))
    return [to_need(r) for r in session.execute(query.order_by(col(NeedRow.need_id))).scalars()]


# --- members and offers ---------------------------------------------------------------


def to_offer(row: OfferRow) -> domain.Offer:
    return domain.Offer(
        offer_id=row.offer_id,
        member_id=row.member_id,
        province_code=row.province_code,
        cluster_code=row.cluster_code,
        business_name_th=row.business_name_th,
        categories=list(row.categories),
        title=row.title,
        description=row.description,
        products=list(row.products),
        capacity=_quantity(row.capacity_amount, row.capacity_unit),
        price=_price(row.price_min_satang, row.price_max_satang),
        certifications=list(row.certifications),
        otop_stars=row.otop_stars,
        active=row.active,
        updated_at=row.updated_at,
        terms=list(row.terms),
    )


def save_offer(session: Session, offer: domain.Offer, row: OfferRow | None = None) -> OfferRow:
    """Insert the offer, or copy it onto its loaded row."""
    if row is None:
        row = OfferRow(
            offer_id=offer.offer_id,
            member_id=offer.member_id,
            province_code=offer.province_code,
            cluster_code=offer.cluster_code,
            updated_at=offer.updated_at,
        )
        session.add(row)
    row.province_code = offer.province_code
    row.cluster_code = offer.cluster_code
    row.business_name_th = offer.business_name_th
    row.categories = list(offer.categories)
    row.title = offer.title
    row.description = offer.description
    row.products = list(offer.products)
    row.terms = list(offer.terms)
    row.capacity_amount = offer.capacity.amount if offer.capacity else None
    row.capacity_unit = offer.capacity.unit if offer.capacity else ""
    row.price_min_satang = offer.price.min_satang if offer.price else None
    row.price_max_satang = offer.price.max_satang if offer.price else None
    row.certifications = list(offer.certifications)
    row.otop_stars = offer.otop_stars
    row.active = offer.active
    row.updated_at = offer.updated_at
    return row


def member_row(session: Session, member_id: str, field: str = "member_id") -> MemberRow:
    row = session.get(MemberRow, member_id)
    if row is None:
        raise NotFound(
            f"no member with id {member_id!r} is known to matching yet; members appear "
            "here once membership has published their registration",
            field=field,
        )
    return row


def offers_of(session: Session, member_id: str) -> list[OfferRow]:
    return list(
        session.execute(
            select(OfferRow)
            .where(col(OfferRow.member_id) == member_id)
            .order_by(col(OfferRow.offer_id))
        ).scalars()
    )


def active_offers(
    session: Session, member_ids: Collection[str] | None = None
) -> list[domain.Offer]:
    query = select(OfferRow).where(col(OfferRow.active).is_(True))
    if member_ids is not None:
        query = query.where(col(OfferRow.member_id).in_(member_ids))
    return [to_offer(r) for r in session.execute(query.order_by(col(OfferRow.offer_id))).scalars()]


def count_active_offers(session: Session) -> int:
    query = select(func.count()).select_from(OfferRow).where(col(OfferRow.active).is_(True))
    return int(session.execute(query).scalar_one())


# --- the suggestion index and its change counter --------------------------------------------

COUNTER_ID = 1


def count_changes(write_sessions: sessionmaker[Session]) -> None:
    """Stamp every need and offer these sessions write with a new change counter value
    (before each flush), whichever handler or reaction writes them."""
    event.listen(write_sessions, "before_flush", _stamp_changes)


def _stamp_changes(session: Session, _context: object, _instances: object) -> None:
    changed = [r for r in (*session.new, *session.dirty) if isinstance(r, NeedRow | OfferRow)]
    if not changed:
        return
    # On the connection: an ORM statement on the session would flush inside the flush.
    connection = session.connection()
    value = connection.execute(
        update(ChangeCounterRow)
        .where(col(ChangeCounterRow.id) == COUNTER_ID)
        .values(value=col(ChangeCounterRow.value) + 1)
        .returning(col(ChangeCounterRow.value))
    ).scalar_one_or_none()
    if value is None:  # a database made without the migration that adds the row
        value = 1
        connection.execute(insert(ChangeCounterRow).values(id=COUNTER_ID, value=value))
    for row in changed:
        row.change_seq = value


def refresh_index(session: Session, index: domain.SuggestionIndex) -> None:
    """Bring the index up to what is committed: the needs and offers written since the
    counter value it has seen (everything, the first time)."""
    current = session.execute(
        select(col(ChangeCounterRow.value)).where(col(ChangeCounterRow.id) == COUNTER_ID)
    ).scalar_one_or_none()
    current = current or 0
    if index.seen_change >= 0 and current == index.seen_change:
        return
    since = index.seen_change
    offers = select(OfferRow).where(col(OfferRow.change_seq) > since)
    for offer in session.execute(offers.order_by(col(OfferRow.offer_id))).scalars():
        index.put_offer(to_offer(offer))
    needs = select(NeedRow).where(col(NeedRow.change_seq) > since)
    for need in session.execute(needs.order_by(col(NeedRow.need_id))).scalars():
        index.put_need(to_need(need))
    index.seen_change = current


def history_of_clusters(
    session: Session, pairs: Iterable[tuple[str, str]]
) -> dict[domain.HistoryKey, domain.PairHistory]:
    """Every buyer's outcomes with these (province, cluster) pairs."""
    wanted = sorted(set(pairs))
    if not wanted:
        return {}
    rows = session.execute(
        select(PairHistoryRow).where(
            or_(
                *(
                    and_(
                        col(PairHistoryRow.province_code) == province,
                        col(PairHistoryRow.cluster_code) == cluster,
                    )
                    for province, cluster in wanted
                )
            )
        )
    ).scalars()
    return {
        (r.buyer_id, r.province_code, r.cluster_code): domain.PairHistory(r.held, r.missed, r.deals)
        for r in rows
    }


# --- suggestions and history --------------------------------------------------------------


def history_for(
    session: Session, buyer_ids: Iterable[str]
) -> dict[domain.HistoryKey, domain.PairHistory]:
    ids = list(set(buyer_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(PairHistoryRow).where(col(PairHistoryRow.buyer_id).in_(ids))
    ).scalars()
    return {
        (r.buyer_id, r.province_code, r.cluster_code): domain.PairHistory(r.held, r.missed, r.deals)
        for r in rows
    }


def add_history(
    session: Session,
    buyer_id: str,
    member: MemberRow,
    *,
    held: int = 0,
    missed: int = 0,
    deals: int = 0,
    value: int = 0,
) -> None:
    key = (buyer_id, member.province_code, member.cluster_code)
    row = session.get(PairHistoryRow, key)
    if row is None:
        row = PairHistoryRow(
            buyer_id=buyer_id, province_code=member.province_code, cluster_code=member.cluster_code
        )
        session.add(row)
    row.held += held
    row.missed += missed
    row.deals += deals
    row.deal_value_satang += value


def record_suggestions(
    uow: UnitOfWork, suggestions: Sequence[domain.Suggestion], now: datetime
) -> list[domain.Suggestion]:
    """Keep the latest score of each pair; returns the pairs suggested for the first time.

    One query finds which pairs were suggested before, one statement updates them, and
    the new ones go in with the batch's other rows. (A lookup per pair, each flushing
    the rows added before it, was most of a SuggestMatches call's commit: ~10 ms.)
    Two calls in one batch that both find a pair new break its primary key; the writer
    then runs them one at a time, and the second finds the first's row.
    """
    table = SuggestionRow.__table__  # type: ignore[attr-defined]
    keys = [(s.need.need_id, s.offer.offer_id) for s in suggestions]
    connection = uow.session.connection()
    known = {
        (row.need_id, row.offer_id)
        for row in connection.execute(
            select(table.c.need_id, table.c.offer_id).where(
                tuple_(table.c.need_id, table.c.offer_id).in_(keys)
            )
        )
    }
    first: list[domain.Suggestion] = []
    changed: list[dict[str, object]] = []
    for s, key in zip(suggestions, keys, strict=True):
        breakdown = s.breakdown()
        parts = [
            {"name": p.name, "value": p.value, "weight": p.weight, "reason_en": p.reason_en}
            for p in breakdown.parts
        ]
        if key in known:
            changed.append(
                {"k_need": key[0], "k_offer": key[1], "k_score": breakdown.total, "k_parts": parts}
            )
            continue
        known.add(key)
        uow.insert(
            table,
            {
                "need_id": key[0],
                "offer_id": key[1],
                "member_id": s.offer.member_id,
                "buyer_id": s.need.buyer_id,
                "score": breakdown.total,
                "parts": parts,
                "first_suggested_at": now,
                "last_suggested_at": now,
            },
        )
        first.append(s)
    if changed:
        connection.execute(
            update(table)
            .where(table.c.need_id == bindparam("k_need"), table.c.offer_id == bindparam("k_offer"))
            .values(score=bindparam("k_score"), parts=bindparam("k_parts"), last_suggested_at=now),
            changed,
        )
    return first


# --- matching events, participants, meetings ------------------------------------------------


def event_row(
    session: Session, event_id: str, field: str = "matching_event_id"
) -> MatchingEventRow:
    row = session.get(MatchingEventRow, event_id)
    if row is None:
        raise NotFound(f"no matching event with id {event_id!r}", field=field)
    return row


def slots_of(row: MatchingEventRow) -> list[domain.Slot]:
    return [
        domain.Slot(datetime.fromisoformat(start), datetime.fromisoformat(end))
        for start, end in row.slots
    ]


def participants(session: Session, event_id: str) -> list[ParticipantRow]:
    return list(
        session.execute(
            select(ParticipantRow)
            .where(col(ParticipantRow.matching_event_id) == event_id)
            .order_by(col(ParticipantRow.side), col(ParticipantRow.registered_at))
        ).scalars()
    )


def participant(session: Session, event_id: str, side: int, party_id: str) -> ParticipantRow | None:
    return session.get(ParticipantRow, (event_id, side, party_id))


LIVE = (
    mp.MEETING_STATUS_REQUESTED,
    mp.MEETING_STATUS_SCHEDULED,
    mp.MEETING_STATUS_HELD,
    mp.MEETING_STATUS_MISSED,
)
PLACED = (mp.MEETING_STATUS_SCHEDULED, mp.MEETING_STATUS_HELD, mp.MEETING_STATUS_MISSED)


def meetings(session: Session, event_id: str) -> list[MeetingRow]:
    return list(
        session.execute(
            select(MeetingRow)
            .where(col(MeetingRow.matching_event_id) == event_id)
            .order_by(col(MeetingRow.id))
        ).scalars()
    )


def meeting_row(session: Session, meeting_id: str, field: str = "meeting_id") -> MeetingRow:
    row = session.execute(
        select(MeetingRow).where(col(MeetingRow.meeting_id) == meeting_id)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no meeting with id {meeting_id!r}", field=field)
    return row


def live_meeting_of_pair(
    session: Session, event_id: str, buyer_id: str, member_id: str
) -> MeetingRow | None:
    return session.execute(
        select(MeetingRow).where(
            col(MeetingRow.matching_event_id) == event_id,
            col(MeetingRow.buyer_id) == buyer_id,
            col(MeetingRow.member_id) == member_id,
            col(MeetingRow.status).in_(LIVE),
        )
    ).scalar_one_or_none()


def to_request(row: MeetingRow) -> domain.MeetingRequest:
    assert row.id is not None
    return domain.MeetingRequest(
        meeting_id=row.meeting_id,
        seq=row.id,
        buyer_id=row.buyer_id,
        member_id=row.member_id,
        priority=row.priority,
        mutual=row.requested_by_buyer and row.requested_by_member,
    )


def placement_of(row: MeetingRow) -> domain.Placement | None:
    if row.status not in PLACED or row.slot_index is None or row.table_code is None:
        return None
    return domain.Placement(row.slot_index, row.table_code)


def fair_sales_total(session: Session, event_id: str, member_id: str) -> int:
    query = select(func.coalesce(func.sum(FairSaleRow.sales_satang), 0)).where(
        col(FairSaleRow.matching_event_id) == event_id, col(FairSaleRow.member_id) == member_id
    )
    return int(session.execute(query).scalar_one())
