"""Rebuilding a captured call's request for the alternative: the variables of a prompt
recovered from its rendered messages (exactly, or not at all), and the request re-rendered
with another version keeping the client's own messages and parameters."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from tests.prompts.files import SUPPORT_V1, SUPPORT_V2, prompt_dir

from daytwo.incidents.replay import CapturedCall, wire_of
from daytwo.incidents.replay_build import Rebuilt, Skip, recover_variables, with_model, with_prompt
from daytwo.prompts import PromptSet, load_prompts

VARS = {"product": "Acme: Pro", "tone": "calm. Really", "customer": "Ann", "topic": "a refund"}


@pytest.fixture
def prompts(tmp_path: Path) -> PromptSet:
    looping = {
        **SUPPORT_V1,
        "name": "looping",
        "system": "{% for i in range(2) %}{{ tone }}{% endfor %}{% if customer %}!{% endif %}",
    }
    hidden = {
        **SUPPORT_V1,
        "name": "hidden",
        "system": "You are a support agent{% if tone == 'calm. Really' %}, unhurried{% endif %}.",
    }
    root = prompt_dir(
        tmp_path, SUPPORT_V1, SUPPORT_V2, looping, hidden, {**hidden, "version": 2}, labels={}
    )
    return load_prompts(root)


def _call(prompts: PromptSet, name: str, version: int, own: list[dict[str, Any]]) -> CapturedCall:
    v = prompts.versions[name][version]
    rendered = prompts.render(
        v,
        {
            "customer": VARS["customer"],
            "topic": VARS["topic"],
            "product": VARS["product"],
            "tone": VARS["tone"],
        },
    )
    request = {
        "model": v.spec.model,
        "messages": [*rendered.messages, *own],
        **rendered.params,
        "user": "u-1",
        "stream": True,
    }
    answer = {"choices": [{"message": {"role": "assistant", "content": "ok"}}]}
    return CapturedCall(
        "c1",
        0.0,
        "support",
        None,
        v.spec.model,
        "full",
        request,
        answer,
        (name, version, v.hash),
        None,
        0.0,
        1.0,
        None,
    )


def test_variables_are_recovered_exactly_even_with_punctuation_in_values(
    prompts: PromptSet,
) -> None:
    call = _call(prompts, "support-reply", 2, [])
    v2 = prompts.versions["support-reply"][2]
    assert recover_variables(v2, call.request["messages"][:2]) == VARS


def test_a_message_that_does_not_fit_the_template_recovers_nothing(prompts: PromptSet) -> None:
    call = _call(prompts, "support-reply", 2, [])
    v2 = prompts.versions["support-reply"][2]
    edited = [dict(m) for m in call.request["messages"][:2]]
    edited[0]["content"] = edited[0]["content"].replace("senior", "junior")
    assert recover_variables(v2, edited) is None


def test_a_template_with_logic_recovers_only_what_renders_back(prompts: PromptSet) -> None:
    looping = prompts.versions["looping"][1]
    got = recover_variables(
        looping,
        [
            {"role": "system", "content": "calmcalm!"},
            {"role": "user", "content": "Ticket from Ann: x"},
        ],
    )
    assert got is not None and got["tone"] == "calm"
    assert (
        recover_variables(
            looping,
            [
                {"role": "system", "content": "calmquiet!"},
                {"role": "user", "content": "Ticket from Ann: x"},
            ],
        )
        is None
    )


def test_with_prompt_renders_the_other_version_and_keeps_the_clients_part(
    prompts: PromptSet,
) -> None:
    own = [{"role": "user", "content": "and one more thing"}]
    got = with_prompt(_call(prompts, "support-reply", 2, own), prompts, "support-reply@v1")
    assert isinstance(got, Rebuilt)
    assert got.body == {
        "model": "prompt:support-reply@v1",
        "messages": own,
        "variables": VARS,
        "user": "u-1",  # the client's parameter stays; v2's (max_tokens, temperature) go
    }
    assert got.question == "and one more thing"


def test_with_prompt_skips_what_it_cannot_replay(prompts: PromptSet) -> None:
    call = _call(prompts, "support-reply", 1, [])
    assert with_prompt(call, prompts, "support-reply@v1") == Skip(
        "the call was made with support-reply@v1 already"
    )
    assert isinstance(with_prompt(call, prompts, "support-reply@v9"), Skip)
    assert with_prompt(call, prompts, "looping@v1") == Skip(
        "the call named prompt support-reply, not looping"
    )


def test_with_model_changes_only_the_model_and_never_streams(prompts: PromptSet) -> None:
    call = _call(prompts, "support-reply", 2, [])
    got = with_model(call, "steady")
    assert isinstance(got, Rebuilt)
    expected = {k: v for k, v in call.request.items() if k != "stream"}
    assert got.body == {**expected, "model": "steady"}


def test_captured_variables_are_used_exactly_and_recovery_is_only_the_fallback(
    prompts: PromptSet,
) -> None:
    call = _call(prompts, "hidden", 1, [])  # its rendered text shows no value of `tone`
    v1 = prompts.versions["hidden"][1]
    assert recover_variables(v1, call.request["messages"][:2]) is None
    assert with_prompt(call, prompts, "hidden@v2") == Skip(
        "the variables of hidden@v1 were not captured with the call and cannot be recovered "
        "from its rendered messages (a template with logic beyond substitution)"
    )
    got = with_prompt(replace(call, variables=VARS), prompts, "hidden@v2")
    assert isinstance(got, Rebuilt)
    assert got.body["variables"] == got.variables == VARS
    assert (got.wire, got.body["model"]) == ("openai", "prompt:hidden@v2")


MESSAGES_BODY: dict[str, Any] = {
    "model": "assistant",
    "max_tokens": 300,
    "system": "You answer tickets.",
    "messages": [{"role": "user", "content": [{"type": "text", "text": "Where is my order?"}]}],
    "output_config": {"format": {"type": "json_schema", "schema": {"type": "object"}}},
    "stream": True,
}


def _messages_call(prompts: PromptSet, body: dict[str, Any]) -> CapturedCall:
    call = _call(prompts, "support-reply", 2, [])
    return replace(call, request=body, prompt=None, wire="anthropic", beta=("b1", "b2"))


def test_a_messages_body_is_replayed_as_one_with_its_beta_flags(prompts: PromptSet) -> None:
    got = with_model(_messages_call(prompts, MESSAGES_BODY), "steady")
    assert isinstance(got, Rebuilt)
    expected = {k: v for k, v in MESSAGES_BODY.items() if k != "stream"}
    assert got.body == {**expected, "model": "steady"}
    assert (got.wire, dict(got.headers)) == ("anthropic", {"anthropic-beta": "b1,b2"})
    # read through the door's translation: the question and the format asked for
    assert got.question == "Where is my order?"
    assert got.response_format is not None
    assert got.response_format["type"] == "json_schema"


def test_a_messages_body_the_door_would_refuse_is_a_skip(prompts: PromptSet) -> None:
    body = {k: v for k, v in MESSAGES_BODY.items() if k != "max_tokens"}
    assert with_model(_messages_call(prompts, body), "steady") == Skip(
        "the captured Messages request is not one the door accepts: max_tokens: Field required"
    )


@pytest.mark.parametrize(
    ("request_", "wire"),
    [
        (
            {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5},
            "openai",
        ),
        ({"model": "m", "system": "s", "messages": []}, "anthropic"),
        ({"model": "m", "tools": [{"name": "f", "input_schema": {}}], "messages": []}, "anthropic"),
        (
            {"model": "m", "tools": [{"type": "function", "function": {"name": "f"}}]},
            "openai",
        ),
        ({"model": "m", "tool_choice": {"type": "any"}, "messages": []}, "anthropic"),
        (
            {
                "model": "m",
                "messages": [
                    {"role": "user", "content": [{"type": "tool_result", "content": "x"}]}
                ],
            },
            "anthropic",
        ),
    ],
)
def test_the_wire_of_a_request_captured_before_captures_named_it(
    request_: dict[str, Any], wire: str
) -> None:
    assert wire_of(request_) == wire
