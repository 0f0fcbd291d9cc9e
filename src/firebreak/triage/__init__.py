"""Triage: every mention gets a flag, a category, sentiment, offensiveness and the reasons why."""
