"""The MQTT side: what appliances look like on a broker, and what users send them.

Owns: the topic layout (`topics`), the rendering of state into messages
(`publishing`), Home Assistant discovery (`discovery`), the broker
connection (`link`), the bridge that joins appliances to the broker
(`bridge`) and the daemon `hc2mqtt` runs (`daemon`).

May import: `hcpy.appliance`, `hcpy.protocol` and the shared foundations.
"""
