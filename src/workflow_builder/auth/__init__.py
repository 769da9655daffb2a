"""Identity: sign-up and sign-in, tokens, API keys, the current user, users and roles."""
