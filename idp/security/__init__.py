"""Security building blocks: secrets at rest, password hashing, audit records."""
