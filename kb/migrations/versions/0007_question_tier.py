"""Questions remember the tier they got (confident / likely / none): a hedged answer is an answer for the answer
rate, and still a gap worth curating.

Revision ID: 0007_question_tier
Revises: 0006_case_workspace
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = "0007_question_tier"
down_revision = "0006_case_workspace"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("questions") as batch:
        batch.add_column(sa.Column("tier", sa.String(12), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("questions") as batch:
        batch.drop_column("tier")
