"""Workflows: definitions, their nodes and edges, versions, and the signals, queries, work
queues, schedules and child workflows declared on them."""
