"""The Matrix adapter of the hub: reads commands in coalition rooms, calls the services, answers."""
