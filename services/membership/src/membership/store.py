"""Membership tables and queries. Contact data sits in its own table so it can be
masked, kept out of everything else, and erased on request."""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from collections.abc import Sequence
from datetime import date, datetime

from bizclub_shared import paging
from bizclub_shared.db import UTCDateTime
from bizclub_shared.errors import AlreadyExists, NotFound
from bizclub_shared.inbox import InboxEntry
from bizclub_shared.outbox import OutboxEvent
from bizclub_shared.thai_text import normalize, search_terms
from bizclub_shared.unit_of_work import UnitOfWork
from sqlalchemy import JSON, BigInteger, Column, ColumnElement, Index, and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import Field, SQLModel, col

from membership import domain


class NetworkRow(SQLModel, table=True):
    __tablename__ = "network"
    province_code: str = Field(primary_key=True, max_length=10)
    name_th: str = Field(max_length=200)
    name_en: str = Field(default="", max_length=200)
    created_at: datetime = Field(sa_type=UTCDateTime)


class ClusterRow(SQLModel, table=True):
    __tablename__ = "cluster"
    province_code: str = Field(primary_key=True, foreign_key="network.province_code", max_length=10)
    cluster_code: str = Field(primary_key=True, max_length=40)
    name_th: str = Field(max_length=200)
    name_en: str = Field(default="", max_length=200)


class MemberRow(SQLModel, table=True):
    __tablename__ = "member"
    __table_args__ = (
        Index("ix_member_province_status", "province_code", "status", "id"),
        Index("ix_member_province_cluster", "province_code", "cluster_code", "id"),
    )
    # The integer id orders listings and cursors; member_id is the public id.
    id: int | None = Field(default=None, primary_key=True)
    member_id: str = Field(max_length=36, unique=True)
    province_code: str = Field(max_length=10)
    cluster_code: str = Field(max_length=40)
    business_name_th: str = Field(max_length=200)
    business_name_en: str = Field(default="", max_length=200)
    # " word word " from Thai word segmentation, so search matches at word starts.
    search_text: str = Field(default="")
    tax_id: str = Field(max_length=13, unique=True)
    enterprise_type: int
    products: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    sales_channels: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Satang overflow a 32-bit INTEGER at 21.4 million baht: every money column is BIGINT.
    baseline_revenue_satang: int = Field(sa_type=BigInteger)
    status: int
    registered_at: datetime = Field(sa_type=UTCDateTime)
    approved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ContactRow(SQLModel, table=True):
    """Personal data (PDPA). Never copied into events, logs or traces."""

    __tablename__ = "member_contact"
    member_id: str = Field(primary_key=True, foreign_key="member.member_id", max_length=36)
    full_name: str = Field(max_length=200)
    phone: str = Field(default="", max_length=20)
    email: str = Field(default="", max_length=200)
    national_id: str = Field(default="", max_length=13)


class AppointmentRow(SQLModel, table=True):
    __tablename__ = "committee_appointment"
    appointment_id: str = Field(primary_key=True, max_length=36)
    province_code: str = Field(index=True, max_length=10)
    member_id: str = Field(foreign_key="member.member_id", max_length=36)
    role: int
    cluster_code: str = Field(default="", max_length=40)
    term_start: date
    term_end: date


