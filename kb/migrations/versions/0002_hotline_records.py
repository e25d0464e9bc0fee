"""hotline records: users, sign-ins, API keys, audit log, cases, follow-ups, dispatch, consultations,
feedback, asked questions (one database, one migration chain; tables in hotline/tables.py)

Revision ID: 0002_hotline_records
Revises: 0001_knowledge_base
Create Date: 2026-11-29
"""
import sqlalchemy as sa
from alembic import op

revision = "0002_hotline_records"
down_revision = "0001_knowledge_base"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("platform", sa.String(40), nullable=True),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "sign_ins",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("revoked", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("platform", sa.String(40), nullable=True),
        sa.Column("label", sa.String(100), nullable=False, server_default=""),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", TS, nullable=False, index=True),
        sa.Column("actor", sa.String(64), nullable=False, index=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("target", sa.String(80), nullable=False),
        sa.Column("version", sa.Integer, nullable=True),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("call_id", sa.String(64), nullable=True, unique=True),
        sa.Column("channel", sa.String(20), nullable=False, index=True),
        sa.Column("operator", sa.String(64), nullable=False),
        sa.Column("text_masked", sa.Text, nullable=False),
        sa.Column("issue_types", sa.JSON, nullable=False),
        sa.Column("urgency", sa.String(20), nullable=False, index=True),
        sa.Column("referral", sa.String(40), nullable=True),
        sa.Column("district", sa.String(20), nullable=True, index=True),
        sa.Column("platform", sa.String(40), nullable=True, index=True),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("created_at", TS, nullable=False, index=True),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "case_followups",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("by", sa.String(64), nullable=False),
        sa.Column("accepted", sa.Boolean, nullable=True),
        sa.Column("resolved", sa.Boolean, nullable=True),
        sa.Column("amount_recovered", sa.Float, nullable=True),
        sa.Column("notes", sa.Text, nullable=False),
    )
    op.create_table(
        "dispatches",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("platform", sa.String(40), nullable=False, index=True),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("reply", sa.Text, nullable=True),
        sa.Column("replied_by", sa.String(64), nullable=True),
        sa.Column("replied_at", TS, nullable=True),
    )
    op.create_table(
        "consultations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("bodies", sa.JSON, nullable=False),
        sa.Column("actions", sa.JSON, nullable=False),
        sa.Column("follow_up_by", sa.String(100), nullable=False),
        sa.Column("notes", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "questions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", TS, nullable=False, index=True),
        sa.Column("source", sa.String(20), nullable=False, index=True),
        sa.Column("text_masked", sa.Text, nullable=False),
        sa.Column("answered", sa.Boolean, nullable=False, index=True),
        sa.Column("best_entry_id", sa.Integer, nullable=True),
        sa.Column("best_score", sa.Float, nullable=True),
        sa.Column("issue_types", sa.JSON, nullable=False),
        sa.Column("urgency", sa.String(20), nullable=True),
        sa.Column("helpful", sa.Boolean, nullable=True),
        sa.Column("drafted_entry_id", sa.Integer, nullable=True),
    )
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", TS, nullable=False, index=True),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("event", sa.String(20), nullable=False, index=True),
        sa.Column("entry_id", sa.Integer, sa.ForeignKey("entries.id", ondelete="SET NULL"), nullable=True, index=True),
        sa.Column("entry_version", sa.Integer, nullable=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id", ondelete="SET NULL"), nullable=True, index=True),
        sa.Column("question_id", sa.Integer, sa.ForeignKey("questions.id", ondelete="SET NULL"), nullable=True),
        sa.Column("query_masked", sa.Text, nullable=True),
        sa.Column("corrected_issue_types", sa.JSON, nullable=True),
    )


def downgrade() -> None:
    for name in ("feedback", "questions", "consultations", "dispatches", "case_followups", "cases", "audit_log",
                 "api_keys", "sign_ins", "users"):
        op.drop_table(name)
