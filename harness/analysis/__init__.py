"""Numbers from rows: pass@k, teacher-vs-student statistics, the release gate."""
