"""Per-project secrets and connections: encrypted storage, `$secret` references, redaction.

`references` and `redaction` are pure (implementations and the runtime use them without a
database); `service` reads and writes the `project_secrets` table.
"""
