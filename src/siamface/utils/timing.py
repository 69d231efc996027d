"""Where a job's wall time goes: seconds per named phase, in the order the phases first ran."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


class PhaseTimer:
    """Adds up wall seconds per phase; a phase entered twice adds both stays.

    Attributes:
        seconds_: Phase name -> seconds so far, in the order the phases were first entered.
    """

    def __init__(self) -> None:
        self.seconds_: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the ``with`` block as ``name`` (counted even when the block raises)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)

    def add(self, name: str, seconds: float) -> None:
        """Count ``seconds`` towards ``name``, measured elsewhere."""
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0, got {seconds}")
        self.seconds_[name] = self.seconds_.get(name, 0.0) + seconds

    @property
    def total_(self) -> float:
        """The seconds of every phase together."""
        return sum(self.seconds_.values())
