"""FastAPI services: the prediction API with inline checking, the labeling UI, the dashboard.

Each service lives in its own module and is imported from there (``scanflow.serve.labeling``),
so importing this package stays cheap. Every service binds 127.0.0.1 by default; see
:mod:`scanflow.serve.security` for the token required when it binds anywhere else.
"""
