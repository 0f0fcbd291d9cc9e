"""Insights: what a workspace's mentions and work add up to over days and weeks, for the dashboard."""
