"""Organizations and their members: what 'organization' visibility shares with."""
