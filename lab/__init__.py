"""The model lab: training data, recipes and checkpoints. The live path never imports it."""
