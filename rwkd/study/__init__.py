"""Running a study: which variant of each weighting family is chosen on the meta split, and which runs remain
(tuning, also a command line the Makefile calls)."""
