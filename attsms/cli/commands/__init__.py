"""One module per command group: flags in, a call on the core, results to `attsms.cli.output`.

`--help` and shell completion import every command module, so each imports what lies below the
command line (auth, store, receive, `core.numbers`, the sandbox) inside its command functions,
where only a run of that command pays for it. What `attsms.cli.app` has loaded before any command
module (typer, `commands.context`, `commands.options`, `cli.output`, `core.errors`) is imported at
the top.
"""
