"""Splitting integer amounts (fen, stalls, spaces) by shares so that the parts add up exactly, and a
project's investment over its features (``investment_share_yuan`` of the API's items and of exports)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

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
    codes = pd.factorize(np.asarray(groups))[0]
    given = np.zeros(codes.max() + 1 if len(codes) else 0, dtype="int64")
    np.add.at(given, codes, base)
    deficit = wholes - given[codes]
    # Rank of each row in its group by remainder, largest first (ties: the earlier row; lexsort is stable).
    order = np.lexsort((base - raw, codes))
    ordered = codes[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    rank = np.empty(len(codes), dtype="int64")
    rank[order] = np.arange(len(codes)) - np.repeat(starts, np.diff(np.r_[starts, len(codes)]))
    return base + (rank < deficit).astype("int64")


class Table(Protocol):
    """A table of projects: a frame, or arrays by column (``store.base.Rows``); what is read of it is a column by
    name."""

    def __getitem__(self, column: str) -> Sequence: ...


def project_positions(projects: Table, project_ids: np.ndarray) -> np.ndarray:
    """Each of ``project_ids``' row in ``projects`` (-1: not there): through a dict for a few (an edit's), where
    pandas' hash index costs a tenth of a millisecond to make; through that for many."""
    known = np.asarray(projects["project_id"], dtype=object)
    if len(known) > _FEW or len(project_ids) > _FEW:
        return pd.Index(known, dtype=object).get_indexer(pd.Index(project_ids, dtype=object))
    at = {project_id: i for i, project_id in enumerate(known.tolist())}
    return np.fromiter((at.get(i, -1) for i in project_ids.tolist()), np.intp, len(project_ids))


_FEW = 1000


def investment_shares(project_ids: np.ndarray, geoms: np.ndarray, projects: Table, layer: str,
                      at: np.ndarray | None = None) -> np.ndarray:
    """Each feature's part of its project's investment in yuan (2 decimals), summing to the project's.

    The features (their ``project_ids`` and ``geoms``) are every feature of their projects in ``layer``. The
    investment lies on the features of the category's own layer, split by length (lines) or area (polygons) in
    EPSG:4549, points equally, in fen by the largest-remainder rule; a layer a category owns besides its own
    (``model.category_layers``: sluices) carries 0. ``at``: each feature's project's row in ``projects``
    (``project_positions``), when the caller has it.
    """
    if layer not in model.CATEGORY_BY_SLUG or not len(project_ids):
        return np.zeros(len(project_ids))
    kind = model.LAYER_BY_NAME[layer].geometry_type
    if kind == "Point":
        measure = np.ones(len(project_ids))
    else:
        geoms = spatial.metric(np.asarray(geoms))
        measure = shapely.length(geoms) if "Line" in kind else shapely.area(geoms)
    pids = np.asarray(project_ids, dtype=object)
    at = project_positions(projects, pids) if at is None else at
    fen = np.where(at >= 0, np.asarray(projects["investment_yuan"], dtype="int64")[at] * 100, 0)
    codes = pd.factorize(pids)[0]
    totals = np.bincount(codes, weights=measure)[codes]  # each feature's project's whole measure
    shares = np.where(totals > 0, measure / np.where(totals > 0, totals, 1), 0.0)
    return largest_remainder(codes, fen, shares) / 100  # grouped by the codes: factorized again faster than text
