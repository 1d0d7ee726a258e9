"""HTTP concerns shared by routes: read parameters, CORS and the shapes of read answers."""
