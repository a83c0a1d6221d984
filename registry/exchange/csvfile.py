"""CSV for people: the one writer of every CSV the registry hands to people (exports, ``f=csv``, the CLI).

UTF-8 with a byte-order mark, so Excel reads the Chinese text (without one it guesses the ANSI code
page); text a spreadsheet would run as a formula gets a ``'`` in front (``rows.neutralise_column``);
numbers stay numbers; fields are quoted only where text is. Written by pyarrow, column by column, so
a large export costs no Python per cell.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import BinaryIO

import pyarrow as pa
import pyarrow.csv as pa_csv

from .rows import neutralise_column

UTF8_BOM = b"\xef\xbb\xbf"
MEDIA_TYPE = "text/csv; charset=utf-8"


def write_csv(sink: BinaryIO, table: pa.Table, *, bom: bool = True) -> None:
    """``table`` as CSV for people on ``sink``: a BOM first (unless ``bom`` is false), formula text neutralised."""
    if bom:
        sink.write(UTF8_BOM)
    safe = pa.Table.from_arrays([neutralise_column(column) for column in table.columns], names=table.column_names)
    pa_csv.write_csv(safe, sink, pa_csv.WriteOptions(quoting_style="needed"))


def rows_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> pa.Table:
    """Rows of plain Python values (None for missing) as a table, each column typed by Arrow from its values."""
    columns = list(zip(*rows)) if rows else [()] * len(header)
    return pa.Table.from_arrays([_column(values) for values in columns], names=list(header))


def _column(values: Sequence[object]) -> pa.Array:
    """A column of one type as it is (numbers stay numbers); one mixing types becomes text."""
    try:
        return pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())
