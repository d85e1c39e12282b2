"""The hub's HTTP API and central console (FastAPI), filtered by each token's scope."""
