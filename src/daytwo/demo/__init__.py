"""The embedded demo: a gateway on SQLite with simulated providers, driven by realistic traffic
from several apps, with a live terminal view and the spend report at the end. Partway through,
the OpenAI-shaped provider has an outage: its breakers open, its aliases fail over to
Anthropic, and the summary says what the apps noticed (nothing but some latency)."""
