"""Provider adapters: one module per upstream wire format behind the :class:`Adapter` protocol."""
