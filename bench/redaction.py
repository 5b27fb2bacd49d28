"""What redaction costs per KiB of captured text: each detector alone and all of them together
(``Redactor().text``), over (a) typical chat text without PII (prose, code, numbers, dates,
versions: what most captured calls hold) and (b) text dense with PII (an address, a phone, a
card, an IBAN, an id and a key in every few lines). The texts are built in process from fixed
pieces (no data files); each is a list of messages of mixed sizes, as a capture walks them.
The goal is < 30 us per KiB for (a) with every detector on.

Usage::

    .venv/bin/python bench/redaction.py            # table
    .venv/bin/python bench/redaction.py --json     # one JSON object
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import timeit
from collections.abc import Callable

from daytwo.core.redact import DEFAULT_DETECTORS, Redactor
from daytwo.core.secrets import SecretRegistry

GOAL_US_PER_KIB = 30.0

CHAT = [
    "Sure! Here is a short summary of the meeting notes you pasted. The team agreed to ship the "
    "new onboarding flow in Q3 2024, after the accessibility review. Two open questions remain: "
    "who owns the migration of the old accounts, and whether the pricing page needs a rewrite.",
    "To fix the error, upgrade the package to version 2.31.0 (or any 2.x release after 2.28.1) "
    "and restart the service. If you are on Python 3.11, the wheel is prebuilt; on 3.8 you need "
    "a compiler. The changelog from 2023-11-02 lists the fix under 'connection pooling'.",
    "```python\ndef moving_average(xs: list[float], n: int = 5) -> list[float]:\n"
    "    out = []\n    for i in range(len(xs) - n + 1):\n"
    "        out.append(sum(xs[i : i + n]) / n)\n"
    "    return out\n```\nThis runs in O(len(xs) * n); a running sum makes it O(len(xs)).",
    "The recipe serves 4 people: 250 g of flour, 2 eggs, 300 ml of milk and a pinch of salt. "
    "Bake at 180 °C for 25-30 minutes. At $3.49 a carton, the milk is the most expensive part.",
    "In 1969 the Apollo 11 mission landed on the Moon; the lunar module Eagle touched down at "
    "20:17 UTC on July 20. Neil Armstrong and Buzz Aldrin spent about 21.5 hours on the surface.",
    "Your order #482913 shipped on 12/03/2024 and should arrive within 3 to 5 business days. "
    "The total was 1,249.00 EUR including 19% VAT. Tracking updates every 6 hours.",
    "Kubernetes 1.29 deprecates the v1beta2 flow-control API; move to v1 before upgrading. "
    "Check with `kubectl get flowschemas -o yaml` and look for apiVersion fields. The cluster "
    "at 10.0.0.12 runs 3 control-plane nodes and 12 workers.",
    "Thanks, that helps a lot. Could you also rewrite the second paragraph so that it sounds "
    "less formal? Keep it under 80 words and don't mention the budget numbers yet.",
]

PII = [
    "Contact Jane Roe at jane.roe+billing@example.com or +44 20 7946 0958 (office), mobile "
    "(415) 555-2671. Her card is 4111 1111 1111 1111, exp 09/27.",
    "Wire the refund to IBAN DE89 3704 0044 0532 0130 00 (BIC COBADEFFXXX); the customer's "
    "SSN on file is 123-45-6789 and the NI number AB 12 34 56 C.",
    "Log line: Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl "
    "with key sk-proj-AbCdEfGhIjKlMnOpQrStUvWx and AWS AKIAIOSFODNN7EXAMPLE from 192.168.1.20.",
    "DNI 12345678Z, NIE X1234567L; alt email ops-team@mail.example.org; call 0044 161 496 0000 "
    "or 01 23 45 67 89; Amex 378282246310005; backup IBAN GB82WEST12345698765432.",
]


def corpus(pieces: list[str], size: int, seed: int) -> list[str]:
    """Messages of 1-6 pieces each, until ``size`` characters."""
    rng = random.Random(seed)
    out: list[str] = []
    total = 0
    while total < size:
        msg = " ".join(rng.choice(pieces) for _ in range(rng.randint(1, 6)))
        out.append(msg)
        total += len(msg)
    return out


def us_per_kib(fn: Callable[[str], object], messages: list[str]) -> float:
    kib = sum(len(m.encode()) for m in messages) / 1024

    def run() -> None:
        for m in messages:
            fn(m)

    best = min(timeit.repeat(run, number=5, repeat=7)) / 5
    return best / kib * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--size", type=int, default=256 * 1024, help="characters per corpus")
    args = parser.parse_args()

    registry = SecretRegistry()
    registry.register("Zq7wErTy1uIoP3aSdF5gHjK9lZxCvBnM2Q4W")  # one service key, as in a gateway
    texts = {
        "chat": corpus(CHAT, args.size, 1),
        "pii": corpus(CHAT + PII * 2, args.size, 2),
    }
    rows: dict[str, dict[str, float]] = {}
    for name in (*DEFAULT_DETECTORS, "all"):
        chosen = DEFAULT_DETECTORS if name == "all" else (name,)
        redactor = Redactor(chosen, secrets=registry)
        rows[name] = {kind: us_per_kib(redactor.text, msgs) for kind, msgs in texts.items()}
    reversible = Redactor(secrets=registry, reversible=True)
    rows["all, reversible"] = {k: us_per_kib(reversible.text, m) for k, m in texts.items()}
    ok = rows["all"]["chat"] < GOAL_US_PER_KIB

    if args.json:
        print(json.dumps({"us_per_kib": rows, "goal_us_per_kib": GOAL_US_PER_KIB, "ok": ok}))
    else:
        sizes = {k: sum(len(x) for x in m) / 1024 for k, m in texts.items()}
        counts = {k: len(m) for k, m in texts.items()}
        print(
            f"us per KiB (best of 7); chat: {sizes['chat']:.0f} KiB in {counts['chat']} messages,"
            f" pii: {sizes['pii']:.0f} KiB in {counts['pii']} messages"
        )
        print(f"{'detector':<18}{'chat':>10}{'pii':>10}")
        for name, row in rows.items():
            print(f"{name:<18}{row['chat']:>10.2f}{row['pii']:>10.2f}")
        verdict = "met" if ok else "MISSED"
        print(f"goal: all detectors on chat text < {GOAL_US_PER_KIB:.0f} us/KiB: {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
