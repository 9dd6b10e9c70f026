"""What the request handlers need from the service around them, as small interfaces.

:mod:`zomehost.api.server` implements both; the handlers (:mod:`~zomehost.api.admin`,
:mod:`~zomehost.api.app`) import only this, so the package has no import cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from websockets.asyncio.server import Server

from zomehost.api.origins import AllowedOrigins
from zomehost.api.tokens import TokenStore
from zomehost.conductor.conductor import Conductor
from zomehost.network.directory import Directory
from zomehost.network.transport import Transport

T = TypeVar("T")


class PeerNetwork(Protocol):
    """The peer service as the network views read it (``zomehost.p2p.PeerService``)."""

    @property
    def directory(self) -> Directory: ...

    @property
    def address(self) -> str: ...

    @property
    def transport(self) -> Transport: ...


class Runtime(Protocol):
    """What the interfaces need from the process that runs them."""

    conductor: Conductor

    @property
    def admin_port(self) -> int | None: ...

    @property
    def peer_network(self) -> PeerNetwork | None:
        """The running peer service; None when the conductor has no network configured."""
        ...

    @property
    def agent_directory(self) -> Directory:
        """The signed agent infos known: the peer service's, or (no network) the conductor's
        own, which ``add_agent_info`` fills and nobody dials."""
        ...

    async def in_worker(self, fn: Callable[..., T], *args: Any) -> T: ...

    def submit(self, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(*args)`` on a worker thread; nobody waits for it (it answers for itself).
        Raises ``RuntimeError`` once the workers are shut down."""
        ...

    def publish_endpoint(self, name: str, value: Any) -> None: ...


@dataclass(slots=True)
class AppInterface:
    port: int
    origins: AllowedOrigins
    installed_app_id: str | None
    bind: str
    server: Server


class InterfaceRegistry(Protocol):
    """The app interfaces and tokens the admin API manages."""

    tokens: TokenStore
    app_interfaces: dict[int, AppInterface]

    async def attach_app_interface(
        self, port: int, origins_text: str, app_id: str | None, bind: str | None
    ) -> int: ...

    def app_uninstalled(self, app_id: str) -> None: ...
