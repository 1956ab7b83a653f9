"""Container images for recipes: the local base and base/child builds (see bench.images.build)."""
