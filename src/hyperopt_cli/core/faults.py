"""Fault injection for tests: the process kills itself (SIGKILL) at a named point.

``HYPEROPT_FAULT=POINT`` (or ``POINT:N``, the N-th time the point is reached in this
process, default 1) makes ``fault_point(POINT)`` send SIGKILL to its own process, which
is what ``kill -9`` or a power cut does to a run: no handler, no cleanup, no flush.
The variable is read once at import; unset, ``fault_point`` is one comparison.

Points (where they sit):
- ``after_ask``: a trial was created by ``study.ask()``, nothing else stored for it yet;
- ``after_params``: the trial's parameters are stored, training has not started;
- ``after_epoch``: an epoch was checkpointed and reported to the study;
- ``after_race``: a challenger's fold was raced against the incumbent, its decision not yet stored;
- ``after_rung``: a trial's rung of the epoch ladder was decided, its decision not yet stored;
- ``after_tell``: the trial is finished in storage, its checkpoint not yet deleted;
- ``during_final``: the final evaluation has stored a walk-forward block.
"""

from __future__ import annotations

import os
import signal

FAULT_ENV = "HYPEROPT_FAULT"
POINTS = ("after_ask", "after_params", "after_epoch", "after_race", "after_rung", "after_tell", "during_final")


def _parse(raw: str | None) -> tuple[str | None, int]:
    if not raw:
        return None, 0
    name, _, count = raw.partition(":")
    if name not in POINTS:
        raise ValueError(f"{FAULT_ENV}={raw!r}: unknown point; use one of {', '.join(POINTS)}[:N]")
    return name, int(count) if count else 1


_armed, _remaining = _parse(os.environ.get(FAULT_ENV))


def fault_point(name: str) -> None:
    """Die here by SIGKILL when HYPEROPT_FAULT names this point (and its count is reached)."""
    global _remaining
    if name != _armed:
        return
    _remaining -= 1
    if _remaining <= 0:
        os.kill(os.getpid(), signal.SIGKILL)
