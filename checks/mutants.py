"""A mutation check: each guarded behaviour, broken on purpose, must fail the tests named for it.

Each mutant is one exact snippet of a file and what replaces it (a limit
moved by one, a check turned off, an exact match made a prefix match), with
the test node ids that must kill it. The script copies the working tree
(the files git tracks, and new ones it does not ignore) to a temporary
directory, runs the named tests once unmutated (they must pass), then for
each mutant applies it alone, runs only its tests with
`-n 0 -x -q -p no:cacheprovider`, and restores the file. It prints a table
mutant -> killed / SURVIVED and exits non-zero when a mutant survives, when
its snippet is not found exactly once (so the list cannot rot silently), or
when its tests error out instead of failing.

Run from the repository root, with the Python the tests use:

    /work/main/.venv/bin/python checks/mutants.py            # all (a few minutes)
    /work/main/.venv/bin/python checks/mutants.py --list     # the mutants, nothing run
    /work/main/.venv/bin/python checks/mutants.py tls-identity-constant origin-prefix

Not part of the default test suite: it runs the same tests a dozen times over.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTEST_ARGS = ("-n", "0", "-x", "-q", "-p", "no:cacheprovider")
TIMEOUT = 600  # seconds for one mutant's tests; a mutant that hangs them is killed, and said so


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str
    original: str
    replacement: str
    tests: tuple[str, ...]


TLS = "tests/test_tls_identity.py::"
LIMITS = "tests/test_screening_limits.py::"
ORIGIN = "tests/test_console_origin.py::"
WEB = "tests/test_web_security.py::"
HARDENED = "tests/test_console_hardening.py::"
FAULTS = "tests/test_runs_faults.py::"

MUTANTS = [
    # -- the TLS-PSK identity (PROTOCOL.md §1.1) --
    Mutant(
        "tls-client-identity",
        "hcpy/protocol/tlspsk.py",
        "_psk(ctx).set_psk_client_callback(lambda hint: (IDENTITY, psk))",
        '_psk(ctx).set_psk_client_callback(lambda hint: ("Client_identity", psk))',
        (TLS + "test_hcpys_own_client_is_accepted",),
    ),
    Mutant(
        "tls-identity-constant",
        "hcpy/protocol/tlspsk.py",
        'IDENTITY = "HCCOM_Local_App"',
        'IDENTITY = "HCCOM_Local_App_"',
        (TLS + "test_the_protocols_identity_is_accepted_and_the_server_hints_it",),
    ),
    Mutant(
        "tls-server-any-identity",
        "hcpy/protocol/tlspsk.py",
        "        if identity == IDENTITY:\n",
        "        if True:\n",
        (TLS + "test_any_other_identity_is_refused_with_one_clear_log_line[Client_identity]",),
    ),
    Mutant(
        "tls-server-prefix-identity",
        "hcpy/protocol/tlspsk.py",
        "        if identity == IDENTITY:\n",
        '        if IDENTITY.startswith(identity or "?"):\n',
        (TLS + "test_any_other_identity_is_refused_with_one_clear_log_line[HCCOM_Local_Ap]",),
    ),
    # -- command screening --
    Mutant(
        "depth-6-to-7",
        "hcpy/mqtt/screening.py",
        "max_depth: int = 6",
        "max_depth: int = 7",
        (LIMITS + "test_the_depth_limit_is_6",),
    ),
    Mutant(
        "depth-6-to-30",
        "hcpy/mqtt/screening.py",
        "max_depth: int = 6",
        "max_depth: int = 30",
        (LIMITS + "test_the_depth_limit_is_6",),
    ),
    Mutant(
        "depth-off-by-one",
        "hcpy/mqtt/screening.py",
        "if depth > most:",
        "if depth >= most:",
        (LIMITS + "test_the_depth_limit_is_6",),
    ),
    Mutant(
        "depth-counts-brackets-in-strings",
        "hcpy/mqtt/screening.py",
        "_BRACKETS.findall(_STRINGS.sub(b'\"\"', data))",
        "_BRACKETS.findall(data)",
        (LIMITS + "test_depth_counts_brackets_outside_strings_only_and_every_branch",),
    ),
    Mutant(
        "size-4096-to-4097",
        "hcpy/mqtt/screening.py",
        "max_bytes: int = 4096",
        "max_bytes: int = 4097",
        (LIMITS + "test_the_size_limit_is_4096_bytes[x]",),
    ),
    Mutant(
        "size-in-characters",
        "hcpy/mqtt/screening.py",
        "if len(data) > limits.max_bytes:",
        "if len(payload) > limits.max_bytes:",
        (LIMITS + "test_the_size_limit_is_4096_bytes[\\xe9]",),
    ),
    Mutant(
        "entries-64-to-65",
        "hcpy/mqtt/screening.py",
        "max_items: int = 64",
        "max_items: int = 65",
        (LIMITS + "test_the_entry_limit_is_64_for_lists_and_objects_at_any_depth",),
    ),
    Mutant(
        "integer-20-to-21",
        "hcpy/mqtt/screening.py",
        "if len(text) > 20:",
        "if len(text) > 21:",
        (LIMITS + "test_an_integer_may_have_20_characters[]",),
    ),
    Mutant(
        "string-1024-to-1025",
        "hcpy/appliance/model.py",
        "MAX_STRING = 1024",
        "MAX_STRING = 1025",
        (LIMITS + "test_a_string_value_may_have_1024_characters",),
    ),
    Mutant(
        "echo-1024-to-1025",
        "hcpy/mqtt/command.py",
        "ECHO_REQUEST = 1024",
        "ECHO_REQUEST = 1025",
        (LIMITS + "test_a_request_of_1024_bytes_is_echoed_as_read_and_a_longer_one_in_part",),
    ),
    Mutant(
        "retained-command-obeyed",
        "hcpy/mqtt/bridge.py",
        "        if retained:\n            # The broker would replay",
        "        if False:\n            # The broker would replay",
        ("tests/test_retained_commands.py::test_a_retained_command_is_refused_at_connect_and_at_every_reconnect",),
    ),
    # -- appliances that leave devices.json while hc2mqtt runs --
    Mutant(
        "removed-appliance-left-on-the-broker",
        "hcpy/mqtt/bridge.py",
        "                self.link.publish(appliance.farewell(), qos=1)",
        "                pass",
        ("tests/test_bridge_reload.py::test_appliances_come_change_and_go_while_the_bridge_runs",),
    ),
    Mutant(
        "removed-commands-subscribed-again-at-reconnect",
        "hcpy/mqtt/link.py",
        "                del self._subscriptions[topic]",
        "                pass",
        ("tests/test_bridge_reload.py::test_a_broker_reconnect_renews_the_subscriptions_as_they_are_now",),
    ),
    # -- the web console --
    Mutant(
        "origin-prefix",
        "hcpy/web/security.py",
        "parts.netloc.lower() == host.strip().lower()",
        "parts.netloc.lower().startswith(host.strip().lower())",
        (
            ORIGIN + "test_an_origin_that_only_starts_like_the_consoles_is_refused",
            ORIGIN + "test_a_referer_that_only_starts_like_the_consoles_is_refused",
        ),
    ),
    Mutant(
        "host-port-prefix",
        "hcpy/web/security.py",
        "if rest and not _PORT.fullmatch(rest):",
        "if rest and not _PORT.match(rest):",
        (ORIGIN + "test_a_host_that_only_starts_with_a_loopback_name_is_refused",),
    ),
    Mutant(
        "host-check-off",
        "hcpy/web/security.py",
        "if not is_loopback(_host_name(host_header)):",
        "if False:",
        (WEB + "test_a_page_addressed_by_another_name_is_refused_on_loopback",),
    ),
    Mutant(
        "csrf-token-unchecked",
        "hcpy/web/security.py",
        'if not hmac.compare_digest(sent.encode("utf-8", "replace"), self.token(visitor.session).encode("ascii")):',
        "if False:",
        (WEB + "test_posts_without_the_sessions_token_or_from_elsewhere_are_refused_and_nothing_is_sent",),
    ),
    Mutant(
        "login-throttle-one-late",
        "hcpy/web/security.py",
        "if len(failures) >= MAX_FAILURES:",
        "if len(failures) > MAX_FAILURES:",
        ("tests/test_web_pure.py::test_logins_rotate_the_session_expire_and_slow_down_guessing",),
    ),
    # -- the console under attack (issue 21) --
    Mutant(
        "login-lockout-for-everyone",
        "hcpy/web/server.py",
        'guard.login(visitor, _text(posted.get("password")), client_of(self.client_address[0]))',
        'guard.login(visitor, _text(posted.get("password")), "")',
        (HARDENED + "test_wrong_passwords_lock_out_their_own_client_only_and_are_logged_without_the_password",),
    ),
    Mutant(
        "console-body-nesting-unscreened",
        "hcpy/web/server.py",
        "data = screen_payload(raw, BODY_LIMITS) if text.strip() else {}",
        "data = json.loads(text) if text.strip() else {}",
        (HARDENED + "test_a_body_nested_thousands_deep_is_a_400_with_a_sentence_and_no_traceback[/login-open]",),
    ),
    Mutant(
        "header-deadline-per-read-only",
        "hcpy/web/bounded.py",
        "self.deadline = time.monotonic() + self.allowed",
        "self.deadline = None",
        (HARDENED + "test_a_request_whose_headers_drip_in_is_closed_at_the_header_deadline",),
    ),
    Mutant(
        "connections-uncapped",
        "hcpy/web/bounded.py",
        "full = self.connections >= self.max_connections",
        "full = False",
        (HARDENED + "test_a_cap_on_connections_answers_503_beyond_it_and_serves_again_when_one_ends",),
    ),
    Mutant(
        "listen-backlog-5",
        "hcpy/web/bounded.py",
        "BACKLOG = 128",
        "BACKLOG = 5",
        (HARDENED + "test_the_listen_backlog_holds_more_than_32_clients_connecting_at_once",),
    ),
    Mutant(
        "chunked-body-read-as-none",
        "hcpy/web/server.py",
        'if self.headers.get("Transfer-Encoding") is not None:',
        "if False:",
        (HARDENED + "test_chunked_bodies_are_refused_with_411_and_the_chunks_are_no_second_request",),
    ),
    Mutant(
        "event-streams-not-per-client",
        "hcpy/web/events.py",
        "if source is not None and sum(c.source == source for c in self._clients) >= self.per_client:",
        "if False:",
        (HARDENED + "test_one_clients_idle_event_streams_do_not_shut_out_another_nor_the_pages",),
    ),
    # -- the wire --
    Mutant(
        "aes-hmac-unchecked",
        "hcpy/protocol/frame.py",
        "if not hmac.compare_digest(mac, self._mac(self._rx, ciphertext)):",
        "if False:",
        ("tests/test_frame.py::test_a_tampered_mac_is_refused",),
    ),
    Mutant(
        "websocket-message-limit-off-by-one",
        "hcpy/protocol/websocket.py",
        "        if length > MAX_MESSAGE:\n",
        "        if length >= MAX_MESSAGE:\n",
        ("tests/test_message_limits.py::test_one_frame_of_4_mib_is_read_and_one_byte_more_is_refused",),
    ),
    Mutant(
        "websocket-message-limit-doubled",
        "hcpy/protocol/websocket.py",
        "MAX_MESSAGE = 4 * 1024 * 1024",
        "MAX_MESSAGE = 8 * 1024 * 1024",
        ("tests/test_message_limits.py::test_one_frame_of_4_mib_is_read_and_one_byte_more_is_refused",),
    ),
    # -- secrets --
    Mutant(
        "key-file-mode-0644",
        "hcpy/files.py",
        "os.fchmod(fd, 0o600)",
        "os.fchmod(fd, 0o644)",
        ("tests/test_devices.py::test_files_are_written_0600",),
    ),
    Mutant(
        "console-log-shows-iv",
        "hcpy/web/log_page.py",
        "(?i)^(key|iv|psk|",
        "(?i)^(key|psk|",
        ("tests/test_web_pure.py::test_the_log_filters_and_hides_anything_named_like_a_secret",),
    ),
    Mutant(
        "journal-shows-auth-handshake",
        "hcpy/appliance/observed.py",
        "return HIDDEN_DATA if message.resource in HIDDEN and message.data else message.data",
        "return message.data",
        ("tests/test_observed.py::test_the_authentication_handshake_is_hidden_in_the_journal",),
    ),
    Mutant(
        "meter-url-password-logged",
        "hcpy/runs/config.py",
        'url = _CREDENTIALS.sub("***@", url)',
        "url = url",
        ("tests/test_runs.py::test_paths_and_urls_in_log_lines",),
    ),
    # -- run records through a Pi's faults (issue 21) --
    Mutant(
        "history-fragment-kept",
        "hcpy/runs/store.py",
        "            self._take_back(fd, size)\n",
        "            pass\n",
        (FAULTS + "test_a_write_cut_short_by_a_file_size_limit_is_an_error_and_leaves_no_fragment",),
    ),
    Mutant(
        "history-record-joined-to-a-fragment",
        "hcpy/runs/store.py",
        'line = b"\\n" + line',
        "line = line",
        (FAULTS + "test_a_cut_line_is_skipped_and_the_next_run_starts_a_line_of_its_own",),
    ),
    Mutant(
        "run-recorded-twice-after-a-kill",
        "hcpy/runs/store.py",
        "                stored.active = None\n",
        "                pass\n",
        (FAULTS + "test_a_run_is_recorded_once_wherever_hc2mqtt_is_killed[after_append]",),
    ),
    Mutant(
        "ended-run-dropped-from-the-state-file",
        "hcpy/mqtt/run_recorder.py",
        "(self._ending[0] if self._ending else None)",
        "None",
        (FAULTS + "test_a_run_is_recorded_once_wherever_hc2mqtt_is_killed[before_append]",),
    ),
    Mutant(
        "stale-temporaries-kept",
        "hcpy/runs/store.py",
        "        remove_stale_temporaries(self.state_path)\n",
        "        pass\n",
        (FAULTS + "test_a_run_is_recorded_once_wherever_hc2mqtt_is_killed[mid_state]",),
    ),
    Mutant(
        "aborted-run-credited-the-forecast",
        "hcpy/runs/record.py",
        "to_its_end = how == FINISHED or",
        "to_its_end = True or",
        (FAULTS + "test_a_run_that_did_not_go_to_its_end_is_not_credited_the_forecast[ending0-aborted-aborted]",),
    ),
    Mutant(
        "disk-errors-unthrottled",
        "hcpy/mqtt/run_recorder.py",
        "Throttle(self.log, burst=1, window=DISK_WINDOW_S)",
        "Throttle(self.log, burst=100, window=DISK_WINDOW_S)",
        (FAULTS + "test_a_runs_folder_that_cannot_be_written_is_said_once",),
    ),
    Mutant(
        "unseen-end-at-the-reconnect",
        "hcpy/runs/record.py",
        "    if expected is not None and run.started_at <= expected <= noticed:\n",
        "    if False:\n",
        (FAULTS + "test_a_run_that_ended_while_hc2mqtt_was_down_ends_where_the_appliance_said",),
    ),
    # -- Home Assistant's ingress (hcpy.web.ingress) and Add appliances (issue 20) --
    Mutant(
        "ingress-any-peer-trusted",
        "hcpy/web/server.py",
        "return self._ingress is not None and peer_address(peer) == self._ingress",
        "return self._ingress is not None",
        ("tests/test_console_ingress.py::test_anyone_else_is_refused_with_a_sentence_whatever_they_send",),
    ),
    Mutant(
        "ingress-prefix-unchecked",
        "hcpy/web/ingress.py",
        "if len(value) > MAX_PREFIX or not _PREFIX.fullmatch(value) or",
        "if len(value) > MAX_PREFIX or not value.startswith('/') or",
        ("tests/test_console_ingress.py::test_a_malformed_ingress_path_is_refused",),
    ),
    Mutant(
        "add-pages-open-beyond-loopback",
        "hcpy/web/server.py",
        "return self._trusted or (guard is not None and guard.may_set_up())",
        "return True",
        ("tests/test_web_setup.py::test_beyond_loopback_without_a_password_the_pages_are_refused",),
    ),
    Mutant(
        "add-pages-not-for-ingress",
        "hcpy/web/server.py",
        "return self._trusted or (guard is not None and guard.may_set_up())",
        "return guard is not None and guard.may_set_up()",
        ("tests/test_web_setup.py::test_behind_ingress_home_assistants_user_adds_appliances_and_nobody_else_reaches_the_pages",),
    ),
    # -- a delay is spent once the program runs (issue 21) --
    Mutant(
        "delay-writable-while-running",
        "hcpy/appliance/commands.py",
        "if operation not in DELAY_SPENT and not announced:",
        "if not announced:",
        ("tests/test_delays.py::test_from_run_on_hcpy_refuses_even_what_old_firmware_leaves_writable",),
    ),
    Mutant(
        "delay-announcement-ignored",
        "hcpy/appliance/commands.py",
        "announced = operation in names.UNDER_WAY and not limits.access.writable",
        "announced = False",
        ("tests/test_delays.py::test_hcpy_follows_the_access_the_appliance_announces",),
    ),
    Mutant(
        "livez-always-ok",
        "hcpy/web/health.py",
        "return (UP if running else DOWN), {",
        "return UP, {",
        ("tests/test_metrics.py::test_liveness_stays_ok_while_an_appliance_is_off_and_the_broker_away_and_fails_when_the_mqtt_thread_ends",),
    ),
    Mutant(
        "livez-is-health",
        "hcpy/web/health.py",
        "    running = bridge.link.running\n",
        "    running = report(bridge)[0] == UP\n",
        ("tests/test_metrics.py::test_liveness_stays_ok_while_an_appliance_is_off_and_the_broker_away_and_fails_when_the_mqtt_thread_ends",),
    ),
]


def copy_tree(target: Path) -> None:
    """The working tree as git sees it (tracked files and new unignored ones), uncommitted edits included."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def run_tests(tree: Path, python: str, tests: tuple[str, ...]) -> tuple[int | None, str]:
    """pytest's exit code (None: timed out) and the tail of its output."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        done = subprocess.run(
            [python, "-m", "pytest", *PYTEST_ARGS, *tests],
            cwd=tree, env=env, capture_output=True, text=True, timeout=TIMEOUT,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return None, ""
    return done.returncode, (done.stdout + done.stderr)[-1500:]


def check_snippets(tree: Path, mutants: list[Mutant]) -> list[str]:
    problems = []
    for m in mutants:
        count = (tree / m.file).read_text(encoding="utf-8").count(m.original)
        if count != 1:
            problems.append(f"{m.name}: the original snippet occurs {count} times in {m.file} (must be once)")
        if m.replacement == m.original:
            problems.append(f"{m.name}: the replacement is the original")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="run only these mutants")
    parser.add_argument("--list", action="store_true", help="list the mutants and their tests, run nothing")
    parser.add_argument("--python", default=sys.executable, help="the Python that runs pytest")
    args = parser.parse_args()

    unknown = set(args.names) - {m.name for m in MUTANTS}
    if unknown:
        parser.error(f"no mutant named {', '.join(sorted(unknown))}")
    mutants = [m for m in MUTANTS if not args.names or m.name in args.names]
    if args.list:
        for m in mutants:
            print(f"{m.name}: {m.file}\n    {m.original.strip()!r}\n -> {m.replacement.strip()!r}")
            print("".join(f"    killed by {t}\n" for t in m.tests), end="")
        return 0

    with tempfile.TemporaryDirectory(prefix="hcpy-mutants-") as tmp:
        tree = Path(tmp)
        copy_tree(tree)
        problems = check_snippets(tree, mutants)
        if problems:
            print("\n".join(problems))
            return 2
        where = subprocess.run(
            [args.python, "-c", "import hcpy; print(hcpy.__file__)"], cwd=tree, capture_output=True, text=True
        ).stdout.strip()
        if not where.startswith(str(tree)):
            print(f"the copy's tests would import hcpy from {where or 'nowhere'}, not from {tree}")
            return 2

        every_test = tuple(dict.fromkeys(t for m in mutants for t in m.tests))
        code, output = run_tests(tree, args.python, every_test)
        if code != 0:
            print(f"the named tests do not pass unmutated (pytest exit {code}):\n{output}")
            return 2
        print(f"unmutated: {len(every_test)} test ids pass")

        rows = []
        for m in mutants:
            path = tree / m.file
            original = path.read_text(encoding="utf-8")
            path.write_text(original.replace(m.original, m.replacement), encoding="utf-8")
            started = time.monotonic()
            try:
                code, output = run_tests(tree, args.python, m.tests)
            finally:
                path.write_text(original, encoding="utf-8")
            # 1: a test failed. 0: all passed. Anything else (collection error, no
            # such test, internal error) says nothing about the behaviour.
            verdict = {None: "killed (timeout)", 0: "SURVIVED", 1: "killed"}.get(code, f"ERROR (pytest exit {code})")
            rows.append((m.name, verdict, time.monotonic() - started))
            print(f"{m.name:40} {verdict:20} {rows[-1][2]:6.1f} s", flush=True)
            if verdict.startswith("ERROR"):
                print(output)

    bad = [name for name, verdict, _ in rows if not verdict.startswith("killed")]
    tail = f"; not killed: {', '.join(bad)}" if bad else ""
    print(f"\n{len(rows) - len(bad)} of {len(rows)} mutants killed{tail}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
