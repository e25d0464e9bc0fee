"""The /v1 routes, one module per audience or record."""
