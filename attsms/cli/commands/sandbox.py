"""`attsms sandbox`: run the AT&T API emulator as a server, and feed it inbound messages."""

from __future__ import annotations

import dataclasses
import enum
from typing import Annotated

import typer

from attsms.cli.commands.context import state
from attsms.cli.commands.options import Host, Port, examples, formats, not_nan
from attsms.cli.output import Column, Format

app = typer.Typer(
    help="The built-in AT&T API emulator: serve it over HTTP, inject inbound messages, reset it.",
    epilog=examples(
        "attsms sandbox serve --port 8765",
        "attsms sandbox inject --from +12125550100 'STOP'",
        "attsms sandbox reset",
        "attsms sandbox open",
    ),
    no_args_is_help=True,
)

SERVE_EPILOG = examples(
    "attsms sandbox serve --port 8765",
    "attsms sandbox serve --port 0 --latency-ms 50 --fail-rate 0.1 --seed 7",
    "attsms sandbox serve --delivery-callback http://127.0.0.1:8080/notify/TOKEN/delivery",
    "attsms sandbox serve --dialect codekit    # answer as AT&T's own SDKs expect",
    "ATTSMS_BASE_URL=http://127.0.0.1:8765 ATTSMS_CLIENT_ID=sandbox-client-id \\",
    "  ATTSMS_CLIENT_SECRET=sandbox-client-secret attsms send +12125550100 -m hi",
)

OPEN_EPILOG = examples(
    "attsms sandbox serve --port 8765 &",
    "attsms sandbox open",
    "attsms sandbox open --url http://127.0.0.1:9000 --no-browser",
)

RESET_EPILOG = examples(
    "attsms sandbox reset",
    "attsms sandbox reset --url http://127.0.0.1:8765",
)

INJECT_EPILOG = examples(
    "attsms sandbox inject --from +12125550100 'STOP'",
    "attsms sandbox inject --from 2125550100 --count 1000 'load test'",
    "attsms sandbox inject --url http://127.0.0.1:8765 --from +12125550100 'hello'",
)


# Which sandbox a command reads or resets.
SandboxUrl = Annotated[
    str | None,
    typer.Option(metavar="URL", help="A running `sandbox serve`; default: the in-process one."),
]

# The options of `sandbox serve`.
AcceptedClientId = Annotated[
    str | None,
    typer.Option(metavar="ID", help="Client id to accept.  [default: sandbox-client-id]"),
]
AcceptedClientSecret = Annotated[
    str | None,
    typer.Option(
        metavar="SECRET",
        envvar="ATTSMS_SANDBOX_CLIENT_SECRET",
        help="Client secret to accept.  [default: sandbox-client-secret]",
    ),
]
FailRate = Annotated[
    float,
    typer.Option(
        min=0.0, max=1.0, callback=not_nan, help="Fraction of requests answered 503 SVC1000."
    ),
]
RateLimit = Annotated[
    int, typer.Option(min=0, metavar="N", help="Requests per second before 429; 0 is off.")
]
Seed = Annotated[int | None, typer.Option(help="Seed for --fail-rate, for repeatable runs.")]
TokenLifetime = Annotated[
    int, typer.Option(min=0, metavar="S", help="Access token lifetime; 0 never expires.")
]
DeliverySeconds = Annotated[
    float,
    typer.Option(min=0.0, metavar="S", callback=not_nan, help="Time from send to final status."),
]
BatchSize = Annotated[
    int, typer.Option(min=1, metavar="N", help="Inbound messages per inbox answer.")
]
DeliveryCallback = Annotated[
    str | None,
    typer.Option(
        "--delivery-callback",
        "--callback-url",
        metavar="URL",
        help="POST delivery status notifications of --notify sends here (loopback only).",
    ),
]


class Dialect(enum.StrEnum):
    spec = "spec"
    codekit = "codekit"


DialectOption = Annotated[
    Dialect,
    typer.Option(
        help="Shapes of the inbox and delivery-status answers: the spec's camelCase, or the "
        "PascalCase that AT&T's codekit SDKs parse.",
    ),
]
InboundCallback = Annotated[
    str | None,
    typer.Option(
        metavar="URL",
        help="POST injected inbound messages here instead of queueing them (loopback only).",
    ),
]


