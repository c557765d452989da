"""A broker that cannot keep up slows hc2mqtt's publishers instead of filling its memory."""

from __future__ import annotations

import signal

from hcpy.mqtt.link import BACKLOG_LIMIT, MqttLink, MqttSettings
from hcpy.mqtt.outgoing import Outgoing


def test_backlog_is_bounded_by_waiting(broker):
    link = MqttLink(MqttSettings(host="127.0.0.1", port=broker.port, clientname="backlog"), lambda: None, lambda *a: None)
    link.start()
    try:
        assert link.wait_connected(10)
        broker.process.send_signal(signal.SIGSTOP)  # a broker that reads nothing
        try:
            payload = "x" * 4096
            # Far more than the loopback socket buffers hold: paho's queue must grow.
            for batch in range(30):
                link.publish([Outgoing(f"backlog/{batch}/{i}", payload) for i in range(200)])
            assert link.backlog > BACKLOG_LIMIT
            link.throttle()  # gives up after a bounded wait: the broker is stuck
            assert link.connected
        finally:
            broker.process.send_signal(signal.SIGCONT)
        # Once the broker reads again, waiting brings the backlog under the limit.
        link.throttle()
        assert link.backlog <= BACKLOG_LIMIT
    finally:
        link.stop()
