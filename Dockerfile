# hcpy: hc2mqtt by default; any other command runs instead of it, e.g.
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
# keys out): installed for the commands hc2mqtt and hc-login, and kept in
# /app with the simulator's demo profiles for `python -m hcpy.simulator --demo`.
COPY . ./
RUN pip install --no-deps . \
    && rm -rf build ./*.egg-info \
    && python -m compileall -q hcpy hc2mqtt.py hc_login.py

# Not root. uid 1000 is the first user on most hosts, so a ./config mounted
# from there is writable; compose.yaml can run it as another uid.
RUN useradd --uid 1000 --user-group --home-dir /app --no-create-home --shell /usr/sbin/nologin hcpy \
    && mkdir -p config \
    && chown hcpy:hcpy config
USER hcpy

# config/ (config.ini, devices.json with the appliances' keys, deviceid) is
# mounted at run time, never built in.
VOLUME /app/config
CMD ["hc2mqtt", "--config", "config/config.ini"]
