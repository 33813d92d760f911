"""The AT&T SMS API: the one HTTP client (`AttClient`), its parsers, faults and HTTP log, and the
throttle, the one owner of request pacing (the `--rate` ceiling and rate-limit slow-downs)."""
