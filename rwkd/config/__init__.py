"""Checking a composed config before anything runs: each setting's accepted values (settings), the checks that
need the models or the machine (in_context), and the CLI's preflight."""
