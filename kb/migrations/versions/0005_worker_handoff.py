"""Worker hand-off from /ask: a case remembers the question it came from (one case per question) and keeps the
call-back number sealed (encrypted; hotline/sealing.py), never in the masked text.

Revision ID: 0005_worker_handoff
Revises: 0004_wechat_channel
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = "0005_worker_handoff"
down_revision = "0004_wechat_channel"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("question_id", sa.Integer, nullable=True))
        batch.add_column(sa.Column("callback_sealed", sa.Text, nullable=True))
        batch.create_unique_constraint("uq_cases_question_id", ["question_id"])


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_constraint("uq_cases_question_id", type_="unique")
        batch.drop_column("callback_sealed")
        batch.drop_column("question_id")
