"""Who may talk to Gluon and with which role, and the audit log of what they did.

Public names load their module on first use (see :mod:`core.exports`)."""

from typing import TYPE_CHECKING

from core.exports import lazy_exports

if TYPE_CHECKING:
    from core.access.activity import ActivityEntry as ActivityEntry
    from core.access.activity import ActivityLog as ActivityLog
    from core.access.store import AccessStore as AccessStore
    from core.access.users import Access as Access
    from core.access.users import ChatUser as ChatUser
    from core.access.users import PairingCode as PairingCode
    from core.access.web import SignedIn as SignedIn
    from core.access.web import WebAccess as WebAccess
    from core.access.web import WebLink as WebLink
    from core.access.web import WebSession as WebSession

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "Access": "users",
    "ChatUser": "users",
    "PairingCode": "users",
    "ActivityLog": "activity",
    "ActivityEntry": "activity",
    "AccessStore": "store",
    "WebAccess": "web",
    "WebLink": "web",
    "WebSession": "web",
    "SignedIn": "web",
})
