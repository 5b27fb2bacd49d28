from tests.state.backends import open_state, redis_prefix

__all__ = ["open_state", "redis_prefix"]
