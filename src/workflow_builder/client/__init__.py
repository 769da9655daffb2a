"""The `wfb` commands that talk to a running server over HTTP, as any API client does:
`wfb login`, `wfb workflows pull|push|list`, `wfb run`, `wfb executions …`."""
