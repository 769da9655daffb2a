"""Execution tracking: run rows, per-node step history and statistics."""
