"""A local stand-in for an OpenAI-compatible model server, so examples run offline.

It answers ``POST /v1/chat/completions`` on 127.0.0.1 with a canned, deterministic
completion in the OpenAI wire format, so the real ``openai`` client library is exercised
end to end. Use it as a context manager; it stops its thread on exit.

    with FakeModelServer() as server:
        client = server.client()

A user message may end with a directive that scripts the reply, so an example can show a
model misbehaving on cue: ``[fake-model: WORD ...]``, where each word is one of

- ``label=NAME`` and ``confidence=0.42``: the classification a JSON-mode request
  (``response_format={"type": "json_object"}``) gets, ``{"label": ..., "confidence": ...}``
  (by default ``general`` and ``0.93``);
- ``garbled``: a JSON-mode request gets prose instead of JSON, every time;
- ``garbled-once``: the same, the first time this exact conversation is sent only;
- ``refuse``: a plain request gets a refusal.

Without a directive, or with one that scripts nothing for the request, the reply is the
plain template of :func:`reply_for` (the directive left out).
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"
REFUSAL = "I'm sorry, but I can't help with that request."
GARBLED = "Sure! This one looks like a billing question to me."
_DIRECTIVE = re.compile(r"\s*\[fake-model:([^\]]*)\]\s*$")


def _last_user_message(messages: list[dict[str, Any]]) -> str:
    return str(
        next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
    )


def directive(messages: list[dict[str, Any]]) -> tuple[str, dict[str, str]]:
    """The last user message without its directive, and the directive's words.

    A bare word maps to ``""``; ``key=value`` maps ``key`` to ``value``.
    """
    text = _last_user_message(messages)
    found = _DIRECTIVE.search(text)
    if found is None:
        return text, {}
    words: dict[str, str] = {}
    for word in found.group(1).split():
        key, _, value = word.partition("=")
        words[key] = value
    return text[: found.start()], words


def reply_for(messages: list[dict[str, Any]]) -> str:
    """The fake model's answer: a fixed template over the last user message."""
    last = directive(messages)[0]
    return f"Thanks for reaching out. About {last[:60]!r}: it is on its way."


def scripted_reply(request: dict[str, Any], seen_before: bool) -> str:
    """The reply to one chat request, following the directive of its last user message.

    Args:
        request: The chat completion request, as JSON.
        seen_before: Whether this exact conversation was sent before (for ``garbled-once``).
    """
    messages = request.get("messages", [])
    words = directive(messages)[1]
    json_mode = (request.get("response_format") or {}).get("type") == "json_object"
    if json_mode:
        if "garbled" in words or ("garbled-once" in words and not seen_before):
            return GARBLED
        return json.dumps(
            {
                "label": words.get("label") or "general",
                "confidence": float(words.get("confidence") or 0.93),
            }
        )
    if "refuse" in words:
        return REFUSAL
    return reply_for(messages)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}")
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        messages = request.get("messages", [])
        conversation = json.dumps(messages, sort_keys=True)
        with self.server.lock:
            self.server.requests.append(request)
            number = len(self.server.requests)
            seen_before = conversation in self.server.conversations
            self.server.conversations.add(conversation)
        content = scripted_reply(request, seen_before)
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
        completion_tokens = len(content.split())
        self._send(
            200,
            {
                "id": f"chatcmpl-fake-{number}",
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
    conversations: set[str]
    """Every conversation sent so far, as canonical JSON (for ``garbled-once``)."""
    lock: threading.Lock


class FakeModelServer:
    """An OpenAI-compatible fake model on 127.0.0.1, on a free port."""

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.requests = []
        self._server.conversations = set()
        self._server.lock = threading.Lock()
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
