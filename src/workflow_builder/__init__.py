"""Workflow Builder: design workflows visually and run them durably on PostgreSQL."""

__version__ = "0.1.0"
