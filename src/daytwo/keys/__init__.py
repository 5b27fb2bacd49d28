"""Virtual keys: the credentials applications send to daytwo instead of provider keys.

* :mod:`~daytwo.keys.format` -- the ``dt2_sk_…`` shape and its checksum (no database needed)
* :mod:`~daytwo.keys.store` -- keys and the admin event log in the ledger's database
* :mod:`~daytwo.keys.cache` -- the gateway's in-memory view, refreshed every few seconds
* :mod:`~daytwo.keys.specs` -- parsing budgets, durations and model lists

See ``docs/keys.md``.
"""
