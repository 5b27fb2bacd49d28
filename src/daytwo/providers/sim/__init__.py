"""The built-in LLM simulator: OpenAI's wire format without spending money, for load tests,
outage drills and daytwo's own tests.

``params`` reads a request, ``engine`` decides its fate (pure, seeded), ``openai_format`` encodes
it, ``exchange`` plans the bytes and their timing, ``server`` plays the plan over HTTP and
``adapter`` plays it in-process; ``run`` starts the server (foreground or background thread).
"""
