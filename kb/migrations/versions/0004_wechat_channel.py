"""WeChat channel: received messages (MsgId dedupe), conversations, outbound message queue
(tables in hotline/tables.py)

Revision ID: 0004_wechat_channel
Revises: 0003_learning_loop
Create Date: 2026-11-29
"""
import sqlalchemy as sa
from alembic import op

revision = "0004_wechat_channel"
down_revision = "0003_learning_loop"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Mirrors hotline/wechat/tables.py.
    op.create_table(
        "wechat_conversations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("openid", sa.String(64), nullable=False, index=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=True, index=True),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("urgency", sa.String(20), nullable=False),
        sa.Column("needs_reply", sa.Boolean, nullable=False, index=True),
        sa.Column("message_count", sa.Integer, nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("last_message_at", TS, nullable=False, index=True),
        sa.Column("last_inbound_at", TS, nullable=False),
    )
    op.create_table(
        "wechat_outbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("conversation_id", sa.Integer, sa.ForeignKey("wechat_conversations.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("openid", sa.String(64), nullable=False),
        sa.Column("sealed", sa.Text, nullable=True),
        sa.Column("text_masked", sa.Text, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("state", sa.String(20), nullable=False, index=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False, index=True),
        sa.Column("claim", sa.String(32), nullable=True),
        sa.Column("lease_until", TS, nullable=True),
        sa.Column("last_error", sa.String(300), nullable=True),
        sa.Column("sent_at", TS, nullable=True),
    )
    op.create_table(
        "wechat_messages",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("conversation_id", sa.Integer, sa.ForeignKey("wechat_conversations.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("direction", sa.String(4), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("text_masked", sa.Text, nullable=False),
        sa.Column("outbox_id", sa.Integer, sa.ForeignKey("wechat_outbox.id", ondelete="SET NULL"), nullable=True),
    )
    op.create_table(
        "wechat_inbound",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("dedupe_key", sa.String(64), nullable=False, unique=True),
        sa.Column("received_at", TS, nullable=False, index=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("reply", sa.Text, nullable=True),
    )
    op.create_table(
        "wechat_send_attempts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("outbox_id", sa.Integer, sa.ForeignKey("wechat_outbox.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("detail", sa.String(300), nullable=False),
    )
    op.create_table(
        "wechat_tokens",
        sa.Column("app_id", sa.String(64), primary_key=True),
        sa.Column("access_token", sa.Text, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("fetched_at", TS, nullable=False),
    )


def downgrade() -> None:
    for name in ("wechat_tokens", "wechat_send_attempts", "wechat_inbound", "wechat_messages", "wechat_outbox",
                 "wechat_conversations"):
        op.drop_table(name)
