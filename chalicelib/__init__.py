"""Server-side domain logic of certmint, split by concept.

Routes live in ``app.py``; every module here is importable without a network.
"""
