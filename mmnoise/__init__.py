"""mmnoise."""
