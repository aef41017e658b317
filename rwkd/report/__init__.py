"""Reading what runs recorded: `rwkd report` (summary, tables, the results page, weight plots). Reads records
only (rwkd/records/); nothing below imports it."""
