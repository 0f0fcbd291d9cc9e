"""People: users, their roles in each workspace, and the teams they work in."""
