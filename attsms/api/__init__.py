"""The AT&T SMS API: the one HTTP client (`AttClient`), its parsers, the throttle, the HTTP log."""
