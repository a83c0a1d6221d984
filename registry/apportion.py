"""Splitting integer amounts (fen, stalls, spaces) by shares so that the parts add up exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd


def largest_remainder(groups: np.ndarray, wholes: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """Integer part of each row's group ``whole`` for its ``share``; each group's parts sum to its whole.

    Every row gets ``floor(whole * share)``; the units still missing in a group go, one each, to the
    rows with the largest fractional remainders (ties: the earlier row), the largest-remainder rule.
    Shares of a group are expected to sum to 1.
    """
    wholes = np.asarray(wholes, dtype="int64")
    raw = wholes * np.asarray(shares, dtype=float)
    base = np.floor(raw).astype("int64")
    frame = pd.DataFrame({"group": groups, "frac": raw - base, "base": base, "order": np.arange(len(base))})
    deficit = wholes - frame.groupby("group", sort=False)["base"].transform("sum").to_numpy()
    rank = frame.sort_values(["group", "frac", "order"], ascending=[True, False, True]).groupby("group").cumcount()
    return base + (rank.reindex(frame.index).to_numpy() < deficit).astype("int64")
