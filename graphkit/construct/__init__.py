"""Graph construction: feature transformation (``transform``) + ID mapping (``idmap``)."""
