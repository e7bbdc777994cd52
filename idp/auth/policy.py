"""The second-factor policy admins choose: off, optional, required for admins, or for everyone."""

from __future__ import annotations

from enum import StrEnum

from flask_babel import gettext

from idp import site_settings
from idp.models import User


class SecondFactorPolicy(StrEnum):
    OFF = "off"  # never ask for a second factor
    OPTIONAL = "optional"  # ask those who set one up
    ADMINS = "admins"  # as optional, and admins must have one
    EVERYONE = "everyone"  # everyone must have one; those without set one up at login

    @property
    def label(self) -> str:
        return {
            "off": gettext("Off: never ask for a second factor"),
            "optional": gettext("Optional: ask everyone who has set one up"),
            "admins": gettext("Required for admins, optional for others"),
            "everyone": gettext("Required for everyone"),
        }[self.value]


def current_policy() -> SecondFactorPolicy:
    try:
        return SecondFactorPolicy(site_settings.get("second_factor_policy"))
    except ValueError:
        return SecondFactorPolicy.OPTIONAL


def second_factor_required(user: User, policy: SecondFactorPolicy | None = None) -> bool:
    policy = policy or current_policy()
    return policy is SecondFactorPolicy.EVERYONE or (
        policy is SecondFactorPolicy.ADMINS and user.is_admin
    )
