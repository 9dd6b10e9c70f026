"""Python asyncio clients for a running conductor (docs/clients.md).

``AdminClient`` speaks to the admin interface, ``AppClient`` to an app interface; both use the
same wire format as ``@holochain/client`` (docs/conductor-api.md).
"""

from zomehost.client.admin import AdminClient
from zomehost.client.app import AppClient, AppSignal, NoSigningCredentials
from zomehost.client.base import (
    ChainHeadMoved,
    ClientClosed,
    ConductorApiError,
    DeserializationError,
    DiskFull,
    DnaReadError,
    InternalError,
    InvalidToken,
    RequestTimeout,
    StoreFull,
    ZomeCallAuthenticationFailed,
    ZomeCallFailed,
    ZomeCallUnauthorized,
)
from zomehost.client.signing import (
    SigningCredentials,
    get_signing_credentials,
    set_signing_credentials,
)
from zomehost.client.socket import ConnectionRejected

__all__ = [
    "AdminClient",
    "AppClient",
    "AppSignal",
    "ChainHeadMoved",
    "ClientClosed",
    "ConductorApiError",
    "ConnectionRejected",
    "DeserializationError",
    "DiskFull",
    "DnaReadError",
    "InternalError",
    "InvalidToken",
    "NoSigningCredentials",
    "RequestTimeout",
    "SigningCredentials",
    "StoreFull",
    "ZomeCallAuthenticationFailed",
    "ZomeCallFailed",
    "ZomeCallUnauthorized",
    "get_signing_credentials",
    "set_signing_credentials",
]
