"""Two-stage stop: the first SIGINT/SIGTERM asks for a graceful stop, a second SIGINT forces one.

Handlers only set an event (raising from a handler inside Optuna loses interrupts and
leaves trials RUNNING: measured). They are installed from the main thread and the old
ones are restored on exit.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType

from hyperopt_cli.core.errors import EXIT_STOPPED


class StopController:
    """Owns the stop event of a run for the lifetime of a `with` block."""

    def __init__(self, on_force: Callable[[], None] | None = None, notify: Callable[[str], None] | None = None) -> None:
        self.stop_event = threading.Event()
        self._on_force = on_force
        self._notify = notify or (lambda message: print(message, file=sys.stderr, flush=True))
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if not self.stop_event.is_set():
            self.stop_event.set()
            name = signal.Signals(signum).name
            self._notify(f"{name} received: stopping after the checkpoint (within ~2 s); press Ctrl-C again to force")
            return
        if signum == signal.SIGINT:
            self._notify("second SIGINT: forcing exit now; the last checkpoint and finished trials are kept")
            if self._on_force is not None:
                try:
                    self._on_force()
                except Exception:  # a forced exit must happen even if the last state write fails
                    pass
            os._exit(EXIT_STOPPED)

    def __enter__(self) -> StopController:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        self._previous.clear()
