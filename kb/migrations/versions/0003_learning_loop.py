"""learning loop: entry standing from feedback, triage corrections, model versions, alerts, paraphrase proposals
(tables in hotline/tables.py)

Revision ID: 0003_learning_loop
Revises: 0002_hotline_records
Create Date: 2026-11-29
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0003_learning_loop"
down_revision = "0002_hotline_records"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
