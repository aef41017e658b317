"""What the CLI's sub-commands run: `rwkd train` (one student run), `rwkd eval`, `rwkd teacher`."""
