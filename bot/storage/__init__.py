"""Storage: all tables in `models`, the engine and migrations in `database`, data functions in `repository`."""
