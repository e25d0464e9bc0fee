"""knowledge base: entries, immutable revisions, statutes

Revision ID: 0001_knowledge_base
Revises:
Create Date: 2026-11-29
"""
import sqlalchemy as sa
from alembic import op

revision = "0001_knowledge_base"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "entries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("slug", sa.String(120), nullable=False, unique=True),
        sa.Column("kind", sa.String(20), nullable=False, index=True),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("published_version", sa.Integer, nullable=True),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("issue_types", sa.JSON, nullable=False),
        sa.Column("jurisdiction", sa.String(20), nullable=False),
        sa.Column("review_by", sa.Date, nullable=True),
        sa.Column("flagged_outdated", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("flag_reason", sa.String(500), nullable=True),
        sa.Column("content", sa.JSON, nullable=False),
        sa.Column("author", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "entry_revisions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("entry_id", sa.Integer, sa.ForeignKey("entries.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("action", sa.String(30), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("content", sa.JSON, nullable=False),
        sa.Column("author", sa.String(100), nullable=False),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("entry_id", "version"),
    )
    op.create_table(
        "statutes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source_id", sa.String(40), nullable=False, index=True),
        sa.Column("law", sa.String(200), nullable=False, index=True),
        sa.Column("part", sa.String(50), nullable=False, server_default=""),
        sa.Column("article", sa.String(40), nullable=False, index=True),
        sa.Column("chapter", sa.String(200), nullable=False, server_default=""),
        sa.Column("version_date", sa.String(20), nullable=False, server_default=""),
        sa.Column("source_path", sa.String(300), nullable=False, server_default=""),
        sa.Column("text", sa.Text, nullable=False),
        sa.UniqueConstraint("law", "article", "source_id"),
    )


def downgrade() -> None:
    op.drop_table("statutes")
    op.drop_table("entry_revisions")
    op.drop_table("entries")
