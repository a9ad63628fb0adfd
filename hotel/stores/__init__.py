"""The hotel's storage: one store per aggregate, over a SQL store handed in at start-up.

* :mod:`~hotel.stores.schema` and :mod:`~hotel.stores.seed` — the ``hotel_*`` tables and
  what a fresh world holds;
* :mod:`~hotel.stores.records` — the frozen records and the errors the stores raise;
* :mod:`~hotel.stores.tables` — input checks and row helpers the stores share;
* :mod:`~hotel.stores.catalogue`, :mod:`~hotel.stores.bookings`,
  :mod:`~hotel.stores.payments`, :mod:`~hotel.stores.concierge` — the aggregates.

From ``iam_core`` these modules import only the resource-server kit
(``iam_core.resource_server``), as a service outside the issuer's codebase would.
:class:`hotel.world.HotelWorld` puts the four stores under one name for the services.
"""
