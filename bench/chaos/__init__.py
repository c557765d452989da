"""Chaos soak: hc2mqtt under faults, hostile commands and hostile appliance messages, judged against targets.

Everything runs on loopback: a private mosquitto, simulated appliances in
this process (the three example profiles round-robin, TLS-PSK and AES
alternating, two of them running programs on a fast clock) and the real
`hc2mqtt.py` of the checkout under test as a process of its own, at --debug
with Home Assistant discovery and the web console on.

1. Soak (`traffic`): random value changes, a stream of unique values per
   appliance (each update checked), programs started over MQTT and
   recorded as runs (`programs`), and faults (`faults`): dropped
   connections, half-open ones (the appliance goes silent, the socket
   stays open), garbage frames, bad MACs, mosquitto killed and restarted,
   mosquitto frozen. Convergence is timed after every fault.
2. Hostile commands (`commands`), each answer matched to its command by
   transaction (`answers`).
3. Hostile appliance messages (`messages`), with the latency of the other
   appliances' values during big (parsed) NOTIFYs.
4. Secrets (`secrets`): every key and IV in every encoding, searched in
   every MQTT message ('#'), the daemon's log, the console's pages and /metrics.
5. The figures, each against its limit (`targets`, one table); exit 1 if
   any target is missed, 2 if the rig could not be set up.

Run (from the repository root):
    python -m bench.chaos --quick        # CI: about 90 s
    python -m bench.chaos                # about 6.5 minutes: 10 appliances, a 5-minute soak, 5,000 commands
    python -m bench.chaos --quick --against /path/to/other/checkout
"""
