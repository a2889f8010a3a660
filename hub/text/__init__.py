"""Text rules: templates, per-platform counting and the fit of a text within a platform's limits."""
