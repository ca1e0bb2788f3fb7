"""Boundary values for the API fuzzing (scripts/fuzz-api.sh loads this as SCHEMATHESIS_HOOKS).

From the schema alone schemathesis draws ordinary dates and numbers inside the documented
ranges, so it never sent what once dropped a connection:
`GET /analytics/fleet/<id>/performance?to=-262143-01-01T00:00:00Z` (date arithmetic that
overflowed before the access check). Here every `date-time` is drawn from the edges of what
chrono, PostgreSQL, SQLite and the server's window check (1970..=2100, at most 366 days)
handle, besides ordinary dates, and every integer query parameter may be replaced by a number
at or past the limits of the types that parse it. The server must answer each with a
documented status, never a 5xx or a dropped connection.
"""

import atexit
import sys
from datetime import timezone

import schemathesis
from hypothesis import strategies as st

BOUNDARY_DATES = [
    # The window's edges and just past them.
    "1970-01-01T00:00:00Z",
    "1969-12-31T23:59:59.999999999Z",
    "2100-12-31T23:59:59Z",
    "2101-01-01T00:00:00Z",
    # RFC 3339's own edges, leap seconds, fractions and offsets.
    "0000-01-01T00:00:00Z",
    "0001-01-01T00:00:00+23:59",
    "9999-12-31T23:59:59.999999999Z",
    "9999-12-31T23:59:59-23:59",
    "2016-12-31T23:59:60Z",
    "2024-02-29T12:00:00.123456789+14:00",
    "2023-02-29T12:00:00Z",
    # chrono's extremes (outside RFC 3339: the parser must refuse them, not overflow).
    "-262143-01-01T00:00:00Z",
    "+262142-12-31T23:59:59Z",
    "262143-01-01T00:00:00Z",
    # Unix-time edges of 32 and 64 bits.
    "2038-01-19T03:14:07Z",
    "2038-01-19T03:14:08Z",
    "1901-12-13T20:45:52Z",
]

ordinary_dates = st.datetimes(timezones=st.just(timezone.utc)).map(
    lambda d: d.isoformat().replace("+00:00", "Z")
)
schemathesis.openapi.format(
    "date-time", st.one_of(st.sampled_from(BOUNDARY_DATES), ordinary_dates)
)

BOUNDARY_NUMBERS = [
    "0",
    "-1",
    "-0",
    "2147483647",
    "2147483648",
    "-2147483649",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    "1e309",
    "1.5",
    "NaN",
    "+1",
    "0x10",
    " 1",
]


@schemathesis.hook
def flatmap_query(context, query):
    if not query:
        return st.just(query)
    return st.fixed_dictionaries(
        {
            name: st.one_of(st.just(value), st.sampled_from(BOUNDARY_NUMBERS))
            if isinstance(value, int) and not isinstance(value, bool)
            else st.just(value)
            for name, value in query.items()
        }
    )


# How many requests carried a boundary value, printed when schemathesis exits, so a run shows
# that the values above reached the server.
_sent = {"dates": 0, "numbers": 0}


@schemathesis.hook
def after_call(context, case, response):
    values = [str(v) for v in (case.query or {}).values()]
    _sent["dates"] += any(v in BOUNDARY_DATES for v in values)
    _sent["numbers"] += any(v in BOUNDARY_NUMBERS for v in values)


def _report():
    print(
        f"fuzz-api: requests with a boundary date: {_sent['dates']}, "
        f"with a boundary number: {_sent['numbers']}",
        file=sys.stderr,
    )


atexit.register(_report)
