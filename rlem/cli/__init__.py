"""The `rlem` command line: the app (`rlem.cli.app`) and one module per command group."""
