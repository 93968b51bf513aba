"""`bizclub dlq list|replay`: an operator sees why an event was dead-lettered and, once the
consumer is fixed, replays it; the inbox applies it once however often it is replayed.

Real broker, a real consumer with its own SQLite inbox; the CLI runs as its own process.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bizclub.membership.v1 import events_pb2
from bizclub_shared.envelope import Envelope
from bizclub_shared.inbox import EventConsumer
from bizclub_shared.topics import dead_letter
from bizclub_shared.unit_of_work import UnitOfWork

from tests.conftest import Broker
from tests.integration.consumer_support import projection, record
from tests.integration.probes import eventually
from tests.integration.test_inbox import member_registered, own_topic, produce
from tests.integration.test_member_import import run_cli
from tests.support import read_topic


async def test_a_dead_letter_is_listed_with_its_error_and_replayed_once_fixed(
    broker: Broker, tmp_path: Path
) -> None:
    topic = await own_topic(broker)
    fixed = False

    def register(consumer: EventConsumer) -> None:
        @consumer.handles(events_pb2.MemberRegistered)
        def fails_until_fixed(uow: UnitOfWork, event: Any, envelope: Envelope) -> None:
            if not fixed and event.member_id == "m-poison":
                raise RuntimeError("cluster lookup is broken")
            record(consumer)(uow, event, envelope)

    poison_value, poison_headers = member_registered("m-poison")
    good_value, good_headers = member_registered("m-good")
    await produce(
        broker,
        topic,
        [("m-poison", poison_value, poison_headers), ("m-good", good_value, good_headers)],
    )
    bootstrap = ("--bootstrap-servers", broker.bootstrap_servers)
    async with projection(
        tmp_path / "projection.db",
        "test-projection",
        broker.bootstrap_servers,
        topics=[topic],
        register=register,
        max_attempts=2,
    ) as p:
        [dead] = await read_topic(broker.bootstrap_servers, dead_letter(topic), expect=1)

        code, out, _ = await run_cli("dlq", *bootstrap, "list", "--topic", topic, "--json")

        assert code == 0
        [listed] = [json.loads(line) for line in out.splitlines()]
        assert listed["error"] == "RuntimeError: cluster lookup is broken"
        assert listed["consumer"] == "test-projection"
        assert listed["type"] == "bizclub.membership.v1.MemberRegistered"
        assert listed["id"] == poison_headers[0][1].decode()
        assert (listed["key"], listed["topic"]) == ("m-poison", topic)
        assert listed["dlq"] == f"{dead_letter(topic)} {dead.partition}:{dead.offset}"
        assert [a.member_id for a in await p.applied()] == ["m-good"]

        fixed = True  # the fix is deployed; the operator replays the dead letter, twice
        at = f"{dead.partition}:{dead.offset}"
        for _ in range(2):
            code, out, _ = await run_cli("dlq", *bootstrap, "replay", "--topic", topic, "--at", at)
            assert code == 0
            assert f"replaying {dead_letter(topic)} {at} -> {topic}" in out

        async def both_replays_handled() -> bool:
            return p.consumer.applied + p.consumer.duplicates >= 3

        await eventually(both_replays_handled, what="both replays handled")
        applied = await p.applied()
        assert sorted((a.member_id, a.event_id) for a in applied) == sorted(
            [("m-good", good_headers[0][1].decode()), ("m-poison", poison_headers[0][1].decode())]
        )
        assert p.consumer.duplicates == 1


async def test_replay_refuses_to_guess_which_dead_letters(broker: Broker) -> None:
    topic = await own_topic(broker)
    bootstrap = ("--bootstrap-servers", broker.bootstrap_servers)

    code, _, err = await run_cli("dlq", *bootstrap, "replay", "--topic", topic)
    assert code == 1 and "--at PARTITION:OFFSET, --consumer NAME or --all" in err

    code, _, err = await run_cli("dlq", *bootstrap, "replay", "--topic", topic, "--at", "0:5")
    assert code == 1 and "no dead letter at 0:5" in err
