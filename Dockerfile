FROM python:3.11-slim

WORKDIR /src
COPY pyproject.toml README.md ./
COPY sentinel ./sentinel
COPY rules ./rules
RUN pip install --no-cache-dir . && rm -rf /src \
    && useradd --system --uid 10001 --create-home --home-dir /var/lib/sentinel sentinel

USER sentinel
WORKDIR /var/lib/sentinel
ENV SENTINEL_HOME=/var/lib/sentinel PYTHONUNBUFFERED=1
VOLUME ["/var/lib/sentinel"]
# The daemon listens on loopback by default; publish it with: run --listen 0.0.0.0:9464
EXPOSE 9464
CMD ["sentinel", "run"]
