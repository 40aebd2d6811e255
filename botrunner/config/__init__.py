"""Settings: the only place the environment is read, and the generated configuration reference."""
