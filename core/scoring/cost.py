"""What a scoring run will cost the sync, measured before it starts (docs/scoring.md, "Running the scores").

Rows to write is a changed-only estimate: accounts never scored are written for sure; with a new
model every scored account is assumed to move; with the model of the last run, only accounts with
an order since that run. Time alone moves some scores (recency grows every day), so the real count
can be higher; the run reports it. The rows go to Salesforce through Connect's SOAP writes, about
200 records per call, one call after another.
"""

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from psycopg import sql

from core import connect, durations

DEMO_PLAN_ROWS = 10_000  # herokuconnect:demo: synced rows across all mappings
SOAP_CALL_SECONDS = 2.0  # an assumed round trip for one SOAP update of 200 records

# Accounts the run scores (synced, with order history), those never scored, and those with an order
# changed since `since` (the last run with the same model; NULL: none, then every scored one counts).
MEASURE = """
SELECT count(*) AS accounts,
       count(*) FILTER (WHERE a.churn_risk__c IS NULL) AS unscored,
       count(*) FILTER (WHERE a.churn_risk__c IS NOT NULL AND (%(since)s::timestamp IS NULL OR EXISTS (
           SELECT 1 FROM {connect}."order" o WHERE o.accountid = a.sfid AND o.systemmodstamp >= %(since)s))
       ) AS active
  FROM {connect}.account a
 WHERE a.sfid IS NOT NULL
   AND EXISTS (SELECT 1 FROM {connect}."order" o WHERE o.accountid = a.sfid)
"""


@dataclass(frozen=True)
class Cost:
    """The sync cost of a run, before it starts."""

    accounts: int  # accounts the run will score
    writes: int  # rows it will write (changed-only estimate)

    @property
    def soap_calls(self) -> int:
        """Connect's SOAP calls to send the writes."""
        return math.ceil(self.writes / connect.WRITE_BATCH_SIZE)

    @property
    def drain_seconds(self) -> float:
        """About how long Connect needs to send them, one call after another."""
        return self.soap_calls * SOAP_CALL_SECONDS

    @property
    def demo_plan_share(self) -> float:
        """The writes as a share of the demo plan's row cap."""
        return self.writes / DEMO_PLAN_ROWS

    def lines(self) -> list[str]:
        """The cost in a few lines, for the CLI and the ops page."""
        return [
            f"accounts to score   {self.accounts:,}",
            f"rows to write       about {self.writes:,} (changed-only estimate; "
            f"{self.demo_plan_share:.0%} of the demo plan's {DEMO_PLAN_ROWS:,}-row cap)",
            f"Connect's drain     about {self.soap_calls:,} SOAP calls of {connect.WRITE_BATCH_SIZE} records, "
            f"~{durations.human(self.drain_seconds)}",
        ]


def measure(conn, cfg, *, since: datetime | None = None) -> Cost:
    """The cost of scoring now; `since` is when the last run with the same model started (None: a new model)."""
    # systemmodstamp is UTC without a time zone (Connect's type).
    naive = since.astimezone(UTC).replace(tzinfo=None) if since is not None else None
    row = conn.execute(sql.SQL(MEASURE).format(connect=sql.Identifier(cfg.connect_schema)),
                       {"since": naive}).fetchone()
    return Cost(accounts=row["accounts"], writes=row["unscored"] + row["active"])
