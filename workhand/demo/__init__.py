"""Demo bank systems the example robots run against (registry, accounts, imaging, core,
clearing, OA, and an SMTP sink), started with ``workhand demo`` or ``start()`` in tests; the
S4 voucher generator (``workhand.demo.vouchers``) and the S5 desktop filing client
(``workhand.demo.filing``).

The web systems are imported on first use: the filing client (a process of its own that a
desktop robot launches) must not pay 1.6 s for FastAPI and the web demo at every start."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workhand.demo.server import DemoSystems, serve, start

__all__ = ["DemoSystems", "serve", "start"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from workhand.demo import server

        return getattr(server, name)
    raise AttributeError(f"module 'workhand.demo' has no attribute {name!r}")
