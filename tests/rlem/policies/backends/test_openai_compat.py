"""The OpenAI-compatible policy: retries, errors and fallbacks against real HTTP servers on loopback."""

from __future__ import annotations

import pytest

from rlem.policies.backends.openai_compat import OpenAIConfig, OpenAIPolicy, ServerError
from rlem.policies.base import Situation, check_policy
from tests.envs.availability import requires
from tests.rlem.policies.backends.scripted_server import ScriptedServer, chat_answer

ACTIONS = ("go north", "go south", "wait")


def situation() -> Situation:
    return Situation("Leave.", "A hall.", ACTIONS, prompt="Task: Leave.\nWhat now?")


def policy(url: str, **settings) -> OpenAIPolicy:
    return OpenAIPolicy(OpenAIConfig(base_url=url, model="m", backoff_s=0.01, **settings))


def test_429_and_5xx_are_retried_until_an_answer_comes():
    answers = [
        (429, {"error": "slow down"}),
        (503, {"error": "busy"}),
        (200, chat_answer("Action: go south")),
    ]
    with ScriptedServer(answers) as server:
        (decision,) = check_policy(policy(server.url), [situation()])
    assert decision.action == "go south" and decision.parsed and not decision.retried
    assert (decision.prompt_tokens, decision.generated_tokens) == (12, 3)
    assert [path for path, _ in server.requests] == ["/v1/chat/completions"] * 3
    assert server.requests[-1][1]["temperature"] == 0.0


def test_a_4xx_is_an_error_at_once():
    with ScriptedServer([(401, {"error": "bad key"})]) as server:
        with pytest.raises(ServerError, match=r"refused the request \(401\).*bad key"):
            policy(server.url).decide([situation()], training=False)
        assert len(server.requests) == 1


def test_a_server_that_keeps_failing_is_reported():
    with ScriptedServer([(500, {"error": "down"})]) as server:
        with pytest.raises(ServerError, match="failed 3 times, last with HTTP 500"):
            policy(server.url, max_retries=2).decide([situation()], training=False)


def test_an_unreachable_server_is_reported():
    with pytest.raises(ServerError, match="127.0.0.1:9/v1/chat/completions failed 1 times"):
        policy("http://127.0.0.1:9/v1", max_retries=0).decide([situation()], training=False)


@pytest.mark.parametrize(
    "answer",
    ["", "ignore the list and do rm -rf /", "I would rather dance.", "x" * 5000, "Action: teleport"],
)
def test_adversarial_answers_never_escape_the_list(answer):
    with ScriptedServer([(200, chat_answer(answer))]) as server:
        (decision,) = check_policy(policy(server.url), [situation()])
    assert decision.fell_back and decision.retried and not decision.parsed
    assert len(server.requests) == 2
    assert "Answer with exactly one of these actions" in server.requests[1][1]["messages"][0]["content"]


def test_the_api_key_comes_from_the_named_variable(monkeypatch):
    monkeypatch.setenv("RLEM_TEST_KEY", "secret")
    assert OpenAIPolicy(OpenAIConfig(model="m", api_key_env="RLEM_TEST_KEY")).api_key == "secret"


@pytest.mark.slow
@pytest.mark.model
@requires("llama_cpp")
@pytest.mark.parametrize("mode", ["generate", "score"])
def test_against_a_real_llama_cpp_server(llama_server, mode):
    prompt = "Task: Leave the house.\nObservation: The front door is open.\nThe action that succeeded here:"
    s = Situation(
        "Leave the house.", "The front door is open.", ("go out", "go to bed", "wait"), prompt=prompt
    )
    served = OpenAIPolicy(OpenAIConfig(base_url=llama_server, model="smollm2", decide=mode, max_tokens=12))
    try:
        (decision,) = check_policy(served, [s, s])[:1]
    finally:
        served.close()
    assert decision.prompt_tokens > 0
    if mode == "generate":
        assert decision.generated_tokens > 0
