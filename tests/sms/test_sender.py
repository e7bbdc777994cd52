"""Sender ids: alphanumeric ≤ 11 of A-Z a-z 0-9 and space with a letter; numeric ≤ 16 digits."""

from __future__ import annotations

import pytest

from idp.errors import InvalidInput
from idp.sms.sender import check_sender, is_alphanumeric, sender_problem


@pytest.mark.parametrize("sender", ["Poort", "A", "ACME 2FA", "Abcdefghijk", "Bank123", "x 1"])
def test_alphanumeric_senders_up_to_11_characters(sender):
    assert sender_problem(sender) is None
    assert check_sender(sender) == sender
    assert is_alphanumeric(sender)


@pytest.mark.parametrize("sender", ["3197010000000", "+31612345678", "1", "+1234567890123456"])
def test_numeric_senders_up_to_16_digits_with_an_optional_plus(sender):
    assert sender_problem(sender) is None
    assert not is_alphanumeric(sender)


def test_twelve_characters_are_refused_with_the_count():
    problem = sender_problem("Abcdefghijkl")

    assert problem is not None
    assert "11" in problem
    assert "12" in problem


def test_seventeen_digits_are_refused():
    problem = sender_problem("12345678901234567")

    assert problem is not None
    assert "16 digits" in problem
    assert sender_problem("+12345678901234567") is not None


@pytest.mark.parametrize("sender", ["Poort!", "a-b", "Poort_2FA", "café", "Po.rt", "a+b", "Ω"])
def test_symbols_and_other_letters_are_refused(sender):
    problem = sender_problem(sender)

    assert problem is not None
    assert "A-Z, a-z, 0-9" in problem


@pytest.mark.parametrize("sender", ["123 456", "12-34"])
def test_digits_without_a_letter_must_be_a_plain_number(sender):
    assert sender_problem(sender) is not None


@pytest.mark.parametrize("sender", [" Poort", "Poort ", " "])
def test_leading_or_trailing_spaces_are_refused(sender):
    assert sender_problem(sender) is not None


def test_empty_sender_is_refused_and_check_names_the_field():
    assert sender_problem("") is not None
    with pytest.raises(InvalidInput) as caught:
        check_sender("")

    assert caught.value.field == "sender"
    assert "11" in caught.value.message
