"""OpenTelemetry set-up and trace-context helpers.

A trace starts at a gRPC call, is stored with the outbox row as a W3C
`traceparent` string, and continues in every consumer from the Kafka record's
headers; the helpers here convert between the current span and those strings.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = [
    "context_from_traceparent",
    "current_traceparent",
    "export_to_collector",
    "exporting_spans",
    "extract_context",
    "inject_context",
    "setup_tracing",
]


class _SampleWhileExporting(Sampler):
    """Record spans only once an exporter is attached.

    Unrecorded spans still carry trace and span ids, so the traceparent travels
    through gRPC, the outbox and Kafka headers either way; what is saved is the
    cost of building spans nobody will read (a third of the relay's CPU).
    """

    def __init__(self) -> None:
        self.exporting = False

    def should_sample(self, *args: Any, **kwargs: Any) -> SamplingResult:
        decision = Decision.RECORD_AND_SAMPLE if self.exporting else Decision.DROP
        return SamplingResult(decision)

    def get_description(self) -> str:
        return "SampleWhileExporting"


_sampler = _SampleWhileExporting()
_lock = threading.Lock()
# Exporters already attached, so a repeated call with the same one does not
# export every span twice.
_attached: set[int] = set()
_traceparent = TraceContextTextMapPropagator()
_collector_attached = False


def setup_tracing(service_name: str, exporter: SpanExporter | None = None) -> TracerProvider:
    """Installs the global TracerProvider, once per process, and returns it.

    OpenTelemetry allows one global provider per process, and tests run several
    services in one process, so: the first call creates the provider (its
    `service.name` resource is this call's `service_name`); later calls return
    that same provider and only attach their `exporter`, if any. An exporter is
    attached once however often it is passed.

    Exporters get a SimpleSpanProcessor (export on span end): right for tests'
    InMemorySpanExporter. The collector (`export_to_collector`) gets a
    BatchSpanProcessor; with neither, spans are made (trace ids propagate) but not
    exported.
    """
    with _lock:
        current = trace.get_tracer_provider()
        if isinstance(current, TracerProvider):
            provider = current
        elif isinstance(current, trace.ProxyTracerProvider):
            provider = TracerProvider(
                resource=Resource.create({SERVICE_NAME: service_name}), sampler=_sampler
            )
            trace.set_tracer_provider(provider)
        else:
            raise RuntimeError(
                f"a non-SDK tracer provider ({type(current).__name__}) is already installed; "
                "setup_tracing must run before anything else sets one"
            )
        if exporter is not None and id(exporter) not in _attached:
            provider.add_span_processor(SimpleSpanProcessor(exporter))
            _attached.add(id(exporter))
            _sampler.exporting = True
        return provider


def export_to_collector(provider: TracerProvider) -> bool:
    """Send spans over OTLP/gRPC when OTEL_EXPORTER_OTLP_ENDPOINT is set; True if so.

    The standard OTEL_EXPORTER_OTLP_* variables configure the exporter (e.g.
    `http://otel-collector:4317`, plain text). Batched, so a slow collector never
    holds up a call; once per process, however many services run in it.
    """
    global _collector_attached
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return False
    with _lock:
        if not _collector_attached:
            # Imported here: a process that does not export never loads the exporter.
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
            _collector_attached = True
            _sampler.exporting = True
    return True


def exporting_spans() -> bool:
    """True once an exporter is attached: spans are then recorded, not only propagated."""
    return _sampler.exporting


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span, or None outside a (valid) span."""
    carrier: dict[str, str] = {}
    _traceparent.inject(carrier)
    return carrier.get("traceparent")


def context_from_traceparent(traceparent: str | None) -> Context:
    """A context whose parent is the span named by `traceparent`.

    A missing or malformed value gives an empty context, so the work starts a
    new trace instead of failing: a lost trace is better than a lost event.
    """
    if not traceparent:
        return Context()
    return _traceparent.extract({"traceparent": traceparent}, context=Context())


def inject_context(carrier: dict[str, str], context: Context | None = None) -> dict[str, str]:
    """Writes the trace context (the globally configured propagators) into `carrier`.

    Returns the same dict, for chaining into message headers.
    """
    propagate.inject(carrier, context=context)
    return carrier


def extract_context(carrier: Mapping[str, str]) -> Context:
    """The trace context carried in `carrier` (e.g. decoded Kafka headers)."""
    return propagate.extract(carrier, context=Context())
