"""The teacher: its fine-tuning (cached per settings), its outputs as an artefact, the output cache, the sources
a run distils from, and the check that a sweep's runs share one teacher."""
