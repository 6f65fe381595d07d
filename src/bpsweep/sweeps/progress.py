"""A one-line progress bar on stderr for long work (runs done, runs/s, ETA)."""

from __future__ import annotations

import math
import sys
import time


class Progress:
    """A one-line progress bar on stderr (runs done, runs/s, ETA), only on a terminal."""

    def __init__(self, total: int, done: int, enabled: bool):
        self.total, self.done0, self.done = total, done, done
        self.enabled = enabled and sys.stderr.isatty()
        self.t0 = time.perf_counter()
        self.last = 0.0
        self.show(force=True)

    def advance(self, n: int) -> None:
        self.done += n
        self.show()

    def show(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if not force and now - self.last < 0.1 and self.done < self.total:
            return
        self.last = now
        elapsed = now - self.t0
        rate = (self.done - self.done0) / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        frac = self.done / self.total if self.total else 1.0
        bar = "#" * int(30 * frac) + "-" * (30 - int(30 * frac))
        eta_text = _seconds(eta) if math.isfinite(eta) else "?"
        sys.stderr.write(
            f"\r[{bar}] {self.done:,}/{self.total:,} runs  {rate:,.0f} runs/s  ETA {eta_text}   "
        )
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            self.show(force=True)
            sys.stderr.write("\n")
            sys.stderr.flush()


def _seconds(s: float) -> str:
    if s < 60:
        return f"{s:.1f}s"
    m, s = divmod(int(round(s)), 60)
    return f"{m}m{s:02d}s" if m < 60 else f"{m // 60}h{m % 60:02d}m"
