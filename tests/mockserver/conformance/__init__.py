"""Tests of the conformance kit: the journal analysis, the checks, verdicts and scorecard."""
