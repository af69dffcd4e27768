"""Writes of listening: one module per concern (ingest, enrichment, sources, queries, uploads)."""
