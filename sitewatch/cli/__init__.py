"""The ``sitewatch`` command line: ``app`` (in ``sitewatch.cli.app``) and one module per group of
commands; ``common`` holds what they share (consoles, the config option, config and ledger)."""
