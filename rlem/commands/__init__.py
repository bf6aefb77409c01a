"""The `rlem` command groups, one module each."""
