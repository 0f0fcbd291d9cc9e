"""Dashboard counters: hourly counts kept exact by triggers, so the dashboard never scans mentions.

Counting a month of a busy workspace from the mentions themselves takes seconds (a million rows joined
to their verdicts); summing these counters takes milliseconds. `insight_counts` holds, per workspace and
UTC hour ("slot": epoch seconds // 3600), how many:

- inbound mentions arrived per channel (dimension `channel`, value the channel id), and, of those with
  a verdict, per `flag`, `category` and `sentiment` (slot of the mention's arrival);
- first responses were given per team and response-time bin (`response`, value "team|bin", the bin an
  index into insights.counts.RESPONSE_BIN_EDGES; slot of the first response);
- first-response goals were met or breached per team (`sla`, value "team|met" / "team|breached";
  slot of the breach, or of the answer when the goal was met).

Each row's contribution is a function of the current rows, and triggers add the contribution of a row
written and take away the one of a row replaced or deleted, in the same transaction. A contribution that
needs two rows (a verdict and its mention; a work item and its first-response clock) is counted while
both exist, so whichever of the two comes or goes first, the count stays exact. A mention takes away
what it, its verdict, its work item and its clock counted for BEFORE it is deleted, while they can still
be read; rows deleted with it by the cascade then count for nothing (on PostgreSQL a cascade's triggers
fire only after all of it is done, when neither half of a pair can see the other). SQLite runs row triggers;
PostgreSQL runs statement triggers over transition tables (one grouped upsert per statement, in key
order, so concurrent writers take counter locks in the same order) and row triggers for mentions'
rare deletes and re-keying updates. Existing rows are counted once here.

Why hours: a month of a million-mention workspace is some 35,000 counter rows, summed in tens of
milliseconds; quarter hours (which every zone's local hours start on) would be four times as many rows
and time. In the few zones whose offset is not whole hours (India, Nepal, Newfoundland, central
Australia...) a dashboard day therefore starts at the first UTC hour after local midnight (00:30 in India).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SLOT = 3600
BIN_EDGES = (60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800)
# (table, timing, event) of every trigger; the trigger and its function are named insight_<table>_<event>.
TRIGGERS = (
    ("mentions", "AFTER", "INSERT"), ("mentions", "BEFORE", "DELETE"), ("mentions", "AFTER", "UPDATE"),
    ("triage_results", "AFTER", "INSERT"), ("triage_results", "AFTER", "DELETE"), ("triage_results", "AFTER", "UPDATE"),
    ("work_items", "AFTER", "INSERT"), ("work_items", "AFTER", "DELETE"), ("work_items", "AFTER", "UPDATE"),
    ("sla_clocks", "AFTER", "INSERT"), ("sla_clocks", "AFTER", "DELETE"), ("sla_clocks", "AFTER", "UPDATE"),
)
# Only these columns change a row's contribution (SQLite's UPDATE OF; PostgreSQL's WHEN for mentions).
KEY_COLUMNS = {
    "mentions": ("workspace_id", "channel_id", "direction", "received_at"),
    "triage_results": ("workspace_id", "mention_id", "flag", "category", "sentiment"),
    "work_items": ("workspace_id", "mention_id", "team", "opened_at", "first_response_at"),
    "sla_clocks": ("workspace_id", "mention_id", "metric", "state", "breached_at", "stopped_at",
                   "consumed_seconds", "target_seconds"),
}


class Dialect:
    """The few expressions that differ between SQLite and PostgreSQL."""

    def __init__(self, name: str) -> None:
        self.sqlite = name == "sqlite"

    def slot(self, at: str) -> str:
        if self.sqlite:
            return f"(CAST(strftime('%s', {at}) AS INTEGER) / {SLOT})"
        return f"CAST(floor(extract(epoch FROM {at}) / {SLOT}) AS BIGINT)"

    def seconds_between(self, start: str, end: str) -> str:
        """To the millisecond: julianday's doubles are off by some microseconds, which must not move a bin."""
        if self.sqlite:
            return f"round((julianday({end}) - julianday({start})) * 86400.0, 3)"
        return f"round(CAST(extract(epoch FROM ({end} - {start})) AS NUMERIC), 3)"


def _bin(seconds: str) -> str:
    cases = " ".join(f"WHEN {seconds} < {edge} THEN '{index}'" for index, edge in enumerate(BIN_EDGES))
    return f"CASE {cases} ELSE '{len(BIN_EDGES)}' END"


def _outcome(k: str) -> str:
    """'breached', 'met' or NULL (still running, or cancelled) for a first-response clock."""
    return (f"CASE WHEN {k}.breached_at IS NOT NULL THEN 'breached' "
            f"WHEN {k}.state = 'met' AND {k}.stopped_at IS NOT NULL "
            f"AND {k}.consumed_seconds > {k}.target_seconds + 0.0000005 THEN 'breached' "
            f"WHEN {k}.state = 'met' AND {k}.stopped_at IS NOT NULL THEN 'met' END")


