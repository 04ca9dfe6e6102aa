"""The public exceptions agenttrace raises into user code, all at configuration time."""

from __future__ import annotations


class ConfigurationError(ValueError):
    """A setting has a value agenttrace cannot accept.

    The message names the setting (or environment variable), the value given and the
    accepted values.
    """
