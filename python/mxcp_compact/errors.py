"""The error a bad option or configuration becomes: one line, exit status 2, nothing touched.

Its own module because every step of resolving a run raises it (the site file, the settings
file, the registry, the retention options) and the CLI catches it in one place.
"""

__all__ = ["ConfigError"]


class ConfigError(ValueError):
    """Bad options or configuration: nothing was touched (exit status 2)."""
