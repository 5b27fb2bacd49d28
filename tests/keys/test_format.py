"""The key format: recognisable and checkable without a database."""

from __future__ import annotations

import re

import pytest

from daytwo.core.secrets import redact_key_shapes
from daytwo.keys.format import (
    ALPHABET,
    KEY_LEN,
    KeyFormatError,
    display_prefix,
    is_key_id,
    is_well_formed,
    new_key_id,
    new_secret,
    parse_secret,
)


def test_new_secrets_are_well_formed_unique_and_shaped() -> None:
    keys = {new_secret() for _ in range(200)}
    assert len(keys) == 200
    for key in keys:
        assert re.fullmatch(r"dt2_sk_[0-9A-Za-z]{38}", key)
        assert len(key) == KEY_LEN
        assert parse_secret(key).display_prefix == key[:11]


def test_every_one_character_typo_is_rejected() -> None:
    key = new_secret()
    for i in range(len("dt2_sk_"), len(key)):
        for c in ALPHABET:
            if c != key[i]:
                typo = key[:i] + c + key[i + 1 :]
                assert not is_well_formed(typo), (i, c)


def test_adjacent_swaps_truncation_and_extension_are_rejected() -> None:
    key = new_secret()
    for i in range(len("dt2_sk_"), len(key) - 1):
        if key[i] != key[i + 1]:
            assert not is_well_formed(key[:i] + key[i + 1] + key[i] + key[i + 2 :])
    assert not is_well_formed(key[:-1])
    assert not is_well_formed(key + "a")
    assert not is_well_formed(key.replace("dt2_sk_", "dt2_pk_"))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("sk-abc", "starts with"),
        ("dt2_sk_short", "45 characters"),
        ("dt2_sk_" + "!" * 38, "letters and digits"),
        ("dt2_sk_" + "a" * 38, "checksum"),
    ],
)
def test_parse_says_what_is_wrong_without_echoing_the_input(text: str, reason: str) -> None:
    with pytest.raises(KeyFormatError, match=reason) as info:
        parse_secret(text)
    assert text not in str(info.value)


def test_the_redactor_scrubs_daytwo_keys() -> None:
    key = new_secret()
    assert key not in redact_key_shapes(f"Authorization: Bearer {key} leaked")


def test_key_ids_are_public_short_and_not_secrets() -> None:
    key_id = new_key_id()
    assert is_key_id(key_id)
    assert not is_well_formed(key_id)
    assert not is_key_id(new_secret())
    assert display_prefix(new_secret()).startswith("dt2_sk_")
