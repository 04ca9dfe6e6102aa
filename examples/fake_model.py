"""A local stand-in for an OpenAI-compatible model server, so examples run offline.

It answers ``POST /v1/chat/completions`` on 127.0.0.1 with a canned, deterministic
completion in the OpenAI wire format, so the real ``openai`` client library is exercised
end to end. Use it as a context manager; it stops its thread on exit.

    with FakeModelServer() as server:
        client = server.client()
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"


def reply_for(messages: list[dict[str, Any]]) -> str:
    """The fake model's answer: a fixed template over the last user message."""
    last = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
    return f"Thanks for reaching out. About {str(last)[:60]!r}: it is on its way."


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}")
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        self.server.requests.append(request)
        messages = request.get("messages", [])
        content = reply_for(messages)
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
        completion_tokens = len(content.split())
        self._send(
            200,
            {
                "id": f"chatcmpl-fake-{len(self.server.requests)}",
                "object": "chat.completion",
                "created": 1_700_000_000,
                "model": RESPONSE_MODEL,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            },
        )

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Keep the example's output clean."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    requests: list[dict[str, Any]]


class FakeModelServer:
    """An OpenAI-compatible fake model on 127.0.0.1, on a free port."""

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.requests = []
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every chat request received, as JSON."""
        return self._server.requests

    def client(self) -> Any:
        """An ``openai.OpenAI`` client pointed at this server, ignoring proxy settings."""
        import openai  # noqa: PLC0415

        return openai.OpenAI(
            base_url=self.base_url,
            api_key="sk-local-fake-key-not-a-secret",
            max_retries=0,
            timeout=10,
            http_client=openai.DefaultHttpxClient(trust_env=False),
        )

    def __enter__(self) -> FakeModelServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
