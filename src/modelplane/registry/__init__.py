"""Model registry: models, versions, aliases, lineage, flavors."""
