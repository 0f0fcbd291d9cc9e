"""Business calendars: opening hours, time zones and holidays, and the business-time arithmetic on them.

spec = CalendarSpec.model_validate(yaml_entry)       # one entry of the playbook's `calendars:`
calendar = BusinessCalendar.from_spec(spec)
due = calendar.add(received_at, 3600)                # one business hour later
spent = calendar.between(received_at, now)           # business seconds elapsed
"""

from firebreak.calendars.business import BusinessCalendar
from firebreak.calendars.schema import CalendarSpec, validate_calendar_ids

__all__ = ["BusinessCalendar", "CalendarSpec", "validate_calendar_ids"]
