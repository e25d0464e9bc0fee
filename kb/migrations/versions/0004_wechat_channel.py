"""WeChat channel: received messages (MsgId dedupe), conversations, outbound message queue
(tables in hotline/tables.py)

Revision ID: 0004_wechat_channel
Revises: 0003_learning_loop
Create Date: 2026-11-29
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0004_wechat_channel"
down_revision = "0003_learning_loop"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
