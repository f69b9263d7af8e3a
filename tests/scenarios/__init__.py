"""Tests of the scenario language and the built-in library (the broken files in scenario_corpus/)."""
