"""Who attsms talks to and as whom: config, profiles, credentials, tokens; login and logout."""
