"""Stable pseudo-randomness: every value derives from a text key, never from process state."""

from __future__ import annotations

import random
import struct
from hashlib import blake2b

_SCALE = 1.0 / 2**32
_STRUCTS = {n: struct.Struct(f">{n}I") for n in range(1, 17)}


def units(key: str, count: int = 1) -> tuple[float, ...]:
    """``count`` (at most 16) independent uniform numbers in [0, 1) derived from ``key``."""
    raw = blake2b(key.encode(), digest_size=4 * count).digest()
    return tuple(map(_SCALE.__mul__, _STRUCTS[count].unpack(raw)))


def unit(key: str) -> float:
    """One uniform number in [0, 1) derived from ``key``."""
    return int.from_bytes(blake2b(key.encode(), digest_size=4).digest(), "big") * _SCALE


def hexid(key: str, length: int) -> str:
    """``length`` lowercase hex digits derived from ``key``."""
    return blake2b(key.encode(), digest_size=(length + 1) // 2).hexdigest()[:length]


_POD_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def pod_suffix(key: str, length: int = 4) -> str:
    """A Kubernetes-style random suffix (``x2kq``) derived from ``key``."""
    value = int.from_bytes(blake2b(key.encode(), digest_size=8).digest(), "big")
    chars = []
    for _ in range(length):
        value, index = divmod(value, len(_POD_ALPHABET))
        chars.append(_POD_ALPHABET[index])
    return "".join(chars)


def rng(key: str) -> random.Random:
    """A ``random.Random`` seeded from ``key`` (string seeds are hashed with SHA-512, not ``hash()``)."""
    return random.Random(key)


def weighted(r: random.Random, choices: dict) -> object:
    """Pick a key of ``choices`` with probability proportional to its value."""
    total = sum(choices.values())
    x = r.random() * total
    for choice, weight in choices.items():
        x -= weight
        if x < 0:
            return choice
    return next(reversed(choices))
