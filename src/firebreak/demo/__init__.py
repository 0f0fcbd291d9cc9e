"""The demo scenario: a scripted crisis over a couple of days, for trying Firebreak."""
