"""Closed-form and asymptotic predictions of the solvable models (random features,
Zipf memorisers, tail models, perceptron pruning). Import the submodule you need:

    from scalinglab.theory import random_features as rft
    rft.ridgeless_loss(eigenvalues, n=256)
"""
