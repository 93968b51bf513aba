"""Feedback's policy table covers every RPC (a method missing from it is refused to all)."""

from __future__ import annotations

from pathlib import Path

from bizclub.feedback.v1 import feedback_service_pb2
from bizclub_shared.auth import Role
from bizclub_shared.db import Database
from feedback import policy


def test_every_feedback_rpc_has_a_rule(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'feedback.db'}")
    try:
        table = policy.access_policy(db)
    finally:
        db.close()
    service = feedback_service_pb2.DESCRIPTOR.services_by_name["FeedbackService"]
    methods = {f"/{service.full_name}/{m.name}" for m in service.methods}
    assert set(table) == methods
    # The central queue of problem reports is worked by the centre; members never see it.
    for name in ("ListIssues", "GetIssue", "EscalateIssue", "ResolveIssue"):
        rule = table[f"/{service.full_name}/{name}"]
        assert Role.CENTRAL in rule.roles and Role.MEMBER not in rule.roles
