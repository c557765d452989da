"""The simulated appliance's state: values, live limits, what it accepts, and its programs.

No I/O. Every connection of a `Simulator` shares one `SimulatedAppliance`;
its methods are thread-safe. What changes comes back as `Changes`: the
wire-ready entries of /ro/values and /ro/descriptionChange for the caller
to notify.

Programs run as real appliances report them (`runner`, `lifecycle`). Time
comes from a `Clock`; `advance()` reports whatever the clock says has
happened since it was last called.
"""

from __future__ import annotations

import copy
import hashlib
import threading
from typing import Any

from ..appliance import names
from ..appliance.model import (
    PROGRAM_ROOTS,
    Access,
    Description,
    EnumType,
    Feature,
    Kind,
    Limits,
    Profile,
    Program,
    ValueKind,
)
from .changes import Changes, Refused, Result
from .clock import Clock, ScaledClock
from .runner import ProgramRunner
from .values import check_value, describe, initial_value

# The services the appliance advertises in /ci/services (PROTOCOL.md §3).
SERVICE_PRESETS: dict[str, list[dict[str, Any]]] = {
    "iz": [
        {"service": "ci", "version": 3},
        {"service": "ei", "version": 2},
        {"service": "iz", "version": 1},
        {"service": "ni", "version": 1},
        {"service": "ro", "version": 1},
    ],
    # Older appliances: no iz service; clients authenticate with a nonce and read /ci/info.
    "legacy": [
        {"service": "ci", "version": 2},
        {"service": "ei", "version": 2},
        {"service": "ni", "version": 1},
        {"service": "ro", "version": 1},
    ],
    # Older AES appliances that speak only /ci: neither iz nor ni.
    "ci-only": [
        {"service": "ci", "version": 2},
        {"service": "ei", "version": 2},
        {"service": "ro", "version": 1},
    ],
    # A hood also announces a service no client knows (mt); clients go on without it.
    "mt": [
        {"service": "ci", "version": 3},
        {"service": "ei", "version": 2},
        {"service": "iz", "version": 1},
        {"service": "mt", "version": 1},
        {"service": "ni", "version": 1},
        {"service": "ro", "version": 1},
    ],
}

# Answer codes, in one place (the profiles' errorDescription lists name them).
# Appliances answer 400 for any value they cannot take.
BAD_REQUEST = 400
FORBIDDEN = 403
NOT_FOUND = 404
REMOTE_START_NOT_ACTIVE = 538
DEVICE_STATE_NOT_COMPLIANT = 540
PROCESS_STATE_NOT_COMPLIANT = 541

VALUE_KINDS = {Kind.STATUS, Kind.SETTING, Kind.EVENT, Kind.OPTION, *PROGRAM_ROOTS, Kind.PROTECTION_PORT}
DESCRIBED_KINDS = VALUE_KINDS | {Kind.COMMAND, Kind.PROGRAM}


