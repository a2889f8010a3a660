"""Unisson's hub: the domain, its rules, storage and services. It knows nothing of Matrix."""
