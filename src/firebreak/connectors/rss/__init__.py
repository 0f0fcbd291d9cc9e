"""RSS/Atom feeds polled with conditional GET."""
