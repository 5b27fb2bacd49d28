import base64
import hashlib
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daytwo.audit.vault import Vault, VaultError, restore
from daytwo.core.redact import Redactor

KEY = bytes(range(32))
CALL = b"call-01J8Z6"


def test_seal_and_open_round_trip_with_a_fresh_nonce_each_time() -> None:
    vault = Vault(KEY)
    originals = ["bob@example.com", "+44 20 7946 0958", "", "ünïcödé ✓", "[REDACTED:email:0]"]
    one, two = vault.seal(originals, CALL), vault.seal(originals, CALL)
    assert one[:12] != two[:12]  # a random nonce, prepended
    assert b"bob@example.com" not in one
    assert vault.open(one, CALL) == originals
    assert vault.open(two, CALL) == originals
    assert vault.open(vault.seal([], CALL), CALL) == []


def test_a_wrong_key_another_call_or_altered_bytes_fail_clearly() -> None:
    sealed = Vault(KEY).seal(["bob@example.com"], CALL)
    other = Vault(os.urandom(32))
    with pytest.raises(VaultError, match=f"vault key {other.key_id}: another key sealed them"):
        other.open(sealed, CALL)
    with pytest.raises(VaultError, match="belong to another call"):
        Vault(KEY).open(sealed, b"call-other")
    altered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(VaultError, match="altered"):
        Vault(KEY).open(altered, CALL)
    with pytest.raises(VaultError, match="shorter than a nonce and a tag"):
        Vault(KEY).open(sealed[:20], CALL)


def test_key_id_is_a_public_fingerprint_and_never_the_key() -> None:
    vault = Vault(KEY)
    assert vault.key_id == hashlib.sha256(b"daytwo-vault" + KEY).hexdigest()[:16]
    assert len(vault.key_id) == 16
    assert Vault(os.urandom(32)).key_id != vault.key_id
    assert KEY.hex() not in repr(vault) and vault.key_id in repr(vault)


@pytest.mark.parametrize(
    "written",
    [
        KEY.hex(),
        KEY.hex().upper(),
        base64.b64encode(KEY).decode(),
        base64.b64encode(KEY).decode().rstrip("="),
        base64.urlsafe_b64encode(bytes([251] * 32)).decode(),
        f"  {KEY.hex()}\n",
    ],
)
def test_from_secret_reads_hex_and_base64(written: str) -> None:
    vault = Vault.from_secret(written)
    expected = bytes([251] * 32) if written.startswith("-") else KEY
    assert vault.key_id == Vault(expected).key_id


@pytest.mark.parametrize(
    "written",
    [
        "",
        "short-secret",
        KEY.hex()[:-2],  # 31 bytes
        base64.b64encode(bytes(31)).decode(),
        base64.b64encode(bytes(33)).decode(),
        "zz" * 32,
        "correct horse battery staple correct horse battery",
    ],
)
def test_from_secret_refuses_anything_but_32_bytes_without_echoing_it(written: str) -> None:
    with pytest.raises(ValueError, match="must be 32 random bytes") as info:
        Vault.from_secret(written)
    if written:
        assert written not in str(info.value)
    with pytest.raises(ValueError, match="must be 32 bytes, not 16"):
        Vault(bytes(16))


def test_restore_puts_the_originals_back_into_text_and_trees() -> None:
    tree = {
        "messages": [{"role": "user", "content": "mail bob@example.com, card 4111 1111 1111 1111"}],
        "metadata": {"bob@example.com": ("+44 20 7946 0958", 3, None)},
        "literal": "a marker typed by the user: [REDACTED:email:0] and [REDACTED:card]",
    }
    redacted = Redactor(reversible=True).tree(tree)
    assert "bob@example.com" not in str(redacted.value["messages"])
    vault = Vault(KEY)
    originals = vault.open(vault.seal(redacted.originals, CALL), CALL)
    assert restore(redacted.value, originals) == tree
    text = Redactor(reversible=True).text("call (415) 555-2671")
    assert restore(text.text, text.originals) == "call (415) 555-2671"


def test_restore_refuses_originals_that_do_not_fit() -> None:
    out = Redactor(reversible=True).text("a@example.com b@example.com")
    with pytest.raises(VaultError, match=r"marker \[REDACTED:email:1\] has no original"):
        restore(out.text, out.originals[:1])


TEXTS = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "bob@example.com",
                "+44 20 7946 0958",
                "4111 1111 1111 1111",
                "DE89 3704 0044 0532 0130 00",
                "AB123456C",
                "sk-proj-ABCDEFGHIJKLMNOPQRSTUV",
                "[REDACTED:email:0]",
                "[REDACTED:card:12]",
                "[REDACTED:phone]",
                " ",
                "-",
            ]
        ),
        st.text(max_size=10),
    ),
    max_size=10,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(TEXTS)
def test_restore_of_a_reversible_redaction_gives_the_input_back_exactly(text: str) -> None:
    out = Redactor(reversible=True).text(text)
    assert restore(out.text, out.originals) == text
