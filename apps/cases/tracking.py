"""Tracking numbers (流水号) for the public.

Twelve Crockford base-32 characters carry 60 bits from the OS CSPRNG; a thirteenth is a
check symbol. Crockford's alphabet has no I, L, O or U, and reading accepts the look-alikes
(I/L → 1, O → 0), lower case, spaces and dashes, so a number survives being read aloud over the
phone or typed on a keypad. Displayed in groups of four: ``7K3M-Q9XD-2HTB-P``.

The check symbol (since 2026-12, issue #17) is letters and digits only. It is a weighted sum
over GF(32), the field of 32 elements (polynomials over GF(2) modulo x⁵ + x² + 1), where each
character is the element of its index in ``ALPHABET``:

1. ``c = α¹²·a₁ + α¹¹·a₂ + … + α¹·a₁₂`` (α = x, a generator: its powers α⁰ … α³⁰ are all
   different), computed by Horner's rule; the check symbol is ``ALPHABET[c]``.
2. A valid number therefore satisfies ``Σ wᵢ·aᵢ = 0`` with weights α¹² … α¹, α⁰ = 1 for the
   check symbol itself (addition in GF(2⁵) is XOR, so "+ c" and "− c" are the same).
3. One wrong character at position i changes the sum by ``wᵢ·e`` with e ≠ 0; a field has no
   zero divisors and wᵢ ≠ 0, so the sum is no longer 0: **every** single error is caught.
4. Swapping different neighbours a ≠ b at i, i+1 changes it by ``(wᵢ + wᵢ₊₁)·(a + b)``; the
   thirteen weights are distinct powers of α, so wᵢ + wᵢ₊₁ ≠ 0, and a + b ≠ 0: **every**
   adjacent swap is caught, the check symbol included.

(A plain "value mod 32" would only look at the last character; Luhn mod N misses one
swap pair. ``tests/cases/test_tracking.py`` checks 3 and 4 exhaustively.)

Numbers issued before used Crockford's own check (the 60-bit value mod 37, written with five
extra symbols ``*~$=U``). They are printed on receipts and SMS already, so they stay valid:
``normalize`` accepts a number whose check symbol fits either scheme and the lookup is exact
on the stored number, which is unchanged — no migration. The price: a mistyped *new* number
also passes the old check one time in 37 (and the other way round one time in 32); such a
number then reads "not found" instead of "check your number", and since the 60-bit bodies
are sparse it never finds somebody else's case.
"""

from __future__ import annotations

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
BODY_LENGTH = 12
LENGTH = BODY_LENGTH + 1
# Crockford's check symbols for values 32–36, used by numbers issued before 2026-12.
LEGACY_CHECK_ALPHABET = ALPHABET + "*~$=U"
_LOOKALIKES = str.maketrans({"I": "1", "L": "1", "O": "0"})
_SEPARATORS = frozenset(" -_\t")
_GF32_MODULUS = (
    0b100101  # x⁵ + x² + 1, a primitive polynomial: α = x generates all 31 nonzero elements.
)


def _times_alpha(value: int) -> int:
    value <<= 1
    return value ^ _GF32_MODULUS if value & 0b100000 else value


def check_symbol(body: str) -> str:
    """The check symbol of a 12-character body (steps 1–2 of the module docstring)."""
    total = 0
    for char in body:
        # Horner's rule, multiplying once more after the last character so that it weighs α,
        # not 1 — the check symbol's own weight — or swapping the two would go unnoticed.
        total = _times_alpha(total ^ ALPHABET.index(char))
    return ALPHABET[total]


def legacy_check_symbol(body: str) -> str:
    """Crockford's mod-37 check symbol, as printed on numbers issued before 2026-12."""
    value = 0
    for char in body:
        value = value * 32 + ALPHABET.index(char)
    return LEGACY_CHECK_ALPHABET[value % 37]


def new_tracking_number() -> str:
    body = "".join(ALPHABET[secrets.randbelow(32)] for _ in range(BODY_LENGTH))
    return body + check_symbol(body)


def normalize(text: str) -> str | None:
    """Canonical form of a typed number (as stored), or None when it is malformed or neither
    check symbol fits."""
    cleaned = "".join(ch for ch in (text or "").upper() if ch not in _SEPARATORS).translate(
        _LOOKALIKES
    )
    if len(cleaned) != LENGTH:
        return None
    body, check = cleaned[:BODY_LENGTH], cleaned[BODY_LENGTH]
    if any(ch not in ALPHABET for ch in body):
        return None
    return cleaned if check in (check_symbol(body), legacy_check_symbol(body)) else None


def is_legacy(number: str) -> bool:
    """Whether a canonical number carries the old mod-37 check symbol (and not the new one)."""
    return number[BODY_LENGTH:] != check_symbol(number[:BODY_LENGTH])


def display(number: str) -> str:
    return "-".join(number[i : i + 4] for i in range(0, len(number), 4))
