"""Counter-based randomness: a draw is a pure function of (seed, stream, request index).

No generator object carries state between requests, so the same seed and the same request order
give the same draws, whatever else happened in between (a rule added below, a request that
skipped a rule). The mixer is the SplitMix64 finaliser, which turns consecutive inputs into
independent-looking 64-bit outputs.
"""

from __future__ import annotations

import sys
from array import array

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
    """A uniform draw in [0, 1) for request ``index`` on the stream ``key``: the top 53 bits of
    ``mix64(key ^ (index * GOLDEN))``."""
    return (mix64(key ^ ((index * GOLDEN) & MASK64)) >> 11) * TO_UNIT


# ---- many draws at once -------------------------------------------------------------------
#
# A Python int is a bit vector of any length, so one arithmetic operation can act on many 64-bit
# lanes: lane j of a packed int sits at bit 128*j, with 64 spare bits above it, so that a lane's
# product with a 64-bit constant never reaches the next lane, and every step masks the lanes
# back to 64 bits (which also drops what a right shift brought down from the lane above). Each
# step of ``draw`` is then one operation on the whole block instead of one per draw.

_LANE = 128
_block_constants: dict[int, tuple[int, int, int, int, int]] = {}


def _constants(n: int) -> tuple[int, int, int, int, int]:
    found = _block_constants.get(n)
    if found is None:
        ones = sum(1 << (_LANE * j) for j in range(n))  # 1 in every lane
        steps = sum(j << (_LANE * j) for j in range(n))  # j in lane j
        found = (ones, steps, MASK64 * ones, ((1 << 53) - 1) * ones, GOLDEN * ones)
        if len(_block_constants) < 16:
            _block_constants[n] = found
    return found


def draw_block(key: int, base: int, n: int) -> array[int]:
    """The 53 random bits of ``draw(key, base + j)`` for j in range(n), at position ``2 * j`` of
    the array (times TO_UNIT: the draw itself, the same float). ``base + n`` must be below 2**64
    and ``key`` below 2**64 (every stream key is)."""
    ones, steps, lanes64, lanes53, goldens = _constants(n)
    x = (((steps + base * ones) * GOLDEN) & lanes64) ^ (key * ones)
    x = (x + goldens) & lanes64
    x = (((x ^ (x >> 30)) & lanes64) * 0xBF58476D1CE4E5B9) & lanes64
    x = (((x ^ (x >> 27)) & lanes64) * 0x94D049BB133111EB) & lanes64
    x = (((x ^ (x >> 31)) & lanes64) >> 11) & lanes53
    words = array("Q", x.to_bytes(n * (_LANE // 8), "little"))
    if sys.byteorder != "little":
        words.byteswap()
    return words
