"""The MQTT side: what appliances look like on a broker, and what users send them.

Owns: the topic layout (`topics`), the publishing options (`options`), names,
filters and topics per feature (`naming`), the rendering of state into
messages (`publishing`, handing out `outgoing.Outgoing`), commands and
their answers (`command`, `screening`), the broker connection (`link`,
`packets`), each appliance's program runs on MQTT (`run_topics`,
`run_recorder`) and the bridge that joins appliances to the broker
(`bridge`). Who announces the entities (Home Assistant's discovery,
`hcpy.homeassistant`) is handed to the bridge as a `discovery_port.DiscoveryPort`;
the application that builds it all is `hcpy.app`.

A value's way out: connection -> bridge.changed -> Publisher.changes ->
MqttLink.publish. A command's way in: MqttLink -> Bridge._message ->
Command.received -> Command.resolve -> connection.submit -> the answer's
Outcome -> command.response on T/response.

May import: `hcpy.appliance`, `hcpy.protocol`, `hcpy.runs` and the shared foundations.
"""
