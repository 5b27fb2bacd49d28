import pytest

from daytwo.core.errors import InvalidRequest
from daytwo.gateway.attribution import MAX_REFUSED_ALIAS_CHARS, attribute, attribute_unparsed
from daytwo.keys.model import KeyPrincipal


def test_headers_win_over_body_and_project_marks_attributed() -> None:
    attr = attribute(
        {
            b"x-daytwo-project": b"search",
            b"x-daytwo-workflow": b"rag",
            b"x-daytwo-user": b"u-header",
            b"x-daytwo-tags": b"tier=gold, beta",
        },
        {"user": "u-body", "metadata": {"feature": "answer", "workflow": "ignored", "ab": "b"}},
    )
    assert attr.project == "search"
    assert attr.attributed is True
    assert attr.workflow == "rag"
    assert attr.feature == "answer"
    assert attr.user == "u-header"
    assert attr.tags == {"ab": "b", "tier": "gold", "beta": "true"}


def test_no_project_is_default_and_unattributed() -> None:
    attr = attribute({}, {"user": "alice", "metadata": {"session": "s1"}})
    assert (attr.project, attr.attributed, attr.user, attr.session) == (
        "default",
        False,
        "alice",
        "s1",
    )


def test_overlong_or_control_values_are_refused() -> None:
    with pytest.raises(InvalidRequest, match="longer than 128"):
        attribute({b"x-daytwo-project": b"p" * 129}, {})
    with pytest.raises(InvalidRequest, match="control characters"):
        attribute({}, {"metadata": {"project": "a\x01b"}})


def test_a_refused_body_is_attributed_from_the_key_and_headers() -> None:
    key = KeyPrincipal("k1", "billing", "invoices", None, None, None, None, None, None)
    headers = {b"x-daytwo-project": b"claimed", b"x-daytwo-agent": b"bot"}
    attr, alias = attribute_unparsed(headers, b'{"model": "gpt-4o-mini", "messages": []}', key)
    assert (attr.project, attr.workflow, attr.agent, attr.attributed) == (
        "billing",
        "invoices",
        "bot",
        True,
    )
    assert alias == "gpt-4o-mini"
    # A header that is itself invalid: the key still attributes; no JSON: no alias.
    attr, alias = attribute_unparsed({b"x-daytwo-agent": b"a\x01"}, b"{", key)
    assert (attr.project, attr.agent, alias) == ("billing", None, "")
    # Without a key, the headers; a non-string model names no alias; a long one is cut.
    attr, alias = attribute_unparsed(headers, b'{"model": 7}', None)
    assert (attr.project, alias) == ("claimed", "")
    _, alias = attribute_unparsed({}, b'{"model": "' + b"m" * 5000 + b'"}', None)
    assert alias == "m" * MAX_REFUSED_ALIAS_CHARS
