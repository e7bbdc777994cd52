"""The human check before a send: loading it by name, and Poort's own proof of work."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import replace
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from flask import Flask
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from idp import state
from idp.abuse import human_check
from idp.abuse.human_check import GROUP, HumanCheck, load_check
from idp.abuse.pow import ProofOfWork, leading_zero_bits
from idp.errors import ConfigError
from idp.plugins import discover
from tests.fakes.clock import FakeClock
from tests.fuzzing import values

CHECKOUT = Path(__file__).resolve().parents[2]
POW_JS = CHECKOUT / "static" / "pow.js"
CHALLENGE_FIELD = re.compile(r'name="pow_challenge" value="([^"]+)"')


class EasyProofOfWork(ProofOfWork):
    """The built-in check at a difficulty a test solves in a few milliseconds."""

    name = "easy"
    difficulty = 8


class NotACheck:
    """Registered by mistake: no render, no verify."""

    name = "broken"


def solve(challenge: str, bits: int) -> str:
    for counter in range(1 << (bits + 8)):
        digest = hashlib.sha256(f"{challenge}:{counter}".encode()).digest()
        if leading_zero_bits(digest) >= bits:
            return str(counter)
    raise AssertionError("no solution found")


def challenge_of(markup: str) -> str:
    match = CHALLENGE_FIELD.search(markup)
    assert match, markup
    return match.group(1)


def solved(check: ProofOfWork) -> dict[str, str]:
    challenge = check.challenge()
    return {"pow_challenge": challenge, "pow_solution": solve(challenge, check.difficulty)}


def use(name: str) -> None:
    """Set the human_check setting of the current app."""
    current = state.current()
    current.settings = replace(current.settings, human_check=name)


@pytest.fixture
def ctx(app: Flask) -> Iterator[None]:
    with app.test_request_context("/login"):
        yield


@pytest.fixture
def easy(ctx: None) -> EasyProofOfWork:
    return EasyProofOfWork()


@pytest.fixture
def third_party(ctx: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two more checks installed beside pow, as another distribution would register them:
    loaded through the plugin registry, which keeps the one that fails its contract out."""
    extra = discover(
        found=[
            EntryPoint("easy", f"{__name__}:EasyProofOfWork", GROUP),
            EntryPoint("broken", f"{__name__}:NotACheck", GROUP),
        ]
    )
    registry = state.current().registry
    monkeypatch.setitem(registry.human_checks, "easy", extra.human_checks["easy"])
    monkeypatch.setattr(registry, "failures", [*registry.failures, *extra.failures])


# -- loading ----------------------------------------------------------------------------------


def test_pow_is_registered_under_the_entry_point_group(ctx: None) -> None:
    plugin = human_check.installed_checks()["pow"]
    assert (plugin.group, plugin.cls) == (GROUP, ProofOfWork)


def test_the_default_check_is_the_proof_of_work_and_is_made_once_per_app(
    app: Flask, ctx: None
) -> None:
    check = load_check()

    assert isinstance(check, ProofOfWork)
    assert isinstance(check, HumanCheck)
    assert (check.name, check.difficulty) == ("pow", 16)
    assert load_check() is check


def test_each_app_has_its_own_instance(app: Flask, app_config: dict, clock: FakeClock) -> None:
    from idp import create_app

    other = create_app(app_config, registry=app.extensions["idp"].registry, clock=clock)
    with app.app_context():
        first = load_check()
    with other.app_context():
        second = load_check()

    assert first is not second


@pytest.mark.parametrize("off", ["off", "OFF", " off "])
def test_off_means_no_check(ctx: None, off: str) -> None:
    use(off)

    assert load_check() is None


def test_a_check_is_loaded_by_its_entry_point_name(ctx: None, third_party: None) -> None:
    use("easy")

    check = load_check()

    assert type(check) is EasyProofOfWork


def test_an_unknown_name_is_a_config_error_naming_the_setting_and_the_installed_checks(
    ctx: None, third_party: None
) -> None:
    use("recaptcha")

    with pytest.raises(ConfigError) as raised:
        load_check()

    assert raised.value.setting == "human_check"
    message = str(raised.value)
    assert "human_check" in message and "'recaptcha'" in message
    assert "installed: easy, pow" in message and '"off"' in message


