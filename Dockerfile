# hcpy: the image of the Home Assistant add-on (config.yaml beside this file:
# the Supervisor builds it from this folder) and of compose.yaml's services.
# Its command, hcpy-addon, runs the add-on from the Supervisor's options;
# without them (no /data/options.json) it says so and runs
# `hc2mqtt --config config/config.ini`. Any other command runs instead, e.g.
#   docker compose run --rm hc2mqtt hc-login --region EU
#   docker compose run --rm hc2mqtt python -m hcpy.simulator --help
# Python 3.13 has TLS-PSK in its ssl module: nothing to compile (sslpsk3 is
# only for Python 3.11/3.12).
FROM python:3.13-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The dependencies first, in their own layer: a code change does not
# reinstall them. constraints.txt pins every version (.ci/lock makes it), so
# two builds of one commit install the same packages.
COPY requirements.txt constraints.txt ./
RUN pip install -c constraints.txt -r requirements.txt

# The project (.dockerignore keeps venvs, caches, tests and config/ with its
# keys out): installed for the commands hc2mqtt, hc-login and hcpy-addon, kept in
# /app with the simulator's demo profiles for `python -m hcpy.simulator --demo`.
COPY . ./
RUN pip install --no-deps . \
    && rm -rf build ./*.egg-info \
    && python -m compileall -q hcpy hc2mqtt.py hc_login.py

# No USER: the add-on runs as root, as the Supervisor's folders it maps
# (/config, /data, /share) are root's. compose.yaml runs every service as
# ${HCPY_UID:-1000}; `docker run` takes --user 1000:1000. uid 1000 owns
# config/, so an unmounted one (an anonymous volume copies the owner) is
# writable for that default user; no user of that uid need exist.
RUN mkdir -p config && chown 1000:1000 config

# config/ (config.ini, devices.json with the appliances' keys, deviceid) is
# mounted at run time, never built in.
VOLUME /app/config
CMD ["hcpy-addon"]
