"""A plain HTTP app (no Tandem, no Dapr SDK) that echoes what it receives, for invocation tests.

    python echo_app.py PORT

``?status=N`` sets the reply status; every reply carries ``x-echo: yes``; the
body is JSON: method, path (with query), headers (lower-cased) and the body.
``GET /calls`` returns how many requests it has served.
"""
from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

calls = 0


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _answer(self) -> None:
        global calls
        body = self._read_body()
        url = urlsplit(self.path)
        if url.path == "/calls":
            self._send(200, json.dumps({"calls": calls}).encode())
            return
        calls += 1
        status = int(parse_qs(url.query).get("status", ["200"])[0])
        out = json.dumps({
            "method": self.command, "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body.decode("latin-1"), "length": len(body),
        }).encode()
        self._send(status, b"" if status == 204 else out)

    def _send(self, status: int, out: bytes) -> None:
        self.send_response(status)
        self.send_header("x-echo", "yes")
        if status != 204:
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

    def log_message(self, *args: object) -> None:
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Echo).serve_forever()