def test_an_entry_point_that_is_no_check_is_a_config_error(ctx: None, third_party: None) -> None:
    use("broken")

    with pytest.raises(ConfigError, match="is not a human check"):
        load_check()


def test_an_entry_point_that_does_not_import_is_a_config_error(
    ctx: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = discover(found=[EntryPoint("gone", "no_such_module_for_poort:Check", GROUP)])
    registry = state.current().registry
    monkeypatch.setattr(registry, "failures", [*registry.failures, *extra.failures])
    use("gone")

    with pytest.raises(ConfigError, match="could not be loaded: import failed: ModuleNotFound"):
        load_check()


def test_human_checks_are_loaded_through_the_plugin_registry(caplog) -> None:
    """Contract checks, IDP_PLUGINS_BLOCKED and one report per failure, as for other plugins."""
    with caplog.at_level("ERROR", logger="idp.plugins"):
        registry = discover(
            blocked=["easy"],
            found=[
                EntryPoint("pow", "idp.abuse.pow:ProofOfWork", GROUP),
                EntryPoint("easy", f"{__name__}:EasyProofOfWork", GROUP),
                EntryPoint("broken", f"{__name__}:NotACheck", GROUP),
            ],
        )

    assert list(registry.human_checks) == ["pow"]
    reasons = {f.id: f.reason for f in registry.failures if f.group == GROUP}
    assert reasons["easy"] == "blocked by IDP_PLUGINS_BLOCKED"
    assert "is not a human check" in reasons["broken"]
    assert len([r for r in caplog.records if "'broken'" in r.getMessage()]) == 1


def test_a_blocked_check_named_by_the_setting_stops_the_start(
    app_config: dict, clock: FakeClock
) -> None:
    from idp import create_app
    from idp.plugins import from_classes
    from idp_password import PasswordMethod

    registry = from_classes(PasswordMethod, blocked=["pow"])

    with pytest.raises(ConfigError, match="'pow' could not be loaded: blocked by IDP_PLUGINS"):
        create_app(app_config, registry=registry, clock=clock)


# -- rendering --------------------------------------------------------------------------------


def test_the_markup_has_the_fields_the_note_and_the_script(easy: EasyProofOfWork) -> None:
    markup = str(easy.render())

    assert 'type="hidden" name="pow_challenge"' in markup
    assert '<input type="hidden" name="pow_solution" value="">' in markup
    assert "Your browser solves a small puzzle before we send a code." in markup
    assert re.search(r"<noscript>.*JavaScript.*wait an hour.*</noscript>", markup)
    assert 'role="status" aria-live="polite"' in markup
    assert '<script src="/static/pow.js" defer></script>' in markup


def test_the_markup_has_no_inline_script_or_style(easy: EasyProofOfWork) -> None:
    markup = str(easy.render())

    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", markup, re.DOTALL)
    assert scripts and all('src="' in attrs and body == "" for attrs, body in scripts)
    assert "<style" not in markup and "style=" not in markup
    assert not re.search(r"\son\w+=", markup)


def test_every_rendering_carries_a_new_challenge(easy: EasyProofOfWork) -> None:
    first, second = challenge_of(easy.render()), challenge_of(easy.render())

    assert first != second
    nonce, issued, bits, signature = first.split(".")
    assert len(nonce) == 32 and len(signature) == 64 and bits == "8"
    assert int(issued) == int(state.current().clock().timestamp())


def test_the_script_is_served_from_static(client) -> None:
    with client.get("/static/pow.js") as response:
        assert response.status_code == 200
        assert "javascript" in response.content_type
        assert b"poortSolve" in response.data


# -- verifying --------------------------------------------------------------------------------


def test_a_solved_challenge_verifies_once_and_only_once(easy: EasyProofOfWork) -> None:
    form = {"pow_challenge": challenge_of(easy.render())}
    form["pow_solution"] = solve(form["pow_challenge"], easy.difficulty)

    assert easy.verify(form) is True
    assert easy.verify(form) is False
    assert EasyProofOfWork().verify(form) is False


def test_two_challenges_are_independent(easy: EasyProofOfWork) -> None:
    first, second = solved(easy), solved(easy)

    assert easy.verify(first) is True
    assert easy.verify(second) is True


def test_a_wrong_solution_fails_and_does_not_use_up_the_challenge(easy: EasyProofOfWork) -> None:
    form = solved(easy)
    challenge = form["pow_challenge"]
    wrong = next(
        str(n)
        for n in range(10_000)
        if leading_zero_bits(hashlib.sha256(f"{challenge}:{n}".encode()).digest()) < 8
    )

    assert easy.verify({**form, "pow_solution": wrong}) is False
    assert easy.verify(form) is True


@pytest.mark.parametrize("position", [0, 31, 33, 44, 47, 100])
def test_a_tampered_challenge_fails(easy: EasyProofOfWork, position: int) -> None:
    form = solved(easy)
    challenge = form["pow_challenge"]
    assert challenge[position] != "."
    flipped = "1" if challenge[position] == "0" else "0"
    tampered = challenge[:position] + flipped + challenge[position + 1 :]

    assert easy.verify({"pow_challenge": tampered, "pow_solution": form["pow_solution"]}) is False
    # And solving the tampered challenge does not help either: the signature is wrong.
    resolved = {"pow_challenge": tampered, "pow_solution": solve(tampered, 8)}
    assert easy.verify(resolved) is False


def test_a_challenge_signed_with_another_secret_fails(easy: EasyProofOfWork) -> None:
    form = solved(easy)
    current = state.current()
    current.settings = replace(current.settings, secret_key="another-" + "k" * 50)

    assert easy.verify(form) is False


def test_a_challenge_easier_than_the_check_fails(easy: EasyProofOfWork) -> None:
    form = solved(easy)

    assert ProofOfWork().verify(form) is False


def test_a_challenge_is_good_for_ten_minutes(easy: EasyProofOfWork, clock: FakeClock) -> None:
    form = solved(easy)
    clock.advance(minutes=10)

    assert easy.verify(form) is True


def test_an_expired_challenge_fails(easy: EasyProofOfWork, clock: FakeClock) -> None:
    form = solved(easy)
    clock.advance(minutes=11)

    assert easy.verify(form) is False


def test_a_little_clock_skew_is_allowed(easy: EasyProofOfWork, clock: FakeClock) -> None:
    form = solved(easy)
    clock.advance(seconds=-60)

    assert easy.verify(form) is True


def test_a_challenge_from_the_future_fails(easy: EasyProofOfWork, clock: FakeClock) -> None:
    form = solved(easy)
    clock.advance(seconds=-61)

    assert easy.verify(form) is False


@pytest.mark.parametrize(
    "form",
    [
        {},
        {"pow_challenge": ""},
        {"pow_solution": "1"},
        {"pow_challenge": "", "pow_solution": ""},
        {"pow_challenge": None, "pow_solution": None},
        {"pow_challenge": ["a"], "pow_solution": 1},
        {"pow_challenge": "a.b.c.d", "pow_solution": "-1"},
    ],
)
def test_malformed_forms_fail(easy: EasyProofOfWork, form: Mapping) -> None:
    assert easy.verify(form) is False


def test_a_solution_in_other_digits_fails(easy: EasyProofOfWork) -> None:
    form = solved(easy)
    arabic = form["pow_solution"].translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))

    assert easy.verify({**form, "pow_solution": arabic}) is False
    assert easy.verify({**form, "pow_solution": " " + form["pow_solution"]}) is False


