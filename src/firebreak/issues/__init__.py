"""Rapid-response issues: from the first public acknowledgement to the aftermath (DESIGN.md section 7)."""
