"""Domain services: functions ``(db, *, actor, ...)`` that check rights, change models and
``flush()``. The caller owns the commit."""
