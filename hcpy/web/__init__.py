"""The web console, health and metrics; a layer above hcpy.mqtt.

Owns: the console's HTTP server (`server`), who may use it (`security`), the
live stream of changes to open pages (`events`), the answers its commands
wait for (`answers`), what the controls post turned into MQTT commands
(`commands`), what the pages show read from the bridge (`snapshot`), the
pages themselves (`html`, `pages`, `control_panel`, `log_page`, `runs_page`,
`chart`), its CSS and JavaScript (`static/`), and the health report and
Prometheus metrics (`health`, `metrics`); the "Add appliances" pages
(`setup_pages`, multipart forms read by `form_data`) and what they ask of the
application (`setup_port`, implemented by `hcpy.app.setup`).

May import: `hcpy.mqtt` and everything below it.
"""
