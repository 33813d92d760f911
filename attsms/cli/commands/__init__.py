"""One module per command group: flags in, a call on the core, results to `attsms.cli.output`."""
