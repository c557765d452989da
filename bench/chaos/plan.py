"""How long and how hard each phase is: the full soak for people, the quick one for CI."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    appliances: int
    runners: int  # appliances that run programs during the soak
    soak_s: float
    rate: float  # random value changes a second, all appliances together
    stream_period: float  # each appliance's stream value changes this often (s)
    fault_every: float
    broker_stop_s: tuple[float, float]
    broker_down_s: tuple[float, float]
    give_up_s: float  # a fault not converged this long after it was lifted is left as not converged
    commands: int
    command_rate: float
    unknown_uids: int
    garbage_frames: int
    nesting: int
    big_string: int
    big_notifies: int  # NOTIFYs as large as the bridge reads, one every BIG_EVERY seconds
    settle_s: float  # before the "after" RSS
    marker_timeout: float
    seed: int

    @classmethod
    def quick(cls, appliances: int = 8, seed: int = 1, commands: int | None = None) -> Plan:
        """About 100 s: every phase, every kind of fault once or more (a half-open needs 50 s to be noticed)."""
        return cls(
            appliances=appliances, runners=2, soak_s=62.0, rate=20.0, stream_period=0.25, fault_every=2.5,
            broker_stop_s=(1.0, 2.5), broker_down_s=(0.3, 1.0), give_up_s=65.0, commands=commands or 400,
            command_rate=250.0, unknown_uids=10_000, garbage_frames=500, nesting=100_000, big_string=4_000_000,
            big_notifies=30, settle_s=2.0, marker_timeout=30.0, seed=seed,
        )  # fmt: skip

    @classmethod
    def full(cls, appliances: int = 10, minutes: float = 5.0, seed: int = 1, commands: int | None = None) -> Plan:
        """About 6.5 minutes with the defaults: a 5-minute soak, then 5,000 commands and the hostile messages."""
        return cls(
            appliances=appliances, runners=3, soak_s=minutes * 60.0, rate=20.0, stream_period=0.25, fault_every=4.0,
            broker_stop_s=(3.0, 10.0), broker_down_s=(0.5, 3.0), give_up_s=120.0, commands=commands or 5000,
            command_rate=250.0, unknown_uids=10_000, garbage_frames=1_000, nesting=100_000, big_string=4_000_000,
            big_notifies=150, settle_s=10.0, marker_timeout=60.0, seed=seed,
        )  # fmt: skip
