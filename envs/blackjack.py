"""Blackjack (`Blackjack-v1`) in words: one hand against the dealer. Spec: `blackjack`.

gymnasium's Blackjack has no text mode; the text names the cards in hand and the dealer's card.
Winning pays 1 (success), a draw 0, losing -1.
"""

from __future__ import annotations

import gymnasium as gym

from envs.toy_text import ToyText

CARD_NAMES = {1: "an ace", 10: "a ten or face card"}


def card(value: int) -> str:
    """A card's value in words."""
    return CARD_NAMES.get(value, f"a {value}")


class Blackjack(ToyText):
    """Blackjack-v1 with its own text."""

    spec = "blackjack"
    actions = ("stick", "hit")

    def __init__(self) -> None:
        super().__init__(gym.make("Blackjack-v1"))

    @property
    def task(self) -> str:
        """The rules in one paragraph."""
        return (
            "Play one hand of blackjack against the dealer. Hit to draw another card, stick to stop. "
            "Get a total closer to 21 than the dealer without going over 21. Aces count 1 or 11, face "
            "cards 10. A win scores 1 point, a draw 0, a loss -1."
        )

    def describe(self) -> str:
        """The player's cards and total, and the dealer's visible card."""
        total, dealer, usable_ace = (int(x) for x in self.state)
        hand = ", ".join(card(c) for c in self.env.unwrapped.player)
        ace = " (counting an ace as 11)" if usable_ace else ""
        return f"Your cards: {hand}; total {total}{ace}. The dealer shows {card(dealer)}."
