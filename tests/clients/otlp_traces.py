"""Exports known traces to Periscope with the real OpenTelemetry Python SDK.

Usage: otlp_traces.py grpc|http ENDPOINT TOKEN < spec.json

The spec lists traces with fixed ids and times:
  {"traces": [{"trace_id": "<32 hex>", "spans": [{"span_id": "<16 hex>",
   "parent": "<16 hex>" | null, "name": "...", "service": "...",
   "namespace": "..." | null, "pod": "...", "kind": "server", "start_ns": ...,
   "end_ns": ..., "attributes": {...}, "resource": {...}, "error": false}]}]}

Each (service, namespace, pod) is one resource, exported by its own tracer
provider through the SDK's OTLP exporter for the protocol. Exits 1 if any
export failed, printing how many spans were exported.
"""

import json
import sys

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.status import Status, StatusCode


class FixedIds(IdGenerator):
    """Hands out the ids the spec names, one span at a time."""

    def __init__(self):
        self.trace_id = 0
        self.span_id = 0

    def generate_trace_id(self):
        return self.trace_id

    def generate_span_id(self):
        return self.span_id


class Recording:
    """Wraps an exporter and remembers whether every export succeeded."""

    def __init__(self, inner):
        self.inner = inner
        self.failures = 0
        self.exported = 0

    def export(self, spans):
        result = self.inner.export(spans)
        if result == SpanExportResult.SUCCESS:
            self.exported += len(spans)
        else:
            self.failures += 1
        return result

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return True


def exporter(protocol, endpoint, token):
    headers = {"authorization": f"Bearer {token}"}
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=endpoint, insecure=True, headers=tuple(headers.items()), timeout=10)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=endpoint, headers=headers, timeout=10)


def main():
    protocol, endpoint, token = sys.argv[1:4]
    spec = json.load(sys.stdin)
    ids = FixedIds()
    providers = {}
    recorders = []
    kinds = {
        "internal": SpanKind.INTERNAL,
        "server": SpanKind.SERVER,
        "client": SpanKind.CLIENT,
        "producer": SpanKind.PRODUCER,
        "consumer": SpanKind.CONSUMER,
    }
    for t in spec["traces"]:
        trace_id = int(t["trace_id"], 16)
        for s in t["spans"]:
            key = (s["service"], s.get("namespace"), s.get("pod"))
            if key not in providers:
                attributes = {"service.name": s["service"]}
                if s.get("namespace"):
                    attributes["k8s.namespace.name"] = s["namespace"]
                if s.get("pod"):
                    attributes["k8s.pod.name"] = s["pod"]
                attributes.update(s.get("resource", {}))
                provider = TracerProvider(resource=Resource.create(attributes), id_generator=ids)
                recorder = Recording(exporter(protocol, endpoint, token))
                provider.add_span_processor(SimpleSpanProcessor(recorder))
                providers[key] = provider
                recorders.append(recorder)
            tracer = providers[key].get_tracer("periscope-tests", "1.0.0")
            ids.trace_id = trace_id
            ids.span_id = int(s["span_id"], 16)
            context = None
            if s.get("parent"):
                parent = SpanContext(trace_id, int(s["parent"], 16), is_remote=True, trace_flags=TraceFlags(1))
                context = trace.set_span_in_context(NonRecordingSpan(parent))
            span = tracer.start_span(
                s["name"],
                context=context,
                kind=kinds[s.get("kind", "internal")],
                attributes=s.get("attributes", {}),
                start_time=s["start_ns"],
            )
            if s.get("error"):
                span.set_status(Status(StatusCode.ERROR, "failed"))
            span.end(end_time=s["end_ns"])
    for provider in providers.values():
        provider.shutdown()
    exported = sum(r.exported for r in recorders)
    failures = sum(r.failures for r in recorders)
    print(json.dumps({"exported": exported, "failures": failures}))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
