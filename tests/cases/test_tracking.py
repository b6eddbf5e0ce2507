"""Tracking numbers: letters and digits only from 2026-12 on, old numbers still valid (issue #17).

The new check is linear over GF(32): changing one character at position i changes the check
sum by (weight of i) × (difference), whatever the other characters are. So trying every
replacement and every neighbour pair at every position of a few bodies covers every body.
"""

from __future__ import annotations

import random
import string

import pytest

from apps.cases import tracking
from apps.cases.tracking import ALPHABET, BODY_LENGTH

# The example from the issue: issued under the old scheme, printed on a receipt.
OLD_NUMBER = "QA8W9BTCFXQX$"

rng = random.Random(17)
SAMPLE_BODIES = ["0" * BODY_LENGTH, "Z" * BODY_LENGTH, "QA8W9BTCFXQX"] + [
    "".join(rng.choice(ALPHABET) for _ in range(BODY_LENGTH)) for _ in range(20)
]


def passes_new_check(number: str) -> bool:
    return number[BODY_LENGTH] == tracking.check_symbol(number[:BODY_LENGTH])


def with_new_check(body: str) -> str:
    return body + tracking.check_symbol(body)


def test_new_numbers_are_letters_and_digits_only():
    numbers = [tracking.new_tracking_number() for _ in range(5000)]
    assert all(len(n) == 13 and set(n) <= set(ALPHABET) for n in numbers)
    assert not set("".join(numbers)) - set(string.ascii_uppercase + string.digits)
    # Not by luck: the check symbol takes all 32 values and each is a letter or a digit.
    checks = {
        tracking.check_symbol(body[:-1] + last) for body in SAMPLE_BODIES[:1] for last in ALPHABET
    }
    assert checks == set(ALPHABET)
    assert all(
        passes_new_check(n) and tracking.normalize(n) == n and not tracking.is_legacy(n)
        for n in numbers
    )


@pytest.mark.parametrize("body", SAMPLE_BODIES)
def test_every_single_mistyped_character_is_caught(body):
    number = with_new_check(body)
    for position in range(len(number)):
        for wrong in ALPHABET:
            if wrong != number[position]:
                typo = number[:position] + wrong + number[position + 1 :]
                assert not passes_new_check(typo), (number, position, wrong)


@pytest.mark.parametrize("body", SAMPLE_BODIES[:3])
def test_every_swap_of_two_different_neighbours_is_caught(body):
    for position in range(BODY_LENGTH - 1):
        for a in ALPHABET:
            for b in ALPHABET:
                if a != b:
                    number = with_new_check(body[:position] + a + b + body[position + 2 :])
                    swapped = number[:position] + b + a + number[position + 2 :]
                    assert not passes_new_check(swapped), (number, position)
    # The last character of the body and the check symbol.
    for a in ALPHABET:
        number = with_new_check(body[:-1] + a)
        swapped = number[:-2] + number[-1] + number[-2]
        if swapped != number:
            assert not passes_new_check(swapped), number
    # Random numbers too, every neighbour pair.
    for _ in range(2000):
        number = tracking.new_tracking_number()
        for position in range(len(number) - 1):
            swapped = (
                number[:position] + number[position + 1] + number[position] + number[position + 2 :]
            )
            if swapped != number:
                assert not passes_new_check(swapped), (number, position)


def test_old_numbers_with_symbols_stay_valid():
    assert tracking.legacy_check_symbol(OLD_NUMBER[:BODY_LENGTH]) == "$"
    assert tracking.normalize("QA8W-9BTC-FXQX-$") == OLD_NUMBER
    assert tracking.normalize(" qa8w 9btc fxqx $ ") == OLD_NUMBER
    assert tracking.is_legacy(OLD_NUMBER)
    assert tracking.display(OLD_NUMBER) == "QA8W-9BTC-FXQX-$"
    # Every old symbol, and the old scheme's letter and digit check symbols as well.
    for body in SAMPLE_BODIES:
        old = body + tracking.legacy_check_symbol(body)
        assert tracking.normalize(tracking.display(old).lower()) == old
    # The old check still catches a typo in an old number (unless the new check happens to fit).
    typo = "QA8W-9BTC-FXQY-$"
    assert tracking.normalize(typo) is None


def test_look_alikes_case_spaces_and_dashes_are_tolerated_in_both_schemes():
    # A body full of 0 and 1, read back as O, I and L.
    body = "01A10B1C0D11"
    for number in (with_new_check(body), body + tracking.legacy_check_symbol(body)):
        spoken = tracking.display(number).replace("0", "o").replace("1", "I", 3).replace("1", "l")
        assert tracking.normalize(spoken) == number
        assert tracking.normalize(" ".join(number.lower())) == number
        assert tracking.normalize(number.replace("", "-")) == number


@pytest.mark.parametrize(
    "text", ["", "ABC", "QA8W9BTCFXQX$$", "QA8W9BTCFXQ!$", "QA8W9BTCFXQX#", "UA8W9BTCFXQX$"]
)
def test_malformed_numbers_are_refused(text):
    assert tracking.normalize(text) is None
