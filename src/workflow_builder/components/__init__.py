"""The component registry: components, agent prompts and the lookup tables they use."""
