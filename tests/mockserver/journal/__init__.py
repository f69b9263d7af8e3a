"""Tests of the journal: THE entry type and THE analysis (mockserver/journal/, mockserver/JOURNAL.md)."""
