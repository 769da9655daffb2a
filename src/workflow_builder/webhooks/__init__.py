"""Webhook triggers: `POST /hooks/{path}` starts a run of the deployed workflow behind `path`."""
