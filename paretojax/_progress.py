"""A tiny dependency-free progress bar for the outer Python loops (CLI, demo, fit)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """``with Progress(total, desc) as bar: bar.update(n, **postfix)``; silent when disabled.

    Writes ``\\r``-refreshed lines to a TTY and at most ~20 lines to a pipe or log file.
    """

    def __init__(
        self, total: int, desc: str = "", enabled: bool = True, stream: TextIO | None = None
    ) -> None:
        self.total = max(int(total), 1)
        self.desc = desc
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.count = 0
        self.start = time.perf_counter()
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_bucket = -1

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1, **postfix: float) -> None:
        self.count = min(self.count + n, self.total)
        if not self.enabled:
            return
        bucket = int(20 * self.count / self.total)
        if not self._tty and bucket == self._last_bucket and self.count < self.total:
            return
        self._last_bucket = bucket
        elapsed = time.perf_counter() - self.start
        rate = self.count / elapsed if elapsed > 0 else 0.0
        bar = "#" * bucket + "-" * (20 - bucket)
        extra = " ".join(f"{k}={v:.4g}" for k, v in postfix.items())
        line = f"{self.desc} [{bar}] {self.count}/{self.total} {rate:.1f} it/s {extra}".rstrip()
        self.stream.write(("\r" + line) if self._tty else (line + "\n"))
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self._tty:
            self.stream.write("\n")
            self.stream.flush()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start
