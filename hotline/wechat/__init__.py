"""The WeChat Official Account (公众号) channel: signed and encrypted XML in, triage, an answer or a case for
the operators, and operator replies out through the customer-service message API.

Modules: crypto (signatures, the AES safe mode, the outbox seal), messages (XML in and out), tables,
channel (one received message -> answer or queue), conversations (the operators' view and replies),
outbound (the API client, the outbox and its sender), replies (what workers are told), service (wiring).
Nothing is imported here, so the tables module can be loaded from hotline.tables without a cycle.
"""
