"""The ground floor: the product's vocabulary and geometry; it imports nothing of the project."""
