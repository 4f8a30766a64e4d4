"""Random streams derived from names, so they never depend on how long a process has lived.

Every random draw in training comes from a generator seeded by ``derive_seed(seed, what,
epoch, batch, ...)``. A run stopped and resumed in a new process therefore sees exactly
the streams of a run that went straight through.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

SEED_BITS = 32  # Optuna's samplers hand seeds to numpy's RandomState, which takes < 2**32

Part = int | str | float | bool | bytes | None


def _encode(part: Part) -> bytes:
    # Type-tagged, so derive_seed(1) != derive_seed("1") != derive_seed(1.0) != derive_seed(True);
    # numpy scalars are normalised to the builtin type so np.int64(3) counts as 3.
    if part is None:
        tag, body = "none", ""
    elif isinstance(part, (bool, np.bool_)):
        tag, body = "bool", str(bool(part))
    elif isinstance(part, (int, np.integer)):
        tag, body = "int", str(int(part))
    elif isinstance(part, (float, np.floating)):
        tag, body = "float", repr(float(part))  # shortest round-trip repr: stable across versions
    elif isinstance(part, str):
        tag, body = "str", str(part)
    elif isinstance(part, bytes):
        tag, body = "bytes", part.hex()
    else:
        raise TypeError(f"derive_seed parts must be int, float, str, bool, bytes or None, got {type(part).__name__}")
    return f"{tag}:{body}".encode()


def derive_seed(*parts: Part) -> int:
    """A seed in [0, 2**32) from `parts`, the same in every process and Python version.

    Uses BLAKE2b over a type-tagged encoding, never Python's salted ``hash()``.
    """
    h = hashlib.blake2b(digest_size=8)
    for part in parts:
        encoded = _encode(part)
        h.update(len(encoded).to_bytes(4, "big") + encoded)  # length prefix: ("ab",) != ("a", "b")
    return int.from_bytes(h.digest(), "big") >> (64 - SEED_BITS)


def numpy_rng(*parts: Part) -> np.random.Generator:
    """A numpy Generator whose stream depends only on `parts`."""
    return np.random.default_rng(derive_seed(*parts))


def torch_generator(*parts: Part, device: str | torch.device = "cpu") -> torch.Generator:
    """A torch Generator on `device` whose stream depends only on `parts`."""
    import torch  # kept local: derive_seed alone must not pull torch into light CLI commands

    gen = torch.Generator(device=device)
    gen.manual_seed(derive_seed(*parts))
    return gen
