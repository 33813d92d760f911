"""A stateful emulator of the AT&T SMS API, sharing no code with the client (docs/sandbox.md).

Import-light on purpose: the heavy parts load only where used.
    attsms.sandbox.core       Sandbox.handle(method, target, headers, body) -> SandboxResponse
    attsms.sandbox.store      the sandbox in an SQLite state file; inject_inbound, read_stats, …
    attsms.sandbox.transport  InProcessTransport, an httpx transport over the state file
    attsms.sandbox.server     SandboxServer (real HTTP) and run()
"""

from attsms.sandbox.config import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_REGISTRATION_ID,
    SandboxConfig,
)

__all__ = ["DEMO_CLIENT_ID", "DEMO_CLIENT_SECRET", "DEMO_REGISTRATION_ID", "SandboxConfig"]
