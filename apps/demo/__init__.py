"""The demo county generator (``manage.py demo_county``): layout, names, organisation, history."""
