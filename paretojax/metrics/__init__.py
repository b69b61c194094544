"""Metrics (placeholder, filled below)."""
