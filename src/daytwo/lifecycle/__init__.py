"""Model lifecycle: which models the providers have deprecated or retire, and when.

``catalog`` reads the bundled, versioned data file (``data/lifecycle.json``) and matches model
names to its entries; ``check`` turns configured deployments and recently served models into
findings (``daytwo models check`` and the gateway's start-up warning).
"""
