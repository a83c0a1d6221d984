"""Splitting integer amounts (fen, stalls, spaces) by shares so that the parts add up exactly, and a
project's investment over its features (``investment_share_yuan`` of the API's items and of exports)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from . import model, spatial


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


def investment_shares(frame: pd.DataFrame, projects: pd.DataFrame, layer: str) -> np.ndarray:
    """Each feature's part of its project's investment in yuan (2 decimals), summing to the project's.

    ``frame`` holds every feature of its projects in ``layer`` (project_id, geometry). The investment lies
    on the features of the category's own layer, split by length (lines) or area (polygons) in EPSG:4549,
    points equally, in fen by the largest-remainder rule; a layer a category owns besides its own
    (``model.category_layers``: sluices) carries 0.
    """
    if layer not in model.CATEGORY_BY_SLUG or frame.empty:
        return np.zeros(len(frame))
    kind = model.LAYER_BY_NAME[layer].geometry_type
    if kind == "Point":
        measure = np.ones(len(frame))
    else:
        geoms = spatial.metric(frame.geometry.values)
        measure = shapely.length(geoms) if "Line" in kind else shapely.area(geoms)
    pids = frame["project_id"].to_numpy()
    at = pd.Index(projects["project_id"]).get_indexer(pids)
    fen = np.where(at >= 0, projects["investment_yuan"].to_numpy(dtype="int64")[at] * 100, 0)
    totals = pd.Series(measure).groupby(pids).transform("sum").to_numpy()
    shares = np.where(totals > 0, measure / np.where(totals > 0, totals, 1), 0.0)
    return largest_remainder(pids, fen, shares) / 100
