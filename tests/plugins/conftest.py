"""Fixtures of the provider tests: the vendor fakes and a provider context."""

from tests.fakes.fixtures import (  # noqa: F401 - fixtures are found by name
    gateways_fake,
    messagebird_fake,
    options_box,
    provider_context,
    recording_session,
    spryng_fake,
)
from tests.fakes.provider_fixtures import (  # noqa: F401 - fixtures are found by name
    clickatell_fake,
    gtx_fake,
    sipgate_fake,
    smsc_fake,
    smtp_fake,
    twilio_fake,
    vonage_fake,
    webhook_fake,
)
