"""The audit trail: every accepted write, who made it, when, on which province's data.

The writer adds one row per successful operation made under an authenticated call,
in the same transaction as the write, so a write and its audit record commit
together. Rows hold ids and event types only, never personal data. Each service
serves its own rows to central operators through `bizclub.audit.v1.AuditService`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import grpc
from bizclub.audit.v1 import audit_service_pb2, audit_service_pb2_grpc
from sqlalchemy import JSON, Column, Index, select
from sqlalchemy.orm import Session
from sqlmodel import Field, SQLModel, col

from bizclub_shared.auth import MAX_SUBJECT, CallContext
from bizclub_shared.db import Database, UTCDateTime, utcnow
from bizclub_shared.errors import FieldViolations
from bizclub_shared.ids import new_id
from bizclub_shared.paging import decode_cursor, encode_cursor, page_size
from bizclub_shared.timestamps import to_timestamp
from bizclub_shared.validation import check_province

__all__ = ["AUDIT_SERVICE_NAME", "AuditApi", "AuditRecord", "audit_row"]

AUDIT_SERVICE_NAME = audit_service_pb2.DESCRIPTOR.services_by_name["AuditService"].full_name


class AuditRecord(SQLModel, table=True):
    __tablename__ = "audit_record"
    __table_args__ = (Index("ix_audit_province_time", "province_code", "recorded_at"),)

    audit_id: str = Field(primary_key=True, max_length=36)
    recorded_at: datetime = Field(sa_type=UTCDateTime, index=True)
    subject: str = Field(max_length=MAX_SUBJECT, index=True)
    role: str = Field(max_length=30)
    caller_provinces: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    method: str = Field(max_length=200)
    province_code: str = Field(max_length=10)
    events: list[str] = Field(default_factory=list, sa_column=Column(JSON))


def audit_row(call: CallContext, events: list[dict[str, Any]]) -> dict[str, Any]:
    """The audit row for one committed operation and the events it emitted."""
    province = call.province
    if not province and events:
        province = str(events[0]["province"])
    return {
        "audit_id": new_id(),
        "recorded_at": utcnow(),
        "subject": call.caller.subject,
        "role": call.caller.role.value,
        "caller_provinces": sorted(call.caller.provinces),
        "method": call.method,
        "province_code": province,
        "events": [f"{e['event_type']} {e['key']}" for e in events],
    }


class AuditApi(audit_service_pb2_grpc.AuditServiceServicer):
    def __init__(self, db: Database) -> None:
        self._db = db

    async def ListAuditRecords(
        self,
        request: audit_service_pb2.ListAuditRecordsRequest,
        context: grpc.aio.ServicerContext,
    ) -> audit_service_pb2.ListAuditRecordsResponse:
        violations = FieldViolations()
        if request.province_code:
            check_province(violations, "province_code", request.province_code)
        violations.raise_if_any()
        filters = f"{request.province_code}|{request.subject}"
        after = decode_cursor(request.page.page_token, filters, (str, str))
        size = page_size(request.page.page_size)

        def read(session: Session) -> list[AuditRecord]:
            query = select(AuditRecord)
            if request.province_code:
                query = query.where(col(AuditRecord.province_code) == request.province_code)
            if request.subject:
                query = query.where(col(AuditRecord.subject) == request.subject)
            if after is not None:
                at, audit_id = datetime.fromisoformat(str(after[0])), str(after[1])
                query = query.where(
                    (col(AuditRecord.recorded_at) < at)
                    | (
                        (col(AuditRecord.recorded_at) == at)
                        & (col(AuditRecord.audit_id) < audit_id)
                    )
                )
            query = query.order_by(
                col(AuditRecord.recorded_at).desc(), col(AuditRecord.audit_id).desc()
            ).limit(size + 1)
            return list(session.scalars(query))

        rows = await self._db.read(read)
        reply = audit_service_pb2.ListAuditRecordsResponse()
        for row in rows[:size]:
            reply.records.append(
                audit_service_pb2.AuditRecord(
                    audit_id=row.audit_id,
                    recorded_at=to_timestamp(row.recorded_at),
                    subject=row.subject,
                    role=row.role,
                    caller_provinces=row.caller_provinces,
                    method=row.method,
                    province_code=row.province_code,
                    events=row.events,
                )
            )
        if len(rows) > size:
            last = rows[size - 1]
            reply.page.next_page_token = encode_cursor(
                [last.recorded_at.isoformat(), last.audit_id], filters
            )
        return reply
