"""sleuth.service: FastAPI app (``create_app``) and the web page."""
from .app import create_app

__all__ = ["create_app"]
