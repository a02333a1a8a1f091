"""The chaos harness: Stratus's engine, store, conductor and triggers on moto under seeded
faults, deliveries running at once, every run judged against a fault-free one.

Not part of the shipped library (``pip install stratus`` does not install it): it runs from
a checkout, ``make chaos`` or ``python -m chaos``. See ``chaos.harness``.
"""
