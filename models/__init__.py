"""Model lifecycle: building the local embedding model, training and evaluating classifiers, artifacts."""
