FROM python:3.13-slim
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY hcpy ./hcpy
COPY hc2mqtt.py hc_login.py ./
# Compiled once here: the container starts without compiling hcpy each time.
RUN python -m compileall -q hcpy
# config/ (devices.json, config.ini) is mounted at run time: it holds the keys.
VOLUME /app/config
ENTRYPOINT ["python", "hc2mqtt.py"]
CMD ["--config", "config/config.ini"]
