"""Exports log records to Periscope with the real OpenTelemetry Python SDK.

Usage: otlp_logs.py grpc|http ENDPOINT TOKEN < spec.json

The spec lists records (events shaped as the OpenTelemetry Collector's
Kubernetes receivers emit them, or an application's log lines):
{"records": [{"resource": {...}, "attributes": {...}, "body": "text" | {...},
"severity_text": "Warning", "time_ns": ..., "trace_id"?: hex, "span_id"?: hex}]}.
Records of one resource go through one logger provider and the SDK's OTLP
log exporter for the protocol. Prints the export results; exits 1 if any
export failed.
"""

import json
import sys

from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import LogRecordExportResult, LogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource


class Recording(LogRecordExporter):
    """Forwards to the real exporter and remembers each result."""

    def __init__(self, inner, results):
        self.inner = inner
        self.results = results

    def export(self, batch):
        result = self.inner.export(batch)
        self.results.append(result)
        return result

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return True


def exporter(protocol, endpoint, token):
    headers = {"authorization": f"Bearer {token}"}
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        return OTLPLogExporter(endpoint=endpoint, insecure=True, headers=headers)
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

    return OTLPLogExporter(endpoint=endpoint, headers=headers)


def main():
    protocol, endpoint, token = sys.argv[1:4]
    spec = json.load(sys.stdin)
    results = []
    by_resource = {}
    for record in spec["records"]:
        key = json.dumps(record.get("resource", {}), sort_keys=True)
        by_resource.setdefault(key, []).append(record)
    for key, records in by_resource.items():
        provider = LoggerProvider(resource=Resource.create(json.loads(key)))
        provider.add_log_record_processor(SimpleLogRecordProcessor(Recording(exporter(protocol, endpoint, token), results)))
        logger = provider.get_logger("k8s_events")
        for r in records:
            ids = {}
            if "trace_id" in r:
                from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

                span = SpanContext(int(r["trace_id"], 16), int(r["span_id"], 16), is_remote=True, trace_flags=TraceFlags(1))
                ids["context"] = set_span_in_context(NonRecordingSpan(span))
            logger.emit(
                LogRecord(
                    **ids,
                    timestamp=r.get("time_ns"),
                    observed_timestamp=r.get("time_ns"),
                    severity_text=r.get("severity_text"),
                    severity_number=SeverityNumber.WARN if r.get("severity_text") == "Warning" else SeverityNumber.INFO,
                    body=r.get("body"),
                    attributes=r.get("attributes"),
                )
            )
        provider.shutdown()
    ok = all(r == LogRecordExportResult.SUCCESS for r in results)
    print(json.dumps({"exports": len(results), "ok": ok}))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