@app.command(epilog=SERVE_EPILOG)
def serve(
    host: Host = "127.0.0.1",
    port: Port = 8765,
    client_id: AcceptedClientId = None,
    client_secret: AcceptedClientSecret = None,
    latency_ms: Annotated[int, typer.Option(min=0, help="Delay added to every answer.")] = 0,
    fail_rate: FailRate = 0.0,
    rate_limit: RateLimit = 0,
    seed: Seed = None,
    token_lifetime: TokenLifetime = 172_800,
    delivery_seconds: DeliverySeconds = 2.0,
    batch_size: BatchSize = 100,
    log_requests: Annotated[bool, typer.Option(help="Log each request to stdout.")] = False,
    delivery_callback: DeliveryCallback = None,
    inbound_callback: InboundCallback = None,
    dialect: DialectOption = Dialect.spec,
) -> None:
    """Serve the sandbox over HTTP until Ctrl-C. Prints its URL and the credentials it accepts.

    Its page is at that URL's / (`attsms sandbox open`): every phone the sandbox texted or that
    texted in, each one's thread with segments and delivery status, live; reply as a phone
    (STOP, START, HELP), make its next deliveries fail, and arm faults.
    """
    from attsms.cli.sandbox_admin import serve as serve_sandbox
    from attsms.sandbox import SandboxConfig

    config = SandboxConfig(
        latency_ms=latency_ms,
        fail_rate=fail_rate,
        rate_limit=rate_limit,
        seed=seed,
        token_lifetime=token_lifetime,
        delivery_seconds=delivery_seconds,
        inbox_batch_size=batch_size,
        dialect=dialect.value,
    )
    if client_id:
        config = dataclasses.replace(config, client_id=client_id)
    if client_secret:
        config = dataclasses.replace(config, client_secret=client_secret)
    serve_sandbox(
        config,
        host,
        port,
        log_requests=log_requests,
        delivery_callback=delivery_callback,
        inbound_callback=inbound_callback,
    )


@app.command(epilog=INJECT_EPILOG)
@formats(Format.JSON)
def inject(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="The inbound message text.")],
    sender: Annotated[
        str, typer.Option("--from", metavar="NUMBER", help="Who the message is from.")
    ],
    to: Annotated[
        str, typer.Option("--to", metavar="SHORTCODE", help="The registration ID (short code).")
    ] = "12345",
    count: Annotated[
        int, typer.Option(min=1, max=10_000, help="Inject N messages, numbered #1..#N.")
    ] = 1,
    url: SandboxUrl = None,
) -> None:
    """Add inbound messages for `attsms inbox pull` to find."""
    from attsms.cli.sandbox_admin import inject_inbound

    out = state(ctx).output()
    result = inject_inbound(to, sender, text, count=count, url=url)
    if out.format is Format.JSON:
        out.json(result)
    else:
        out.info(f"Injected {result['injected']} message(s) for {to}; {result['pending']} pending.")


@app.command("open", epilog=OPEN_EPILOG)
@formats(Format.JSON)
def open_page(
    ctx: typer.Context,
    url: Annotated[
        str, typer.Option(metavar="URL", help="The running `sandbox serve`.")
    ] = "http://127.0.0.1:8765",
    browser: Annotated[
        bool, typer.Option(help="Open the page in the desktop's browser, if there is one.")
    ] = True,
) -> None:
    """Print the URL of a running `sandbox serve`'s page, and open it in a browser.

    The page shows the sandbox's phones and their threads, replies as a phone, sets a phone's
    next delivery outcome and arms faults. With no desktop (no DISPLAY) it only prints the URL.
    """
    from attsms.cli.sandbox_admin import open_in_browser, page_url

    out = state(ctx).output()
    page = page_url(url)
    if out.format is Format.JSON:
        out.json({"url": page, "opened": bool(browser and open_in_browser(page))})
        return
    out.text(page)
    if browser and not open_in_browser(page):
        out.info("No browser to open here: open the URL above in one.")


OUTBOX_EPILOG = examples(
    "attsms sandbox outbox",
    "attsms sandbox outbox --json | jq -r '.outbox[] | [.address, .message] | @tsv'",
    "attsms sandbox outbox --url http://127.0.0.1:8765",
)


@app.command(epilog=OUTBOX_EPILOG)
@formats(Format.JSON)
def outbox(ctx: typer.Context, url: SandboxUrl = None) -> None:
    """Show what the sandbox accepted: message ID, address and text, one line per recipient.

    Oldest first, kept until `attsms sandbox reset`. With --json: {"outbox": [{"messageId",
    "address", "message", "sentAt"}], "total": N}.
    """
    from attsms.cli.sandbox_admin import read_outbox

    out = state(ctx).output()
    result = read_outbox(url)
    rows = result.get("outbox", [])
    columns = [
        Column("messageId", "MESSAGE ID"),
        Column("address", "ADDRESS"),
        Column("message", "TEXT"),
        Column("sentAt", "SENT AT"),
    ]
    out.records(rows, columns, document=result)
    if not rows and out.format is not Format.JSON:
        out.info("The sandbox outbox is empty.")


@app.command(epilog=RESET_EPILOG)
@formats(Format.JSON)
def reset(ctx: typer.Context, url: SandboxUrl = None) -> None:
    """Forget everything the sandbox holds: tokens, messages, inboxes, faults and counters.

    The way out when its state file is broken. Local history and inbox stores are kept.
    """
    from attsms.cli.sandbox_admin import reset as reset_sandbox

    out = state(ctx).output()
    result = reset_sandbox(url)
    if out.format is Format.JSON:
        out.json(result)
    else:
        out.info(f"Reset the sandbox{f' at {url}' if url else ''}.")
