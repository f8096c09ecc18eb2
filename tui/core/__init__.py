"""Pure domain model and planner: imports neither docker nor textual."""
