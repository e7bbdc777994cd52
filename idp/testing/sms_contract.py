"""The contract every SMS provider keeps, as a pytest base class.

A provider's test module subclasses :class:`SmsProviderContract` (name the subclass
``Test...``) and supplies three fixtures:

``provider_class``
    the :class:`~idp.sms.provider.SmsProvider` subclass under test;
``provider_options``
    its options as the provider receives them (secrets in clear), pointing at a local fake,
    with a read timeout shorter than the fake's slow answer (0.5 s against 0.9 s, say);
``provider_fake``
    an object with a settable ``scenario`` that understands the scenario names below, or None
    for a provider without a network.

Scenarios and what the provider must do:

==============  ==============================================================
``success``     return an :class:`~idp.sms.provider.SmsReceipt`
``slow``        the answer comes after the timeout: raise SmsTemporaryError
``server_error`` HTTP 5xx: raise SmsTemporaryError
``reset``       the connection drops without an answer: raise SmsTemporaryError
``malformed``   an answer that cannot be read: raise SmsTemporaryError
``auth_failure`` the vendor refuses the credentials: raise SmsConfigurationError
==============  ==============================================================

In every scenario the message text, the code and the secret options stay out of the log
(captured at DEBUG, the fake's own lines included) and out of ``str()`` and ``repr()`` of the
error; a provider never returns None or a "failed" value. Declare scenarios that do not apply
in ``not_applicable`` (the console provider has no network), and override :meth:`arrange` when
a scenario is made by changing the options rather than the fake. Example::

    class TestAcmeContract(SmsProviderContract):
        @pytest.fixture
        def provider_class(self):
            return AcmeProvider

        @pytest.fixture
        def provider_fake(self):
            with AcmeFake() as fake:
                yield fake

        @pytest.fixture
        def provider_options(self, provider_fake):
            return {"endpoint": provider_fake.url, "api_key": "k-123456", "timeout": 0.5}
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest
import requests

from idp.options import secret_names
from idp.sms.errors import SmsConfigurationError, SmsError, SmsTemporaryError
from idp.sms.provider import ProviderContext, SmsMessage, SmsProvider, SmsReceipt

#: Each failure scenario and the error class it must raise.
EXPECTED: dict[str, type[SmsError]] = {
    "slow": SmsTemporaryError,
    "server_error": SmsTemporaryError,
    "reset": SmsTemporaryError,
    "malformed": SmsTemporaryError,
    "auth_failure": SmsConfigurationError,
}
SCENARIOS = ("success", *EXPECTED)
#: Transport failures: the error must be raised ``from`` what requests raised.
CHAINED = frozenset({"slow", "reset"})


class SmsProviderContract:
    """The suite; a subclass supplies provider_class, provider_options and provider_fake."""

    #: Scenarios that cannot happen to this provider (for example without a network).
    not_applicable: ClassVar[frozenset[str]] = frozenset()
    code: ClassVar[str] = "918273"
    text: ClassVar[str] = (
        "Your sign-in code is 918273. It expires in 5 minutes.\n\n@login.example.test #918273"
    )
    recipient: ClassVar[str] = "+31612345678"
    sender: ClassVar[str] = "Poort"

    # -- what a subclass supplies ------------------------------------------------------------

    @pytest.fixture
    def provider_class(self) -> type[SmsProvider]:
        pytest.fail(f"{type(self).__name__} must define the fixture provider_class")

    @pytest.fixture
    def provider_options(self) -> Mapping[str, Any]:
        pytest.fail(f"{type(self).__name__} must define the fixture provider_options")

    @pytest.fixture
    def provider_fake(self) -> Any:
        return None

    @pytest.fixture
    def provider_context(self, tmp_path: Path) -> Iterator[ProviderContext]:
        session = requests.Session()
        session.trust_env = False  # the fake is on loopback; the machine's proxy settings are not
        yield ProviderContext(session=session, instance_path=tmp_path)
        session.close()

    def arrange(self, scenario: str, fake: Any, options: Mapping[str, Any]) -> Mapping[str, Any]:
        """Make *scenario* happen; return the options to use. By default: the fake's switch."""
        if fake is not None:
            fake.scenario = scenario
        return options

    # -- the checks ----------------------------------------------------------------------------

    def message(self) -> SmsMessage:
        return SmsMessage(
            recipient=self.recipient,
            text=self.text,
            sender=self.sender,
            purpose="login",
            reference="c0ffee00c0ffee00c0ffee00c0ffee00",
            code=self.code,
        )

    def outcome(
        self,
        scenario: str,
        provider_class: type[SmsProvider],
        options: Mapping[str, Any],
        fake: Any,
        context: ProviderContext,
    ) -> SmsReceipt | SmsError:
        """Send one message in *scenario*: the receipt, or the SmsError raised."""
        options = self.arrange(scenario, fake, options)
        provider = provider_class(options, context)
        try:
            result = provider.send(self.message())
        except SmsError as exc:
            return exc
        assert isinstance(result, SmsReceipt), (
            f"{provider_class.__name__}.send returned {result!r}; "
            "it must return an SmsReceipt or raise an SmsError"
        )
        return result

    def _applies(self, scenario: str) -> None:
        if scenario in self.not_applicable:
            pytest.skip(f"{scenario!r} does not apply to this provider")

    def test_success_gives_a_receipt(
        self,
        provider_class: type[SmsProvider],
        provider_options: Mapping[str, Any],
        provider_fake: Any,
        provider_context: ProviderContext,
    ) -> None:
        result = self.outcome(
            "success", provider_class, provider_options, provider_fake, provider_context
        )
        assert isinstance(result, SmsReceipt), f"success raised {result!r}"
        described = f"{result.raw_code or ''} {result.raw_meaning or ''}".lower()
        assert "fail" not in described, f"a receipt that says it failed: {result!r}"
        assert result.segments is None or result.segments >= 1

    @pytest.mark.parametrize("scenario", list(EXPECTED))
    def test_failure_raises_its_error_class(
        self,
        scenario: str,
        provider_class: type[SmsProvider],
        provider_options: Mapping[str, Any],
        provider_fake: Any,
        provider_context: ProviderContext,
    ) -> None:
        self._applies(scenario)
        result = self.outcome(
            scenario, provider_class, provider_options, provider_fake, provider_context
        )
        expected = EXPECTED[scenario]
        assert isinstance(result, expected), (
            f"{scenario}: expected {expected.__name__}, got {result!r}"
        )
        assert result.provider == provider_class.name, f"{scenario}: the error names no provider"
        if scenario in CHAINED:
            assert result.__cause__ is not None, f"{scenario}: raise the error `from` its cause"

    def test_text_code_and_secrets_stay_out_of_logs_and_errors(
        self,
        caplog: pytest.LogCaptureFixture,
        provider_class: type[SmsProvider],
        provider_options: Mapping[str, Any],
        provider_fake: Any,
        provider_context: ProviderContext,
    ) -> None:
        secrets_ = [
            str(provider_options[name])
            for name in secret_names(provider_class.options_form)
            if len(str(provider_options.get(name) or "")) >= 4
        ]
        needles = {"the message text": self.text, "the code": self.code}
        needles.update({f"secret option #{i}": s for i, s in enumerate(secrets_, 1)})
        caplog.set_level(logging.DEBUG)
        for scenario in SCENARIOS:
            if scenario in self.not_applicable:
                continue
            result = self.outcome(
                scenario, provider_class, provider_options, provider_fake, provider_context
            )
            shown = [repr(result)]
            if isinstance(result, SmsError):
                shown += [str(result), result.user_message(), str(result.raw_code)]
                shown.append(str(result.raw_meaning))
            else:
                shown += [str(result.provider_message_id), str(result.raw_meaning)]
            for what, needle in needles.items():
                for place in shown:
                    assert needle not in place, f"{scenario}: {what} is in {type(result).__name__}"
        logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
        for what, needle in needles.items():
            assert needle not in logged, f"{what} appears in the log"
