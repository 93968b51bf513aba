"""Settings from the environment (pydantic-settings), one class per service.

Each service reads `<SERVICE>_...` variables (e.g. MEMBERSHIP_DATABASE_URL); what
every service shares (the broker) is also read from the platform-wide names
(KAFKA_BOOTSTRAP_SERVERS, BIZCLUB_KAFKA_IDEMPOTENCE) so one export points the whole
stack at a real Kafka.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    service_name: str = "service"
    # SQLAlchemy async URL. Empty: a SQLite file var/<service>.db under data_dir.
    database_url: str = ""
    # SQLite: how long a write waits for the file's write lock (held by another process)
    # before the service answers UNAVAILABLE and its consumers back off.
    database_lock_timeout_seconds: float = 30.0
    data_dir: Path = Field(
        default=Path("var"), validation_alias=AliasChoices("BIZCLUB_DATA_DIR", "data_dir")
    )
    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        validation_alias=AliasChoices(
            "KAFKA_BOOTSTRAP_SERVERS", "BIZCLUB_KAFKA_BOOTSTRAP_SERVERS", "kafka_bootstrap_servers"
        ),
    )
    # On for Apache Kafka; Tansu's memory storage rejects InitProducerId. Correctness
    # rests on the outbox and the inbox either way.
    kafka_idempotence: bool = Field(
        default=False,
        validation_alias=AliasChoices("BIZCLUB_KAFKA_IDEMPOTENCE", "kafka_idempotence"),
    )
    topic_partitions: int = Field(
        default=3, validation_alias=AliasChoices("BIZCLUB_TOPIC_PARTITIONS", "topic_partitions")
    )
    grpc_host: str = "0.0.0.0"
    grpc_port: int = 0
    # Processes serving this service on this machine: they share its port (SO_REUSEPORT)
    # and its database, and one of them relays the outbox. One Python process uses about
    # one core (the GIL), so a service with more cores than that to use runs more.
    workers: int = Field(default=1, ge=1, le=64)
    # Each worker on a CPU of its own (the i-th of those the service may use, round robin):
    # its event loop and writer thread then share one core's caches and never migrate.
    # Only where the service owns those CPUs (its own machine, or a Kubernetes pod under
    # the static CPU manager); replicas sharing a node's CPUs would pile onto the first.
    pin_workers: bool = False
    # The event loop a service process runs on: uvloop (asyncio's API on libuv) costs
    # the loop less CPU a gRPC call than asyncio's own (docs/performance.md, session 15).
    # `asyncio` where uvloop is not installed (it does not build on Windows).
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"
    # Set by the supervising process for each worker it starts; not a setting to make.
    worker_index: int | None = Field(
        default=None, validation_alias=AliasChoices("BIZCLUB_WORKER_INDEX", "worker_index")
    )
    relay_batch_size: int = 1000
    relay_idle_poll_seconds: float = 0.5
    # Consumer group timings: Tansu holds a first join for about session_timeout/2.
    consumer_session_timeout_ms: int = Field(
        default=6000,
        validation_alias=AliasChoices(
            "BIZCLUB_CONSUMER_SESSION_TIMEOUT_MS", "consumer_session_timeout_ms"
        ),
    )
    consumer_heartbeat_interval_ms: int = Field(
        default=1000,
        validation_alias=AliasChoices(
            "BIZCLUB_CONSUMER_HEARTBEAT_INTERVAL_MS", "consumer_heartbeat_interval_ms"
        ),
    )
    # A failing event is retried this many times before it goes to the dead-letter topic.
    consumer_max_attempts: int = 5
    # Token keys: a JSON object of key id -> HMAC secret (32+ characters); the
    # signing key id names the one this service signs its own service tokens with.
    auth_keys: str = Field(
        default="", validation_alias=AliasChoices("BIZCLUB_AUTH_KEYS", "auth_keys")
    )
    auth_signing_key_id: str = Field(
        default="",
        validation_alias=AliasChoices("BIZCLUB_AUTH_SIGNING_KEY_ID", "auth_signing_key_id"),
    )
    # Input hardening: the largest request a client may send.
    grpc_max_request_bytes: int = 1024 * 1024
    seed_demo_data: bool = False
    log_level: str = Field(
        default="INFO", validation_alias=AliasChoices("BIZCLUB_LOG_LEVEL", "log_level")
    )

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / (self.service_name + '.db')}"
