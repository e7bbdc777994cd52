"""SQLAlchemy models, one module per concern; importing this package registers them all."""

from idp.models.audit import AuditEvent
from idp.models.authenticator import Authenticator
from idp.models.base import Base
from idp.models.session import UserSession
from idp.models.user import User

__all__ = ["AuditEvent", "Authenticator", "Base", "User", "UserSession"]
