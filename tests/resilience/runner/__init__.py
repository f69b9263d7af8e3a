"""Tests of the document runner: its core, store, CLI, resume, and the Celery and batches paths."""
