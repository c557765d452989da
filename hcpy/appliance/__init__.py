"""One appliance as hcpy understands it: its profile, its live state, its commands.

Owns: the typed profile model and the facts about features (`model`), the
profile readers for the XML pair and devices.json (`profile`, `devices`), the
live state decoded by the profile (`state`), the validation and encoding of
users' commands (`commands`, and `programs` for selecting, starting and
stopping programs), which features are controls and which work now
(`controls`), the common feature names hcpy acts on (`names`), and the
thread that keeps one appliance connected and feeds its state (`connection`).

May import: `hcpy.protocol` and the shared foundations; never `hcpy.mqtt`.
Everything but `connection` and the file I/O of `devices` is pure logic.
"""
