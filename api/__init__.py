"""The edge: settings, the FastAPI app, web pages and the command line. Nothing imports this package."""
