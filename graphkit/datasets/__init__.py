"""Generated example datasets (tables + gconstruct configs)."""
