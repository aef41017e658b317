"""What runs leave behind, at the bottom of the package: the record files' names and what a record says about
its teacher (format), where and how a run ran (provenance), and the per-sample weight summary's format. The
commands that write records and the reports that read them both import these; nothing here imports upward."""
