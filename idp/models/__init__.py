"""SQLAlchemy models, one module per concern; importing this package registers them all."""

from idp.models.audit import AuditEvent
from idp.models.authenticator import Authenticator
from idp.models.base import Base
from idp.models.challenge import Challenge
from idp.models.credential import Credential, RecoveryCode
from idp.models.fraud import BlockedPrefix
from idp.models.limits import FailureCounter, LimitEvent
from idp.models.oauth import AuthorizationCode, Consent, OAuthClient, OAuthToken, SigningKey
from idp.models.session import UserSession
from idp.models.setting import SiteSetting
from idp.models.sms_log import SmsLogEntry
from idp.models.user import User
from idp.models.verifier import Verifier

__all__ = [
    "AuditEvent",
    "Authenticator",
    "AuthorizationCode",
    "Base",
    "BlockedPrefix",
    "Challenge",
    "Consent",
    "Credential",
    "FailureCounter",
    "LimitEvent",
    "OAuthClient",
    "OAuthToken",
    "RecoveryCode",
    "SigningKey",
    "SiteSetting",
    "SmsLogEntry",
    "User",
    "UserSession",
    "Verifier",
]
