"""The command line: entry, error handler, registry, commands, output, docgen, the settings root."""
