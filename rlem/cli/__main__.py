"""`python -m rlem.cli`: the `rlem` command line."""

from rlem.cli.app import main

main()
