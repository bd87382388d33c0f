"""The public ``ltfu.validate`` for tables handed over as pandas DataFrames.

A DataFrame can carry the same column name twice (``pd.concat`` of two exports does it); selecting
that column then returns a DataFrame, not a column.  ``ltfu.validate`` treats such a frame as the
loader treats a file with a repeated header: both columns are kept under distinct names and each
repeat is a ``DUPLICATE_COLUMN`` problem, never a traceback.
"""

from __future__ import annotations


def validate(table, **options):
    """Every problem of a RawTable or DataFrame (see ``ltfu.cohort.validate``); repeated column names
    of a DataFrame are DUPLICATE_COLUMN problems."""
    from ltfu.cohort import validate as validate_table

    first = []
    columns = getattr(table, "columns", None)
    if columns is not None and not hasattr(table, "row_numbers") and columns.duplicated().any():
        from ltfu.cohort.load import _unique_columns

        table, first = _unique_columns(table)
    return [*first, *validate_table(table, **options)]
