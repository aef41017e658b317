"""The recipe search read back: its trials, the choice per task (search), and its page and config files (page)."""
