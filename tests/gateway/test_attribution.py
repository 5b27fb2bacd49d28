import pytest

from daytwo.core.errors import InvalidRequest
from daytwo.gateway.attribution import attribute


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
