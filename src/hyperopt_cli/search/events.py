"""What the search tells whoever watches it: one small protocol, so search/ never imports run/."""

from __future__ import annotations

from typing import Any, Protocol


class EventSink(Protocol):
    def emit(self, event: str, **data: Any) -> None: ...
