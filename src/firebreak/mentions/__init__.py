"""Mentions and their authors: ingestion, dedupe, threads, search."""
