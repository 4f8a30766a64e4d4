"""The names a config chooses from that lower layers implement: feature families and scalings.

config.py validates against these names and data/ implements them; both import them from here, so the
config layer needs nothing above core/. data/features.py checks that its FAMILIES keys are FAMILY_NAMES.
"""

from __future__ import annotations

# The feature families, in their column order: the names a user (and the `features` search group) picks
# inputs by. Which columns belong to each is data/features.py's FAMILIES.
FAMILY_NAMES: tuple[str, ...] = ("returns", "volatility", "candle", "volume", "oscillators", "calendar")
# What a run sees unless `features.families` says otherwise: every family. Measured
# (bench/results/features-2026-12-02.md, validity-default-families-2026-12-02.md): leaving the
# oscillators out raises the untuned walk-forward on EURUSD_H1 by +0.033, but full searches on
# NASDAQ_D1 started from that set fell from 0.382/0.375 to 0.262/0.348 (seeds 1, 2); see
# docs/decisions.md "Feature families (issue 26)".
DEFAULT_FAMILIES: tuple[str, ...] = FAMILY_NAMES
# How features are standardised across symbols (data/panel.py): each symbol on its own, or all pooled.
SCALINGS: tuple[str, str] = ("per_symbol", "pooled")
