"""The response workflow: assess, route, assign, hold SLA clocks and escalate (DESIGN.md sections 3-5)."""
