"""CSV output that is safe to open in a spreadsheet, written atomically.

Captions and file names come from users. A spreadsheet program runs a cell starting with ``=``,
``+``, ``-`` or ``@`` as a formula (and a leading tab or carriage return can hide such a
prefix), so :func:`safe_csv_cell` prefixes those text cells with a single quote ``'`` (the
OWASP "CSV injection" mitigation): the cell shows as text, with the quote visible in plain
readers. Text that is exactly a plain decimal number (``-0.5``, ``+3``, ``1e-3``) cannot carry a
formula and is kept as it is; numbers (``int``/``float``) are written as numbers, floats with
``repr`` so they round-trip exactly. Embedded commas, quotes and newlines are quoted by the
``csv`` module as usual.
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vslerp.errors import InputError
from vslerp.fileio import atomic_write

__all__ = ["FORMULA_PREFIXES", "safe_csv_cell", "write_csv_atomic"]

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet treat a text cell as a formula."""

_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def safe_csv_cell(value: Any) -> str | int | float:
    """One CSV cell: ``None`` -> ``""``; bools -> ``"true"``/``"false"``; ints as they are;
    floats via ``repr`` (``""`` for NaN); anything else as text, neutralised with a leading
    ``'`` when it starts with one of :data:`FORMULA_PREFIXES` and is not a plain number."""
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return "" if math.isnan(number) else repr(number)
    text = value if isinstance(value, str) else str(value)
    if text.startswith(FORMULA_PREFIXES) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def write_csv_atomic(path: str | os.PathLike[str], header: Sequence[str],
                     rows: Iterable[Sequence[Any]]) -> Path:
    """Write ``header`` and ``rows`` as UTF-8 CSV (``\\n`` line ends) atomically, every cell —
    header included — through :func:`safe_csv_cell`. Returns the path.

    Raises:
        InputError: a row whose length differs from the header's (nothing is written).
    """
    width = len(header)
    target = Path(path)
    with atomic_write(target, "w") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow([safe_csv_cell(h) for h in header])
        for n, row in enumerate(rows, 1):
            if len(row) != width:
                raise InputError("rows", f"row {n}", f"has {len(row)} cells; the header has "
                                                     f"{width}")
            writer.writerow([safe_csv_cell(v) for v in row])
    return target
