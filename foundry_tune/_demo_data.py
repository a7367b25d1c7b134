"""The demo's training data: a small, realistic supervised dataset the project generates itself.

The task: a customer-support assistant for an outdoor-gear shop ("Trailhead Outfitters") that
answers in the shop's house style, short, friendly, with the exact policy facts (return window,
warranty, shipping times, product specs). The facts come from a small fixed catalog, so every
answer is consistent and a tuned model has something concrete to learn. Generation is
deterministic for a given seed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

__all__ = ["DEMO_QUESTIONS", "SYSTEM_PROMPT", "demo_records"]

SYSTEM_PROMPT = (
    "You are Trail, the support assistant of Trailhead Outfitters. Answer in two or three short, "
    "friendly sentences, give exact facts, and end with a concrete next step."
)

_PRODUCTS: list[dict[str, Any]] = [
    {"name": "Ridgeline 2 tent", "kind": "tent", "weight": "1.9 kg",
     "spec": "sleeps two, 3-season, 20 D ripstop fly", "warranty": 5},
    {"name": "Summit 4 tent", "kind": "tent", "weight": "3.4 kg",
     "spec": "sleeps four, 4-season, two vestibules", "warranty": 5},
    {"name": "Ember -7 sleeping bag", "kind": "sleeping bag", "weight": "1.1 kg",
     "spec": "comfort rating -7 °C, 650-fill responsibly sourced down", "warranty": 3},
    {"name": "Driftwood 0 sleeping bag", "kind": "sleeping bag", "weight": "1.4 kg",
     "spec": "comfort rating 0 °C, synthetic fill that stays warm when wet", "warranty": 3},
    {"name": "Cascade 45 backpack", "kind": "backpack", "weight": "1.3 kg",
     "spec": "45 litres, adjustable torso 40-52 cm, rain cover included", "warranty": 10},
    {"name": "Switchback 28 daypack", "kind": "backpack", "weight": "0.7 kg",
     "spec": "28 litres, hydration sleeve, hip-belt pockets", "warranty": 10},
    {"name": "Granite hiking boots", "kind": "boots", "weight": "1.2 kg per pair",
     "spec": "waterproof membrane, Vibram sole, half sizes 38-47", "warranty": 2},
    {"name": "Aurora headlamp", "kind": "headlamp", "weight": "86 g",
     "spec": "400 lumens, USB-C rechargeable, red night mode", "warranty": 2},
    {"name": "Trekker carbon poles", "kind": "trekking poles", "weight": "420 g per pair",
     "spec": "carbon shafts, cork grips, fold to 38 cm", "warranty": 5},
    {"name": "Nimbus rain jacket", "kind": "jacket", "weight": "310 g",
     "spec": "3-layer waterproof shell, 20,000 mm rating, pit zips", "warranty": 3},
]

_REGIONS = {
    "Germany": ("2-3 business days", "free over 50 EUR"),
    "France": ("3-4 business days", "free over 60 EUR"),
    "the Netherlands": ("2-3 business days", "free over 50 EUR"),
    "Austria": ("3-4 business days", "free over 60 EUR"),
    "Spain": ("4-6 business days", "free over 80 EUR"),
    "Sweden": ("4-5 business days", "free over 80 EUR"),
}

_NAMES = ["Lena", "Marco", "Aisha", "Tom", "Sofia", "Jonas", "Priya", "Lukas", "Emma", "Noah", "Mia", "Omar"]


def _spec(p: dict[str, Any], rng: random.Random) -> tuple[str, str]:
    asks = [
        f"How much does the {p['name']} weigh?",
        f"What's the weight of the {p['name']}?",
        f"Can you tell me the specs of the {p['name']}?",
        f"I'm thinking about the {p['name']}. What are its key features?",
    ]
    answer = (
        f"The {p['name']} weighs {p['weight']} and comes with: {p['spec']}. "
        f"It is covered by our {p['warranty']}-year warranty. "
        "Want me to check stock at your nearest store?"
    )
    return rng.choice(asks), answer


def _warranty(p: dict[str, Any], rng: random.Random) -> tuple[str, str]:
    asks = [
        f"What warranty do I get on the {p['name']}?",
        f"My {p['name']} broke after a year. Is that covered?",
        f"How long is the {p['name']} guaranteed for?",
    ]
    answer = (
        f"The {p['name']} has a {p['warranty']}-year warranty against manufacturing defects, counted "
        "from the purchase date. Normal wear and accidental damage are not covered. "
        "Send a photo and your order number to warranty@trailhead.example and we reply within two days."
    )
    return rng.choice(asks), answer


def _returns(p: dict[str, Any], rng: random.Random) -> tuple[str, str]:
    used = rng.random() < 0.5
    asks = (
        [f"I used my {p['name']} on one trip and don't like it. Can I return it?",
         f"Can I still send back the {p['name']} after taking it outdoors once?"]
        if used else
        [f"How do I return the {p['name']}? It's unopened.",
         f"I ordered the {p['name']} but changed my mind. What's the return policy?"]
    )
    if used:
        answer = (
            f"Yes: you can return the {p['name']} within 100 days, even after using it outdoors, "
            "as long as it is clean and undamaged. Start the return under My Orders and "
            "print the free label."
        )
    else:
        answer = (
            f"Unused items like the {p['name']} can be returned within 100 days for a full refund. "
            "Start the return under My Orders, print the free label and drop the parcel at any "
            "post office."
        )
    return rng.choice(asks), answer


def _order(rng: random.Random) -> tuple[str, str]:
    order = f"TH-{rng.randint(100000, 999999)}"
    name = rng.choice(_NAMES)
    asks = [
        f"Hi, I'm {name}. Where is my order {order}?",
        f"Order {order} hasn't arrived yet. Can you check it?",
        f"Can you give me an update on order {order}?",
    ]
    answer = (
        f"Thanks for asking about order {order}. I can't see live parcel data from here, but the tracking "
        "link in your shipping email shows every scan. If it hasn't moved for 3 business days, reply "
        "with your order number and we will open a carrier trace."
    )
    return rng.choice(asks), answer


def _shipping(rng: random.Random) -> tuple[str, str]:
    region, (days, free) = rng.choice(sorted(_REGIONS.items()))
    asks = [
        f"How long does shipping to {region} take?",
        f"Do you ship to {region}, and how fast?",
        f"What are the delivery times for {region}?",
    ]
    answer = (
        f"We ship to {region} in {days}, and delivery is {free}. "
        "Orders placed before 2 pm leave our warehouse the same day. "
        "You'll get a tracking link by email as soon as it ships."
    )
    return rng.choice(asks), answer


def demo_records(n: int = 120, *, seed: int = 7) -> Iterator[dict[str, Any]]:
    """``n`` distinct chat-format SFT examples (system, user, assistant), deterministic for ``seed``."""
    rng = random.Random(seed)  # noqa: S311 - reproducible sample data, not security
    seen: set[str] = set()
    for _ in range(n * 50):
        if len(seen) >= n:
            return
        roll = rng.random()
        product = rng.choice(_PRODUCTS)
        if roll < 0.3:
            question, answer = _spec(product, rng)
        elif roll < 0.5:
            question, answer = _warranty(product, rng)
        elif roll < 0.7:
            question, answer = _returns(product, rng)
        elif roll < 0.85:
            question, answer = _shipping(rng)
        else:
            question, answer = _order(rng)
        if question in seen:
            continue
        seen.add(question)
        yield {
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": question},
                {"role": "assistant", "content": answer},
            ]
        }


DEMO_QUESTIONS = (
    "How much does the Ridgeline 2 tent weigh, roughly?",
    "How long is the warranty on a new Nimbus rain jacket?",
    "How long does shipping to Spain take these days?",
)
"""Questions the demo asks the base and the tuned model (close to, but not copies of, training rows;
at most 12 words, so that the emulator's base model quotes each one whole)."""
