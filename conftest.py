"""Wire the calpolicy plugin for runs from a checkout (an installed package loads it by entry point)."""

pytest_plugins = ["calpolicy.plugin"]
