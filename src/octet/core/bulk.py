"""Inserting many rows fast: COPY on PostgreSQL, bulk_create elsewhere.

A billing run writes thousands of journal postings and dunning steps per chunk; building a
model instance and rendering one huge parameter list per row costs more than the rows
themselves. COPY streams plain tuples. Callers pass exactly the columns they fill; the
database fills the rest from its defaults only through bulk_create, so pass every column
that has no database default.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connection, models

__all__ = ["copy_rows", "next_ids"]


def next_ids(model: type[models.Model], count: int) -> list[int] | None:
    """``count`` fresh primary keys from the table's sequence (PostgreSQL), else None."""
    if connection.vendor != "postgresql" or count == 0:
        return None
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [table, count],
        )
        return [row[0] for row in cursor.fetchall()]


def copy_rows(model: type[models.Model], columns: Sequence[str], rows: Iterable[Sequence]) -> None:
    """Insert ``rows`` (tuples in ``columns`` order; column names as in the table)."""
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(model._meta.db_table)
        names = ", ".join(connection.ops.quote_name(c) for c in columns)
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(
                f"COPY {table} ({names}) FROM STDIN"  # noqa: S608 - names from the model
            ) as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return
    by_column = {f.column: f.attname for f in model._meta.concrete_fields}
    attnames = [by_column[c] for c in columns]
    model.objects.bulk_create(
        (model(**dict(zip(attnames, row, strict=True))) for row in rows), batch_size=2000
    )
