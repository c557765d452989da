"""hcpy: Home Connect appliances on the local network, mirrored onto MQTT.

The sub-packages are the layers a value travels through, bottom to top::

    protocol/    bytes on the socket <-> messages: websocket transport
                 (TLS-PSK or the AES frame codec), envelope, session
    appliance/   messages <-> meaning: the profile model, devices.json,
                 live state, command validation, the connection thread
    mqtt/        meaning <-> MQTT: topics, what gets published, Home
                 Assistant discovery, command replies, the broker link,
                 the bridge and the daemon
    onboarding/  getting keys and profiles: cloud login, profile import
    simulator/   the appliance side of protocol/ and appliance/, for tests
                 and demos

A layer imports only the layers below it (mqtt -> appliance -> protocol;
onboarding and simulator -> appliance, protocol). `errors`, `encoding` and
`files` are small shared foundations any layer may import.
"""
