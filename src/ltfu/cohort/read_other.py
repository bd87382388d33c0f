"""Parquet, SAS7BDAT and XPT: sizes from the files' metadata, dates with their own epochs."""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd

from ltfu.cohort.dates import SAS_DATE, SAS_DATETIME, Epoch
from ltfu.cohort.raw import TOO_MANY_CELLS, _too_many_columns, arrow_to_pandas
from ltfu.errors import LoadError

# ----------------------------------------------------------------------------------------------
# Parquet, SAS

def _read_parquet(blob, path, sheet, keep, context):
    import pyarrow.parquet as pq

    limits = context.limits
    file = pq.ParquetFile(io.BytesIO(blob))
    header = tuple(file.schema_arrow.names)
    _too_many_columns(path.name, len(header), limits)
    stripped = [str(h).strip() for h in header]
    chosen = None
    if keep is not None and len(set(header)) == len(header):
        chosen = [h for h, s in zip(header, stripped) if keep(s)]
    meta = file.metadata
    wanted = set(header if chosen is None else chosen)
    n_columns = len(wanted)
    if meta.num_rows * n_columns > limits.max_cells:
        raise LoadError(f"{path.name}: {meta.num_rows:,} rows x {n_columns:,} columns, more than the "
                        f"{limits.max_cells:,} cells ltfu reads (limit max_cells). {TOO_MANY_CELLS}")
    unpacked = 0
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            column = group.column(c)
            if column.path_in_schema.split(".")[0] in wanted:
                unpacked += column.total_uncompressed_size
    if unpacked > limits.max_unpacked_bytes:
        raise LoadError(f"{path.name}: the columns decompress to {unpacked / 2 ** 20:,.0f} MiB, more than the "
                        f"{limits.max_unpacked_bytes / 2 ** 20:,.0f} MiB ltfu reads (limit max_unpacked_bytes)")
    df = arrow_to_pandas(file.read(columns=chosen))
    return df, np.arange(1, len(df) + 1), [], header


# SAS formats whose numbers count days (dates) or seconds (datetimes) since 1960-01-01, as written
# without width and decimals (DATE9. -> DATE, E8601DA10. -> E8601DA)
_SAS_DATETIME = re.compile(r"^(DATETIME|DATEAMPM|DTDATE|DTMONYY|DTWKDATX|DTYEAR|DTYYQC|[EB]8601D[TZN]|IS8601D[TZN]|"
                           r"NLDATM|MDYAMPM)")
_SAS_DATE = re.compile(r"^(DATE|DAY|DDMMYY|MMDDYY|YYMMDD|YYMM|MMYY|MONYY|YYQ|YEAR|JULIAN|JULDAY|WEEKDAT|WORDDAT|"
                       r"DOWNAME|MONNAME|MONTH|QTR|WEEKDAY|NLDATE|[EB]8601DA|IS8601DA|MINGUO|NENGO|EURDF|YYWEEK|"
                       r"WEEK[UVW])")


def sas_epoch(fmt) -> Epoch | None:
    """The epoch of a SAS variable's display format: SAS_DATE, SAS_DATETIME or None."""
    if not fmt:
        return None
    name = re.sub(r"[0-9]*\.?[0-9]*$", "", str(fmt).strip().upper().lstrip("$"))
    if _SAS_DATETIME.match(name):
        return SAS_DATETIME
    if _SAS_DATE.match(name):
        return SAS_DATE
    return None


def _read_sas(blob, path, sheet, keep, context):
    import pyreadstat

    limits = context.limits
    reader = pyreadstat.read_sas7bdat if path.suffix.lower() == ".sas7bdat" else pyreadstat.read_xport
    _, meta = reader(str(path), metadataonly=True)
    header = tuple(meta.column_names)
    _too_many_columns(path.name, len(header), limits)
    chosen = None if keep is None else [h for h in header if keep(str(h).strip())] or None
    n_columns = max(1, len(chosen or header))
    most = limits.max_cells // n_columns          # rows
    too_many = lambda n: LoadError(f"{path.name}: {n} rows x {n_columns:,} columns, more than the "
                                   f"{limits.max_cells:,} cells ltfu reads (limit max_cells). {TOO_MANY_CELLS}")
    if meta.number_rows is not None and meta.number_rows > most:
        raise too_many(f"{meta.number_rows:,}")
    # XPT does not declare its rows: read at most one row more than the limit allows
    df, meta = reader(str(path), usecols=chosen, row_limit=most + 1)
    if len(df) > most:
        raise too_many(f"more than {most:,}")
    formats = getattr(meta, "original_variable_types", None) or {}
    for column in df.columns:          # numbers that pyreadstat left as numbers: their format says the epoch
        epoch = sas_epoch(formats.get(column))
        if epoch is not None and pd.api.types.is_numeric_dtype(df[column].dtype):
            context.epochs[str(column).strip()] = epoch
    return df, np.arange(1, len(df) + 1), [], header

