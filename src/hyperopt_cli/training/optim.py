"""The optimiser every training uses: torch's AdamW, minus the import of torch's compiler.

Plain `torch.optim.AdamW` imports `torch._dynamo` on its first `add_param_group` and
every `step` only to mark graph breaks for torch.compile, which this tool never uses. That
import (and the sklearn, sqlalchemy and alembic it drags in) is ~1.4 s: most of what
`hyperopt resume` spent before its first training step. Two things avoid it, neither
changing a single number:

- `Optimizer` methods wrapped in `torch._disable_dynamo` cache their disabled version on
  the plain function (`fn.__dynamo_disable`) and import only while that cache is empty;
  filling it with the plain function skips the import (the dynamo wrapper is a no-op
  when nothing is being compiled).
- `AdamW.step` runs torch's own step body (`Adam.step.__wrapped__`) under `no_grad`,
  which is what its decorator does for `differentiable=False` besides the graph breaks.

If torch._dynamo is already loaded (something compiles), the plain methods are used as
they are. The state dict is torch's, so checkpoints are unchanged.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Any

import torch

_CACHE_ATTR = "__dynamo_disable"
_ADAM_STEP_BODY: Callable[..., Any] = getattr(torch.optim.Adam.step, "__wrapped__", torch.optim.Adam.step)
_prefilled = False


def _is_lazy_dynamo_wrapper(value: object) -> bool:
    code = getattr(value, "__code__", None)
    return code is not None and code.co_filename.endswith("_compile.py") and hasattr(value, "__wrapped__")


def _prefill_dynamo_disable_cache() -> None:
    global _prefilled
    if _prefilled or "torch._dynamo" in sys.modules:
        return
    for cls in torch.optim.Optimizer.__mro__:
        for value in vars(cls).values():
            if _is_lazy_dynamo_wrapper(value):
                plain = value.__wrapped__
                if getattr(plain, _CACHE_ATTR, None) is None:
                    setattr(plain, _CACHE_ATTR, plain)
    _prefilled = True


class AdamW(torch.optim.AdamW):
    """torch.optim.AdamW whose step skips the graph-break markers (see the module doc)."""

    def step(self, closure: Callable[[], float] | None = None) -> Any:
        if self.defaults["differentiable"] or "torch._dynamo" in sys.modules:
            return super().step(closure)
        with torch.no_grad():
            return _ADAM_STEP_BODY(self, closure)


def adamw(params: Iterable[torch.nn.Parameter], lr: float, weight_decay: float = 1e-2) -> torch.optim.AdamW:
    """AdamW with torch's defaults otherwise, multi-tensor (foreach) on every device: fewer op calls, the same numbers."""
    _prefill_dynamo_disable_cache()
    return AdamW(params, lr=lr, weight_decay=weight_decay, foreach=True)
