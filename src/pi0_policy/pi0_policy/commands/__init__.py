"""`pi0` subcommands that belong to pi0_policy (registered in pi0_bringup.cli.SUBCOMMANDS)."""
