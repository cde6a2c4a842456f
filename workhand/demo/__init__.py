"""Demo bank systems the example robots run against (registry, accounts, imaging, core,
clearing, OA, and an SMTP sink), started with ``workhand demo`` or ``start()`` in tests."""

from workhand.demo.server import DemoSystems, serve, start

__all__ = ["DemoSystems", "serve", "start"]