def _outcome_at(k: str) -> str:
    return f"CASE WHEN {k}.breached_at IS NOT NULL THEN {k}.breached_at ELSE {k}.stopped_at END"


# Contributions: SELECTs of (workspace_id, slot, dimension, value, delta). `r` names the changed row: NEW or
# OLD in a row trigger (then `rows` is empty), an alias of a transition table or a whole table otherwise
# (then `rows` is "<table> r, "), so one text serves triggers of both kinds and the initial count.


def _select(workspace: str, slot: str, dimension: str, value: str, sign: int) -> str:
    return (f"SELECT {workspace} AS workspace_id, {slot} AS slot, {dimension} AS dimension, {value} AS value, "
            f"{sign} AS delta")


def _from(rows: str) -> str:
    return f" FROM {rows.rstrip(', ')}" if rows else ""


def _mention_channel(d: Dialect, r: str, rows: str, sign: int) -> str:
    return (_select(f"{r}.workspace_id", d.slot(f"{r}.received_at"), "'channel'",
                    f"CAST({r}.channel_id AS VARCHAR(120))", sign)
            + f"{_from(rows)} WHERE {r}.direction = 'inbound'")


def _mention_verdicts(d: Dialect, r: str, rows: str, sign: int) -> str:
    return " UNION ALL ".join(
        _select(f"{r}.workspace_id", d.slot(f"{r}.received_at"), f"'{column}'", f"t.{column}", sign)
        + f" FROM {rows}triage_results t WHERE t.mention_id = {r}.id AND {r}.direction = 'inbound'"
        for column in ("flag", "category", "sentiment"))


def _verdicts(d: Dialect, r: str, rows: str, sign: int) -> str:
    return " UNION ALL ".join(
        _select("m.workspace_id", d.slot("m.received_at"), f"'{column}'", f"{r}.{column}", sign)
        + f" FROM {rows}mentions m WHERE m.id = {r}.mention_id AND m.direction = 'inbound'"
        for column in ("flag", "category", "sentiment"))


def _responses(d: Dialect, r: str, rows: str, sign: int) -> str:
    seconds = d.seconds_between(f"{r}.opened_at", f"{r}.first_response_at")
    return (_select(f"{r}.workspace_id", d.slot(f"{r}.first_response_at"), "'response'",
                    f"{r}.team || '|' || {_bin(seconds)}", sign)
            + f"{_from(rows)} WHERE {r}.first_response_at IS NOT NULL AND {_mention_exists(r)}")


def _work_goals(d: Dialect, r: str, rows: str, sign: int) -> str:
    return (_select(f"{r}.workspace_id", d.slot(_outcome_at("k")), "'sla'", f"{r}.team || '|' || {_outcome('k')}",
                    sign)
            + f" FROM {rows}sla_clocks k WHERE k.mention_id = {r}.mention_id AND k.metric = 'first_response' "
            f"AND {_outcome('k')} IS NOT NULL AND {_mention_exists(r)}")


def _clock_goals(d: Dialect, r: str, rows: str, sign: int) -> str:
    return (_select("w.workspace_id", d.slot(_outcome_at(r)), "'sla'", f"w.team || '|' || {_outcome(r)}", sign)
            + f" FROM {rows}work_items w WHERE w.mention_id = {r}.mention_id AND {r}.metric = 'first_response' "
            f"AND {_outcome(r)} IS NOT NULL AND {_mention_exists(r)}")


def _mention_exists(r: str) -> str:
    """Work and clocks count while their mention exists: when it is deleted, its own trigger takes their
    contributions away first (PostgreSQL fires a cascade's triggers only once every cascade is done)."""
    return f"EXISTS (SELECT 1 FROM mentions m WHERE m.id = {r}.mention_id)"


def _mention_responses(d: Dialect, r: str, rows: str, sign: int) -> str:
    seconds = d.seconds_between("w.opened_at", "w.first_response_at")
    return (_select("w.workspace_id", d.slot("w.first_response_at"), "'response'", f"w.team || '|' || {_bin(seconds)}",
                    sign)
            + f" FROM {rows}work_items w WHERE w.mention_id = {r}.id AND w.first_response_at IS NOT NULL")


def _mention_goals(d: Dialect, r: str, rows: str, sign: int) -> str:
    return (_select("w.workspace_id", d.slot(_outcome_at("k")), "'sla'", f"w.team || '|' || {_outcome('k')}", sign)
            + f" FROM {rows}work_items w, sla_clocks k WHERE w.mention_id = {r}.id AND k.mention_id = {r}.id "
            f"AND k.metric = 'first_response' AND {_outcome('k')} IS NOT NULL")


CONTRIBUTIONS = {
    "mentions": (_mention_channel, _mention_verdicts),
    "triage_results": (_verdicts,),
    "work_items": (_responses, _work_goals),
    "sla_clocks": (_clock_goals,),
}
# A mention about to be deleted takes away, too, what its work item and clock counted for.
MENTION_DELETED = (_mention_channel, _mention_verdicts, _mention_responses, _mention_goals)


