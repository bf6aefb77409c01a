"""Your own environment and loop on RLEM's memory: train through sessions, then evaluate.

python examples/treasure_corridor.py [--db sqlite:///corridor.db]
"""

import argparse

from rlem import AgentConfig, Observation, RLEMAgent, StepResult, TextEnv

TASK = "Find the treasure buried in the corridor and dig it up."
ACTIONS = ("go left", "go right", "dig")


class Corridor(TextEnv):
    """Markers 0 to 5; the treasure lies under marker 4 (digging elsewhere finds sand); 12 steps."""

    deterministic = True

    def reset(self, *, seed=None, options=None):
        self.at, self.steps = 0, 0
        return self.observe()

    def observe(self):
        return Observation(TASK, f"You stand at marker {self.at} of the corridor.", ACTIONS)

    def step(self, action):
        self.steps += 1
        found = action == "dig" and self.at == 4
        if action != "dig":
            self.at = min(5, max(0, self.at + (1 if action == "go right" else -1)))
        return StepResult(self.observe(), float(found), found, self.steps >= 12, {"success": found})


def success_rate(agent, env, episodes, *, training):
    """Play `episodes` episodes through the session API; the share that found the treasure."""
    won = 0
    for seed in range(episodes):
        observation = env.reset(seed=seed)
        episode = agent.begin(observation.task, training=training, deterministic=env.deterministic)
        while True:
            result = env.step(episode.act(observation.text, observation.available_actions))
            episode.reward(result.reward)
            observation = result.observation
            if result.terminated or result.truncated:
                won += episode.end(observation.text, success=result.info["success"]).success
                break
    return won / episodes


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite:///corridor.db")
    db = parser.parse_args().db
    env = Corridor()
    with RLEMAgent.open(AgentConfig(db=db, namespace="corridor", policy="memory-greedy")) as agent:
        success_rate(agent, env, 60, training=True)
        learned = success_rate(agent, env, 20, training=False)
    with RLEMAgent.open(AgentConfig(memory="off", policy="random")) as agent:
        chance = success_rate(agent, env, 20, training=False)
    print(f"held-out success: {learned:.2f} with the memory, {chance:.2f} for a random policy")
