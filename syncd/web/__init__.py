"""`syncd web`: the operator console (SPEC §10), its own process beside the daemons."""