class SimulatedAppliance:
    """One appliance built from a profile.

    ``services`` is a preset name ("iz", "legacy") or the list /ci/services
    answers; ``info`` and ``network`` override fields of /iz/info (/ci/info)
    and /ni/info. ``clock`` drives its programs (real time by default).

    It starts as a real appliance is found: switched on, door closed,
    remote start not allowed (``remote_start=True`` allows it, as a user
    pressing the appliance's button would). Programs a profile lists as
    unavailable are available, as a real appliance announces them right
    after connecting.
    """

    def __init__(
        self,
        profile: Profile,
        services: str | list[dict[str, Any]] = "iz",
        initial_values_version: int = 2,
        info: dict[str, Any] | None = None,
        network: dict[str, Any] | None = None,
        clock: Clock | None = None,
        remote_start: bool = False,
    ):
        if isinstance(services, str):
            if services not in SERVICE_PRESETS:
                raise ValueError(f"unknown services preset {services!r}; use one of {sorted(SERVICE_PRESETS)} or a list")
            services = SERVICE_PRESETS[services]
        self.profile = profile
        self.services: list[dict[str, Any]] = copy.deepcopy(services)
        self.initial_values_version = initial_values_version
        self.info = {**default_info(profile.description), **(info or {})}
        self.network = {**default_network(self.info), **(network or {})}
        self.clock = clock or ScaledClock()
        self._lock = threading.RLock()
        # Live copies: description changes alter these, never the profile.
        self._limits: dict[int, Limits] = {uid: copy.copy(f.limits) for uid, f in profile.features.items()}
        for program in profile.programs.values():
            self._limits.setdefault(program.uid, Limits()).available = True
        self._option_limits: dict[tuple[int, int], Limits] = {
            (program.uid, option.uid): copy.copy(option.limits)
            for program in profile.programs.values()
            for option in program.options.values()
        }
        self._values: dict[int, Any] = {
            uid: initial_value(f, f.limits) for uid, f in profile.features.items() if f.kind in VALUE_KINDS
        }
        self._active_root = profile.root(Kind.ACTIVE_PROGRAM)
        self._selected_root = profile.root(Kind.SELECTED_PROGRAM)
        for root in (self._active_root, self._selected_root):
            if root is not None:
                self._values[root.uid] = 0  # no program
        self.runner = ProgramRunner(self)
        self.life = self.runner.life  # what its kind does besides programs
        # As found: on, door closed, idle.
        self.put(names.POWER_STATE, "On")
        self.put(names.DOOR_STATE, "Closed")
        self.put(names.OPERATION_STATE, "Ready")
        self.allow_remote_start(remote_start)

    # --- services ---------------------------------------------------------

    def service_version(self, service: str) -> int | None:
        for entry in self.services:
            if entry.get("service") == service:
                return entry.get("version")
        return None

    # --- reading ----------------------------------------------------------

    def feature(self, uid_or_name: int | str) -> Feature:
        """The feature with this uid or exact full name; KeyError otherwise."""
        if isinstance(uid_or_name, str):
            feature = self.profile.by_name(uid_or_name)
        else:
            feature = self.profile.features.get(uid_or_name)
        if feature is None:
            raise KeyError(f"the simulated {self.profile.description.model or 'appliance'} has no feature {uid_or_name!r}")
        return feature

    def has(self, name: str) -> bool:
        return self.profile.by_name(name) is not None

    def value(self, uid_or_name: int | str) -> Any:
        with self._lock:
            return self._values.get(self.feature(uid_or_name).uid)

    def member(self, name: str) -> str | None:
        """The enumeration member a feature holds now, or None if it has none (or no such feature)."""
        feature = self.profile.by_name(name)
        if feature is None or feature.enum is None:
            return None
        with self._lock:
            value = self._values.get(feature.uid)
        return feature.enum.members.get(value) if isinstance(value, int) else None

    def summary(self) -> str:
        """One line for a person: power, door, remote start, what runs and for how long."""
        with self._lock:
            parts = [self.member(names.POWER_STATE) or "?"]
            if self.life.doors and not self.has(names.DOOR_STATE):
                parts += [f"{d.rsplit('.', 1)[-1].lower()} door {self.member(d) or '?'}" for d in self.life.doors]
            else:
                parts.append(f"door {self.member(names.DOOR_STATE) or '?'}")
            if self.has(names.REMOTE_START_ALLOWED):
                allowed = self.value(names.REMOTE_START_ALLOWED)
                parts.append("remote start " + ("allowed" if allowed else "not allowed"))
            parts.append(self.member(names.OPERATION_STATE) or "?")
            for active in (True, False):
                program = self.program_in(active)
                if program is not None:
                    parts.append(("running " if active else "selected ") + program.name.rsplit(".", 1)[-1])
                    break
            if self.runner.run is not None and self.has(names.REMAINING_PROGRAM_TIME):
                left = int(self.value(names.REMAINING_PROGRAM_TIME) or 0)
                parts.append("%d:%02d:%02d left" % (left // 3600, left // 60 % 60, left % 60))
            return ", ".join(parts)

    def mandatory_values(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {"uid": uid, "value": value}
                for uid, value in self._values.items()
                if self._limits[uid].access.readable
            ]

    def description_changes(self) -> list[dict[str, Any]]:
        with self._lock:
            entries = [
                describe(uid, self._limits[uid], f.value_kind)
                for uid, f in self.profile.features.items()
                if f.kind in DESCRIBED_KINDS
            ]
            for (program_uid, option_uid), limits in self._option_limits.items():
                kind = self.profile.features[option_uid].value_kind if option_uid in self.profile.features else ValueKind.ANY
                entries.append(describe(option_uid, limits, kind, parent_uid=program_uid))
            return entries

    # --- writing by clients ----------------------------------------------

    def write_values(self, items: list[dict[str, Any]]) -> Result:
        """POST /ro/values: all of ``items`` are applied, or none."""
        with self._lock:
            try:
                if not items:
                    raise Refused(BAD_REQUEST, "no values given")
                planned = [self._check_write(item) for item in items]
                changes = Changes()
                for feature, value in planned:
                    changes += self._write(feature, value)
            except Refused as refused:
                return Result(refused.code, reason=refused.reason)
            return Result(changes=changes)

    def start_program(self, resource: str, items: list[dict[str, Any]]) -> Result:
        """POST /ro/selectedProgram or /ro/activeProgram."""
        active = resource.endswith("activeProgram")
        with self._lock:
            try:
                if active and self.life.no_remote_start:
                    raise Refused(FORBIDDEN, self.life.no_remote_start)
                program, options = self._check_program(active, items)
                if active:
                    self._check_startable(program)
                changes = self.runner.select(program)
                for feature, value in options:
                    changes += self.put(feature.name, value)
                if active:
                    changes += self.runner.start(program, self.clock.now())
            except Refused as refused:
                return Result(refused.code, reason=refused.reason)
            return Result(changes=changes)

    def advance(self) -> Changes:
        """Whatever a running program did since the last call, by the clock."""
        with self._lock:
            now = self.clock.now()
            changes = self.runner.advance(now)
            changes += self.life.advance(now)
            return changes

    # --- what the appliance's user does by hand ---------------------------

    def set_door(self, closed: bool) -> Changes:
        """Open or close the door; opening it after a program finished makes the appliance ready."""
        with self._lock:
            changes = self.put(names.DOOR_STATE, "Closed" if closed else "Open")
            for door in self.life.doors:  # a fridge-freezer's compartments
                changes += self.put(door, "Closed" if closed else "Open")
            if not closed and self.member(names.OPERATION_STATE) == "Finished":
                changes += self.put(names.OPERATION_STATE, "Ready")
            return changes

    def allow_remote_start(self, allowed: bool = True) -> Changes:
        """Press (or cancel) Remote Start: ActiveProgram becomes writable, or read-only again."""
        with self._lock:
            changes = self.put(names.REMOTE_START_ALLOWED, allowed)
            root = self._active_root
            if root is not None and root.limits.access is Access.READ:
                changes += self.limit(root.name, Access.READ_WRITE if allowed else Access.READ)
            return changes

    def set_power(self, on: bool) -> Changes:
        """Switch on (ready) or off; switching off ends a running program."""
        with self._lock:
            feature = self.profile.by_name(names.POWER_STATE)
            off = "Off" if feature and feature.enum and "Off" in feature.enum.members.values() else "Standby"
            changes = Changes()
            if not on and self.runner.run is not None:
                changes += self.runner.abort(self.clock.now(), quietly=True)
            changes += self.put(names.POWER_STATE, "On" if on else off)
            changes += self.put(names.OPERATION_STATE, "Ready" if on else "Inactive")
            return changes

    # --- changes made by the simulator's user (tests) ----------------------

    def set_value(self, uid_or_name: int | str, value: Any) -> dict[str, Any]:
        """Set a value unchecked (the appliance changing by itself); enum member names are accepted."""
        feature = self.feature(uid_or_name)
        if feature.kind not in VALUE_KINDS:
            raise ValueError(f"{feature.name} is a {feature.kind.value}, it holds no value")
        if isinstance(value, str) and feature.enum is not None:
            value = _member_value(feature.enum, value, feature.name)
        elif isinstance(value, str) and feature.holds_uid:
            value = self.feature(value).uid  # a program's full name
        with self._lock:
            self._values[feature.uid] = value
        return {"uid": feature.uid, "value": value}

    def set_description(
        self,
        uid_or_name: int | str,
        *,
        access: Access | str | None = None,
        available: bool | None = None,
        min: float | None = None,  # noqa: A002 - the profile's attribute names, as the console types them
        max: float | None = None,  # noqa: A002
        step: float | None = None,
        default: Any = None,
        value: Any = None,
        parent_uid: int | None = None,
    ) -> dict[str, Any]:
        """Change live limits; return the /ro/descriptionChange entry (changed fields only).

        With ``parent_uid`` (a program uid) the limits of the option under that
        program change. ``value`` is carried inside the change, as some
        appliances do.
        """
        feature = self.feature(uid_or_name)
        with self._lock:
            if parent_uid is None:
                limits = self._limits[feature.uid]
            else:
                scoped = self._option_limits.get((parent_uid, feature.uid))
                if scoped is None:
                    raise KeyError(f"program {parent_uid} has no option {feature.name}")
                limits = scoped
            entry: dict[str, Any] = {"uid": feature.uid}
            if parent_uid is not None:
                entry["parentUID"] = parent_uid
            if access is not None:
                limits.access = access if isinstance(access, Access) else Access.parse(access)
                entry["access"] = limits.access.value.upper()
            if available is not None:
                limits.available = available
                entry["available"] = available
            for attr, key, given in (("min", "min", min), ("max", "max", max), ("step", "stepSize", step), ("default", "default", default)):
                if given is not None:
                    setattr(limits, attr, given)
                    entry[key] = given
            if value is not None:
                entry["value"] = self.set_value(feature.uid, value)["value"]
            return entry

    # --- primitives the program runner uses (holding the lock) ------------

    def put(self, name: str, value: Any) -> Changes:
        """Set a feature's value by name (a member name for enumerations) if the profile has it.

        Reported only when it changes; an event is reported every time.
        """
        feature = self.profile.by_name(name)
        if feature is None:
            return Changes()
        if isinstance(value, str) and feature.enum is not None:
            if value not in feature.enum.members.values():
                return Changes()  # a state this appliance does not know
            value = _member_value(feature.enum, value, feature.name)
        elif isinstance(value, bool) and feature.value_kind is not ValueKind.BOOLEAN:
            return Changes()
        if self._values.get(feature.uid) == value and feature.kind is not Kind.EVENT:
            return Changes()
        self._values[feature.uid] = value
        return Changes(values=[{"uid": feature.uid, "value": value}])

    def limit(self, name: str, access: Access | None = None, available: bool | None = None) -> Changes:
        """Change a feature's live access or availability by name; reported only when it changes."""
        feature = self.profile.by_name(name)
        if feature is None:
            return Changes()
        limits = self._limits[feature.uid]
        entry: dict[str, Any] = {"uid": feature.uid}
        if access is not None and limits.access is not access:
            limits.access = access
            entry["access"] = access.value.upper()
        if available is not None and limits.available != available:
            limits.available = available
            entry["available"] = available
        return Changes(descriptions=[entry]) if len(entry) > 1 else Changes()

    def restore(self, name: str) -> Changes:
        """Back to the access and availability the profile gives a feature."""
        feature = self.profile.by_name(name)
        if feature is None:
            return Changes()
        return self.limit(name, feature.limits.access, feature.limits.available)

    def option_access(self, program: Program, name: str, access: Access | None = None) -> Changes:
        """Change an option's access under `program` (None: back to the profile's); reported scoped, when it changes.

        Real appliances scope such a change to the program (parentUID), as
        they do for a delay option that becomes read-only while it runs.
        """
        feature = self.profile.by_name(name)
        option = program.options.get(feature.uid) if feature is not None else None
        if feature is None or option is None:
            return Changes()
        limits = self._option_limits[(program.uid, feature.uid)]
        wanted = option.limits.access if access is None else access
        if limits.access is wanted:
            return Changes()
        limits.access = wanted
        return Changes(descriptions=[{"uid": feature.uid, "parentUID": program.uid, "access": wanted.value.upper()}])

    def option_limits(self, program: Program, uid: int) -> Limits:
        """An option's limits under `program`: the program's own, the option list's for what it leaves out."""
        return self._option_limits[(program.uid, uid)].over(self._limits[uid])

    def select_root(self, program: Program | None, active: bool) -> Changes:
        """Set SelectedProgram (or ActiveProgram) to `program`, 0 for none."""
        root = self._active_root if active else self._selected_root
        if root is None:
            return Changes()
        return self.put(root.name, program.uid if program else 0)

    def program_in(self, active: bool) -> Program | None:
        root = self._active_root if active else self._selected_root
        uid = self._values.get(root.uid) if root is not None else None
        return self.profile.programs.get(uid) if isinstance(uid, int) else None

    # --- internals --------------------------------------------------------

    def _write(self, feature: Feature, value: Any) -> Changes:
        """What a checked POST /ro/values entry does."""
        if feature.name == names.ABORT_PROGRAM and value:
            return self.runner.abort(self.clock.now())
        if feature.name == names.PAUSE_PROGRAM and value:
            return self.runner.pause(self.clock.now())
        if feature.name == names.RESUME_PROGRAM and value:
            return self.runner.resume(self.clock.now())
        if feature.kind is Kind.COMMAND:
            return Changes()  # a command acts, it is not a state
        if feature.kind is Kind.SELECTED_PROGRAM:
            program = self.profile.programs.get(value)
            return self.runner.select(program) if program else self.select_root(None, active=False)
        if feature.name == names.POWER_STATE:
            return self.set_power(feature.enum is not None and feature.enum.members.get(value) == "On")
        self._values[feature.uid] = value
        changes = Changes(values=[{"uid": feature.uid, "value": value}])
        now = self.clock.now()
        changes += self.runner.written(feature.name, now)
        changes += self.life.written(feature.name, now)
        return changes

    def _check_write(self, item: dict[str, Any]) -> tuple[Feature, Any]:
        uid, value = item.get("uid"), item.get("value")
        if not isinstance(uid, int) or isinstance(uid, bool) or "value" not in item:
            raise Refused(BAD_REQUEST, f"entry {item!r} needs an integer uid and a value")
        feature = self.profile.features.get(uid)
        if feature is None or feature.kind not in VALUE_KINDS | {Kind.COMMAND}:
            raise Refused(NOT_FOUND, f"uid {uid} is not a value or command of this appliance")
        limits, enum = self._effective(feature)
        self._check_writable(feature.name, limits)
        if feature.kind in PROGRAM_ROOTS:
            if not isinstance(value, int) or isinstance(value, bool) or (value and value not in self.profile.programs):
                raise Refused(BAD_REQUEST, f"{feature.name}: {value!r} is not a program uid")
            return feature, value
        self._check(feature, value, limits, enum)
        return feature, value

    def _check_program(self, active: bool, items: list[dict[str, Any]]) -> tuple[Program, list[tuple[Feature, Any]]]:
        if len(items) != 1 or not isinstance(items[0].get("program"), int) or isinstance(items[0].get("program"), bool):
            raise Refused(BAD_REQUEST, "expected one entry with an integer program uid")
        entry = items[0]
        program = self.profile.programs.get(entry["program"])
        if program is None:
            raise Refused(NOT_FOUND, f"there is no program {entry['program']}")
        root = self._active_root if active else self._selected_root
        if root is not None:
            self._check_writable(root.name, self._limits[root.uid])
        if not self._limits[program.uid].available:
            raise Refused(FORBIDDEN, f"program {program.name} is not available now")
        if program.execution == ("selectOnly" if active else "startOnly"):
            raise Refused(FORBIDDEN, f"program {program.name} cannot be {'started' if active else 'selected'} ({program.execution})")
        options = entry.get("options", [])
        if not isinstance(options, list) or not all(isinstance(o, dict) for o in options):
            raise Refused(BAD_REQUEST, "options must be a list of objects")
        planned = []
        for option in options:
            uid, value = option.get("uid"), option.get("value")
            option_def = program.options.get(uid) if isinstance(uid, int) else None
            feature = self.profile.features.get(uid) if isinstance(uid, int) else None
            if option_def is None or feature is None:
                raise Refused(BAD_REQUEST, f"{uid!r} is not an option of program {program.name}")
            limits = self.option_limits(program, uid)
            self._check_writable(f"{feature.name} in {program.name}", limits)
            self._check(feature, value, limits, option_def.enum or feature.enum)
            planned.append((feature, value))
        return program, planned

    def _check_startable(self, program: Program) -> None:
        """Refuse a start as an appliance does when its user has not made it ready."""
        if self.runner.under_way:
            raise Refused(PROCESS_STATE_NOT_COMPLIANT, "a program is already under way")
        if self.member(names.POWER_STATE) not in (None, "On"):
            raise Refused(DEVICE_STATE_NOT_COMPLIANT, "the appliance is not switched on")
        if self.member(names.DOOR_STATE) not in (None, "Closed", "Locked"):
            raise Refused(DEVICE_STATE_NOT_COMPLIANT, "the door is open")
        if self.has(names.REMOTE_START_ALLOWED) and not self.value(names.REMOTE_START_ALLOWED):
            raise Refused(REMOTE_START_NOT_ACTIVE, "remote start is not allowed on the appliance")

    def _effective(self, feature: Feature) -> tuple[Limits, EnumType | None]:
        """An option's limits are those of the running or selected program, when it has the option."""
        limits = self._limits[feature.uid]
        if feature.kind is Kind.OPTION:
            for active in (True, False):
                program = self.program_in(active)
                if program is not None and feature.uid in program.options:
                    option = program.options[feature.uid]
                    return self.option_limits(program, feature.uid), option.enum or feature.enum
        return limits, feature.enum

    @staticmethod
    def _check_writable(what: str, limits: Limits) -> None:
        if not limits.access.writable:
            raise Refused(FORBIDDEN, f"{what} is not writable (access {limits.access.value})")
        if not limits.available:
            raise Refused(FORBIDDEN, f"{what} is not available now")

    @staticmethod
    def _check(feature: Feature, value: Any, limits: Limits, enum: EnumType | None) -> None:
        reason = check_value(feature.value_kind, value, feature.bounded(limits), enum)
        if reason is not None:
            raise Refused(BAD_REQUEST, f"{feature.name} {reason}")


def _member_value(enum: EnumType, name: str, feature_name: str) -> int:
    for value, member in enum.members.items():
        if member == name:
            return value
    raise ValueError(f"{feature_name} has no member {name!r} (members: {', '.join(enum.members.values())})")


def default_info(description: Description) -> dict[str, Any]:
    """Device info in the shape of /iz/info, stable for a given brand and model."""
    digest = hashlib.sha256(f"{description.brand}-{description.model}".encode()).hexdigest()
    mac = "02-" + "-".join(digest[i : i + 2].upper() for i in range(0, 10, 2))  # locally administered
    return {
        "deviceID": digest[:18],
        "eNumber": f"{description.model}/01",
        "brand": description.brand,
        "vib": description.model,
        "mac": mac,
        "haVersion": "1.4",
        "swVersion": "3.2.10.20200911163726",
        "hwVersion": "2.0.0.2",
        "deviceType": description.type,
        "serialNumber": str(int(digest[18:30], 16))[:12].zfill(12),
        "customerIndex": "01",
        "fdString": "0201",
        "shipSki": digest[24:64],
    }


def default_network(info: dict[str, Any]) -> dict[str, Any]:
    """Network info in the shape of /ni/info; addresses from the documentation range (RFC 5737)."""
    return {
        "interfaceID": 0,
        "type": "WiFi",
        "ssid": "hcpy-simulator",
        "rssi": -52,
        "status": "GOT_IP",
        "euiAddress": str(info.get("mac", "")).replace("-", ":"),
        "ipV4": {"ipAddress": "192.0.2.10", "prefixSize": 24, "gateway": "192.0.2.1", "dnsServer": "192.0.2.1"},
    }
