"""CLI command groups. Each module exposes ``register(app)``; ``workers/cli.py`` lists them."""
