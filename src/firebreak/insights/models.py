"""ORM row of the dashboard's counters (kept exact by database triggers; see migration 0008)."""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from firebreak.db.base import Base, BigId


class InsightCount(Base):
    """How many of one thing happened in one workspace in one UTC hour (`slot`: epoch seconds // 3600).

    Written only by triggers on mentions, triage_results, work_items and sla_clocks, never by code:
    `dimension` is channel, flag, category, sentiment, response or sla (see insights/counts.py).
    """

    __tablename__ = "insight_counts"
    # Clustered by the key on SQLite: a window's counters are one sequential read.
    __table_args__ = {"sqlite_with_rowid": False}

    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id", ondelete="CASCADE"),
                                              primary_key=True)
    slot: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    dimension: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str] = mapped_column(String(120), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)
