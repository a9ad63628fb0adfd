"""The hotel: four resource servers (availability, booking, payment, concierge) and their data.

Each service trusts nothing but the guard's verdict on a token issued by ``iam_core``; the
business state they share lives in :mod:`hotel.world` over the per-aggregate stores of
:mod:`hotel.stores`. This package imports only ``iam_core`` — never ``agents`` or
``scenarios`` — so that the services cannot lean on agent internals; the stores import only
its resource-server kit, ``iam_core.resource_server``.
"""
