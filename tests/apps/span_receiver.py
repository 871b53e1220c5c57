"""A span collector for the tracing tests: Zipkin v2 JSON and OTLP/HTTP (protobuf), one JSON line per span.

    python span_receiver.py PORT RECORD_FILE

``POST /api/v2/spans`` takes what a Zipkin exporter sends, ``POST /v1/traces``
what an OTLP/HTTP exporter sends; both are written to RECORD_FILE in one shape:
``{"format", "service", "trace_id", "span_id", "parent_id", "name", "kind", "attributes"}``
(ids as lower-case hex, ``parent_id`` empty for a root, ``kind`` upper-case).
``GET /ready`` answers 200 once it listens.
"""
from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PORT, RECORD = int(sys.argv[1]), sys.argv[2]
_lock = threading.Lock()
_OTLP_KINDS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}


def _zipkin(body: bytes) -> list[dict[str, Any]]:
    return [{
        "format": "zipkin",
        "service": (span.get("localEndpoint") or {}).get("serviceName", ""),
        "trace_id": span["traceId"].rjust(32, "0"), "span_id": span["id"], "parent_id": span.get("parentId", ""),
        "name": span["name"], "kind": span.get("kind", ""), "attributes": span.get("tags", {}),
    } for span in json.loads(body)]


def _value(any_value: Any) -> Any:
    return getattr(any_value, any_value.WhichOneof("value")) if any_value.WhichOneof("value") else None


def _otlp(body: bytes) -> list[dict[str, Any]]:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    found = []
    for resource_spans in request.resource_spans:
        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                found.append({
                    "format": "otlp", "service": resource.get("service.name", ""),
                    "trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(),
                    "parent_id": span.parent_span_id.hex(), "name": span.name,
                    "kind": _OTLP_KINDS.get(span.kind, str(span.kind)),
                    "attributes": {a.key: _value(a.value) for a in span.attributes},
                })
    return found


class Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802
        self._send(200 if self.path == "/ready" else 404, b"")

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.path == "/api/v2/spans":
            spans = _zipkin(body)
        elif self.path == "/v1/traces":
            spans = _otlp(body)
        else:
            self._send(404, b"")
            return
        with _lock, open(RECORD, "a") as record:
            for span in spans:
                record.write(json.dumps(span) + "\n")
        self._send(202 if self.path == "/api/v2/spans" else 200, b"")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", PORT), Receiver).serve_forever()
