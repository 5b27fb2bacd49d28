"""The pairwise judge's pieces without a gateway: both orders read back as arms (a flip is a
tie), the score's value, label and explanation, the judge prompt's two orders, deterministic
sampling, the answers it can compare, and the config's checks naming the key path."""

from __future__ import annotations

from typing import Any

import pytest

from daytwo.config.load import validate_config
from daytwo.core.errors import ConfigError
from daytwo.core.judging import PAIRWISE, sections
from daytwo.quality import judge as judging
from daytwo.quality.pairwise import (
    REASON_CHARS,
    answer_text,
    preference,
    sampled,
    shorten,
    version_tag,
)


@pytest.mark.parametrize(
    ("first", "second", "value", "label"),
    [
        ("B", "A", 1.0, "better"),  # the candidate's answer won in both places
        ("A", "B", 0.0, "worse"),  # the control's did
        ("tie", "tie", 0.5, "tie"),
        ("A", "A", 0.5, "tie"),  # the first shown won each time: position, not preference
        ("B", "B", 0.5, "tie"),
        ("B", "tie", 0.5, "tie"),
    ],
)
def test_both_orders_must_agree(first: str, second: str, value: float, label: str) -> None:
    found = preference((first, "one"), (second, "two"))
    assert (found.value, found.label) == (value, label)


def test_the_explanation_gives_both_orders_and_says_when_they_disagree() -> None:
    agreed = preference(("A", "covers the refund"), ("B", "covers  the\nrefund"))
    assert agreed.explanation == (
        "control shown first: control better (covers the refund); "
        "candidate shown first: control better (covers the refund)"
    )
    flipped = preference(("A", "reads better"), ("A", "reads better"))
    assert flipped.explanation.startswith("the orders disagree, a tie: control shown first: ")
    assert "candidate shown first: candidate better" in flipped.explanation


def test_long_reasons_are_cut() -> None:
    reason = "word " * 100
    cut = shorten(reason)
    assert len(cut) == REASON_CHARS and cut.endswith("…")
    assert shorten("short") == "short"
    assert len(preference(("A", reason), ("B", reason)).explanation) < 3 * REASON_CHARS


def test_the_two_orders_swap_the_answers_in_the_evals_rooms_prompt() -> None:
    bodies = [
        judging.pairwise_body("judge", "How?", a, b, "Be exact.")
        for a, b in (("ctl", "cand"), ("cand", "ctl"))
    ]
    for body, (a, b) in zip(bodies, (("ctl", "cand"), ("cand", "ctl")), strict=True):
        assert body["model"] == "judge"
        assert body["response_format"]["json_schema"]["name"] == PAIRWISE
        parts = sections("\n".join(m["content"] for m in body["messages"]))
        assert (parts["question"], parts["answer_a"], parts["answer_b"]) == (["How?"], [a], [b])
        assert "Be exact." in body["messages"][0]["content"]
    assert version_tag() == "1:judge-pairwise@v1"


def test_a_judge_answer_that_is_not_a_preference_is_skipped() -> None:
    refused = {"error": {"type": "budget_exceeded", "message": "spent"}}
    with pytest.raises(judging.JudgeSkipped, match="judge call refused"):
        judging.read_preference(429, refused)
    odd = {"choices": [{"message": {"role": "assistant", "content": '{"winner": "C"}'}}]}
    with pytest.raises(judging.JudgeSkipped, match="not valid against daytwo_pairwise"):
        judging.read_preference(200, odd)


def test_sampling_is_fixed_by_rollout_and_call() -> None:
    assert all(sampled(1.0, "ro_1", f"c{i}") for i in range(100))
    assert not any(sampled(0.0, "ro_1", f"c{i}") for i in range(100))
    picked = [sampled(0.3, "ro_1", f"c{i}") for i in range(4000)]
    assert picked == [sampled(0.3, "ro_1", f"c{i}") for i in range(4000)]
    assert 0.27 < sum(picked) / 4000 < 0.33


def chat(message: dict[str, Any]) -> dict[str, Any]:
    return {"choices": [{"message": {"role": "assistant", **message}}]}


def test_what_an_answer_offers_to_compare() -> None:
    assert answer_text(chat({"content": "Refunds take 5 days."})) == "Refunds take 5 days."
    assert answer_text(chat({"content": None, "refusal": "I can't."})) == "I can't."
    tool = {"content": None, "tool_calls": [{"id": "t", "type": "function"}]}
    assert answer_text(chat(tool)) is None
    assert answer_text({}) is None


def config_error(judge: dict[str, Any], **extra: Any) -> str:
    cfg: dict[str, Any] = {
        "gateway": {"require_keys": False},
        "providers": {"p": {"type": "sim"}},
        "models": {
            "m": {"deployments": [{"provider": "p", "model": "m"}]},
            "e": {"kind": "embeddings", "deployments": [{"provider": "p", "model": "e"}]},
        },
        "spend_control": {
            "budgets": [{"name": "j", "scope": {"project": "quality"}, "window": "day", "usd": 1}]
        },
        **extra,
    }
    with pytest.raises(ConfigError) as err:
        validate_config({**cfg, "rollouts": {"shadow": {"judge": judge}}})
    return str(err.value)


def test_config_errors_name_the_key_path() -> None:
    assert "rollouts.shadow.judge.model: unknown model alias `nope`" in config_error(
        {"model": "nope"}
    )
    assert "rollouts.shadow.judge.model: `e` is an embeddings alias" in config_error({"model": "e"})
    assert "rollouts.shadow.judge.sample" in config_error({"model": "m", "sample": 1.5})
    assert "rollouts.shadow.judge.max_concurrency" in config_error(
        {"model": "m", "max_concurrency": 0}
    )
    assert "rollouts.shadow.judge.model" in config_error({"rubric": "Be exact."})
    no_budget = config_error({"model": "m"}, spend_control={})
    assert "quality.judge.project: the shadow pairs' judge calls' project `quality`" in no_budget
    keys = config_error({"model": "m"}, gateway={"require_keys": True})
    assert "quality.judge.key: gateway.require_keys is on" in keys


def test_the_judge_is_off_by_default_and_sampled_whole_when_on() -> None:
    cfg = validate_config({})
    assert cfg.rollouts.shadow.judge is None
    assert cfg.rollouts.criteria.max_pairwise_loss == 0.05
    on = validate_config(
        {
            "gateway": {"require_keys": False},
            "providers": {"p": {"type": "sim"}},
            "models": {"m": {"deployments": [{"provider": "p", "model": "m"}]}},
            "spend_control": {
                "budgets": [
                    {"name": "j", "scope": {"project": "quality"}, "window": "day", "usd": 1}
                ]
            },
            "rollouts": {"shadow": {"judge": {"model": "m"}}},
        }
    )
    judge = on.rollouts.shadow.judge
    assert judge is not None
    assert (judge.sample, judge.max_concurrency, judge.rubric) == (1.0, 4, None)
