"""The ground floor: errors and exit codes, numbers, segments, models, paths, files, redaction.

Imports nothing else of attsms."""
