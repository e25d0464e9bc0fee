"""learning loop: entry standing from feedback, triage corrections, model versions, alerts, paraphrase proposals
(tables in hotline/tables.py)

Revision ID: 0003_learning_loop
Revises: 0002_hotline_records
Create Date: 2026-11-29
"""
import sqlalchemy as sa
from alembic import op

revision = "0003_learning_loop"
down_revision = "0002_hotline_records"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Early-warning alerts count cases per station as well as per platform and district.
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("station", sa.String(60), nullable=True))
        batch.create_index("ix_cases_station", ["station"])
    op.create_table(
        "paraphrase_proposals",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("entry_id", sa.Integer, sa.ForeignKey("entries.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("text", sa.String(300), nullable=False),
        sa.Column("text_norm", sa.String(300), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("feedback_id", sa.Integer, sa.ForeignKey("feedback.id", ondelete="SET NULL"), nullable=True),
        sa.Column("times", sa.Integer, nullable=False, server_default="1"),
        sa.Column("nearest", sa.Float, nullable=True),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("decided_at", TS, nullable=True),
        sa.Column("comment", sa.String(500), nullable=True),
        sa.Column("entry_version", sa.Integer, nullable=True),
        sa.UniqueConstraint("entry_id", "text_norm"),
    )
    op.create_table(
        "learning_cursors",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_table("learning_cursors")
    op.drop_table("paraphrase_proposals")
    with op.batch_alter_table("cases") as batch:
        batch.drop_index("ix_cases_station")
        batch.drop_column("station")
