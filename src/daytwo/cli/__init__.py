"""Command-line entry points: thin wrappers that parse arguments, call a module and print."""
