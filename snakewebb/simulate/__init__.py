"""Simulated JWST imaging campaigns with a local CRDS cache, for offline demos and tests."""
