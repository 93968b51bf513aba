"""Tokens: issued, verified, rotated by key id, refused when expired, forged or malformed."""

from __future__ import annotations

import time

import jwt
import pytest
from bizclub_shared.auth import Caller, Role, SigningKeys, Target, TokenError, rule

OLD, NEW = "a" * 40, "b" * 40
OFFICER = Caller("officer:somchai", Role.PROVINCE_OFFICER, frozenset({"TH-41"}))


def test_a_token_names_its_caller() -> None:
    keys = SigningKeys({"2026-11": OLD})
    lead = Caller("lead:x", Role.CLUSTER_LEAD, frozenset({"TH-41"}), cluster="food")
    assert keys.verify(keys.issue(lead)) == lead
    assert keys.verify(keys.issue(OFFICER)) == OFFICER


def test_rotation_by_key_id() -> None:
    before = SigningKeys({"2026-11": OLD})
    token = before.issue(OFFICER)
    during = SigningKeys({"2026-11": OLD, "2026-12": NEW}, signing_key_id="2026-12")
    assert during.verify(token) == OFFICER  # old tokens still good while the old key is kept
    assert jwt.get_unverified_header(during.issue(OFFICER))["kid"] == "2026-12"
    after = SigningKeys({"2026-12": NEW})
    with pytest.raises(TokenError, match="unknown key id"):
        after.verify(token)


def test_expired_forged_and_malformed_tokens_are_refused() -> None:
    keys = SigningKeys({"k": OLD}, leeway_seconds=0)
    with pytest.raises(TokenError, match="expired"):
        keys.verify(keys.issue(OFFICER, ttl_seconds=-1))
    forged = SigningKeys({"k": NEW}).issue(OFFICER)
    with pytest.raises(TokenError, match="invalid"):
        keys.verify(forged)
    with pytest.raises(TokenError, match="malformed"):
        keys.verify("not.a.token")
    now = int(time.time())
    base = {"iss": "bizclub", "sub": "x", "iat": now, "exp": now + 60}
    for claims, message in [
        ({**base, "role": "king"}, "unknown role"),
        ({**base, "role": "province_officer", "provinces": ["TH-99"]}, "province codes"),
        ({**base, "role": "province_officer"}, "must name its provinces"),
        ({**base, "role": "cluster_lead", "provinces": ["TH-41"]}, "must name its cluster"),
        ({**base, "role": "member", "provinces": ["TH-41"]}, "member_id"),
        ({**base, "sub": "x" * 201, "role": "central"}, "sub must be 1-200 characters"),
        ({k: v for k, v in base.items() if k != "exp"} | {"role": "central"}, "invalid"),
    ]:
        token = jwt.encode(claims, OLD, algorithm="HS256", headers={"kid": "k"})
        with pytest.raises(TokenError, match=message):
            keys.verify(token)


def test_a_verified_token_still_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = SigningKeys({"k": OLD}, leeway_seconds=0)
    token = keys.issue(OFFICER, ttl_seconds=60)
    assert keys.verify(token) == OFFICER  # now cached
    later = time.time() + 61
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(TokenError, match="expired"):
        keys.verify(token)


def test_keys_must_be_given_and_long_enough() -> None:
    with pytest.raises(ValueError, match="BIZCLUB_AUTH_KEYS"):
        SigningKeys.from_json("")
    with pytest.raises(ValueError, match="shorter than 32"):
        SigningKeys({"k": "short"})
    with pytest.raises(ValueError, match="not valid JSON"):
        SigningKeys.from_json("{nope")


def test_rules_follow_provinces_clusters_and_records() -> None:
    read = rule(Role.CENTRAL, Role.PROVINCE_OFFICER, Role.CLUSTER_LEAD, Role.MEMBER)
    udon_food_member = Target("TH-41", "food", "m-1")
    lead = Caller("l", Role.CLUSTER_LEAD, frozenset({"TH-41"}), cluster="food")
    other_lead = Caller("l", Role.CLUSTER_LEAD, frozenset({"TH-41"}), cluster="textiles")
    member = Caller("m", Role.MEMBER, frozenset({"TH-41"}), member_id="m-1")
    khon_kaen = Caller("o", Role.PROVINCE_OFFICER, frozenset({"TH-40"}))
    assert read.allows(OFFICER, udon_food_member)
    assert read.allows(lead, udon_food_member)
    assert read.allows(member, udon_food_member)
    assert read.allows(Caller("c", Role.CENTRAL), udon_food_member)
    assert not read.allows(khon_kaen, udon_food_member)
    assert not read.allows(other_lead, udon_food_member)
    assert not read.allows(Caller("s", Role.SERVICE), udon_food_member)  # not listed
    # Several targets: every one must be in scope.
    assert not read.allows(OFFICER, [udon_food_member, Target("TH-40")])
