"""Recipes: data that pins an implementation (commit, patches, env, launch command, stack)."""

from bench.recipes.loader import find_recipe, load_all, load_recipe, recipe_path
from bench.recipes.schema import Recipe

__all__ = ["Recipe", "find_recipe", "load_all", "load_recipe", "recipe_path"]
