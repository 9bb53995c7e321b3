"""Authentication, authorization, field crypto, masking and the audit store."""
