"""The hotline's own records: cases, follow-ups, dispatch, feedback, asked questions, users and the audit log.

Domain code like kb/ and triage/: no web framework here. Tables share the knowledge base's database and
its one Alembic migration chain (kb/migrations)."""
