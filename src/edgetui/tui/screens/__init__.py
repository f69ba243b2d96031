"""The console's three screens, each with its .tcss."""
