"""The relay puts each event on the partition Kafka's clients would choose for its key."""

from __future__ import annotations

import random

from aiokafka.partitioner import DefaultPartitioner
from bizclub_shared.ids import new_id
from bizclub_shared.outbox import partition_of


def test_a_key_goes_to_the_partition_aiokafkas_send_chooses() -> None:
    chooser = DefaultPartitioner()
    rng = random.Random(20261127)
    keys = [new_id().encode() for _ in range(500)]  # member ids, as the services key events
    keys += [rng.randbytes(rng.randrange(0, 64)) for _ in range(1_500)]  # any length
    keys += ["สมาชิก-อุดรธานี".encode(), b"", b"a", b"ab", b"abc"]
    for count in (1, 2, 3, 6, 12, 50):
        partitions = list(range(count))
        for key in keys:
            assert partition_of(key, partitions) == chooser(key, partitions, [])


def test_keys_spread_over_the_partitions() -> None:
    partitions = [0, 1, 2]
    landed = [partition_of(new_id().encode(), partitions) for _ in range(3_000)]
    assert all(800 < landed.count(p) < 1_200 for p in partitions)
