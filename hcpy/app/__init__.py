"""The application: hc2mqtt's and hc-login's settings and what it runs with them.

Owns: the settings, one typed value built and checked in one place
(`settings`: the command line's options, HCPY_*, the config file read by
`config_file`, devices.json's MQTT_CONF and what each fork's files say,
`forks`), the daemon that bridges until a signal (`daemon`), the demo
(`demo`), the one-shot check (`check`), the web console beside the bridge
(`console`) and the choice between them (`launch`). hc2mqtt.py only turns
its click options into `settings.Options`. hc-login's command line too
(`login_cli`, with `login_args` reading its older forms and `login_scan`).
The Home Assistant add-on's entry, `hcpy-addon` (`addon`): its options
(`addon_options`) and the Supervisor's broker (`supervisor`) made into the
same `settings.Options`.

The top layer: may import every other one. None imports it.
"""
