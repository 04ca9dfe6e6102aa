"""The embedded default: finished spans appended to a local OTLP/JSON-lines file.

One line per export batch, in the OpenTelemetry file-exporter format, so the file can be
read by ``agenttrace report`` and replayed to any OTLP endpoint with ``agenttrace export``.
The file is capped: when a line would take it past ``max_bytes`` it is renamed
``traces.1.jsonl`` (older ones shift to ``.2``, ``.3``…, and the oldest beyond ``backups``
is deleted) and a new one is started.

Several processes may write the same file: each line is one ``write`` on a file opened for
appending, so lines never interleave. Rotation by one process is noticed by the others at
their next write (the path no longer names the file they hold open).
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Final

from ._otlp import Delivery, encode, to_json_line

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from opentelemetry.sdk.trace import ReadableSpan

FILE_NAME: Final = "traces.jsonl"


def rotated_name(path: Path, index: int) -> Path:
    """``traces.jsonl`` → ``traces.{index}.jsonl``."""
    return path.with_name(f"{path.stem}.{index}{path.suffix}")


class JsonLinesFile:
    """Appends OTLP/JSON trace requests to a size-capped, rotated file.

    Example:
        >>> import pathlib, tempfile
        >>> sink = JsonLinesFile(pathlib.Path(tempfile.mkdtemp()) / "traces.jsonl")
        >>> sink.export([]).delivered
        0
    """

    def __init__(self, path: Path, *, max_bytes: int = 16 * 1024 * 1024, backups: int = 3) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._inode: tuple[int, int] | None = None

    @property
    def name(self) -> str:
        """What ``agenttrace check`` and ``stats()`` call this destination."""
        return f"file {self.path}"

    def export(self, spans: Sequence[ReadableSpan], deadline: float | None = None) -> Delivery:
        """Append one line holding ``spans``; all are delivered or none."""
        del deadline  # a local write does not wait on anyone
        if not spans:
            return Delivery(0, 0)
        line = (to_json_line(encode(spans)) + "\n").encode("utf-8", "surrogatepass")
        try:
            with self._lock:
                self._write(line)
        except OSError as exc:
            return Delivery(0, len(spans), f"cannot write the file ({type(exc).__name__})")
        return Delivery(len(spans), 0)

    def _write(self, line: bytes) -> None:
        fd = self._open()
        size = os.fstat(fd).st_size
        if size and size + len(line) > self.max_bytes:
            self._rotate()
            fd = self._open()
        os.write(fd, line)

    def _open(self) -> int:
        """The descriptor of the file at ``path``, reopened if it was rotated or removed."""
        try:
            stat = self.path.stat()
            current: tuple[int, int] | None = (stat.st_dev, stat.st_ino)
        except FileNotFoundError:
            current = None
        if self._fd is not None and current == self._inode:
            return self._fd
        self._close()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        stat = os.fstat(fd)
        self._fd, self._inode = fd, (stat.st_dev, stat.st_ino)
        return fd

    def _rotate(self) -> None:
        self._close()
        if self.backups == 0:
            self.path.unlink(missing_ok=True)
            return
        rotated_name(self.path, self.backups).unlink(missing_ok=True)
        for index in range(self.backups - 1, 0, -1):
            older = rotated_name(self.path, index)
            if older.exists():
                older.replace(rotated_name(self.path, index + 1))
        if self.path.exists():
            self.path.replace(rotated_name(self.path, 1))

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = self._inode = None

    def limit(self, deadline: float) -> None:
        """Nothing to do: a local write does not wait on anyone."""
        del deadline

    def after_fork(self) -> None:
        """A new lock in a forked child; the open file appends as well from there."""
        self._lock = threading.Lock()

    def shutdown(self) -> None:
        """Close the file."""
        with self._lock:
            self._close()
