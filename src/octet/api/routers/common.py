"""What every router shares: path ids, the Idempotency-Key header, documented responses."""

from datetime import date, datetime, timedelta
from typing import Annotated, Any

from ninja import Header, Path, Query, Schema
from pydantic import Field

from octet.api.pagination import DEFAULT_LIMIT, MAX_LIMIT
from octet.api.schemas import MAX_ID, Error
from octet.core.errors import InvalidInput
from octet.core.periods import local_midnight
from octet.subscriptions.services import operator_tz

_FLOOR = date(1900, 1, 1)
_CEILING = date(9000, 1, 1)

PathId = Annotated[int, Path(ge=1, le=MAX_ID)]

IdempotencyKey = Annotated[
    str,
    Header(
        None,
        alias="Idempotency-Key",
        description="Any unique string (a UUID): the same key again within 24 h gets the "
        "first answer instead of a second change",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
    ),
]


class PageQuery(Schema):
    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = Field(
        DEFAULT_LIMIT, description=f"Items per page, at most {MAX_LIMIT}"
    )
    cursor: Annotated[str, Field(max_length=40, pattern=r"^[A-Za-z0-9_-]*$")] | None = Field(
        None, description="The `next` of the previous page"
    )


Page = Query[PageQuery]

_READ_ERRORS = (400, 401, 403, 404, 429)
_WRITE_ERRORS = (400, 401, 403, 404, 409, 422, 429)


def read(out: Any, *extra: int) -> dict[int, Any]:
    """Documented responses of a GET (``extra``: more error codes it can answer)."""
    return {200: out, **dict.fromkeys(sorted({*_READ_ERRORS, *extra}), Error)}


def write(out: Any, status: int = 200) -> dict[int, Any]:
    """Documented responses of a POST, PATCH or DELETE."""
    return {status: out, **dict.fromkeys(_WRITE_ERRORS, Error)}


def local_day_range(
    first: date | None, last: date | None, field: str
) -> tuple[datetime | None, datetime | None]:
    """``[start of first, start of the day after last)`` in the operator's time zone.

    Days before 1900 or after 9000 put no bound (nothing is dated there, and they would
    overflow a datetime once shifted to UTC).
    """
    if first is not None and last is not None and first > last:
        raise InvalidInput(f"{field}_from is after {field}_to", field=f"{field}_from")
    tz = operator_tz()
    start = end = None
    if first is not None and first > _FLOOR:
        start = local_midnight(first, tz)
    if last is not None and last < _CEILING:
        end = local_midnight(last + timedelta(days=1), tz)
    return start, end
