"""Reading what runs recorded: `rwkd report` (summary, tables, the results page, weight plots) and
`rwkd recipe` (the recipe search's page and defaults)."""
