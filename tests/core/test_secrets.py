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
