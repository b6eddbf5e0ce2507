"""Tracking numbers (流水号) for the public.

Twelve Crockford base-32 characters carry 60 bits from the OS CSPRNG; a thirteenth is a
check symbol (value mod 37, Crockford's scheme) that catches any single mistyped character and
any swap of two neighbours. Crockford's alphabet has no I, L, O or U, and reading accepts the
look-alikes (I/L → 1, O → 0), so a number survives being read aloud over the phone. Displayed
in groups of four: ``7K3M-Q9XD-2HTB-P``.
"""

from __future__ import annotations

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CHECK_ALPHABET = ALPHABET + "*~$=U"
BODY_LENGTH = 12
_LOOKALIKES = str.maketrans({"I": "1", "L": "1", "O": "0"})


def _check_symbol(body: str) -> str:
    value = 0
    for char in body:
        value = value * 32 + ALPHABET.index(char)
    return CHECK_ALPHABET[value % 37]


def new_tracking_number() -> str:
    body = "".join(ALPHABET[secrets.randbelow(32)] for _ in range(BODY_LENGTH))
    return body + _check_symbol(body)


def normalize(text: str) -> str | None:
    """Canonical form of a typed number, or None when it is malformed or its check fails."""
    cleaned = "".join(ch for ch in (text or "").upper() if ch not in " -_\t").translate(_LOOKALIKES)
    if len(cleaned) != BODY_LENGTH + 1:
        return None
    body, check = cleaned[:BODY_LENGTH], cleaned[BODY_LENGTH]
    if any(ch not in ALPHABET for ch in body):
        return None
    return cleaned if _check_symbol(body) == check else None


def display(number: str) -> str:
    return "-".join(number[i : i + 4] for i in range(0, len(number), 4))
