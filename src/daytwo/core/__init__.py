"""Plain types every room shares: errors, the normalized call, usage, the call record, secrets.

This package is the floor of the house: it imports nothing else from daytwo.
"""
