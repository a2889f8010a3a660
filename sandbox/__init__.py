"""Servers for tests, benchmarks and the local demo: test doubles and throwaway real servers."""
