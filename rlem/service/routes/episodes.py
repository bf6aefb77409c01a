"""Episodes over HTTP: the session API (`RLEMAgent.begin`, `act`, `reward`, `end`) per namespace.

Every request after `begin` carries its step (rlem.service.ledger): a retry gets the first answer,
one out of order is 409, and one for an episode the server ended (idle past the TTL) is 410. An act
or end may carry the reward of the step before it, sparing a reward request per step.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from memory_store.names import check_new_name
from rlem.service.auth import Caller, allowed, caller
from rlem.service.errors import conflict
from rlem.service.hub import Hub
from rlem.service.ledger import Served
from rlem.service.schemas import (
    ActRequest,
    ActResponse,
    BeginRequest,
    CarriesReward,
    EndRequest,
    EndResponse,
    EpisodeInfo,
    RewardRequest,
    RewardResponse,
    decision_kind,
)

router = APIRouter(tags=["episodes"])


def hub(request: Request) -> Hub:
    """The service's hub."""
    return request.app.state.service.hub


def info(served: Served) -> EpisodeInfo:
    """What the API says about an episode."""
    return EpisodeInfo(
        episode=served.id,
        namespace=served.namespace,
        task=served.episode.task,
        training=served.episode.training,
        phase=served.phase.value,
        step=served.step,
        idle_s=round(served.idle_s(), 3),
    )


@router.post("/v1/namespaces/{namespace}/episodes", status_code=201, response_model=EpisodeInfo)
async def begin(
    namespace: str, body: BeginRequest, request: Request, who: Caller = Depends(allowed("act"))
) -> EpisodeInfo:
    """Begin an episode in the namespace (created on first use)."""
    check_new_name(namespace)
    # Unset settings are the server's; `n_step: null` is given, and means full returns.
    learning = body.learning.model_dump(exclude_unset=True)
    served = await hub(request).begin(
        namespace,
        learning=learning,
        task=body.task,
        training=body.training,
        seed=body.seed,
        env=body.env,
        deterministic=body.deterministic,
        explore=body.explore,
        max_steps=body.max_steps,
    )
    return info(served)


@router.get("/v1/namespaces/{namespace}/episodes/{episode}", response_model=EpisodeInfo)
async def status(
    namespace: str, episode: str, request: Request, who: Caller = Depends(allowed("read"))
) -> EpisodeInfo:
    """Where an episode stands."""
    return info(hub(request).find(namespace, episode))


@router.get("/v1/episodes", response_model=list[EpisodeInfo])
async def open_episodes(request: Request, who: Caller = Depends(caller)) -> list[EpisodeInfo]:
    """The open episodes of the namespaces this key covers."""
    return [info(s) for s in hub(request).open_episodes(who.covers)]


@router.post("/v1/namespaces/{namespace}/episodes/{episode}/act", response_model=ActResponse)
async def act(
    namespace: str, episode: str, body: ActRequest, request: Request, who: Caller = Depends(allowed("act"))
) -> ActResponse:
    """The agent's action in the observation: retrieval, prompt, one decision (batched across clients)."""
    service = hub(request)
    served = service.find(namespace, episode)
    await carried(served, "act", body)

    async def work() -> ActResponse:
        answer, queued_s = await service.act(served, body.observation, body.actions)
        decision, situation = answer.turn.decision, answer.turn.situation
        return ActResponse(
            step=body.step,
            action=decision.action,
            kind=decision_kind(decision),
            reason=decision.reason,
            encouraged=list(situation.encouraged),
            batch_size=answer.batch_size,
            decide_ms=round(answer.decide_s * 1000, 3),
            queued_ms=round(queued_s * 1000, 3),
            retrieved=list(situation.retrieved) if body.explain else None,
            prompt=situation.prompt if body.explain else None,
        )

    return await served.call("act", body.step, work)


@router.post("/v1/namespaces/{namespace}/episodes/{episode}/reward", response_model=RewardResponse)
async def reward(
    namespace: str, episode: str, body: RewardRequest, request: Request, who: Caller = Depends(allowed("act"))
) -> RewardResponse:
    """The reward of the last action (and the action, if the caller took another of those offered)."""
    return await rewarded(hub(request).find(namespace, episode), body.step, body.reward, body.action)


async def rewarded(served: Served, step: int, reward: float, action: str | None) -> RewardResponse:
    """Step `step`'s reward, recorded once."""

    async def work() -> RewardResponse:
        return RewardResponse(step=step, action=served.reward(reward, action), reward=reward)

    return await served.call("reward", step, work)


async def carried(served: Served, kind: str, body: CarriesReward) -> None:
    """The reward an act or end brings for the step before it, recorded once: nothing if that act or
    end has its answer already (a retry), 409 if another reward was given for the step."""
    if body.reward is None or served.answered(kind, body.step):
        return
    given = await rewarded(served, body.step - 1, body.reward, body.taken)
    if given.reward != body.reward or (body.taken is not None and given.action != body.taken):
        raise conflict(
            f"episode {served.id}: step {body.step - 1} was rewarded {given.reward:g} for {given.action!r} "
            "already: send the same reward, or none"
        )


@router.post("/v1/namespaces/{namespace}/episodes/{episode}/end", response_model=EndResponse)
async def end(
    namespace: str, episode: str, body: EndRequest, request: Request, who: Caller = Depends(allowed("act"))
) -> EndResponse:
    """End the episode: its last updates and its trajectory line go in one transaction."""
    service = hub(request)
    served = service.find(namespace, episode)
    await carried(served, "end", body)

    async def work() -> EndResponse:
        result, size = await service.end(served, body.observation, body.actions, success=body.success)
        return EndResponse(
            episode=served.id,
            steps=len(result.log.steps),
            episode_return=float(result.log.episode_return or 0.0),
            success=result.success,
            memory_size=size,
        )

    return await served.call("end", body.step, work)
