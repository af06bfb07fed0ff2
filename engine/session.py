"""A run of decisions: its options, and what observers keep between calls."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Session:
    log_url: str | None = None
    no_log: bool = False
    attachments: list[dict] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
