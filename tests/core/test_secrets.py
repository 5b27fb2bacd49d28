import pytest

from daytwo.core.secrets import REDACTED, SecretError, SecretRegistry, parse_ref


def test_refs_resolve_from_env_and_file(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DT_TEST_KEY", "value-from-env-123")
    (tmp_path / "k").write_text("value-from-file-456\n")
    reg = SecretRegistry()
    assert reg.resolve("env:DT_TEST_KEY") == "value-from-env-123"
    assert reg.resolve(f"file:{tmp_path / 'k'}") == "value-from-file-456"
    text = "auth failed for value-from-env-123 and value-from-file-456"
    assert reg.redact(text) == f"auth failed for {REDACTED} and {REDACTED}"


def test_values_are_refused_and_errors_never_hold_values(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SecretError, match="reference"):
        parse_ref("sk-live-abcdef")
    monkeypatch.delenv("DT_MISSING", raising=False)
    with pytest.raises(SecretError, match="DT_MISSING is not set"):
        SecretRegistry().resolve("env:DT_MISSING")


def test_known_key_shapes_are_scrubbed_even_unregistered() -> None:
    reg = SecretRegistry()
    text = "key sk-proj-ABCDEFGHIJKLMNOPQRSTUV and AKIAABCDEFGHIJKLMNOP"
    assert "sk-proj" not in reg.redact(text)
    assert "AKIA" not in reg.redact(text)


KEY = "Zq7wErTy1uIoP3aSdF5gHjK9lZxCvBnM2Q4W"  # 36 characters, no well-known shape


def _pieces(text: str, n: int = 8) -> list[str]:
    return [KEY[i : i + n] for i in range(len(KEY) - n + 1) if KEY[i : i + n] in text]


def test_a_piece_of_fifteen_characters_or_more_is_redacted_wherever_it_starts() -> None:
    reg = SecretRegistry()
    reg.register(KEY)
    for start in range(len(KEY) - 15 + 1):
        for end in range(start + 15, len(KEY) + 1):
            text = f"said {KEY[start:end]}!"
            out = reg.redact(text)
            assert out == f"said {REDACTED}!", (start, end, out)


def test_a_key_split_over_two_fields_and_cut_by_a_truncation_leaves_no_piece() -> None:
    reg = SecretRegistry()
    reg.register(KEY)
    split = f'{{"code": "{KEY[:18]}", "param": "{KEY[18:]}"}}'
    assert _pieces(reg.redact(split)) == []
    # Redacted first, then cut: the cut falls inside the marker, not inside the key.
    body = "x" * 182 + KEY + " tail"
    assert _pieces(reg.redact(body)[:200]) == []
    # Even cut first, the 18 characters left are a piece the registry still knows.
    assert _pieces(body[:200], 18) == [KEY[:18]]
    assert _pieces(reg.redact(body[:200])) == []


def test_short_secrets_are_found_whole_only_and_tiny_ones_not_at_all() -> None:
    reg = SecretRegistry()
    reg.register("hunter22")
    reg.register("abc")  # too short to scrub
    assert reg.redact("pw hunter22, hunter2, abc") == f"pw {REDACTED}, hunter2, abc"


def test_leaks_and_in_bytes_are_the_quick_looks() -> None:
    reg = SecretRegistry()
    assert not reg.leaks(KEY) and not reg.in_bytes(KEY.encode())
    before = reg.version
    reg.register(KEY)
    assert reg.version == before + 1
    assert reg.leaks(f"model-{KEY[3:20]}")
    assert not reg.leaks("gpt-4o-mini-2024-07-18")
    assert reg.in_bytes(b'{"content":"' + KEY.encode() + b'"}')
    assert not reg.in_bytes(KEY[:20].encode())  # pieces are for redact() and leaks()
