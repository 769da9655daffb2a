"""Statistics over the caller's runs and component calls, computed under row-level security."""