def upsert(selects: list[str], *, ordered: bool) -> str:
    """Add the summed deltas to the counters (a workspace being deleted takes its counters with it)."""
    union = " UNION ALL ".join(selects)
    order = " ORDER BY 1, 2, 3, 4" if ordered else ""
    return (
        "INSERT INTO insight_counts (workspace_id, slot, dimension, value, count) "
        f"SELECT d.workspace_id, d.slot, d.dimension, d.value, SUM(d.delta) FROM ({union}) d "
        "WHERE EXISTS (SELECT 1 FROM workspaces ws WHERE ws.id = d.workspace_id) "
        f"GROUP BY d.workspace_id, d.slot, d.dimension, d.value HAVING SUM(d.delta) <> 0{order} "
        "ON CONFLICT (workspace_id, slot, dimension, value) "
        "DO UPDATE SET count = insight_counts.count + excluded.count"
    )


def _changes(d: Dialect, table: str, event: str, *, row_level: bool) -> str:
    """The upsert one trigger runs: NEW's contribution added, OLD's taken away."""
    old, new = ("OLD", "NEW") if row_level else ("o", "n")
    old_rows, new_rows = ("", "") if row_level else ("old_rows o, ", "new_rows n, ")
    selects = []
    for contribution in MENTION_DELETED if (table, event) == ("mentions", "DELETE") else CONTRIBUTIONS[table]:
        if event in ("DELETE", "UPDATE"):
            selects.append(contribution(d, old, old_rows, -1))
        if event in ("INSERT", "UPDATE"):
            selects.append(contribution(d, new, new_rows, 1))
    return upsert(selects, ordered=not d.sqlite)


def _sqlite_trigger(table: str, timing: str, event: str) -> str:
    d = Dialect("sqlite")
    on = f"UPDATE OF {', '.join(KEY_COLUMNS[table])}" if event == "UPDATE" else event
    return (f"CREATE TRIGGER insight_{table}_{event.lower()} {timing} {on} ON {table} FOR EACH ROW BEGIN "
            f"{_changes(d, table, event, row_level=True)}; END")


def _postgres_trigger(table: str, timing: str, event: str) -> list[str]:
    d = Dialect("postgresql")
    name = f"insight_{table}_{event.lower()}"
    # Mentions: rare deletes must run BEFORE (verdicts still readable), and the pipeline updates every
    # mention's state, so updates are filtered per row; everything else is counted per statement.
    row_level = table == "mentions" and event != "INSERT"
    returned = "OLD" if timing == "BEFORE" else "NULL"
    function = (f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"{_changes(d, table, event, row_level=row_level)}; RETURN {returned}; END $$")
    if row_level:
        when = ""
        if event == "UPDATE":
            changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in KEY_COLUMNS[table])
            when = f" WHEN ({changed})"
        trigger = f"CREATE TRIGGER {name} {timing} {event} ON {table} FOR EACH ROW{when} EXECUTE FUNCTION {name}()"
    else:
        transitions = {"INSERT": "NEW TABLE AS new_rows", "DELETE": "OLD TABLE AS old_rows",
                       "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS new_rows"}[event]
        trigger = (f"CREATE TRIGGER {name} {timing} {event} ON {table} REFERENCING {transitions} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION {name}()")
    return [function, trigger]


def _initial_count(d: Dialect) -> str:
    selects = [
        _mention_channel(d, "r", "mentions r, ", 1),
        _verdicts(d, "r", "triage_results r, ", 1),
        _responses(d, "r", "work_items r, ", 1),
        _clock_goals(d, "r", "sla_clocks r, ", 1),
    ]
    return upsert(selects, ordered=False)


def upgrade() -> None:
    op.create_table(
        "insight_counts",
        sa.Column("workspace_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("slot", sa.BigInteger(), nullable=False),
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=120), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], name=op.f("fk_insight_counts_workspace_id_workspaces"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("workspace_id", "slot", "dimension", "value", name=op.f("pk_insight_counts")),
        # Rows clustered by their key on SQLite, so a window's counters are read in one sequential scan.
        sqlite_with_rowid=False,
    )
    dialect = op.get_bind().dialect.name
    for table, timing, event in TRIGGERS:
        if dialect == "sqlite":
            op.execute(_sqlite_trigger(table, timing, event))
        else:
            for statement in _postgres_trigger(table, timing, event):
                op.execute(statement)
    op.execute(_initial_count(Dialect(dialect)))


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table, _, event in TRIGGERS:
        name = f"insight_{table}_{event.lower()}"
        if dialect == "sqlite":
            op.execute(f"DROP TRIGGER {name}")
        else:
            op.execute(f"DROP TRIGGER {name} ON {table}")
            op.execute(f"DROP FUNCTION {name}()")
    op.drop_table("insight_counts")
