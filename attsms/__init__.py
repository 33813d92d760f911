"""attsms: a command-line client for the AT&T SMS API."""

__version__ = "0.2.0"
