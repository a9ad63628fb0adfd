"""The hotel: four resource servers (availability, booking, payment, concierge) and their data.

Each service trusts nothing but the guard's verdict on a token issued by ``iam_core``; the
business state they share lives in :mod:`hotel.world` over the per-aggregate stores of
:mod:`hotel.stores`. From ``iam_core`` this package imports only the resource-server kit
(``iam_core.resource_server``), as a service in another company could; never ``agents`` or
``scenarios``, so that the services cannot lean on agent internals.
"""
