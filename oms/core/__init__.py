"""The sans-IO core: order lifecycle, fills and positions. Standard library only."""
