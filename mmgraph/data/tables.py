"""Reading delimited interaction tables (CSV / TSV / MMRec ``.inter``) with clear errors."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from mmgraph.errors import DataError


def guess_delimiter(path: Path, first_line: str) -> str:
    if path.suffix in (".tsv", ".inter") or "\t" in first_line:
        return "\t"
    if "," in first_line or path.suffix == ".csv":
        return ","
    return " "


def read_table(
    path: str | Path,
    *,
    delimiter: str | None = None,
    header: bool | None = True,
    header_names: tuple[str, ...] = (),
):
    """Read a delimited text file into ``(names, columns)``, each column a list of strings.

    ``header=None`` treats the first row as a header when one of its cells is in
    ``header_names`` (case-insensitive); without a header the names are ``"0", "1", ...``.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: tolerate a BOM
            first = f.readline()
            if not first.strip():
                raise DataError(
                    f"{path}: the file is empty; it needs a header and one interaction per row"
                )
            f.seek(0)
            delim = delimiter or guess_delimiter(path, first)
            reader = csv.reader(f, delimiter=delim, skipinitialspace=delim == " ")
            rows = list(reader)
            spans = reader.line_num != len(rows)  # a field that spans lines: a quote never closed
            f.seek(0)
            binary = "\x00" in f.read()
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}: not a UTF-8 text table ({exc.reason}); save it as CSV/TSV text"
        ) from exc
    except csv.Error as exc:
        raise DataError(
            f"{path}: cannot parse as a delimited table ({exc}); check that it is the "
            'interactions table and that every quote (") closes'
        ) from exc
    if spans or binary:
        raise DataError(
            f'{path}: a field spans lines or holds a NUL byte: a quote (") that never '
            "closes, or a binary file; remove the stray quote"
        )
    rows = [r for r in rows if r]
    wanted = {h.lower() for h in header_names}
    if header is None:
        header = any(c.strip().lower() in wanted for c in rows[0])
    names = [c.strip() for c in rows[0]] if header else [str(k) for k in range(len(rows[0]))]
    body = rows[1:] if header else rows
    width = len(names)
    for k, r in enumerate(body):
        if len(r) != width:
            raise DataError(
                f"{path}: line {k + 1 + int(header)} has {len(r)} fields, expected "
                f"{width} like the {'header' if header else 'first line'}; fix its delimiters"
            )
    columns = [list(c) for c in zip(*body)] if body else [[] for _ in names]
    return names, columns


def to_numbers(
    values: list[str], path: Path, column: str, *, integer: bool = True, line_offset: int = 2
) -> np.ndarray:
    """Parse a column of strings as int64 (or float64), naming the first bad cell on failure."""
    dtype, parse, what = (
        (np.int64, int, "an integer") if integer else (np.float64, float, "a number or an ISO date")
    )
    try:
        return np.asarray(values, dtype=dtype) if values else np.zeros(0, dtype)
    except (ValueError, OverflowError):
        for k, v in enumerate(values):
            try:
                parse(v)
            except ValueError:
                raise DataError(
                    f"{path}: line {k + line_offset}, column '{column}': {v!r} is not "
                    f"{what}; fix that cell"
                ) from None
        raise DataError(
            f"{path}: column '{column}' holds a value out of the {dtype.__name__} range; "
            "use smaller ids"
        ) from None


def to_times(values: list[str], path: Path, column: str, line_offset: int = 2) -> np.ndarray:
    """Timestamps as float64: numbers (e.g. Unix seconds) or ISO dates / datetimes."""
    try:
        return np.asarray(values, dtype=np.float64)
    except ValueError:
        pass
    try:
        return np.asarray([v.strip() for v in values], dtype="datetime64[s]").astype(np.float64)
    except ValueError:
        pass
    return to_numbers(
        values, path, column, integer=False, line_offset=line_offset
    )  # names the cell


def ids_column(values: list[str]) -> np.ndarray:
    """Raw ids as int64 when every cell is an integer, else as strings."""
    try:
        return np.asarray(values, dtype=np.int64)
    except (ValueError, OverflowError):
        return np.asarray([v.strip() for v in values], dtype=str)
