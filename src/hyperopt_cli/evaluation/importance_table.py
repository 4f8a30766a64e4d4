"""Permutation importance as a table (results.json `feature_importance`), free of numpy, pandas and torch.

`hyperopt results` and the report render it; evaluation/importance.py computes it.
"""

from __future__ import annotations

from typing import Any


def importance_rows(importance: dict[str, Any] | None) -> list[list[str]]:
    """Table rows (family, columns, macro-F1 drop, cross-entropy rise), most important first, for the CLI and report."""
    if not importance:
        return []
    families = importance.get("families") or {}
    ranked = sorted(families.items(), key=lambda kv: (-kv[1]["cross_entropy_rise"], kv[0]))
    return [
        [name, ", ".join(v["columns"]), f"{v['macro_f1_drop']:+.4f}", f"{v['cross_entropy_rise']:+.4f}"]
        for name, v in ranked
    ]


IMPORTANCE_HEADER: tuple[str, ...] = ("family", "columns", "macro-F1 drop", "cross-entropy rise")
