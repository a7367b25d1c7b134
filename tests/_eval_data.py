"""A support-ticket routing dataset whose categories have their own vocabulary, so that a model
answering with the nearest training example (the emulator's fine-tuned model) routes held-out
tickets right while a base model answers generically."""

from __future__ import annotations

import random
from typing import Any

SYSTEM = "Route the support ticket to one team. Answer with the team name only."
LONG_SYSTEM = (
    "You are the routing assistant of a large online shop. Every message is a customer support "
    "ticket. Decide which team must handle it: shipping (parcels, couriers, tracking, delivery "
    "delays, damaged boxes), billing (invoices, charges, card payments, refunds of money) or "
    "account (passwords, logins, email changes, two-factor codes). Answer with exactly one word, "
    "the team name, in lower case, without punctuation or explanation. "
) * 3

TOPICS = {
    "shipping": ["parcel", "courier", "tracking number", "delivery van", "damaged box", "postcode"],
    "billing": ["invoice", "card payment", "double charge", "refund", "VAT receipt", "bank transfer"],
    "account": ["password", "login", "email address", "two-factor code", "username", "locked profile"],
}
PHRASES = [
    "Hello, I have a problem with my {a} and my {b}, ticket {n}.",
    "Please help: the {a} is wrong and the {b} too (case {n}).",
    "Ticket {n}: something is off with the {a}; also the {b}.",
]


def rows(count: int, seed: int = 0) -> list[dict[str, Any]]:
    """``count`` SFT rows (system, user, assistant) spread over the three teams."""
    rng = random.Random(seed)
    teams = list(TOPICS)
    out = []
    for i in range(count):
        team = teams[i % len(teams)]
        a, b = rng.sample(TOPICS[team], 2)
        text = rng.choice(PHRASES).format(a=a, b=b, n=rng.randint(1000, 9999))
        out.append({"messages": [{"role": "system", "content": SYSTEM},
                                 {"role": "user", "content": text},
                                 {"role": "assistant", "content": team}]})
    return out


FEW_SHOT = [
    ("My parcel never arrived, the courier says it was delivered.", "shipping"),
    ("I was charged twice on my card for one order.", "billing"),
    ("I cannot log in, the two-factor code never comes.", "account"),
]
