"""Counter-based randomness: a draw is a pure function of (seed, stream, request index).

No generator object carries state between requests, so the same seed and the same request order
give the same draws, whatever else happened in between (a rule added below, a request that
skipped a rule). The mixer is the SplitMix64 finaliser, which turns consecutive inputs into
independent-looking 64-bit outputs.
"""

from __future__ import annotations

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
TO_UNIT = 2.0**-53  # 53 random bits -> [0, 1)


def mix64(x: int) -> int:
    """SplitMix64 output function of ``x`` (any int, taken modulo 2^64)."""
    x = (x + GOLDEN) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


def stream_key(seed: int, salt: str) -> int:
    """The key of one named random stream (e.g. one rule's probability) under ``seed``."""
    h = mix64(seed & MASK64)
    for ch in salt.encode():
        h = mix64(h ^ ch)
    return h


def draw(key: int, index: int) -> float:
    """A uniform draw in [0, 1) for request ``index`` on the stream ``key``.

    ``mix64(key ^ (index * GOLDEN))`` written out (this is on the server's hot path)."""
    x = ((key ^ ((index * GOLDEN) & MASK64)) + GOLDEN) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return ((x ^ (x >> 31)) >> 11) * TO_UNIT
