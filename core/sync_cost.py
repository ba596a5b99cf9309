"""What writing through Heroku Connect costs, and which limit binds first (docs/batch-invoicing.md).

Not the org's daily API requests: Connect's SOAP calls are counted in the org but do not count
toward its API request limit (Dev Center, "Reading Data from Salesforce with Heroku Connect").
What binds instead:
- rows: the plan caps the rows synced across all mappings (demo: 10,000), so the rows synced now
  plus the rows a batch adds must fit;
- bulk batches: under Ordered Writes, a write of more than `connect.BULK_WRITE_THRESHOLD` changes goes
  through the Bulk API, and each batch of up to 10,000 records counts toward the org's daily Bulk
  API batch allowance (15,000 per rolling 24 h, shared with every other bulk client); what is left
  comes from the org's `limits/` when the operations tools have credentials, else it is unknown;
- time: Connect sends the writes of every mapping one call after another, about 200 records per
  SOAP call.
The seconds per call and per batch below are assumptions (Heroku publishes no rates): the drain
time is an order of magnitude, not a promise.
"""

import math
from dataclasses import dataclass

from core import config, connect, durations, salesforce, sync_health, trigger_log

# An assumed round trip for one SOAP create or update of 200 records, and for one Bulk API batch of
# 10,000 ("a 10,000-record bulk batch takes minutes").
SOAP_CALL_SECONDS = 2.0
BULK_BATCH_SECONDS = 120.0


@dataclass(frozen=True)
class BulkAllowance:
    """What the org says is left of its daily Bulk API batches, or why it is not known."""

    remaining: int | None
    maximum: int | None
    source: str


@dataclass(frozen=True)
class Cost:
    """The sync's figures before a batch of writes, and after it."""

    plan: str
    row_cap: int | None  # None: the plan's cap is in the contract, not known to the app
    synced_rows: int  # rows in every mapped table now (the planner's estimate for big tables)
    rows_added: int  # at most this many new rows the batch adds (updates add none)
    waiting: int  # changes already waiting in the trigger log
    writes: int  # changes Connect will send: those waiting plus the batch's
    ordered_writes: bool
    bulk: BulkAllowance | None  # None when the bulk path does not apply

    @property
    def rows_after(self) -> int:
        """Synced rows once the batch has synced."""
        return self.synced_rows + self.rows_added

    @property
    def over_row_cap(self) -> bool:
        """True when the batch would take the connection over the plan's row cap (TOO_MANY_ROWS)."""
        return self.row_cap is not None and self.rows_after > self.row_cap

    @property
    def uses_bulk(self) -> bool:
        """Whether Connect will send these writes through the Bulk API."""
        return self.ordered_writes and self.writes >= connect.BULK_WRITE_THRESHOLD

    @property
    def bulk_batches(self) -> int:
        """Bulk API batches the writes take (0 on the SOAP path)."""
        return math.ceil(self.writes / connect.BULK_BATCH_SIZE) if self.uses_bulk else 0

    @property
    def over_bulk_allowance(self) -> bool:
        """True when the org has fewer bulk batches left today than the writes need."""
        return bool(self.bulk and self.bulk.remaining is not None and self.bulk_batches > self.bulk.remaining)

    @property
    def soap_calls(self) -> int:
        """SOAP calls the writes take (0 on the bulk path)."""
        return 0 if self.uses_bulk else math.ceil(self.writes / connect.WRITE_BATCH_SIZE)

    @property
    def drain_seconds(self) -> float:
        """About how long Connect needs to send every waiting write, one call or batch after another."""
        return self.bulk_batches * BULK_BATCH_SECONDS + self.soap_calls * SOAP_CALL_SECONDS

    def refusals(self) -> list[str]:
        """Why a batch should not start: one sentence per limit it would break."""
        found = []
        if self.over_row_cap:
            found.append(f"{self.rows_after:,} synced rows ({self.synced_rows:,} now + up to {self.rows_added:,}) "
                         f"would exceed the {self.plan} plan's cap of {self.row_cap:,} across all mappings: "
                         "Connect would stop syncing (TOO_MANY_ROWS).")
        if self.over_bulk_allowance:
            found.append(f"{self.bulk_batches:,} Bulk API batches are needed but the org has {self.bulk.remaining:,} "
                         "left in its daily allowance (limits/ DailyBulkApiBatches).")
        return found

    def lines(self) -> list[str]:
        """The figures in a few lines, for the CLI."""
        cap = f"of the {self.plan} plan's {self.row_cap:,}" if self.row_cap else f"({self.plan} plan: no cap known)"
        lines = [f"synced rows       {self.synced_rows:,} now, up to {self.rows_after:,} after {cap}"]
        if self.uses_bulk:
            left = "unknown" if self.bulk.remaining is None else f"{self.bulk.remaining:,} left today"
            threshold = connect.BULK_WRITE_THRESHOLD
            lines.append(f"bulk batches      {self.bulk_batches:,} (Ordered Writes, {threshold:,} changes or more); "
                         f"allowance: {left} ({self.bulk.source})")
        else:
            why = ("Ordered Writes is off" if not self.ordered_writes
                   else f"fewer than {connect.BULK_WRITE_THRESHOLD:,} changes")
            lines.append(f"bulk batches      none: SOAP writes ({why}); SOAP calls do not count toward the org's "
                         "API request limit")
        lines.append(f"Connect's drain   {self.writes:,} writes ({self.waiting:,} waiting already): about "
                     f"{durations.human(self.drain_seconds)}")
        return lines


def synced_rows(conn, schema: str) -> int:
    """Rows in every mapped table, as the plan's cap counts them (sync_health.rows_used)."""
    return sync_health.rows_used(conn, schema)


def bulk_allowance(org: config.Salesforce) -> BulkAllowance:
    """DailyBulkApiBatches from the org's limits/ when the tools have credentials; otherwise unknown."""
    if not (org.instance_url or org.username or org.local_url):
        return BulkAllowance(None, None, "unknown: set SF_USERNAME or SF_INSTANCE_URL to read the org's limits/")
    try:
        batches = salesforce.connect(org).limits()["DailyBulkApiBatches"]
    except Exception as exc:  # a refused login or an unreachable org leaves the figure unknown, not the page broken
        return BulkAllowance(None, None, f"unknown: could not read limits/ ({type(exc).__name__})")
    return BulkAllowance(batches["Remaining"], batches["Max"], "the org's limits/")


def measure(conn, cfg: config.Config, *, rows_added: int = 0, writes_added: int = 0,
            ordered_writes: bool | None = None) -> Cost:
    """The sync's figures now, and with a batch that adds `rows_added` rows through `writes_added` writes."""
    schema = cfg.connect_schema
    waiting = trigger_log.waiting(conn, schema)
    ordered = connect.ordered_writes() if ordered_writes is None else ordered_writes
    writes = waiting + writes_added
    uses_bulk = ordered and writes > connect.BULK_WRITE_THRESHOLD
    return Cost(
        plan=cfg.connect_plan,
        row_cap=connect.PLAN_ROW_CAPS[cfg.connect_plan],
        synced_rows=synced_rows(conn, schema),
        rows_added=rows_added,
        waiting=waiting,
        writes=writes,
        ordered_writes=ordered,
        # The org is asked only when its answer matters: on the bulk path.
        bulk=bulk_allowance(cfg.salesforce) if uses_bulk else None,
    )
