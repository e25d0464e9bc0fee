"""The case workspace: who holds a case (assignee), append-only case notes, recorded referrals with their
outcome, the 回访 plan (due dates), each reply and reopening of a dispatch, and a dispatch's reply deadline
(tables in hotline/tables.py).

Revision ID: 0006_case_workspace
Revises: 0005_worker_handoff
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = "0006_case_workspace"
down_revision = "0005_worker_handoff"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("assignee", sa.String(64), nullable=True))
        batch.create_index("ix_cases_assignee", ["assignee"])
    # A case saved by an operator is theirs; WeChat and worker hand-offs wait in the team queue.
    op.execute("UPDATE cases SET assignee = operator WHERE operator NOT IN ('wechat', 'worker')")
    with op.batch_alter_table("dispatches") as batch:
        batch.add_column(sa.Column("due_at", TS, nullable=True))
    op.create_table(
        "case_notes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("by", sa.String(64), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
    )
    op.create_table(
        "case_referrals",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("target", sa.String(40), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("by", sa.String(64), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("outcome", sa.String(20), nullable=True),
        sa.Column("outcome_note", sa.Text, nullable=True),
        sa.Column("outcome_at", TS, nullable=True),
        sa.Column("outcome_by", sa.String(64), nullable=True),
    )
    op.create_table(
        "followup_plans",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("due_on", sa.Date, nullable=False, index=True),
        sa.Column("reason", sa.String(300), nullable=False),
        sa.Column("referral_id", sa.Integer, sa.ForeignKey("case_referrals.id", ondelete="SET NULL"), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("done_at", TS, nullable=True, index=True),
        sa.Column("done_by", sa.String(64), nullable=True),
        sa.Column("followup_id", sa.Integer, sa.ForeignKey("case_followups.id", ondelete="SET NULL"), nullable=True),
    )
    op.create_table(
        "dispatch_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("dispatch_id", sa.Integer, sa.ForeignKey("dispatches.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("by", sa.String(64), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
    )
    # Replies given before this migration become the first event of their dispatch.
    op.execute("INSERT INTO dispatch_events (dispatch_id, at, by, role, kind, status, text) "
               "SELECT id, replied_at, replied_by, 'enterprise', 'reply', status, reply FROM dispatches "
               "WHERE reply IS NOT NULL AND replied_at IS NOT NULL AND replied_by IS NOT NULL")


def downgrade() -> None:
    op.drop_table("dispatch_events")
    op.drop_table("followup_plans")
    op.drop_table("case_referrals")
    op.drop_table("case_notes")
    with op.batch_alter_table("dispatches") as batch:
        batch.drop_column("due_at")
    with op.batch_alter_table("cases") as batch:
        batch.drop_index("ix_cases_assignee")
        batch.drop_column("assignee")
