"""Which arithmetic precision a training runs in: `trainer.precision` fp32, bf16 or auto.

bf16 means `torch.autocast` around the forward pass: the LSTM and linear GEMMs run in
bfloat16 while the weights, the optimiser state, the loss and every metric stay float32
(autocast keeps fp32 master weights; the trainer casts the logits to fp32 before the
loss). So checkpoints hold fp32 tensors whatever the precision, and resume stays exact.

`auto` picks bf16 only where the hardware runs it natively *and* the validity benchmark
has shown that it costs no pooled walk-forward macro-F1 beyond noise. Until that
benchmark says so (`AUTO_PICKS_BF16`), `auto` resolves to fp32: bf16 is opt-in.
"""

from __future__ import annotations

import contextlib
import functools
from typing import ContextManager

import torch

PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "auto")
# Set to True only once bench/bench_validity.py shows no loss of pooled walk-forward
# macro-F1 under bf16 (see docs/decisions.md, "Precision"); the speed alone does not decide.
AUTO_PICKS_BF16 = False


@functools.lru_cache(maxsize=None)
def native_bf16(device_type: str) -> bool:
    """Whether `device_type` ("cpu" or "cuda") computes bf16 in hardware (CPU: AVX-512 BF16 / AMX via oneDNN)."""
    if device_type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False))
    if device_type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):  # a build without oneDNN
            return False
    return False


def resolve_precision(name: str, device: torch.device | str) -> str:
    """The precision a training with `trainer.precision = name` runs in on `device`: "fp32" or "bf16".

    An explicit "bf16" is honoured even without native support (it is then emulated, slowly).
    """
    if name not in PRECISIONS:
        raise ValueError(f"trainer.precision must be one of {', '.join(PRECISIONS)}, got {name!r}")
    if name != "auto":
        return name
    device_type = torch.device(device).type
    return "bf16" if AUTO_PICKS_BF16 and native_bf16(device_type) else "fp32"


def autocast(precision: str, device: torch.device) -> ContextManager[object]:
    """The context the forward pass runs in: bf16 autocast, or nothing for fp32."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