class MentorshipRow(SQLModel, table=True):
    __tablename__ = "mentorship"
    mentorship_id: str = Field(primary_key=True, max_length=36)
    province_code: str = Field(index=True, max_length=10)
    mentor_member_id: str = Field(foreign_key="member.member_id", index=True, max_length=36)
    mentee_member_id: str = Field(foreign_key="member.member_id", index=True, max_length=36)
    focus: str = Field(default="", max_length=1000)
    started_at: datetime = Field(sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


TABLES = [
    NetworkRow,
    ClusterRow,
    MemberRow,
    ContactRow,
    AppointmentRow,
    MentorshipRow,
    OutboxEvent,
    InboxEntry,
]


# Characters _compact always keeps: Thai letters, vowels, marks and digits; a-z, 0-9.
# Most words hold nothing else, and one search for anything else decides that.
_NOT_PLAIN = re.compile("[^\u0e01-\u0e2e\u0e30-\u0e3a\u0e40-\u0e4e\u0e50-\u0e59a-z0-9]")


@functools.lru_cache(maxsize=65536)  # a network's names share most of their words
def _compact(text: str) -> str:
    """Letters, digits and Thai marks only: punctuation never decides a match."""
    if not _NOT_PLAIN.search(text):
        return text
    return "".join(ch for ch in text if ch.isalnum() or unicodedata.category(ch)[0] == "M")


def search_text_of(*names: str) -> str:
    """The name from every word start on, e.g. " ทอผ้าฝ้าย ผ้าฝ้าย ฝ้าย "... for ทอ|ผ้า|ฝ้าย.

    A query then matches when it starts at a word of the name, even when it spans
    several words (ทอผ้า) or the tokenizer split the name differently from the query.
    """
    entries: list[str] = []
    for name in names:
        words = [_compact(word) for word in search_terms(name)]
        for start in range(len(words)):
            entry = "".join(words[start:])
            if entry and entry not in entries:
                entries.append(entry)
    return " " + " ".join(entries) + " "


def query_chunks(query: str) -> list[str]:
    """What the person typed, split at their spaces, in the form names are indexed in."""
    return [c for c in (_compact(part) for part in normalize(query).lower().split()) if c]


# --- members ------------------------------------------------------------------------


def to_domain(row: MemberRow) -> domain.Member:
    return domain.Member(
        member_id=row.member_id,
        province_code=row.province_code,
        cluster_code=row.cluster_code,
        business_name_th=row.business_name_th,
        business_name_en=row.business_name_en,
        tax_id=row.tax_id,
        enterprise_type=row.enterprise_type,
        products=list(row.products),
        sales_channels=list(row.sales_channels),
        baseline_revenue_satang=row.baseline_revenue_satang,
        status=row.status,
        registered_at=row.registered_at,
        approved_at=row.approved_at,
        updated_at=row.updated_at,
    )


def insert_member(
    uow: UnitOfWork, member: domain.Member, contact: domain.Contact, search_text: str
) -> None:
    """Insert a new member and its contact: plain inserts, written with the batch's others
    (the hot path of registration). `search_text`: search_text_of the member's names,
    made before the write so the batch does not wait on word segmentation."""
    members = MemberRow.__table__  # type: ignore[attr-defined]
    # A tax ID already taken breaks the unique index, and the batch is retried one
    # operation at a time; only then is it looked up, to say who has it. (A lookup per
    # registration in every batch would cost more than the whole batch's inserts.)
    if uow.one_at_a_time:
        taken = (
            uow.session.connection()
            .execute(select(members.c.member_id).where(members.c.tax_id == member.tax_id))
            .scalar_one_or_none()
        )
        if taken is not None:
            raise AlreadyExists(
                f"a member with this tax ID is already registered ({taken})", field="tax_id"
            )
    values = {
        "member_id": member.member_id,
        "province_code": member.province_code,
        "cluster_code": member.cluster_code,
        "business_name_th": member.business_name_th,
        "business_name_en": member.business_name_en,
        "search_text": search_text,
        "tax_id": member.tax_id,
        "enterprise_type": member.enterprise_type,
        "products": member.products,
        "sales_channels": member.sales_channels,
        "baseline_revenue_satang": member.baseline_revenue_satang,
        "status": member.status,
        "registered_at": member.registered_at,
        "approved_at": member.approved_at,
        "updated_at": member.updated_at,
    }
    try:
        uow.insert(members, values)
    except IntegrityError as exc:  # another replica's registration committed meanwhile
        if "tax_id" in str(exc.orig):
            raise AlreadyExists(
                "a member with this tax ID is already registered", field="tax_id"
            ) from None
        raise
    uow.insert(
        ContactRow.__table__,  # type: ignore[attr-defined]
        {"member_id": member.member_id, **contact.__dict__},
    )


def apply_to_row(member: domain.Member, row: MemberRow) -> None:
    """Copy what a lifecycle change may alter back onto the loaded row."""
    row.status = member.status
    row.cluster_code = member.cluster_code
    row.approved_at = member.approved_at
    row.updated_at = member.updated_at


def member_row(session: Session, member_id: str, field: str = "member_id") -> MemberRow:
    row = (
        session.execute(select(MemberRow).where(col(MemberRow.member_id) == member_id))
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no member with id {member_id!r}", field=field)
    return row


def contacts_of(session: Session, member_ids: Sequence[str]) -> dict[str, ContactRow]:
    if not member_ids:
        return {}
    rows = (
        session.execute(select(ContactRow).where(col(ContactRow.member_id).in_(member_ids)))
    ).scalars()
    return {row.member_id: row for row in rows}


# (province, cluster) pairs known to exist. Clusters are only ever added, so a hit
# can never be wrong; a miss asks the database.
_known_clusters: set[tuple[str, str]] = set()


def cluster_province(session: Session, province_code: str, cluster_code: str) -> str | None:
    """The province whose network has this cluster code: the member's own first."""
    if (province_code, cluster_code) in _known_clusters:
        return province_code
    clusters = ClusterRow.__table__.c  # type: ignore[attr-defined]
    provinces = list(
        session.connection()
        .execute(
            select(clusters.province_code)
            .where(clusters.cluster_code == cluster_code)
            # The same province every time, whatever order the database keeps rows in.
            .order_by(clusters.province_code)
        )
        .scalars()
    )
    if province_code in provinces:
        _known_clusters.add((province_code, cluster_code))
        return province_code
    return provinces[0] if provinces else None


# --- listing with cursor paging -----------------------------------------------------


def list_members(
    session: Session,
    *,
    province_codes: Sequence[str] | None,
    cluster_code: str,
    status: int,
    enterprise_type: int,
    query: str,
    page_size: int,
    page_token: str,
) -> tuple[list[MemberRow], str]:
    words = query_chunks(query) if query else []
    filters = json.dumps(
        [sorted(province_codes or []), cluster_code, status, enterprise_type, words],
        ensure_ascii=False,
    )
    start = paging.decode_cursor(page_token, filters, (int,))
    size = paging.page_size(page_size)
    conditions = [col(MemberRow.id) > (start[0] if start else 0)]
    if province_codes is not None:
        conditions.append(col(MemberRow.province_code).in_(province_codes))
    if cluster_code:
        conditions.append(col(MemberRow.cluster_code) == cluster_code)
    if status:
        conditions.append(col(MemberRow.status) == status)
    if enterprise_type:
        conditions.append(col(MemberRow.enterprise_type) == enterprise_type)
    for word in words:
        # Each chunk must start at a word of the name (Thai has no spaces between words).
        pattern = "% " + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(col(MemberRow.search_text).like(pattern, escape="\\"))
    rows = list(
        (
            session.execute(
                select(MemberRow)
                .where(and_(*conditions))
                .order_by(col(MemberRow.id))
                .limit(size + 1)
            )
        ).scalars()
    )
    next_token = ""
    if len(rows) > size:
        rows = rows[:size]
        assert rows[-1].id is not None
        next_token = paging.encode_cursor([rows[-1].id], filters)
    return rows, next_token


# --- committee and mentoring ---------------------------------------------------------


def to_appointment(row: AppointmentRow) -> domain.Appointment:
    return domain.Appointment(
        appointment_id=row.appointment_id,
        province_code=row.province_code,
        member_id=row.member_id,
        role=row.role,
        cluster_code=row.cluster_code,
        term_start=row.term_start,
        term_end=row.term_end,
    )


def overlapping_appointments(
    session: Session, province_code: str, start: date, end: date
) -> list[domain.Appointment]:
    rows = (
        session.execute(
            select(AppointmentRow).where(
                col(AppointmentRow.province_code) == province_code,
                col(AppointmentRow.term_start) <= end,
                col(AppointmentRow.term_end) >= start,
            )
        )
    ).scalars()
    return [to_appointment(r) for r in rows]


def current_committee(session: Session, province_code: str, today: date) -> list[AppointmentRow]:
    return list(
        (
            session.execute(
                select(AppointmentRow)
                .where(
                    col(AppointmentRow.province_code) == province_code,
                    col(AppointmentRow.term_start) <= today,
                    col(AppointmentRow.term_end) >= today,
                )
                .order_by(col(AppointmentRow.role), col(AppointmentRow.cluster_code))
            )
        ).scalars()
    )


def to_mentorship(row: MentorshipRow) -> domain.Mentorship:
    return domain.Mentorship(
        mentorship_id=row.mentorship_id,
        province_code=row.province_code,
        mentor_member_id=row.mentor_member_id,
        mentee_member_id=row.mentee_member_id,
        focus=row.focus,
        started_at=row.started_at,
        ended_at=row.ended_at,
    )


def has_active_mentor(session: Session, mentee_member_id: str) -> bool:
    found = (
        session.execute(
            select(col(MentorshipRow.mentorship_id)).where(
                col(MentorshipRow.mentee_member_id) == mentee_member_id,
                col(MentorshipRow.ended_at).is_(None),
            )
        )
    ).first()
    return found is not None


def list_mentorships(
    session: Session, province_codes: Sequence[str] | None, member_id: str, include_ended: bool
) -> list[MentorshipRow]:
    conditions: list[ColumnElement[bool]] = []
    if province_codes is not None:
        conditions.append(col(MentorshipRow.province_code).in_(province_codes))
    if member_id:
        conditions.append(
            or_(
                col(MentorshipRow.mentor_member_id) == member_id,
                col(MentorshipRow.mentee_member_id) == member_id,
            )
        )
    if not include_ended:
        conditions.append(col(MentorshipRow.ended_at).is_(None))
    return list(
        (
            session.execute(
                select(MentorshipRow).where(*conditions).order_by(col(MentorshipRow.started_at))
            )
        ).scalars()
    )
