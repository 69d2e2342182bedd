"""One statement of a fit check (:class:`Finding`), shared by the capacity check (:mod:`.mapping`)
and the per-toolchain structure rules (:mod:`.structure`), so neither imports the other's module."""

from __future__ import annotations

from dataclasses import dataclass

SEVERITIES = ("ok", "warning", "unsupported")


@dataclass
class Finding:
    """One statement about the mapping, e.g. ``warning: weights are float32, the chip stores 8-bit``."""

    severity: str
    topic: str
    message: str

    def line(self) -> str:
        return f"[{self.severity}] {self.topic}: {self.message}"
