"""The progress bar of long imports and exports: tqdm on stderr, only on a terminal, only after a second."""

from __future__ import annotations

import sys

from tqdm import tqdm

SHOW_AFTER_SECONDS = 1.0


def progress_bar(total: int, description: str, enabled: bool | None = None) -> tqdm:
    """A bar counting features; ``enabled`` None means "when stderr is a terminal"."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    return tqdm(total=total, desc=description, unit="feature", unit_scale=True, delay=SHOW_AFTER_SECONDS,
                disable=not enabled, leave=False, file=sys.stderr)
