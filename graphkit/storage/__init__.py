"""Storage: reading tables, writing and memory-mapping graphs, atomic outputs."""
