"""The REST API under /api/v1: thin routes over small functions, one module per entity."""