def test_a_form_that_cannot_be_read_fails(easy: EasyProofOfWork) -> None:
    class Hostile(Mapping):
        def __getitem__(self, key):
            raise RuntimeError("no")

        def __iter__(self):
            raise RuntimeError("no")

        def __len__(self):
            return 0

        def get(self, key, default=None):
            raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad")

    assert easy.verify(Hostile()) is False


@hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.dictionaries(
        st.sampled_from(["pow_challenge", "pow_solution", "csrf_token", ""]) | st.text(max_size=8),
        values(),
        max_size=4,
    ),
    st.integers(0, 200),
    st.sampled_from(["", "0", "1", "x", ".", "٣"]),
)
def test_verify_is_a_bool_for_any_form(
    easy: EasyProofOfWork, form: dict[str, str], cut: int, insert: str
) -> None:
    assert easy.verify(form) is False
    # Near misses: a real challenge with a character changed, and an arbitrary solution.
    challenge = easy.challenge()
    near = challenge[:cut] + insert + challenge[cut + 1 :]
    result = easy.verify({"pow_challenge": near, "pow_solution": form.get("pow_solution", "")})
    assert isinstance(result, bool)


# -- the browser's solver agrees with the server ------------------------------------------


def test_pow_js_and_the_python_verifier_agree(easy: EasyProofOfWork) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")

    class Moderate(ProofOfWork):
        difficulty = 12

    check = Moderate()
    challenge = challenge_of(check.render())
    script = (
        "const pow = require(process.argv[1]);"
        "pow.solve(process.argv[2], Number(process.argv[3]))"
        ".then((n) => console.log(JSON.stringify({n, zeros: pow.leadingZeroBits("
        "new Uint8Array([0, 0, 15, 255]))})))"
        ".catch((e) => { console.error(e); process.exit(1); });"
    )
    done = subprocess.run(
        [node, "-e", script, str(POW_JS), challenge, str(check.difficulty)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answer = json.loads(done.stdout)

    assert answer["zeros"] == leading_zero_bits(bytes([0, 0, 15, 255])) == 20
    assert re.fullmatch(r"[0-9]+", answer["n"])
    assert check.verify({"pow_challenge": challenge, "pow_solution": answer["n"]}) is True


#: A form, its fields and a document, just enough for pow.js to attach to; prints what happened
#: to a submit pressed before the puzzle was solved.
FAKE_PAGE = """
const fs = require("fs"), vm = require("vm");
const [path, challenge] = process.argv.slice(1);
let onSubmit;
const resent = [];
const button = { disabled: false };
const status = { textContent: "" };
const solution = { value: "" };
const event = (submitter) => ({ submitter, held: false, preventDefault() { this.held = true; } });
const form = {
  dataset: {},
  elements: { namedItem: (name) => (name === "pow_solution" ? solution : null) },
  querySelector: () => status,
  querySelectorAll: () => [button],
  addEventListener: (type, handler) => { if (type === "submit") onSubmit = handler; },
  requestSubmit(submitter) {
    const again = event(submitter);
    onSubmit(again);
    resent.push({ same: submitter === button, held: again.held, solution: solution.value });
  },
};
const document = { readyState: "complete", querySelectorAll: () => [{ value: challenge, form }] };
const page = { document, window: {}, crypto, TextEncoder, setTimeout };
Object.assign(page, { Promise, Math, Number, String, Error, globalThis: page });
vm.runInNewContext(fs.readFileSync(path, "utf8"), page);
const early = event(button);
onSubmit(early);
const whileWorking = { held: early.held, disabled: button.disabled, status: status.textContent };
const poll = setInterval(() => {
  if (!resent.length) return;
  clearInterval(poll);
  const after = { disabled: button.disabled, status: status.textContent };
  const exposed = typeof page.window.poortSolve;
  console.log(JSON.stringify({ whileWorking, resent, after, exposed }));
}, 5);
"""


def test_pow_js_holds_a_submit_until_solved_then_sends_it(easy: EasyProofOfWork) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    challenge = easy.challenge()

    done = subprocess.run(
        [node, "-e", FAKE_PAGE, str(POW_JS), challenge],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    seen = json.loads(done.stdout)

    assert seen["whileWorking"] == {
        "held": True,
        "disabled": True,
        "status": "Checking your browser\u2026",
    }
    [resent] = seen["resent"]
    assert resent["same"] and not resent["held"]
    assert seen["after"] == {"disabled": False, "status": ""}
    assert seen["exposed"] == "function"
    assert easy.verify({"pow_challenge": challenge, "pow_solution": resent["solution"]}) is True
