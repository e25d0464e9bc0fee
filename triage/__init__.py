"""Understanding one message: normalisation, PII masking, entities, issue types, urgency, referrals."""
