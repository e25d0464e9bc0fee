"""Scale-out: index builds recorded in the database (with their files and the change requests they cover), the
nightly early-warning runs, and, on PostgreSQL, the job queue's own schema (procrastinate).

Revision ID: 0010_scale_out
Revises: 0007_question_tier
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = "0010_scale_out"
down_revision = "0007_question_tier"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "index_builds",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(80), nullable=False, unique=True),
        sa.Column("key", sa.String(64), nullable=False, index=True),
        sa.Column("covers", sa.Integer, nullable=False, index=True),
        sa.Column("model_id", sa.String(300), nullable=True),
        sa.Column("dictionary_hash", sa.String(64), nullable=False),
        sa.Column("entry_versions", sa.JSON, nullable=False),
        sa.Column("entries", sa.Integer, nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("size_bytes", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("build_seconds", sa.Float, nullable=False),
        sa.Column("built_by", sa.String(200), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("files_pruned", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "index_build_files",
        sa.Column("build_id", sa.Integer, sa.ForeignKey("index_builds.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("path", sa.String(200), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "index_build_requests",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(30), nullable=False),
        sa.Column("entry_id", sa.Integer, nullable=True),
    )
    op.create_table(
        "alert_runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("as_of", sa.Date, nullable=False, unique=True),
        sa.Column("ran_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("alerts", sa.Integer, nullable=False),
        sa.Column("pairs_checked", sa.Integer, nullable=False),
        sa.Column("report", sa.JSON, nullable=False),
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # The job queue's tables, functions and triggers, as the pinned procrastinate release defines them.
        # Upgrading procrastinate means a new migration applying its migration files (see docs/deploy.md).
        from procrastinate.schema import SchemaManager

        # The driver's cursor, without parameters: the SQL holds literal % signs (format strings in its functions).
        bind.connection.dbapi_connection.cursor().execute(SchemaManager.get_schema())


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for table in ("procrastinate_events", "procrastinate_periodic_defers", "procrastinate_jobs",
                      "procrastinate_workers"):
            bind.exec_driver_sql(f"DROP TABLE IF EXISTS {table} CASCADE")
    op.drop_table("alert_runs")
    op.drop_table("index_build_requests")
    op.drop_table("index_build_files")
    op.drop_table("index_builds")
