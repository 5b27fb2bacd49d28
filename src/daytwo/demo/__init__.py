"""The embedded demo: a gateway on SQLite with simulated providers, driven by realistic traffic
from several apps, with a live terminal view and the spend report at the end."""
