"""SMS to citizens (短信): the tracking link when a report that left a phone number is taken on,
the rating link when it is closed. Providers behind one setting (``SMS_BACKEND``), a delivery log
the desk reads, a daily limit per number, and a phone number never written to a log."""
